"""The benchmarks at the top of ``benchmarks/`` run, and use the public API only.

Each runs in a subprocess at its small size and must print its table: the
table's header and a row with a number in it. The battery benchmarks read a
tiny folder laid out as the benchmark suite's, made here from generated data.
A static check parses every top-level script: no private module of
``sklearn_rae`` is imported, and nothing is assigned into the package.
``benchmarks/archive/`` is the record of past experiments and is not checked.
"""

import ast
import csv
import re
import subprocess
import sys

import numpy as np
import pytest
from checkout_env import REPO_ROOT, checkout_env

BENCHMARKS = REPO_ROOT / "benchmarks"
SCRIPTS = sorted(BENCHMARKS.glob("*.py"))
STATIC = REPO_ROOT / "docs" / "_static"
PUBLISHED = ("ward", "kmeans", "gaussian_mixture", "genie_0.3", "average")

#: The modules a benchmark may import from: the package and its public parts.
PUBLIC_MODULES = ("sklearn_rae", "sklearn_rae.metrics", "sklearn_rae.criteria")


# ------------------------------------------------------------------ smoke runs


@pytest.fixture(scope="module")
def tiny_battery(tmp_path_factory):
    """A folder laid out as the suite's: two shape batteries and a Gaussian one.

    ``<battery>/<name>.data.gz``, ``<battery>/<name>.labels0.gz`` (labels from
    1, as the suite's; ``labels1`` marks a few points as noise, 0) and
    ``published_ari.csv``; every set is small enough for ``--smoke``.
    """
    from sklearn.datasets import make_blobs, make_circles

    folder = tmp_path_factory.mktemp("battery")
    rng = np.random.RandomState(0)
    blobs, blob_labels = make_blobs(
        90, centers=[[0, 0], [6, 0], [0, 6]], random_state=0
    )
    rings, ring_labels = make_circles(120, factor=0.4, noise=0.04, random_state=0)
    gaussians = np.r_[rng.randn(64, 4), rng.randn(64, 4) + 2.5]
    sets = [
        ("wut", "blobs", blobs, blob_labels),
        ("graves", "rings", rings, ring_labels),
        ("g2mg", "g2mg_4_tiny", gaussians, np.repeat([0, 1], 64)),
    ]
    rows = []
    for battery, name, X, labels in sets:
        (folder / battery).mkdir()
        stem = folder / battery / name
        np.savetxt(f"{stem}.data.gz", X)
        np.savetxt(f"{stem}.labels0.gz", labels + 1, fmt="%d")
        noisy = labels + 1
        noisy[::15] = 0
        np.savetxt(f"{stem}.labels1.gz", noisy, fmt="%d")
        row = {"battery": battery, "dataset": name, "n": len(X), "d": X.shape[1]}
        row["k_per_labelling"] = len(np.unique(labels))
        rows.append(row | dict.fromkeys(PUBLISHED, 0.5))
    with open(folder / "published_ari.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return folder


def run_benchmark(script, *arguments, cwd):
    """Run ``benchmarks/<script>`` with ``arguments``; its standard output."""
    before = {path: path.stat().st_mtime_ns for path in STATIC.iterdir()}
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *map(str, arguments)],
        env=checkout_env(
            MPLBACKEND="Agg",
            OMP_NUM_THREADS="1",
            OPENBLAS_NUM_THREADS="1",
            TF_CPP_MIN_LOG_LEVEL="2",
        ),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # A small run leaves the documentation's figures and tables as they were.
    after = {path: path.stat().st_mtime_ns for path in STATIC.iterdir()}
    assert after == before, f"{script} wrote into docs/_static"
    return result.stdout


NUMBER = re.compile(r"^\*{0,2}-?\d[\d,]*(\.\d+)?(e[+-]?\d+)?x?\*{0,2}$")


