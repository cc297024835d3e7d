"""Command line: cluster a CSV or ``.npy`` file, or iris, and write the tree.

Run ``python -m sklearn_rae --help`` (or ``sklearn-rae --help`` once
installed) for the options. Without an input file the iris data set bundled
with scikit-learn is clustered. The command writes ``labels.csv``,
``linkage.npy`` and ``dendrogram.png`` to the output directory and prints a
short summary.

Exit status: 0 on success, 1 when the data cannot be read or clustered, 2 for
invalid options. Every error is reported in one line on standard error.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np

PROG = "sklearn-rae"
DEFAULT_OUTPUT_DIR = "sklearn-rae-output"
IRIS_N_CLUSTERS = 3
FILE_N_CLUSTERS = 2

DESCRIPTION = """\
Hierarchical clustering with a recursive autoencoder merge criterion. Clusters
the samples (rows) of a CSV file or a 2-D .npy array, or the iris data set when
no input is given, and writes labels.csv, linkage.npy (a SciPy linkage matrix)
and dendrogram.png to the output directory."""

EPILOG = """\
CSV input: numeric columns separated by commas (or semicolons, tabs, spaces);
the first line is a header when one of its fields is a name (not a number and
not starting like one). Missing or non-finite values are refused. A .npz file
must hold a single array.

Columns: every column is used, except an obvious row identifier, which is left
out with a warning: a column named like one (id, index, key, a name ending in
_id, or pandas' unnamed index column) or one of unique integers in increasing
or decreasing order. --columns or --drop-columns choose the columns instead
(names from the header, or positions from 1). Without --standardize, columns
whose scales differ by a factor of 100 or more are reported.

The number of clusters defaults to 3 for iris and 2 for a file; give
--distance-threshold instead to cut the tree at a height. Exit status: 0 on
success, 1 if the data cannot be read or clustered, 2 for invalid options."""


class InputError(Exception):
    """A problem with the user's data or options, reported in one line."""


class _UsageError(Exception):
    """An invalid command line, as reported by argparse."""


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # noqa: D102 - one line instead of usage + exit
        raise _UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _nonnegative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not np.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a non-negative number")
    return value


def _positive_float(text: str) -> float:
    value = _nonnegative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"{text} is not between 0 and 4294967295 (2**32 - 1)"
        )
    return value


def _column_list(text: str) -> list[str]:
    columns = [column.strip() for column in text.split(",")]
    if not all(columns):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of column names or positions"
        )
    return columns


def _batch_size(text: str) -> int | str:
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither 'auto' nor an integer"
        ) from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"{text} is less than 2")
    return value


def _learning_rate(text: str) -> float | str:
    if text == "auto":
        return text
    return _positive_float(text)


def _n_clusters(text: str) -> int | str:
    if text == "auto":
        return text
    return _positive_int(text)


def build_parser() -> argparse.ArgumentParser:
    """The command line's argument parser."""
    from . import __version__
    from ._criteria import CRITERIA
    from ._estimator import RecursiveAutoencoderClustering

    defaults = RecursiveAutoencoderClustering().get_params()
    parser = _ArgumentParser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "input",
        nargs="?",
        type=Path,
        help="a CSV file or a .npy file of shape (n_samples, n_features); "
        "default: the iris data set bundled with scikit-learn",
    )
    parser.add_argument(
        "--n-clusters",
        type=_n_clusters,
        metavar="N",
        help=f"number of flat clusters, or 'auto' to cut the tree where the "
        f"BIC of its flat clusters is lowest (default: {IRIS_N_CLUSTERS} for "
        f"iris, {FILE_N_CLUSTERS} for a file)",
    )
    parser.add_argument(
        "--distance-threshold",
        type=_nonnegative_float,
        metavar="HEIGHT",
        help="cut the tree at this linkage height instead of into --n-clusters "
        "clusters",
    )
    parser.add_argument(
        "--merge-cost",
        choices=list(CRITERIA),
        default=defaults["merge_cost"],
        help="the merge criterion (default: %(default)s)",
    )
    parser.add_argument(
        "--max-iter",
        type=_nonnegative_int,
        default=defaults["max_iter"],
        metavar="STEPS",
        help="gradient steps; 0 uses the untrained merge encoder "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--learning-rate",
        type=_learning_rate,
        default=defaults["learning_rate"],
        metavar="RATE",
        help="Adam's step size, or 'auto' for the merge cost's own "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=_batch_size,
        default=defaults["batch_size"],
        metavar="SIZE",
        help="samples per gradient step, or 'auto' (default: %(default)s)",
    )
    parser.add_argument(
        "--random-state",
        type=_seed,
        default=0,
        metavar="SEED",
        help="seed of the initial weights and mini-batches (default: %(default)s)",
    )
    columns = parser.add_mutually_exclusive_group()
    columns.add_argument(
        "--columns",
        type=_column_list,
        metavar="COLS",
        help="the columns to cluster on, by header name or position (from 1), "
        "separated by commas (default: every column except an obvious "
        "identifier)",
    )
    columns.add_argument(
        "--drop-columns",
        type=_column_list,
        metavar="COLS",
        help="columns to leave out, by header name or position (from 1); "
        "every other column is used",
    )
    parser.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="scale every column to zero mean and unit variance before "
        "clustering (default: on for iris, off for a file)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=Path(DEFAULT_OUTPUT_DIR),
        metavar="DIR",
        help="where to write labels.csv, linkage.npy and dendrogram.png "
        "(default: ./%(default)s)",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print neither the progress bar nor the summary",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    return parser


