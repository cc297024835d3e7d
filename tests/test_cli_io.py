"""The command line on real files: safe outputs, hostile inputs, ordinary CSVs."""

import csv
import errno
import os
import signal
import socket
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from checkout_env import start_in_checkout

import sklearn_rae
from sklearn_rae.cli import main
from sklearn_rae.cli import read as cli_read
from sklearn_rae.cli import write as cli_write

REPO_ROOT = Path(__file__).resolve().parents[1]
OUTPUTS = ("dendrogram.png", "labels.csv", "linkage.npy")
FAST = ["--merge-cost", "learned_metric", "--max-iter", "0", "--quiet"]

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


def _run(*args):
    return main([*map(str, args), *FAST])


def _npy(tmp_path, X=DATA, name="d.npy"):
    path = tmp_path / name
    np.save(path, X)
    return path


def _snapshot(directory):
    """Every file of a directory, hidden ones included, with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def _previous_run(tmp_path):
    """An output directory holding the complete outputs of another data set."""
    out = tmp_path / "out"
    other = _npy(tmp_path, np.vstack([DATA, DATA + 10.0]), "other.npy")
    assert _run(other, "--output-dir", out) == 0
    before = _snapshot(out)
    assert sorted(before) == list(OUTPUTS)
    return out, before


def _read_rows(path):
    with open(path, newline="") as file:
        return list(csv.reader(file))


def _one_error_line(capsys, status_text=None):
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert captured.err.startswith("sklearn-rae: error: ")
    assert "Traceback" not in captured.err
    return captured.err


# ------------------------------------------------------- outputs as a set


def test_failed_write_leaves_the_previous_outputs(tmp_path, capsys, monkeypatch):
    # A full disk while labels.csv is written: the previous set stays whole.
    out, before = _previous_run(tmp_path)

    def full_disk(file, identifiers, labels):
        file.write(b"sample,label\n0,1\n")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cli_write, "write_labels_csv", full_disk)
    capsys.readouterr()
    assert _run(_npy(tmp_path), "--output-dir", out) == 1
    err = _one_error_line(capsys)
    assert f"the disk holding {out} is full (ENOSPC" in err and "unchanged" in err
    assert _snapshot(out) == before  # no temporaries left either


def test_failed_drawing_leaves_the_previous_outputs(tmp_path, capsys, monkeypatch):
    out, before = _previous_run(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("the renderer failed")

    monkeypatch.setattr(sklearn_rae, "plot_dendrogram", broken)
    capsys.readouterr()
    assert _run(_npy(tmp_path), "--output-dir", out) == 1
    assert "RuntimeError: the renderer failed" in _one_error_line(capsys)
    assert _snapshot(out) == before


def test_failed_rename_restores_the_previous_outputs(tmp_path, capsys, monkeypatch):
    # The second of three renames fails: the first is undone.
    out, before = _previous_run(tmp_path)
    real_replace = os.replace
    calls = []

    def replace(source, target):
        calls.append(Path(target).name)
        if len(calls) == 2:
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(source, target)

    monkeypatch.setattr(cli_write.os, "replace", replace)
    capsys.readouterr()
    assert _run(_npy(tmp_path), "--output-dir", out) == 1
    assert "Input/output error" in _one_error_line(capsys)
    assert _snapshot(out) == before


def test_outputs_are_replaced_whole(tmp_path):
    out, before = _previous_run(tmp_path)
    assert _run(_npy(tmp_path), "--output-dir", out) == 0
    after = _snapshot(out)
    assert sorted(after) == list(OUTPUTS)
    assert all(after[name] != before[name] for name in OUTPUTS)
    assert np.load(out / "linkage.npy").shape == (len(DATA) - 1, 4)
    mode = (out / "labels.csv").stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask  # not the temporary file's 0600


def test_run_without_dendrogram_removes_the_previous_one(tmp_path, capsys, monkeypatch):
    out, _ = _previous_run(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    capsys.readouterr()
    assert _run(_npy(tmp_path), "--output-dir", out) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "the dendrogram.png of the previous run was removed" in err
    assert sorted(p.name for p in out.iterdir()) == ["labels.csv", "linkage.npy"]


_INTERRUPTED_WRITER = """
import sys, time
from sklearn_rae.cli import main, write

