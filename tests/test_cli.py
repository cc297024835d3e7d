"""The command line: inputs, outputs, summary and one-line errors."""

import csv
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from checkout_env import checkout_env
from scipy.cluster.hierarchy import is_valid_linkage

from sklearn_rae.cli import main
from sklearn_rae.cli.read import read_table

REPO_ROOT = Path(__file__).resolve().parents[1]

DATA = np.array(
    [
        [0.0, 0.1, 1.5],
        [0.2, -0.1, 1.0],
        [0.1, 0.0, 1.2],
        [4.0, 4.2, -1.0],
        [4.1, 3.9, -1.1],
        [3.8, 4.0, -0.9],
        [2.0, 2.5, 0.0],
    ]
)


def _write_csv(path, rows, header=None, delimiter=","):
    with open(path, "w", newline="") as file:
        writer = csv.writer(file, delimiter=delimiter)
        if header is not None:
            writer.writerow(header)
        writer.writerows(rows)
    return path


def cut_linkage(linkage, n_clusters=None, distance_threshold=None):
    """Flat labels of a linkage matrix, numbered by first appearance.

    The first ``n - n_clusters`` merges are made, or those below the threshold.
    """
    n = len(linkage) + 1
    if n_clusters is not None:
        made = n - n_clusters
    else:
        made = int(np.count_nonzero(linkage[:, 2] < distance_threshold))
    parent = list(range(2 * n - 1))

    def root(node):
        while parent[node] != node:
            node = parent[node]
        return node

    for row in range(made):
        left, right = int(linkage[row, 0]), int(linkage[row, 1])
        parent[root(left)] = parent[root(right)] = n + row
    roots = [root(i) for i in range(n)]
    first = {}
    return np.array([first.setdefault(r, len(first)) for r in roots])


def _canonical(labels):
    first = {}
    return np.array([first.setdefault(label, len(first)) for label in labels])


def load_csv(path):
    table = read_table(Path(path))
    X = np.column_stack([np.asarray(c.values) for c in table.columns])
    return X, table.header


def _read_labels(path):
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["sample", "label"]
    assert [int(r[0]) for r in rows[1:]] == list(range(len(rows) - 1))
    return np.array([int(r[1]) for r in rows[1:]])