# ----------------------------------------------------------------- input


def _split_fields(line: str, delimiter: str | None) -> list[str]:
    if delimiter is None:
        return line.split()
    return [field.strip() for field in next(csv.reader([line], delimiter=delimiter))]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# A field that starts like a number (0x10, 1,5, -3e) is a malformed number,
# not a column name.
_NUMBER_LIKE = re.compile(r"[+-]?\.?[0-9]")


def _is_header(fields: list[str]) -> bool:
    """Whether a first line is a header: it holds a name and nothing number-like.

    A line such as ``0x10,2`` is data with a malformed number, reported as such,
    rather than a header over a file that then seems to hold one sample less.
    """
    names = [field for field in fields if field and not _is_number(field)]
    return bool(names) and not any(_NUMBER_LIKE.match(name) for name in names)


def load_csv(path: Path) -> tuple[np.ndarray, list[str] | None]:
    """Read a numeric CSV file; return the data and the header, if any.

    The delimiter is the first of comma, semicolon and tab found in the first
    line, otherwise runs of whitespace. The first line is a header when one of
    its non-empty fields is not a number and none of those starts like a
    number (a sign, a digit or a decimal point and a digit). Blank lines are
    skipped.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a text file (it is not UTF-8).") from None
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip()
    ]
    if not lines:
        raise InputError(f"{path} is empty.")
    first_line = lines[0][1]
    delimiter = next((d for d in ",;\t" if d in first_line), None)
    first = _split_fields(first_line, delimiter)
    header = None
    if _is_header(first):
        header = first
        lines = lines[1:]
        if not lines:
            raise InputError(f"{path} has a header line but no data.")
    n_columns = len(header) if header is not None else len(first)
    X = np.empty((len(lines), n_columns))
    for row, (number, line) in enumerate(lines):
        fields = _split_fields(line, delimiter)
        if len(fields) != n_columns:
            raise InputError(
                f"{path}, line {number}: {len(fields)} fields where the "
                f"{'header' if header is not None else 'first line'} has "
                f"{n_columns}."
            )
        for column, field in enumerate(fields):
            if not field:
                raise InputError(
                    f"{path}, line {number}, column {column + 1}: empty field; "
                    "missing values are not supported."
                )
            try:
                X[row, column] = float(field)
            except ValueError:
                name = f" ({header[column]})" if header is not None else ""
                raise InputError(
                    f"{path}, line {number}, column {column + 1}{name}: "
                    f"{field!r} is not a number; every column must be numeric."
                ) from None
    return X, header


def load_npy(path: Path) -> np.ndarray:
    """Read a 2-D numeric array from a ``.npy`` file."""
    with open(path, "rb") as file:
        magic = file.read(6)
    if magic != b"\x93NUMPY":
        raise InputError(f"{path} is not a .npy file (it has no NumPy header).")
    try:
        X = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise _numpy_load_error(path, ".npy", exc) from None
    return _numeric_matrix(path, X)


def _numpy_load_error(path: Path, kind: str, exc: Exception) -> InputError:
    """The one-line error for a ``.npy`` or ``.npz`` file NumPy cannot load."""
    if isinstance(exc, ValueError) and "pickle" in str(exc):
        return InputError(
            f"{path} is not a numeric {kind} array (it needs pickling, which "
            "is refused)."
        )
    return InputError(f"{path} is not a readable {kind} file ({_one_line(exc)}).")


def _numeric_matrix(path: Path, X: np.ndarray) -> np.ndarray:
    if X.dtype.kind not in "biuf":
        raise InputError(f"{path} holds {X.dtype} values; expected numbers.")
    if X.ndim != 2:
        raise InputError(
            f"{path} holds an array of shape {X.shape}; expected a 2-D array of "
            "shape (n_samples, n_features)."
        )
    return X.astype(np.float64)


def load_npz(path: Path) -> np.ndarray:
    """Read the one 2-D numeric array of a ``.npz`` file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if len(names) != 1:
                held = ", ".join(names) if names else "no arrays"
                raise InputError(
                    f"{path} holds {len(names)} arrays ({held}); expected one. "
                    "Save the array to cluster on its own with numpy.save."
                )
            X = archive[names[0]]
    except InputError:
        raise
    except Exception as exc:  # ValueError, zipfile.BadZipFile, OSError, ...
        raise _numpy_load_error(path, ".npz", exc) from None
    return _numeric_matrix(path, X)


