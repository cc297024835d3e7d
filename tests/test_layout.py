"""The package's layout: imports point down only, rooms stay small.

Engines know only the numeric helpers, the connectivity graph and each
other; criteria know engines and the training loop they fit their weights
with (as scikit-learn's ``BaseMixture`` owns its loop), never the fit path,
the registry or the selections; the estimator knows everything below it, and
nothing below it knows the estimator's private state. Imports inside
functions count too (TensorFlow parts are imported lazily). No module passes
600 lines, the estimator class 500. (``test_benchmarks.py`` checks that the
benchmarks use the public API only.)
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "sklearn_rae"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    """Each package module and the package modules it imports."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
                candidates = [f"{stem}.{alias.name}" for alias in node.names]
                if node.module:
                    candidates.append(stem)
                targets.update(c for c in candidates if c in modules)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [alias.name for alias in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                targets.update(n for n in names if n in modules)
        targets.discard(name)
        graph[name] = targets
    return graph


GRAPH = _imports()


def test_no_import_cycle():
    state = {}

    def visit(module, path):
        state[module] = "open"
        for target in GRAPH[module]:
            if state.get(target) == "open":
                raise AssertionError(" -> ".join([*path, module, target]))
            if target not in state:
                visit(target, [*path, module])
        state[module] = "done"

    for module in GRAPH:
        if module not in state:
            visit(module, [])


@pytest.mark.parametrize(
    "module", sorted(m for m in GRAPH if m.startswith("sklearn_rae.engines"))
)
def test_engines_import_only_numeric_helpers(module):
    allowed = {"sklearn_rae._numeric", "sklearn_rae._connectivity"}
    for target in GRAPH[module]:
        assert target.startswith("sklearn_rae.engines") or target in allowed, target


@pytest.mark.parametrize(
    "module", sorted(m for m in GRAPH if m.startswith("sklearn_rae.criteria"))
)
def test_criteria_know_engines_not_the_estimator(module):
    forbidden = {
        "sklearn_rae._estimator",
        "sklearn_rae._fitting",
        "sklearn_rae._registry",
        "sklearn_rae._selection",
        "sklearn_rae._fitted_tree",
        "sklearn_rae.cli",
    }
    assert not GRAPH[module] & forbidden


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=str)
def test_no_module_passes_600_lines(path):
    lines = path.read_text().count("\n")
    assert lines <= 600, f"{path.relative_to(PACKAGE.parent)} has {lines} lines"


def _estimator_class() -> ast.ClassDef:
    tree = ast.parse((PACKAGE / "_estimator.py").read_text())
    (found,) = (
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and node.name == "RecursiveAutoencoderClustering"
    )
    return found


def test_estimator_class_is_thin():
    estimator = _estimator_class()
    lines = estimator.end_lineno - estimator.lineno + 1
    assert lines <= 500, lines


def _estimator_private_names() -> set[str]:
    """The private methods and attributes of the estimator."""
    names = set()
    for node in ast.walk(_estimator_class()):
        if isinstance(node, ast.FunctionDef) and node.name.startswith("_"):
            names.add(node.name)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and node.attr.startswith("_")
        ):
            names.add(node.attr)
    return {name for name in names if not name.startswith("__")}


PRIVATE_STATE = _estimator_private_names()


def test_the_private_state_is_known():
    # The check below must see the estimator's private state to be of use.
    assert {"_criterion", "_node_state", "_mixture", "_store"} <= PRIVATE_STATE


@pytest.mark.parametrize(
    "path",
    sorted(p for p in PACKAGE.rglob("*.py") if p.name != "_estimator.py"),
    ids=str,
)
def test_no_module_reads_the_estimators_private_state(path):
    # Below the estimator, modules are handed arrays, criteria and contexts:
    # none calls a private method or reads a private attribute of it.
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in PRIVATE_STATE
            and not (isinstance(node.value, ast.Name) and node.value.id == "self")
        ):
            raise AssertionError(
                f"{path.relative_to(PACKAGE.parent)}:{node.lineno} reads "
                f"{ast.unparse(node)}"
            )