def table_rows(output, header):
    """The rows of the Markdown table whose header line starts with ``header``.

    Fails unless the table is there with at least one row holding a number.
    """
    lines = output.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(header)]
    assert starts, f"no table {header!r} in:\n{output[-3000:]}"
    start = starts[0]
    assert re.fullmatch(r"\|(-+\|)+", lines[start + 1]), lines[start + 1]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    numeric = [row for row in rows if any(NUMBER.match(cell) for cell in row)]
    assert numeric, f"no numeric row under {header!r}:\n{output[-3000:]}"
    return rows


def test_battery(tiny_battery, tmp_path):
    output = run_benchmark("battery.py", tiny_battery, "--smoke", cwd=tmp_path)
    rows = table_rows(output, "| set | n | auto | auto spread | auto purity |")
    assert [row[0] for row in rows[:3]] == [
        "wut/blobs",
        "graves/rings",
        "g2mg/g2mg_4_tiny",
    ]


def test_n_clusters(tiny_battery, tmp_path):
    output = run_benchmark("n_clusters.py", tiny_battery, "--smoke", cwd=tmp_path)
    assert output.startswith("merge_cost: auto")
    table_rows(output, "| set | features | true k | tree rule |")
    table_rows(output, "| data | n | distinct rows | true k | tree rule")
    rows = table_rows(output, "| set | n | reference k | tree rule |")
    # The battery table reads the shape batteries only.
    assert [row[0] for row in rows[:2]] == ["wut/blobs", "graves/rings"]


#: Benchmarks whose small run is checked by its tables alone: the arguments,
#: then the start of each table's header line.
SMOKE_RUNS = {
    "quality.py": (["--smoke"], ["| method | ARI | NMI | predict agreement |"]),
    "purity_tables.py": (["--smoke"], ["| table | default (auto) | SciPy single |"]),
    "default_speed.py": (
        ["--smoke"],
        [
            "| data | n x d | Ward (s) | default (auto) |",
            "| method | wall (s) | vs SciPy average |",
        ],
    ),
    "speed.py": (["--smoke"], ["| n | sklearn-rae s | ratio to scipy average |"]),
    "interrupt.py": (
        ["gaps", "--smoke"],
        ["| n | merge_cost | fit (s) | kept | delays over 0.3 s |"],
    ),
}


@pytest.mark.parametrize("script", sorted(SMOKE_RUNS))
def test_benchmark_prints_its_tables(script, tmp_path):
    arguments, headers = SMOKE_RUNS[script]
    output = run_benchmark(script, *arguments, cwd=tmp_path)
    for header in headers:
        table_rows(output, header)


def test_large(tmp_path):
    output = run_benchmark("large.py", "--smoke", cwd=tmp_path)
    table_rows(output, "| merge_cost | n | ours (s) |")
    rows = table_rows(output, "| n | method | fit (s) | tree (s) |")
    # The final tree's time is read off the fit's verbose output.
    ours = next(row for row in rows if row[1].startswith("ours"))
    assert NUMBER.match(ours[3]), ours
    table_rows(output, "| training n | nodes below the cut |")
    table_rows(output, "| workers | rows | seconds |")


def test_structured(tmp_path):
    output = run_benchmark("structured.py", "--smoke", cwd=tmp_path)
    rows = table_rows(output, "| case | method | n | fit (s) |")
    assert {row[0] for row in rows} == {"sequence", "chain", "knn"}


def test_interrupt(tmp_path):
    output = run_benchmark("interrupt.py", "gaps", "--smoke", cwd=tmp_path)
    table_rows(output, "| n | merge_cost | fit (s) | kept | delays over 0.3 s |")


def test_every_benchmark_has_a_smoke_test():
    tested = set(SMOKE_RUNS) | {
        name.removeprefix("test_") + ".py" for name in globals()
    }
    assert {path.name for path in SCRIPTS} <= tested


# ---------------------------------------------------------------- public API


def _criteria_public_names():
    """``sklearn_rae.criteria.__all__``, read from its source, not imported."""
    source = (REPO_ROOT / "sklearn_rae" / "criteria" / "__init__.py").read_text()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(getattr(t, "id", None) == "__all__" for t in targets):
                return set(ast.literal_eval(node.value))
    return None