def load_input(path: Path) -> tuple[np.ndarray, list[str] | None]:
    """Read a ``.npy`` or CSV file and check that it can be clustered."""
    if not path.exists():
        raise InputError(f"{path}: no such file.")
    if path.is_dir():
        raise InputError(f"{path} is a directory, not a CSV or .npy file.")
    with open(path, "rb") as file:
        magic = file.read(4)
    if path.suffix.lower() == ".npy":
        X, header = load_npy(path), None
    elif path.suffix.lower() == ".npz" or magic == b"PK\x03\x04":
        X, header = load_npz(path), None
    else:
        X, header = load_csv(path)
    if X.size == 0:
        raise InputError(f"{path} holds no data (shape {X.shape}).")
    finite = np.isfinite(X)
    if not finite.all():
        row, column = np.argwhere(~finite)[0]
        where = (
            f"row {row + 1}, column {column + 1}"
            if path.suffix.lower() in (".npy", ".npz")
            else f"data row {row + 1}, column {column + 1}"
        )
        raise InputError(
            f"{path} contains NaN or infinite values (first at {where}); remove "
            "or impute them first."
        )
    if X.shape[0] < 2:
        after = " after its header line" if header is not None else ""
        raise InputError(
            f"{path} holds {X.shape[0]} sample{after}; at least 2 are needed."
        )
    return X, header


# ----------------------------------------------------------------- columns

#: Header names that mark a row identifier (compared in lower case); pandas
#: writes its unnamed index as an empty name or "Unnamed: 0".
ID_NAMES = {"", "id", "index", "idx", "key", "row", "rowid", "row_id", "sample"}
ID_SUFFIXES = ("_id", " id", "-id", ".id")

#: Standard deviations of the clustered columns that differ by this factor or
#: more are reported when --standardize is not given.
SCALE_RATIO_WARNING = 100.0


def column_names(header: list[str] | None, n_columns: int) -> list[str]:
    """Names for messages: the header's, or ``column 1``, ``column 2``, ..."""
    if header is None:
        return [f"column {i + 1}" for i in range(n_columns)]
    return [
        name if name else f"column {i + 1} (unnamed)" for i, name in enumerate(header)
    ]


def _resolve_columns(
    requested: list[str], header: list[str] | None, n_columns: int, option: str
) -> list[int]:
    """Column indices of names or positions (from 1), in the order given."""
    indices = []
    for token in requested:
        if header is not None and token in header:
            if header.count(token) > 1:
                raise _UsageError(
                    f"argument {option}: the header names {header.count(token)} "
                    f"columns {token!r}; give their positions instead"
                )
            indices.append(header.index(token))
            continue
        try:
            position = int(token)
        except ValueError:
            known = (
                ", ".join(repr(name) for name in header)
                if header is not None
                else "the file has no header; give positions from 1"
            )
            raise _UsageError(
                f"argument {option}: no column named {token!r} ({known})"
            ) from None
        if not 1 <= position <= n_columns:
            raise _UsageError(
                f"argument {option}: position {position} is not between 1 and "
                f"{n_columns}, the number of columns"
            )
        indices.append(position - 1)
    if len(set(indices)) != len(indices):
        raise _UsageError(f"argument {option}: a column is named twice")
    return indices