def test_main_clusters_iris_and_writes_outputs(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--max-iter", "2", "--output-dir", str(out), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    labels = _read_labels(out / "labels.csv")
    linkage = np.load(out / "linkage.npy")
    assert labels.shape == (150,)
    assert linkage.shape == (149, 4)
    assert is_valid_linkage(linkage)
    np.testing.assert_array_equal(
        _canonical(labels), cut_linkage(linkage, n_clusters=3)
    )
    assert (out / "dendrogram.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_main_chooses_the_number_of_clusters_with_auto(tmp_path, capsys):
    out = tmp_path / "out"
    arguments = ["--n-clusters", "auto", "--merge-cost", "boundary", "--max-iter", "2"]
    assert main([*arguments, "--output-dir", str(out)]) == 0
    stdout = capsys.readouterr().out
    labels = _read_labels(out / "labels.csv")
    n_clusters = len(np.unique(labels))
    assert f"{n_clusters} clusters, sizes " in stdout
    assert "'boundary': 2 training steps" in stdout
    assert n_clusters >= 2  # iris is not one Gaussian


def test_main_prints_summary(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--max-iter", "2", "--output-dir", str(out)]) == 0
    stdout = capsys.readouterr().out
    sizes = np.bincount(_read_labels(out / "labels.csv"))
    assert "iris, standardized: 150 samples, 4 features" in stdout
    assert "3 clusters, sizes " + ", ".join(map(str, sizes)) in stdout
    # No gap separates the iris species: the default fits the whitened means.
    assert "merge cost 'auto' (kept 'whitened_means'): 2 training steps" in stdout
    assert "adjusted Rand index against the iris species: " in stdout
    assert str(out / "dendrogram.png") in stdout
    # One line per stage of the fit: the whitened means' 2 steps among them.
    assert "Training whitened_means: 100%|##########| 2/2 [" in stdout
    assert "\r" not in stdout


def test_load_csv_detects_header_and_delimiter(tmp_path):
    rows = DATA.tolist()
    with_header = _write_csv(tmp_path / "a.csv", rows, header=["x", "y", "z"])
    without = _write_csv(tmp_path / "b.csv", rows)
    semicolons = _write_csv(tmp_path / "c.csv", rows, delimiter=";")
    spaces = tmp_path / "d.txt"
    spaces.write_text("\n".join("  ".join(map(repr, r)) for r in rows) + "\n\n")
    X, header = load_csv(with_header)
    assert header == ["x", "y", "z"]
    np.testing.assert_array_equal(X, DATA)
    for path in (without, semicolons, spaces):
        X, header = load_csv(path)
        assert header is None
        np.testing.assert_array_equal(X, DATA)


def test_main_gives_same_tree_for_csv_with_header_and_npy(tmp_path):
    csv_path = _write_csv(tmp_path / "d.csv", DATA.tolist(), header=["x", "y", "z"])
    npy_path = tmp_path / "d.npy"
    np.save(npy_path, DATA)
    args = ["--max-iter", "2", "--quiet", "--output-dir"]
    assert main([str(csv_path), *args, str(tmp_path / "csv")]) == 0
    assert main([str(npy_path), *args, str(tmp_path / "npy")]) == 0
    from_csv = np.load(tmp_path / "csv" / "linkage.npy")
    np.testing.assert_array_equal(from_csv, np.load(tmp_path / "npy" / "linkage.npy"))
    labels = _read_labels(tmp_path / "csv" / "labels.csv")
    np.testing.assert_array_equal(
        _canonical(labels), cut_linkage(from_csv, n_clusters=2)
    )
    assert (tmp_path / "csv" / "dendrogram.png").stat().st_size > 0


def test_main_distance_threshold_cuts_at_height(tmp_path):
    npy_path = tmp_path / "d.npy"
    np.save(npy_path, DATA)
    out = tmp_path / "out"
    # The learned metric's untrained tree does not depend on the cut (the
    # default's choice between two trees does).
    args = [str(npy_path), "--max-iter", "0", "--quiet", "--output-dir", str(out)]
    args += ["--merge-cost", "learned_metric"]
    assert main([*args, "--distance-threshold", "0"]) == 0
    linkage = np.load(out / "linkage.npy")
    threshold = float(np.median(linkage[:, 2]))
    assert main([*args, "--distance-threshold", str(threshold)]) == 0
    labels = _read_labels(out / "labels.csv")
    expected = cut_linkage(linkage, distance_threshold=threshold)
    np.testing.assert_array_equal(_canonical(labels), expected)
    assert labels.max() + 1 == 1 + np.count_nonzero(linkage[:, 2] >= threshold)


def test_main_standardize_changes_the_input(tmp_path):
    npy_path = tmp_path / "d.npy"
    np.save(npy_path, DATA * [1.0, 100.0, 0.01])
    common = [str(npy_path), "--max-iter", "0", "--quiet", "--output-dir"]
    learned = ["--merge-cost", "learned_metric"]
    assert main([*common, str(tmp_path / "raw"), *learned]) == 0
    assert main([*common, str(tmp_path / "std"), "--standardize", *learned]) == 0
    raw = np.load(tmp_path / "raw" / "linkage.npy")
    scaled = np.load(tmp_path / "std" / "linkage.npy")
    assert not np.allclose(raw[:, 2], scaled[:, 2])
    # The default's metric is unit-free: standardising changes no label.
    assert main([*common, str(tmp_path / "raw_default")]) == 0
    assert main([*common, str(tmp_path / "std_default"), "--standardize"]) == 0
    np.testing.assert_array_equal(
        _read_labels(tmp_path / "raw_default" / "labels.csv"),
        _read_labels(tmp_path / "std_default" / "labels.csv"),
    )


def _bad_npy(tmp_path, array):
    path = tmp_path / "bad.npy"
    np.save(path, array, allow_pickle=True)
    return [str(path)]


def _bad_csv(tmp_path, text):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    return [str(path)]


def _binary_csv(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"\xff\xfe\x00\x81,\x90\n")
    return [str(path)]


def _text_npy(tmp_path):
    path = tmp_path / "text.npy"
    path.write_text("1,2\n3,4\n")
    return [str(path)]


def _npz(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return [str(path)]


def _truncated_npy(tmp_path):
    path = tmp_path / "truncated.npy"
    np.save(path, np.zeros((100, 3)))
    path.write_bytes(path.read_bytes()[:300])
    return [str(path)]


BAD_INPUTS = {
    "missing file": (lambda p: [str(p / "nope.csv")], "no such file"),
    "directory": (lambda p: [str(p)], "is a directory"),
    "empty file": (lambda p: _bad_csv(p, ""), "is empty"),
    "header only": (lambda p: _bad_csv(p, "a,b\n"), "no data"),
    "text column chosen": (
        lambda p: _bad_csv(p, "a,b\n1,2\n3,x\n") + ["--columns", "a,b"],
        "line 3, column 'b': 'x' is not a number",
    ),
    "missing value": (
        lambda p: _bad_csv(p, "1,2\n3,\n"),
        "line 2, column 'column 2': missing value",
    ),
    "ragged rows": (lambda p: _bad_csv(p, "1,2\n3,4,5\n"), "3 fields"),
    "inf in csv": (
        lambda p: _bad_csv(p, "1,2\n3,-inf\n"),
        "line 2, column 'column 2': infinite value",
    ),
    "binary csv": (lambda p: _binary_csv(p), "line 1: not UTF-8 text"),
    "one sample": (lambda p: _bad_csv(p, "1,2\n"), "at least 2"),
    "one sample after a header": (
        lambda p: _bad_csv(p, "a,b\n1,2\n"),
        "holds 1 sample after its header line",
    ),
    "hexadecimal first row": (
        lambda p: _bad_csv(p, "0x10,2\n3,4\n") + ["--columns", "1,2"],
        "line 1, column 'column 1': '0x10' is not a number",
    ),
    "npz of two arrays": (
        lambda p: _npz(p, a=np.zeros((3, 2)), b=np.ones(3)),
        "holds 2 arrays (a, b); expected one",
    ),
    "npz of a 1-D array": (lambda p: _npz(p, a=np.zeros(3)), "expected a 2-D array"),
    "1-D npy": (lambda p: _bad_npy(p, np.arange(5.0)), "expected a 2-D array"),
    "3-D npy": (lambda p: _bad_npy(p, np.zeros((2, 2, 2))), "expected a 2-D array"),
    "string npy": (lambda p: _bad_npy(p, np.array([["a", "b"]])), "expected numbers"),
    "object npy": (
        lambda p: _bad_npy(p, np.array([[1, None]], dtype=object)),
        "pickling",
    ),
    "inf in npy": (
        lambda p: _bad_npy(p, np.array([[1.0, 2.0], [np.inf, 0.0]])),
        "bad.npy, row 2, column 'column 1': infinite value",
    ),
    "empty npy": (lambda p: _bad_npy(p, np.zeros((0, 3))), "no data"),
    "not an npy": (lambda p: _text_npy(p), "not a .npy file"),
    "truncated npy": (lambda p: _truncated_npy(p), "not a readable .npy file"),
    "too many clusters": (
        lambda p: _bad_csv(p, "1,2\n3,4\n5,6\n") + ["--n-clusters", "4"],
        "--n-clusters 4 is more than the 3 samples",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_main_reports_bad_input_in_one_line(case, tmp_path, capsys):
    make_args, message = BAD_INPUTS[case]
    out = tmp_path / "out"
    assert main([*make_args(tmp_path), "--output-dir", str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("sklearn-rae: error: ")
    assert message in captured.err
    assert not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n-clusters", "3", "--distance-threshold", "1"], "not both"),
        (["--n-clusters", "0"], "not a positive integer"),
        (["--n-clusters", "many"], "'many' is not an integer"),
        (["--n-clusters", "two"], "'two' is not an integer"),
        (["--max-iter", "-1"], "-1 is negative"),
        (["--distance-threshold", "-0.5"], "not a non-negative number"),
        (["--distance-threshold", "nan"], "not a non-negative number"),
        (["--learning-rate", "0"], "not a positive number"),
        (["--batch-size", "1"], "less than 2"),
        (["--merge-cost", "nonsense"], "invalid choice: 'nonsense'"),
        (["--no-such-option"], "unrecognized arguments"),
        (["a.csv", "b.csv"], "unrecognized arguments"),
        (["--random-state", "-1"], "-1 is not between 0 and 4294967295"),
        (["--random-state", "2**32"], "'2**32' is not an integer"),
        (["--columns", "a", "--drop-columns", "b"], "not allowed with"),
        (["--columns", "a,,b"], "not a comma-separated list"),
    ],
)
def test_main_reports_bad_options_in_one_line(args, message, tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*args, "--output-dir", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("sklearn-rae: error: ")
    assert message in captured.err
    assert not out.exists()


def test_main_help_and_version(capsys):
    assert main(["--help"]) == 0
    help_text = capsys.readouterr().out
    for option in ("--n-clusters", "--distance-threshold", "--standardize", "--quiet"):
        assert option in help_text
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("sklearn-rae 0.")


def test_main_without_matplotlib_skips_the_picture(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    npy_path = tmp_path / "d.npy"
    np.save(npy_path, DATA)
    out = tmp_path / "out"
    assert main([str(npy_path), "--max-iter", "0", "--output-dir", str(out)]) == 0
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["labels.csv", "linkage.npy"]
    assert captured.err.count("\n") == 1
    assert "matplotlib is not installed" in captured.err
    assert "wrote " in captured.out


def test_module_runs_as_a_script(tmp_path):
    env = checkout_env()
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_rae", "--max-iter", "2"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "adjusted Rand index against the iris species" in result.stdout
    output = tmp_path / "sklearn-rae-output"
    assert sorted(p.name for p in output.iterdir()) == [
        "dendrogram.png",
        "labels.csv",
        "linkage.npy",
    ]
    assert np.load(output / "linkage.npy").shape == (149, 4)


def test_console_script_points_at_main():
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    module_name, _, function = project["scripts"]["sklearn-rae"].partition(":")
    module = __import__(module_name, fromlist=[function])
    assert getattr(module, function) is main


def test_main_reports_each_warning_once(tmp_path, capsys):
    npy_path = tmp_path / "d.npy"
    np.save(npy_path, DATA * 100)
    args = [str(npy_path), "--max-iter", "5", "--learning-rate", "1e30", "--quiet"]
    args += ["--merge-cost", "cumulative"]
    assert main([*args, "--output-dir", str(tmp_path / "out")]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines
    assert all(line.startswith("sklearn-rae: warning: ") for line in lines)
    assert len(set(lines)) == len(lines)
    assert any("Training diverged at step" in line for line in lines)


def test_main_job_dependencies_are_core_dependencies():
    # ``pip install .`` alone must give the command line its dendrogram.
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    names = [
        dep.split(">")[0].split("=")[0].split("[")[0] for dep in project["dependencies"]
    ]
    assert "matplotlib" in names
    test_names = [dep.split(">")[0] for dep in project["optional-dependencies"]["test"]]
    assert "skops" in test_names


@pytest.mark.parametrize(
    "text, args, message",
    [
        ("a,b\n1,2\n3,4\n", ["--columns", "a,c"], "no column named 'c' ('a', 'b')"),
        ("1,2\n3,4\n", ["--columns", "a"], "no column named 'a' (the file has no"),
        ("1,2\n3,4\n", ["--drop-columns", "3"], "position 3 is not between 1 and 2"),
        ("a,b\n1,2\n3,4\n", ["--drop-columns", "a,2"], "no column would be left"),
        ("a,b\n1,2\n3,4\n", ["--columns", "a,1"], "a column is named twice"),
    ],
)
def test_main_reports_bad_columns_as_usage_errors(
    text, args, message, tmp_path, capsys
):
    out = tmp_path / "out"
    assert main([*_bad_csv(tmp_path, text), *args, "--output-dir", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1
    assert message in captured.err
    assert not out.exists()


def _linkage_of(tmp_path, name, args):
    out = tmp_path / name
    assert main([*args, "--max-iter", "2", "--quiet", "--output-dir", str(out)]) == 0
    return np.load(out / "linkage.npy")


def test_main_leaves_out_an_identifier_column(tmp_path, capsys):
    npy_path = tmp_path / "d.npy"
    np.save(npy_path, DATA)
    expected = _linkage_of(tmp_path, "npy", [str(npy_path)])
    # Named like an identifier (any values), or exactly the row numbers 1..n.
    ids = np.arange(1000, 1000 + len(DATA))[:, None]
    named = _write_csv(
        tmp_path / "named.csv", np.hstack([ids, DATA]).tolist(), ["id", "a", "b", "c"]
    )
    rows = np.arange(1, 1 + len(DATA))[:, None]
    unnamed = _write_csv(tmp_path / "unnamed.csv", np.hstack([rows, DATA]).tolist())
    capsys.readouterr()
    for path, header, first_id in [(named, "id", "1000.0"), (unnamed, "column 1", "1")]:
        np.testing.assert_array_equal(
            _linkage_of(tmp_path, path.stem, [str(path)]), expected
        )
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert "sklearn-rae: warning: leaving out " in err
        assert "row identifier" in err and "--columns" in err
        with open(tmp_path / path.stem / "labels.csv", newline="") as file:
            written = list(csv.reader(file))
        assert written[0] == [header, "label"]
        assert written[1][0] == first_id
    # Given explicitly, every column is used.
    kept = _linkage_of(tmp_path, "kept", [str(named), "--columns", "id,a,b,c"])
    assert not np.array_equal(kept, expected)
    assert capsys.readouterr().err == ""


def test_main_leaves_out_a_pandas_index_column(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    path = tmp_path / "frame.csv"
    # Shuffled rows: the index is named by pandas' empty header field only.
    frame = pd.DataFrame(DATA, columns=["a", "b", "c"], index=[3, 0, 6, 1, 5, 2, 4])
    frame.to_csv(path)
    npy_path = tmp_path / "d.npy"
    np.save(npy_path, DATA)
    expected = _linkage_of(tmp_path, "npy", [str(npy_path)])
    capsys.readouterr()
    np.testing.assert_array_equal(_linkage_of(tmp_path, "csv", [str(path)]), expected)
    assert "leaving out 'column 1 (unnamed)'" in capsys.readouterr().err


def test_main_selects_columns_by_name_and_position(tmp_path, capsys):
    npy_path = tmp_path / "d.npy"
    np.save(npy_path, DATA[:, [2, 0]])
    expected = _linkage_of(tmp_path, "npy", [str(npy_path)])
    path = _write_csv(tmp_path / "d.csv", DATA.tolist(), ["x", "y", "z"])
    for name, args in [
        ("names", ["--columns", "z,x"]),
        ("positions", ["--columns", "3, 1"]),
    ]:
        linkage = _linkage_of(tmp_path, name, [str(path), *args])
        np.testing.assert_array_equal(linkage, expected)
    np.save(npy_path, DATA[:, [0, 2]])
    expected = _linkage_of(tmp_path, "npy2", [str(npy_path)])
    for name, args in [
        ("drop", ["--drop-columns", "y"]),
        ("drop2", ["--drop-columns", "2"]),
    ]:
        linkage = _linkage_of(tmp_path, name, [str(path), *args])
        np.testing.assert_array_equal(linkage, expected)
    out = tmp_path / "shown"
    assert (
        main(
            [str(path), "--columns", "z,x", "--max-iter", "0", "--output-dir", str(out)]
        )
        == 0
    )
    assert "columns used: z, x\n" in capsys.readouterr().out


def test_main_warns_about_columns_of_different_scales(tmp_path, capsys):
    path = _write_csv(
        tmp_path / "d.csv", (DATA * [1.0, 1000.0, 1.0]).tolist(), ["a", "grams", "c"]
    )
    args = [
        str(path),
        "--max-iter",
        "0",
        "--merge-cost",
        "learned_metric",
        "--quiet",
        "--output-dir",
        str(tmp_path / "o"),
    ]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "sklearn-rae: warning: the columns' scales differ by a factor of" in err
    assert "'grams'" in err and "--standardize" in err
    for option in ("--standardize", "--no-standardize"):
        assert main([*args, option]) == 0
        assert capsys.readouterr().err == ""


def test_main_checks_the_output_dir_before_training(tmp_path, capsys, monkeypatch):
    from sklearn_rae import RecursiveAutoencoderClustering

    def fit(*args, **kwargs):
        raise AssertionError("fit must not run")

    monkeypatch.setattr(RecursiveAutoencoderClustering, "fit", fit)
    a_file = tmp_path / "file"
    a_file.write_text("")
    for out, message in [
        (a_file, "exists and is not a directory"),
        (a_file / "sub", f"cannot be created: {a_file} is not a directory"),
    ]:
        assert main(["--output-dir", str(out)]) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.count("\n") == 1
        assert message in captured.err
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert main(["--output-dir", str(locked)]) == 1
        assert "permission denied" in capsys.readouterr().err


def test_main_reads_a_single_array_npz(tmp_path):
    npy_path = tmp_path / "d.npy"
    np.save(npy_path, DATA)
    npz_path = tmp_path / "d.npz"
    np.savez_compressed(npz_path, data=DATA)
    np.testing.assert_array_equal(
        _linkage_of(tmp_path, "npz", [str(npz_path)]),
        _linkage_of(tmp_path, "npy", [str(npy_path)]),
    )


def test_main_on_constant_data_writes_nothing_raw_to_stderr(tmp_path, capsys):
    path = _bad_csv(tmp_path, "1,2\n1,2\n1,2\n1,2\n")
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        assert main([*path, "--quiet", "--output-dir", str(tmp_path / "out")]) == 0
    assert [str(w.message) for w in leaked] == []
    assert capsys.readouterr().err == ""
    assert (tmp_path / "out" / "dendrogram.png").is_file()