def slow(file, identifiers, labels):
    file.write(b"sample,label\\n0,0\\n")
    file.flush()
    print("writing", flush=True)
    time.sleep(300)

write.write_labels_csv = slow
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    "signum, status, word",
    [
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGTERM, 143, "terminated"),
        (signal.SIGHUP, 129, "hung up"),
    ],
)
def test_signal_while_writing_leaves_the_previous_outputs(
    signum, status, word, tmp_path
):
    out, before = _previous_run(tmp_path)
    child = start_in_checkout(
        _INTERRUPTED_WRITER, str(_npy(tmp_path)), *FAST, "--output-dir", str(out)
    )
    try:
        assert child.stdout.readline() == "writing\n"
        # labels.csv is half written to its temporary file now.
        assert any(p.name.startswith(".labels.csv.") for p in out.iterdir())
        child.send_signal(signum)
        _, stderr = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == status
    assert stderr.strip().splitlines()[-1] == f"sklearn-rae: {word}"
    assert _snapshot(out) == before


# -------------------------------------------------- paths that are refused


def test_symlink_at_an_output_path_is_refused(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    (out / "labels.csv").symlink_to(target)
    assert _run(_npy(tmp_path), "--output-dir", out) == 1
    assert "labels.csv is a symbolic link" in _one_error_line(capsys)
    assert target.read_text() == "keep me\n"
    assert (out / "labels.csv").is_symlink()
    assert sorted(p.name for p in out.iterdir()) == ["labels.csv"]


def test_input_that_is_an_output_is_refused(tmp_path, capsys):
    out, before = _previous_run(tmp_path)
    # The input named directly, through another path, and as a hard link.
    elsewhere = tmp_path / "hard-link.npy"
    os.link(out / "linkage.npy", elsewhere)
    for path in (
        out / "labels.csv",
        tmp_path / "out" / ".." / "out" / "linkage.npy",
        elsewhere,
    ):
        assert _run(path, "--output-dir", out) == 1
        err = _one_error_line(capsys)
        assert "which this run would replace" in err
    assert _snapshot(out) == before


def _in_thread(function, timeout=30):
    """Run ``function``; fail instead of hanging if it does not return."""
    result = {}

    def target():
        try:
            result["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            result["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "reading the file blocked"
    return result


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    result = _in_thread(lambda: cli_read.read_table(fifo))
    assert isinstance(result["error"], cli_read.InputError)
    assert "is a FIFO (named pipe), not a regular file" in str(result["error"])


@pytest.mark.parametrize("kind", ["device", "directory", "socket"])
def test_other_file_kinds_are_refused(kind, tmp_path, capsys):
    if kind == "device":
        path, words = Path("/dev/zero"), "is a character device"
    elif kind == "directory":
        path, words = tmp_path, "is a directory"
    else:
        path, words = tmp_path / "s.csv", "is a socket"
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
    result = _in_thread(lambda: main([str(path), "--output-dir", str(tmp_path / "o")]))
    assert result["value"] == 1
    assert words in _one_error_line(capsys)


def test_csv_field_over_the_csv_limit_is_one_line(tmp_path, capsys):
    path = tmp_path / "wide.csv"
    path.write_text("a,b\n1,2\n3," + "7" * 200_000 + "\n4,5\n")
    assert _run(path, "--output-dir", tmp_path / "o") == 1
    err = _one_error_line(capsys)
    assert f"{path}, line 3: a field is longer than 131,072 characters" in err


def test_csv_over_the_size_limit_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli_read, "MAX_CSV_BYTES", 1000)
    path = tmp_path / "big.csv"
    path.write_text("1,2\n" * 300)
    assert _run(path, "--output-dir", tmp_path / "o") == 1
    assert "numpy.save" in _one_error_line(capsys)


def test_csv_line_over_the_length_limit_is_refused(tmp_path, capsys, monkeypatch):
    # Whitespace-separated: no csv field limit applies, the line limit does.
    monkeypatch.setattr(cli_read, "MAX_LINE_CHARS", 100)
    path = tmp_path / "long.txt"
    path.write_text("1 2\n3 4\n" + "5 " * 100 + "\n")
    assert _run(path, "--output-dir", tmp_path / "o") == 1
    assert "line 3: longer than 100 characters" in _one_error_line(capsys)


def test_npz_member_inflating_past_the_limit_is_not_decompressed(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setattr(cli_read, "MAX_ARRAY_BYTES", 2**20)
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, a=np.zeros((4096, 64)))  # 2 MiB in 4 KiB
    assert path.stat().st_size < 10_000

    def no_decompression(*args, **kwargs):
        raise AssertionError("the member was decompressed")

    monkeypatch.setattr(np.lib.format, "read_array", no_decompression)
    assert _run(path, "--output-dir", tmp_path / "o") == 1
    err = _one_error_line(capsys)
    assert "its array 'a.npy' inflates to 2 MiB, more than the 1 MiB" in err


def _header_claiming(shape):
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    buffer = __import__("io").BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def test_npy_and_npz_headers_are_checked_against_their_size(
    tmp_path, capsys, monkeypatch
):
    # A header announcing 8 GB over 80 bytes of data: nothing is allocated.
    claims = _header_claiming((10**9, 1)) + np.zeros(10).tobytes()
    npy = tmp_path / "liar.npy"
    npy.write_bytes(claims)
    npz = tmp_path / "liar.npz"
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("a.npy", claims)
    assert _run(npy, "--output-dir", tmp_path / "o") == 1
    assert (
        "(1000000000, 1), 7.5 GiB, more than the 4 GiB the command"
        in _one_error_line(capsys)
    )
    monkeypatch.setattr(cli_read, "MAX_ARRAY_BYTES", 2**40)
    for path in (npy, npz):
        assert _run(path, "--output-dir", tmp_path / "o") == 1
        err = _one_error_line(capsys)
        assert "announces 8,000,000,000 bytes of data" in err
        assert "but 80 follow" in err


# ------------------------------------------------------------- printing


def test_mathtext_in_the_file_name_is_drawn_as_text(tmp_path, capsys, monkeypatch):
    path = _npy(tmp_path, name="cost$\\undefinedcommand{$.npy")
    titles = []
    real_set_title = __import__("matplotlib.axes").axes.Axes.set_title

    def set_title(self, label, *args, **kwargs):
        titles.append(label)
        return real_set_title(self, label, *args, **kwargs)

    monkeypatch.setattr("matplotlib.axes.Axes.set_title", set_title)
    out = tmp_path / "out"
    assert _run(path, "--output-dir", out) == 0
    assert capsys.readouterr().err == ""
    assert sorted(p.name for p in out.iterdir()) == list(OUTPUTS)
    assert titles and titles[-1].startswith(f"{path}: merge cost")


def test_control_characters_are_escaped_before_printing(tmp_path, capsys):
    path = tmp_path / "evil\x1b]0;pwned\x07.csv"
    rows = "\n".join(",".join(map(str, row)) for row in DATA)
    path.write_text("\x1b[2Ja,b,c\x1b[31m\n" + rows + "\n")
    out = tmp_path / "out"
    assert main([str(path), "--max-iter", "0", "--output-dir", str(out)]) == 0
    captured = capsys.readouterr()
    for stream in (captured.out, captured.err):
        assert "\x1b" not in stream and "\x07" not in stream
    assert "columns used: \\x1b[2Ja, b, c\\x1b[31m" in captured.out
    assert "evil\\x1b]0;pwned\\x07.csv: 7 samples" in captured.out
    # The error path too.
    assert main([str(tmp_path / "no\x1b[2Jfile.csv")]) == 1
    err = capsys.readouterr().err
    assert "\x1b" not in err and "no\\x1b[2Jfile.csv: no such file" in err


def test_unexpected_errors_are_one_line(tmp_path, capsys, monkeypatch):
    def bug(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(cli_read, "read_table", bug)
    assert _run(_npy(tmp_path), "--output-dir", tmp_path / "o") == 1
    assert "KeyError: 'surprise'" in _one_error_line(capsys)


# ----------------------------------------------------------- ordinary CSVs

IRIS_LIKE = """\
id,sepal_length,sepal_width,petal_length,petal_width,species
a01,5.1,3.5,1.4,0.2,setosa
a02,4.9,3.0,1.4,0.2,setosa
a03,4.7,3.2,1.3,0.2,setosa
b01,7.0,3.2,4.7,1.4,versicolor
b02,6.4,3.2,4.5,1.5,versicolor
c01,6.3,3.3,6.0,2.5,virginica
c02,5.8,2.7,5.1,1.9,virginica
"""


def test_drop_columns_species_reads_a_csv_with_names(tmp_path, capsys):
    path = tmp_path / "iris.csv"
    path.write_text(IRIS_LIKE)
    out = tmp_path / "out"
    args = [str(path), "--max-iter", "0", "--output-dir", str(out)]
    assert main([*args, "--drop-columns", "species"]) == 0
    captured = capsys.readouterr()
    assert (
        "columns used: sepal_length, sepal_width, petal_length, petal_width\n"
        in captured.out
    )
    assert captured.err == ""  # a text column named "id" is an identifier
    rows = _read_rows(out / "labels.csv")
    assert rows[0] == ["id", "label"]
    assert [row[0] for row in rows[1:]] == ["a01", "a02", "a03", "b01", "b02"] + [
        "c01",
        "c02",
    ]
    assert main([*args, "--drop-columns", "id,species"]) == 0
    assert _read_rows(out / "labels.csv") == rows


def test_text_columns_are_left_out_with_a_warning(tmp_path, capsys):
    path = tmp_path / "iris.csv"
    path.write_text(IRIS_LIKE.replace("id,", "name,"))
    out = tmp_path / "out"
    assert _run(path, "--output-dir", out) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "leaving out the text columns 'name', 'species' of" in err
    assert "('a01' on line 2)" in err
    assert _read_rows(out / "labels.csv")[0] == ["sample", "label"]


def test_headerless_file_with_a_text_column_keeps_its_first_row(tmp_path, capsys):
    path = tmp_path / "iris.data"
    path.write_text(
        "".join(line.split(",", 1)[1] + "\n" for line in IRIS_LIKE.split("\n")[1:-1])
    )
    out = tmp_path / "out"
    assert _run(path, "--output-dir", out) == 0
    assert "text column 'column 5'" in capsys.readouterr().err
    assert len(_read_rows(out / "labels.csv")) == 1 + 7


def test_increasing_feature_is_not_an_identifier(tmp_path, capsys):
    # A file sorted by age: unique increasing integers, but not row numbers.
    ages = [21, 25, 30, 34, 40, 47, 52]
    rows = [[age, *row] for age, row in zip(ages, DATA.tolist(), strict=True)]
    path = tmp_path / "people.csv"
    with open(path, "w", newline="") as file:
        csv.writer(file).writerows([["age", "a", "b", "c"], *rows])
    out = tmp_path / "out"
    assert main([str(path), "--max-iter", "0", "--output-dir", str(out)]) == 0
    captured = capsys.readouterr()
    assert "columns used: age, a, b, c\n" in captured.out
    assert "identifier" not in captured.err


def test_labels_join_back_to_a_pandas_frame(tmp_path):
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        DATA, columns=["a", "b", "c"], index=[30, 10, 60, 11, 50, 20, 40]
    )
    path = tmp_path / "frame.csv"
    frame.to_csv(path)
    out = tmp_path / "out"
    assert _run(path, "--output-dir", out) == 0
    labels = pd.read_csv(out / "labels.csv", index_col=0)
    assert list(labels.index) == [30, 10, 60, 11, 50, 20, 40]
    joined = pd.read_csv(path, index_col=0).join(labels)
    # The two groups of DATA, whatever their numbering.
    assert joined.loc[[30, 10, 60], "label"].nunique() == 1
    assert joined.loc[[11, 50, 20], "label"].nunique() == 1
    assert joined.loc[30, "label"] != joined.loc[11, "label"]


def test_dropna_leaves_out_rows_and_says_how_many(tmp_path, capsys):
    text = "a,b,c\n" + "\n".join(",".join(map(str, row)) for row in DATA) + "\n"
    lines = text.splitlines()
    lines[2] = "0.2,NA,1.0"  # second data row
    lines[5] = "4.1,,-1.1"  # fifth data row
    path = tmp_path / "holes.csv"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    assert main([str(path), "--max-iter", "0", "--output-dir", str(out)]) == 1
    err = _one_error_line(capsys)
    assert "holes.csv, line 3, column 'b': missing value ('NA'); 2 rows have" in err
    assert "--dropna" in err
    assert (
        main([str(path), "--max-iter", "0", "--dropna", "--output-dir", str(out)]) == 0
    )
    stdout = capsys.readouterr().out
    assert "holes.csv: 5 samples, 3 features" in stdout
    assert "left out 2 of 7 rows with missing values (--dropna)" in stdout
    rows = _read_rows(out / "labels.csv")
    assert [row[0] for row in rows[1:]] == ["0", "2", "3", "5", "6"]
    assert np.load(out / "linkage.npy").shape == (4, 4)


def test_missing_value_in_a_column_left_out_does_not_count(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text(
        IRIS_LIKE.replace("a02,4.9,3.0,1.4,0.2,setosa", "a02,4.9,3.0,1.4,0.2,")
    )
    assert _run(path, "--drop-columns", "species", "--output-dir", tmp_path / "o") == 0


def test_decimal_comma_reads_european_files(tmp_path):
    european = "a;b;c\n" + "\n".join(
        ";".join(str(v).replace(".", ",") for v in row) for row in DATA
    )
    path = tmp_path / "eu.csv"
    path.write_text(european + "\n")
    expected = tmp_path / "expected"
    assert _run(_npy(tmp_path), "--output-dir", expected) == 0
    out = tmp_path / "out"
    assert _run(path, "--decimal", ",", "--output-dir", out) == 0
    np.testing.assert_array_equal(
        np.load(out / "linkage.npy"), np.load(expected / "linkage.npy")
    )


def test_decimal_comma_is_suggested(tmp_path, capsys):
    path = tmp_path / "eu.csv"
    path.write_text("a;b\n1,5;2,5\n3,5;4,5\n5,5;1,0\n")
    assert _run(path, "--output-dir", tmp_path / "o") == 1
    assert "--decimal ," in _one_error_line(capsys)


@pytest.mark.parametrize(
    "given, expected", [([], "sqrt"), (["--height-scale", "log"], "log")]
)
def test_height_scale_is_passed_to_plot_dendrogram(
    given, expected, tmp_path, monkeypatch
):
    seen = []
    real = sklearn_rae.plot_dendrogram

    def plot(model, ax=None, **kwargs):
        seen.append(kwargs)
        return real(model, ax=ax, **kwargs)

    monkeypatch.setattr(sklearn_rae, "plot_dendrogram", plot)
    assert _run(_npy(tmp_path), *given, "--output-dir", tmp_path / "o") == 0
    assert seen == [{"height_scale": expected}]


def test_height_scale_choices(capsys):
    assert main(["--height-scale", "cubic"]) == 2
    assert "invalid choice: 'cubic'" in _one_error_line(capsys)