def identifier_columns(X: np.ndarray, header: list[str] | None) -> dict[int, str]:
    """Columns that look like row identifiers, with the reason for each.

    A column is an identifier when its header name is one (``id``, ``index``,
    ``key``, ``row``, ``sample``, a name ending in ``_id``, an empty name or
    pandas' ``Unnamed: 0``), or when, over at least three rows, its values are
    integers in strictly increasing or decreasing order: a row number or a
    running identifier rather than a measurement.
    """
    found = {}
    for column in range(X.shape[1]):
        name = header[column].strip().lower() if header is not None else None
        if name is not None and (
            name in ID_NAMES
            or name.endswith(ID_SUFFIXES)
            or name.startswith("unnamed:")
        ):
            found[column] = "its name is an identifier's"
            continue
        values = X[:, column]
        if len(values) >= 3 and np.array_equal(values, np.round(values)):
            steps = np.diff(values)
            if np.all(steps > 0) or np.all(steps < 0):
                found[column] = "its values are unique integers in order"
    return found


def select_columns(X, header, args, source) -> tuple[np.ndarray, list[str]]:
    """The columns to cluster: ``--columns``, ``--drop-columns`` or all but ids.

    Returns the selected data and the names of its columns; an identifier
    column that is left out is reported with a warning on standard error.
    """
    n_columns = X.shape[1]
    names = column_names(header, n_columns)
    if args.columns is not None:
        keep = _resolve_columns(args.columns, header, n_columns, "--columns")
    elif args.drop_columns is not None:
        dropped = set(
            _resolve_columns(args.drop_columns, header, n_columns, "--drop-columns")
        )
        keep = [i for i in range(n_columns) if i not in dropped]
        if not keep:
            raise _UsageError("argument --drop-columns: no column would be left")
    else:
        identifiers = identifier_columns(X, header)
        keep = [i for i in range(n_columns) if i not in identifiers]
        if not keep:
            keep = list(range(n_columns))  # nothing else to cluster on
        else:
            for column, reason in identifiers.items():
                print(
                    f"{PROG}: warning: leaving out {names[column]!r} of {source}: "
                    f"it looks like a row identifier ({reason}); give --columns "
                    "or --drop-columns to choose the columns yourself.",
                    file=sys.stderr,
                )
    return X[:, keep], [names[i] for i in keep]


def _describe_columns(names: list[str], limit: int = 8) -> str:
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names) - limit} more)"
    return shown


def warn_about_scales(X: np.ndarray, names: list[str]) -> None:
    """Warn when the columns' standard deviations differ by orders of magnitude."""
    spread = X.std(axis=0)
    varying = np.flatnonzero(spread > 0)
    if len(varying) < 2:
        return
    largest = varying[np.argmax(spread[varying])]
    smallest = varying[np.argmin(spread[varying])]
    ratio = spread[largest] / spread[smallest]
    if ratio < SCALE_RATIO_WARNING:
        return
    print(
        f"{PROG}: warning: the columns' scales differ by a factor of {ratio:.3g} "
        f"(standard deviation {spread[largest]:.3g} for {names[largest]!r}, "
        f"{spread[smallest]:.3g} for {names[smallest]!r}), so the clusters follow "
        "the large-scale columns; give --standardize to scale every column to "
        "unit variance, or --no-standardize to keep the scales and this quiet.",
        file=sys.stderr,
    )


def check_output_dir(path: Path) -> None:
    """Refuse an output directory that cannot be created or written, before training."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing == path and not path.is_dir():
        raise InputError(f"--output-dir {path} exists and is not a directory.")
    if not existing.is_dir():
        raise InputError(
            f"--output-dir {path} cannot be created: {existing} is not a directory."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "written to" if existing == path else f"created in {existing}"
        raise InputError(f"--output-dir {path} cannot be {what}: permission denied.")


# ------------------------------------------------------------------ output


def _write_labels(path: Path, labels: np.ndarray) -> None:
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["sample", "label"])
        writer.writerows(enumerate(labels.tolist()))


def _write_dendrogram(path: Path, model, title: str) -> bool:
    """Save the dendrogram; False if matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return False
    from ._plotting import plot_dendrogram

    # A Figure without pyplot renders with Agg and leaves the caller's
    # matplotlib backend alone.
    figure = Figure(figsize=(10, 5), layout="constrained")
    ax = plot_dendrogram(model, ax=figure.subplots())
    ax.set_title(title)
    figure.savefig(path, dpi=100)
    return True


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _report_warnings(caught) -> None:
    """One line per distinct warning: NumPy and SciPy repeat theirs."""
    for message in dict.fromkeys(_one_line(w.message) for w in caught):
        print(f"{PROG}: warning: {message}", file=sys.stderr)


