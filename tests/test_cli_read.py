"""The command line's reading of CSV files: delimiters, headers, digits, columns."""

import csv

import numpy as np
import pytest

from sklearn_rae.cli import main
from sklearn_rae.cli.dialect import detect_delimiter, looks_like_numeric_header

FAST = ["--merge-cost", "learned_metric", "--max-iter", "0", "--quiet"]
SAMPLES = np.random.default_rng(0).normal(size=(12, 2)) + np.repeat(
    [[0.0], [5.0]], 6, axis=0
)


def _run(*args):
    return main([*map(str, args), *FAST])


def _linkage_of_npy(tmp_path, X):
    path = tmp_path / "reference.npy"
    np.save(path, X)
    assert _run(path, "--output-dir", tmp_path / "reference") == 0
    return np.load(tmp_path / "reference" / "linkage.npy")


def _rows(path):
    with open(path, newline="") as file:
        return list(csv.reader(file))


def _one_line(text, start):
    assert text.count("\n") == 1, text
    assert text.startswith(start), text
    return text


# --------------------------------------------- semicolons and decimal commas


def _european(X):
    return "".join(f"{a:.6f};{b:.6f}\n".replace(".", ",") for a, b in X)


def test_headerless_semicolons_with_decimal_commas_are_refused(tmp_path, capsys):
    # 1,764052;0,400157 is two numbers separated by a semicolon, not three
    # fields separated by commas.
    path = tmp_path / "eu.csv"
    path.write_text(_european(SAMPLES))
    assert _run(path, "--output-dir", tmp_path / "out") == 1
    err = _one_line(capsys.readouterr().err, "sklearn-rae: error: ")
    assert "line 1, column 'column 1'" in err
    assert "decimal comma; give --decimal , to read it" in err
    assert not (tmp_path / "out").exists()
    # With the option, the numbers are read whole: the tree of the array.
    assert _run(path, "--decimal", ",", "--output-dir", tmp_path / "eu") == 0
    np.testing.assert_array_equal(
        np.load(tmp_path / "eu" / "linkage.npy"),
        _linkage_of_npy(tmp_path, np.round(SAMPLES, 6)),
    )


def test_a_decimal_comma_column_is_refused_not_left_out(tmp_path, capsys):
    # Beside an integer column, a column of decimal commas was left out as text.
    lines = [f"{i};{a:.3f}".replace(".", ",") for i, a in enumerate(SAMPLES[:, 0])]
    path = tmp_path / "eu.csv"
    path.write_text("count;weight\n" + "\n".join(lines) + "\n")
    assert _run(path, "--output-dir", tmp_path / "out") == 1
    err = _one_line(capsys.readouterr().err, "sklearn-rae: error: ")
    assert "column 'weight'" in err and "--decimal ," in err


@pytest.mark.parametrize(
    "line, delimiter",
    [
        ("1,764052;0,400157\n", ";"),
        ("a;b\n", ";"),
        ("1.5,2.5\n", ","),
        ("x,y;z\n", ","),  # a comma that is no decimal mark separates
    ],
)
def test_detect_delimiter(line, delimiter):
    assert detect_delimiter(line, ".") == delimiter


# ----------------------------------------------------- a header of numbers


def _years_file(tmp_path):
    path = tmp_path / "years.csv"
    rows = [[f"{v:.4f}" for v in (a, b, a - b)] for a, b in SAMPLES]
    with open(path, "w", newline="") as file:
        csv.writer(file).writerows([["2019", "2020", "2021"], *rows])
    return path


def test_a_header_of_numbers_is_reported(tmp_path, capsys):
    path = _years_file(tmp_path)
    assert _run(path, "--output-dir", tmp_path / "auto") == 0
    err = _one_line(capsys.readouterr().err, "sklearn-rae: warning: ")
    assert "line 1: the first line ('2019,2020,2021') looks like a header" in err
    assert "--header yes" in err and "--header no" in err
    assert len(_rows(tmp_path / "auto" / "labels.csv")) == 1 + 13


