"""The package's layout: imports point down only, and no module imports in a cycle.

Engines know only the numeric helpers and each other; criteria know engines;
the estimator knows everything below it. Imports inside functions count too
(TensorFlow parts are imported lazily).
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
    allowed = {"sklearn_rae._numeric"}
    for target in GRAPH[module]:
        assert target.startswith("sklearn_rae.engines") or target in allowed, target


@pytest.mark.parametrize(
    "module", sorted(m for m in GRAPH if m.startswith("sklearn_rae.criteria"))
)
def test_criteria_know_engines_not_the_estimator(module):
    forbidden = {
        "sklearn_rae._estimator",
        "sklearn_rae._selection",
        "sklearn_rae._training",
        "sklearn_rae._fitted_tree",
        "sklearn_rae.cli",
    }
    assert not GRAPH[module] & forbidden


def test_estimator_is_thin():
    lines = (PACKAGE / "_estimator.py").read_text().count("\n")
    assert lines <= 800, lines