# --------------------------------------------------------------------- run


def _run(args: argparse.Namespace) -> int:
    if args.n_clusters is not None and args.distance_threshold is not None:
        raise _UsageError("give either --n-clusters or --distance-threshold, not both")
    say = (lambda *parts: None) if args.quiet else print
    # Before the data is read and the model trained: a run must not fail at
    # its very end because the results cannot be written.
    check_output_dir(args.output_dir)

    target = None
    if args.input is None:
        from sklearn.datasets import load_iris

        iris = load_iris()
        X, target, source = iris.data, iris.target, "iris"
        header = list(iris.feature_names)
        default_n_clusters = IRIS_N_CLUSTERS
        standardize = True if args.standardize is None else args.standardize
    else:
        X, header = load_input(args.input)
        source = str(args.input)
        default_n_clusters = FILE_N_CLUSTERS
        standardize = bool(args.standardize)
    if args.input is None and args.columns is None and args.drop_columns is None:
        names = header  # iris has no identifier to look for
    else:
        X, names = select_columns(X, header, args, source)
    if args.standardize is None and not standardize:
        warn_about_scales(X, names)

    n_samples, n_features = X.shape
    if args.distance_threshold is not None:
        n_clusters = None
    else:
        n_clusters = args.n_clusters or default_n_clusters
        if n_clusters != "auto" and n_clusters > n_samples:
            raise InputError(
                f"--n-clusters {n_clusters} is more than the {n_samples} samples "
                f"in {source}."
            )
    if standardize:
        from sklearn.preprocessing import StandardScaler

        X = StandardScaler().fit_transform(X)

    from ._estimator import RecursiveAutoencoderClustering

    model = RecursiveAutoencoderClustering(
        n_clusters=n_clusters,
        distance_threshold=args.distance_threshold,
        merge_cost=args.merge_cost,
        max_iter=args.max_iter,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        random_state=args.random_state,
        verbose=0 if args.quiet else 1,
    )
    scaled = ", standardized" if standardize else ""
    say(f"{source}{scaled}: {n_samples} samples, {n_features} features")
    say(f"columns used: {_describe_columns(names)}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X)
    _report_warnings(caught)

    output_dir = args.output_dir
    output_dir.mkdir(parents=True, exist_ok=True)
    written = [output_dir / "labels.csv", output_dir / "linkage.npy"]
    _write_labels(written[0], model.labels_)
    np.save(written[1], model.linkage_matrix_)
    picture = output_dir / "dendrogram.png"
    merge_cost = repr(model.merge_cost)
    if model.merge_cost_ != model.merge_cost:
        merge_cost += f" (kept {model.merge_cost_!r})"
    title = f"{source}: merge cost {merge_cost}, {model.n_iter_} steps"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        drawn = _write_dendrogram(picture, model, title)
    _report_warnings(caught)
    if drawn:
        written.append(picture)
    else:
        print(
            f"{PROG}: matplotlib is not installed, so {picture.name} was not "
            "written (pip install matplotlib).",
            file=sys.stderr,
        )

    sizes = np.bincount(model.labels_)
    say(
        f"{model.n_clusters_} clusters, sizes "
        + ", ".join(str(int(size)) for size in sizes)
        + " (labels 0, 1, ...)"
    )
    if model.n_iter_:
        say(
            f"merge cost {merge_cost}: {model.n_iter_} training steps, tree "
            f"objective {model.loss_curve_[0]:.6g} at the first step, "
            f"{model.loss_curve_[-1]:.6g} at the last"
        )
    else:
        say(f"merge cost {merge_cost}: no training steps (untrained encoder)")
    if target is not None:
        from sklearn.metrics import adjusted_rand_score

        ari = adjusted_rand_score(target, model.labels_)
        say(f"adjusted Rand index against the iris species: {ari:.3f}")
    say("wrote " + ", ".join(str(path) for path in written))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success, 1 if the data cannot be read or clustered, 2 for invalid
        options. Errors are printed in one line on standard error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return _run(args)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except _UsageError as exc:
        print(f"{PROG}: error: {_one_line(exc)} (see {PROG} --help)", file=sys.stderr)
        return 2
    except (InputError, ValueError, TypeError, MemoryError, OSError) as exc:
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