def _private_module(module):
    """Whether importing ``module`` (a sklearn_rae module) reaches past the API."""
    parts = module.split(".")
    return any(part.startswith("_") for part in parts) or module not in PUBLIC_MODULES


def _is_package(module):
    return module == "sklearn_rae" or module.startswith("sklearn_rae.")


def api_violations(source):
    """Each private import and each assignment into the package in ``source``."""
    tree = ast.parse(source)
    criteria_names = _criteria_public_names()
    problems = []
    bound = set()  # names bound to the package's modules and objects
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _is_package(alias.name):
                    continue
                if _private_module(alias.name):
                    problems.append(f"line {node.lineno}: import {alias.name}")
                bound.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and _is_package(node.module or ""):
            if node.level:
                continue
            if _private_module(node.module):
                problems.append(f"line {node.lineno}: from {node.module} import")
            for alias in node.names:
                private = alias.name.startswith("_")
                if node.module == "sklearn_rae.criteria" and criteria_names:
                    private |= alias.name not in criteria_names
                if private:
                    problems.append(
                        f"line {node.lineno}: from {node.module} import {alias.name}"
                    )
                bound.add(alias.asname or alias.name)
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            root = target
            while isinstance(root, ast.Attribute | ast.Subscript):
                root = root.value
            if (
                isinstance(target, ast.Attribute | ast.Subscript)
                and isinstance(root, ast.Name)
                and root.id in bound
            ):
                problems.append(f"line {node.lineno}: assigns {ast.unparse(target)}")
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            first = node.args[0] if node.args else None
            if (
                name.split(".")[-1] == "setattr"
                and isinstance(first, ast.Name)
                and first.id in bound
            ):
                problems.append(f"line {node.lineno}: {ast.unparse(node)}")
            strings = [
                arg.value
                for arg in node.args
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            ]
            for string in strings:
                if not _is_package(string.split(":")[0]):
                    continue
                patches = name.split(".")[-1] in ("patch", "setattr", "setitem")
                imports = name.split(".")[-1] in ("import_module", "__import__")
                if patches or (imports and _private_module(string)):
                    problems.append(f"line {node.lineno}: {ast.unparse(node)}")
    return problems


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda path: path.name)
def test_benchmark_uses_the_public_api_only(path):
    assert api_violations(path.read_text()) == [], path.name


@pytest.mark.parametrize(
    "source",
    [
        "import sklearn_rae._estimator as estimator",
        "from sklearn_rae._choose_k import choose_n_clusters",
        "from sklearn_rae import _estimator",
        "import sklearn_rae.engines.graph",
        "from sklearn_rae.engines.graph import chain_adjacency",
        "from sklearn_rae.criteria.whitened_means import looks_spherical",
        "from sklearn_rae.criteria import whitened_means",
        "from sklearn_rae import criteria\ncriteria.CRITERIA['mine'] = object",
        "import sklearn_rae\nsklearn_rae.metrics.dendrogram_purity = len",
        "from sklearn_rae import metrics\nmetrics.dendrogram_purity = len",
        "from sklearn_rae import RecursiveAutoencoderClustering as R\nR.fit = None",
        "import sklearn_rae\nsetattr(sklearn_rae, 'x', 1)",
        "from unittest import mock\nmock.patch('sklearn_rae.metrics.x', 1)",
        "import importlib\nimportlib.import_module('sklearn_rae._training')",
        "def f():\n    import sklearn_rae._training as t\n    t.CHECK_REVERTS = False",
    ],
)
def test_the_api_check_finds_private_imports_and_patches(source):
    assert api_violations(source)


def test_the_api_check_allows_the_public_api():
    source = (
        "import sklearn_rae\n"
        "from sklearn_rae import RecursiveAutoencoderClustering, dendrogram_purity\n"
        "from sklearn_rae.metrics import dendrogram_purity as purity\n"
        "model = RecursiveAutoencoderClustering(verbose=1)\n"
        "model.random_state = 0\n"
        "version = sklearn_rae.__version__\n"
    )
    assert api_violations(source) == []