def test_header_yes_reads_numbers_as_column_names(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    path = _years_file(tmp_path)
    out = tmp_path / "yes"
    assert (
        main(
            [str(path), "--header", "yes", "--max-iter", "0", "--output-dir", str(out)]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "columns used: 2019, 2020, 2021\n" in captured.out
    # The row numbers are pandas' index: the labels join back.
    labels = pd.read_csv(out / "labels.csv", index_col=0)
    frame = pd.read_csv(path)
    assert list(labels.index) == list(frame.index)
    assert "label" in frame.join(labels).columns
    assert _run(path, "--header", "no", "--output-dir", tmp_path / "no") == 0
    assert capsys.readouterr().err == ""
    assert len(_rows(tmp_path / "no" / "labels.csv")) == 1 + 13


@pytest.mark.parametrize(
    "first, below, expected",
    [
        (["2019", "2020"], [[0.5, 1.25, 0.75], [2.5, 0.25, 1.5]], True),
        (["1", "2", "3"], [[0.5, 0.25], [1.5, 2.25], [0.1, 0.2]], True),
        (["2019", "2020"], [[3.0, 8.0, 5.0], [1.0, 4.0, 2.0]], True),
        (["1", "2"], [[3.0, 5.0], [4.0, 6.0]], False),  # sorted integer data
        (["5", "5"], [[0.5, 0.25], [0.5, 0.25]], False),  # not distinct
        (["1.5", "2"], [[0.5, 0.25], [0.5, 0.25]], False),  # not integers
    ],
)
def test_looks_like_numeric_header(first, below, expected):
    below = [np.array(column) for column in below]
    assert looks_like_numeric_header(first, below) is expected


# ----------------------------------------------- numbers pandas reads as text


@pytest.mark.parametrize(
    "text", ["1_00{i}", "\u0661\u0662{i}"], ids=["underscores", "arabic-indic"]
)
def test_digits_python_reads_but_pandas_does_not_are_text(text, tmp_path, capsys):
    rows = [
        f"{a:.4f},{b:.4f},{text.format(i=i % 10)}" for i, (a, b) in enumerate(SAMPLES)
    ]
    path = tmp_path / "d.csv"
    path.write_text("a,b,code\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert _run(path, "--output-dir", tmp_path / "out") == 0
    err = _one_line(capsys.readouterr().err, "sklearn-rae: warning: ")
    assert "leaving out the text column 'code'" in err
    np.testing.assert_array_equal(
        np.load(tmp_path / "out" / "linkage.npy"),
        _linkage_of_npy(tmp_path, np.round(SAMPLES, 4)),
    )


# --------------------------------------------------------------- columns


def test_dates_are_left_out_as_dates(tmp_path, capsys):
    rows = [f"2021-03-{i + 1:02d},{a:.4f},{b:.4f}" for i, (a, b) in enumerate(SAMPLES)]
    path = tmp_path / "d.csv"
    path.write_text("when,a,b\n" + "\n".join(rows) + "\n")
    assert _run(path, "--output-dir", tmp_path / "out") == 0
    err = _one_line(capsys.readouterr().err, "sklearn-rae: warning: ")
    assert "leaving out the date/time column 'when'" in err
    assert "convert dates and times to numbers" in err
    assert _run(path, "--columns", "when,a", "--output-dir", tmp_path / "o") == 1
    assert "it is a date or a time" in capsys.readouterr().err


@pytest.mark.parametrize("dropna", [False, True])
def test_an_empty_column_is_named(dropna, tmp_path, capsys):
    rows = [f"{a:.4f},,{b:.4f}" for a, b in SAMPLES]
    path = tmp_path / "d.csv"
    path.write_text("a,empty,b\n" + "\n".join(rows) + "\n")
    args = [path, "--output-dir", tmp_path / "out", *(["--dropna"] if dropna else [])]
    assert _run(*args) == 1
    err = _one_line(capsys.readouterr().err, "sklearn-rae: error: ")
    assert "column 'empty' holds no value" in err
    assert ("--dropna would leave out every row" in err) is dropna
    assert "give --drop-columns empty" in err
    assert _run(*args, "--drop-columns", "empty") == 0


def test_every_identifier_column_is_written_beside_the_labels(tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    index = pd.MultiIndex.from_arrays(
        [[f"site{i % 3}" for i in range(12)], [f"s{i:02d}" for i in range(12)]]
    )
    frame = pd.DataFrame(SAMPLES, columns=["a", "b"], index=index)
    path = tmp_path / "multi.csv"
    frame.to_csv(path)
    out = tmp_path / "out"
    assert _run(path, "--output-dir", out) == 0
    err = capsys.readouterr().err
    assert "'column 1 (unnamed)'" in err and "'column 2 (unnamed)'" in err
    rows = _rows(out / "labels.csv")
    assert rows[0] == ["", "", "label"]
    assert [row[:2] for row in rows[1:]] == [list(key) for key in index]
    labels = pd.read_csv(out / "labels.csv", index_col=[0, 1])
    joined = pd.read_csv(path, index_col=[0, 1]).join(labels)
    assert joined["label"].notna().all()
    np.testing.assert_array_equal(
        np.load(out / "linkage.npy"), _linkage_of_npy(tmp_path, SAMPLES)
    )
