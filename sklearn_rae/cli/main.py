"""Command line: cluster a CSV, ``.npy`` or ``.npz`` file, or iris, and write the tree.

Run ``python -m sklearn_rae --help`` (or ``sklearn-rae --help`` once
installed) for the options. Without an input file the iris data set bundled
with scikit-learn is clustered. The command writes ``labels.csv``,
``linkage.npy`` and ``dendrogram.png`` to the output directory, as a set
(see :func:`sklearn_rae.cli.write.write_outputs`), and prints a short summary.

:func:`main` runs one function per step: :func:`read_data`,
:func:`fit_model`, :func:`write_results` and :func:`print_summary`.

Exit status: 0 on success, 1 when the data cannot be read or clustered or the
outputs not written, 2 for invalid options, 130 when interrupted (SIGINT),
143 when terminated (SIGTERM) and 129 when the terminal hangs up (SIGHUP).
Every error is reported in one line on standard error, never as a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import advice, arguments, signals
from . import columns as cli_columns
from . import read as cli_read
from . import write as cli_write
from .messages import (
    PROG,
    InputError,
    UsageError,
    describe_columns,
    one_line,
    printable,
    report_warnings,
    say,
    warn,
)

__all__ = [
    "build_parser",
    "main",
    "read_data",
    "n_clusters_for",
    "fit_model",
    "write_results",
    "print_summary",
]

DEFAULT_OUTPUT_DIR = "sklearn-rae-output"
IRIS_N_CLUSTERS = 3
FILE_N_CLUSTERS = 2
OUTPUTS = ("labels.csv", "linkage.npy", "dendrogram.png")
#: The dendrogram's default height scale. Ward-type heights grow with the
#: square root of the clusters' sizes, so the few top merges of a large data
#: set dwarf those inside the clusters: on four blobs of 20,000 samples the
#: highest merge inside a cluster is drawn at 16% of a linear axis, at 40% of
#: a square-root one, where the clusters' inner structure and the gaps between
#: them are both visible; a log scale spends most of the axis on the lowest
#: merges and squeezes the top ones that separate the clusters.
DEFAULT_HEIGHT_SCALE = "sqrt"
HEIGHT_SCALES = ("linear", "sqrt", "log")

DESCRIPTION = """\
Hierarchical clustering with a recursive autoencoder merge criterion. Clusters
the samples (rows) of a CSV file or a 2-D .npy/.npz array, or the iris data set
when no input is given, and writes labels.csv, linkage.npy (a SciPy linkage
matrix) and dendrogram.png to the output directory."""

EPILOG = """\
CSV input: columns separated by commas (or semicolons, tabs, spaces); the first
line is a header when it names the columns (--header yes or no to say so; a
first line of numbers that looks like a header, such as years, is reported).
Numbers use a decimal point, or a decimal comma with --decimal , (then
separated by semicolons, tabs or spaces); a file of decimal commas read
without it is refused.
Missing values (empty cells, NA, NaN, null, ... as pandas reads them) are
refused unless --dropna leaves their rows out; infinite values are refused.
A .npz file must hold a single array. Only regular files are read: at most
1 GiB of CSV, and arrays of at most 4 GiB.

Columns: numeric columns are clustered. Text and date/time columns are left
out with a warning, and so is a row identifier: a column named like one (id,
index, key, row, sample, a name ending in _id, or pandas' unnamed index column)
or one holding exactly the row numbers 0..n-1 or 1..n. --columns or --drop-columns
choose the columns instead (names from the header, or positions from 1). Without
--standardize, columns whose scales differ by a factor of 100 or more are
reported (not for the unit-free merge costs auto and whitened_means).

Outputs: labels.csv holds every identifier column left out (or the row number,
"sample", from 0) and each row's label, so that the labels join back to the
records. The three files are replaced as a set: a failed or interrupted run
leaves the previous set unchanged, and a run that draws no dendrogram removes
the previous one. Symbolic links at the output paths, and an input that is one
of the outputs, are refused.

The number of clusters defaults to 3 for iris and 2 for a file; give
--distance-threshold instead to cut the tree at a height. Above 300,000 samples
a warning estimates the fit's time: cluster a sample and predict the rest.
Exit status: 0 on success, 1 if the data cannot be read or clustered, 2 for
invalid options, 130 after Ctrl-C, 143 after SIGTERM, 129 after SIGHUP."""


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message):  # noqa: D102 - one line instead of usage + exit
        raise UsageError(message)


def _merge_costs(estimator_class) -> list[str] | None:
    """The merge costs the estimator accepts, from its parameter constraints.

    scikit-learn estimators declare their parameters' valid values in
    ``_parameter_constraints``; ``None`` (no ``choices``, the estimator then
    validates the name) if that declaration has another form.
    """
    constraints = getattr(estimator_class, "_parameter_constraints", {})
    for constraint in constraints.get("merge_cost", []):
        options = getattr(constraint, "options", None)
        if options:
            return sorted(options)
    return None


def build_parser() -> argparse.ArgumentParser:
    """The command line's argument parser."""
    from .. import RecursiveAutoencoderClustering, __version__

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
        help="a CSV file, or a .npy or .npz file of shape (n_samples, n_features); "
        "default: the iris data set bundled with scikit-learn",
    )
    parser.add_argument(
        "--n-clusters",
        type=arguments.n_clusters,
        metavar="N",
        help=f"number of flat clusters, or 'auto' to cut the tree where its "
        "flat clusters persist longest, the BIC deciding between cuts that "
        f"persist about as long (default: {IRIS_N_CLUSTERS} for iris, "
        f"{FILE_N_CLUSTERS} for a file)",
    )
    parser.add_argument(
        "--distance-threshold",
        type=arguments.nonnegative_float,
        metavar="HEIGHT",
        help="cut the tree at this linkage height instead of into --n-clusters "
        "clusters",
    )
    parser.add_argument(
        "--merge-cost",
        choices=_merge_costs(RecursiveAutoencoderClustering),
        default=defaults["merge_cost"],
        help="the merge criterion (default: %(default)s)",
    )
    parser.add_argument(
        "--max-iter",
        type=arguments.nonnegative_int,
        default=defaults["max_iter"],
        metavar="STEPS",
        help="gradient steps; 0 uses the untrained merge encoder "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--learning-rate",
        type=arguments.learning_rate,
        default=defaults["learning_rate"],
        metavar="RATE",
        help="Adam's step size, or 'auto' for the merge cost's own "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--batch-size",
        type=arguments.batch_size,
        default=defaults["batch_size"],
        metavar="SIZE",
        help="samples per gradient step, or 'auto' (default: %(default)s)",
    )
    parser.add_argument(
        "--random-state",
        type=arguments.seed,
        default=0,
        metavar="SEED",
        help="seed of the initial weights and mini-batches (default: %(default)s)",
    )
    columns = parser.add_mutually_exclusive_group()
    columns.add_argument(
        "--columns",
        type=arguments.column_list,
        metavar="COLS",
        help="the columns to cluster on, by header name or position (from 1), "
        "separated by commas (default: every numeric column except an "
        "identifier)",
    )
    columns.add_argument(
        "--drop-columns",
        type=arguments.column_list,
        metavar="COLS",
        help="columns to leave out, by header name or position (from 1); "
        "every other numeric column is used",
    )
    parser.add_argument(
        "--dropna",
        action="store_true",
        help="leave out the rows with a missing value in a clustered column, "
        "and say how many (default: refuse missing values)",
    )
    parser.add_argument(
        "--decimal",
        choices=[".", ","],
        default=".",
        help="the decimal mark of a CSV file's numbers (default: %(default)s)",
    )
    parser.add_argument(
        "--header",
        choices=["auto", "yes", "no"],
        default="auto",
        help="whether a CSV file's first line names the columns: 'auto' reads "
        "it as a header when it holds names, and warns when it looks like a "
        "header of numbers such as years (default: %(default)s)",
    )
    parser.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="scale every column to zero mean and unit variance before "
        "clustering (default: on for iris, off for a file)",
    )
    parser.add_argument(
        "--height-scale",
        choices=HEIGHT_SCALES,
        default=DEFAULT_HEIGHT_SCALE,
        help="the dendrogram's height axis; the square root keeps the merges "
        "inside large clusters visible (default: %(default)s)",
    )
    parser.add_argument(
        "--memory-limit",
        type=arguments.memory_limit,
        default=defaults["memory_limit"],
        metavar="BYTES",
        help="the most a fit may allocate for its tree and training, in bytes "
        "with a suffix K, M, G or T (2G, 500M), or 'auto' for the memory "
        "available (within ulimit -v and a container's limit), or 'none' to "
        "turn the check off (default: %(default)s)",
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


# ------------------------------------------------------------------ steps


@dataclass
class Dataset:
    """The samples to cluster and what the outputs need to describe them.

    ``identifiers`` holds the name of each identifier column and its values,
    one a sample, written beside the labels in ``labels.csv``; ``target``
    holds iris' species (else None).
    """

    X: np.ndarray
    names: list[str]
    identifiers: list[tuple[str, list]]
    source: str
    default_n_clusters: int
    standardize: bool
    target: np.ndarray | None = None
    n_dropped: int = 0


def read_data(args: argparse.Namespace) -> Dataset:
    """Read and check the data: the input file's chosen columns, or iris.

    Columns are chosen before any field is converted; rows with missing values
    are dropped with ``--dropna`` or reported, with their line and column;
    infinite values are refused.
    """
    if args.input is None:
        from sklearn.datasets import load_iris

        iris = load_iris()
        table = cli_read.table_from_array("iris", iris.data, list(iris.feature_names))
        target = iris.target
        default_n_clusters = IRIS_N_CLUSTERS
        standardize = True if args.standardize is None else args.standardize
    else:
        table = cli_read.read_table(
            args.input,
            columns=args.columns,
            drop_columns=args.drop_columns,
            decimal=args.decimal,
            header=args.header,
        )
        target = None
        default_n_clusters = FILE_N_CLUSTERS
        standardize = bool(args.standardize)
    selection = cli_columns.choose_columns(
        table, columns=args.columns, drop_columns=args.drop_columns
    )
    for note in [*table.notes, *selection.notes]:
        warn(note)
    if table.n_rows == 0:
        raise InputError(f"{table.source} holds no data.")
    X = selection.data
    identifiers = selection.identifiers or [("sample", list(range(table.n_rows)))]
    empty = cli_columns.empty_columns_error(
        table, selection, dropna=args.dropna, chosen=args.columns is not None
    )
    if empty is not None:
        raise empty
    missing = cli_columns.missing_rows(table, selection)
    n_dropped = int(missing.sum())
    if n_dropped:
        if not args.dropna:
            raise cli_columns.missing_value_error(table, selection, missing)
        kept = np.flatnonzero(~missing)
        X = X[kept]
        identifiers = [
            (name, [values[i] for i in kept]) for name, values in identifiers
        ]
        table.row_lines = table.row_lines[kept]
        if target is not None:
            target = target[kept]
    infinite = ~np.isfinite(X)
    if infinite.any():
        row, column = np.argwhere(infinite)[0]
        raise InputError(
            f"{table.source}, {table.line_word} {table.row_lines[row]}, column "
            f"{selection.names[column]!r}: infinite value; remove or replace it "
            "first."
        )
    if X.shape[0] < 2:
        after = (
            f" after leaving out {n_dropped:,} with missing values"
            if n_dropped
            else (" after its header line" if table.header is not None else "")
        )
        if args.input is None:
            after = ""
        raise InputError(
            f"{table.source} holds {X.shape[0]} sample{after}; at least 2 are needed."
        )
    return Dataset(
        X=X,
        names=selection.names,
        identifiers=identifiers,
        source=table.source,
        default_n_clusters=default_n_clusters,
        standardize=standardize,
        target=target,
        n_dropped=n_dropped,
    )


def n_clusters_for(data: Dataset, args: argparse.Namespace) -> int | str | None:
    """``--n-clusters``, or the default for the data; None with a threshold."""
    if args.distance_threshold is not None:
        return None
    n_samples = data.X.shape[0]
    n_clusters = args.n_clusters or data.default_n_clusters
    if n_clusters != "auto" and n_clusters > n_samples:
        raise InputError(
            f"--n-clusters {n_clusters} is more than the {n_samples} samples "
            f"in {data.source}."
        )
    return n_clusters


def fit_model(data: Dataset, args: argparse.Namespace):
    """Fit a :class:`~sklearn_rae.RecursiveAutoencoderClustering` to the data."""
    from .. import RecursiveAutoencoderClustering

    n_clusters = n_clusters_for(data, args)
    X = data.X
    if data.standardize:
        from sklearn.preprocessing import StandardScaler

        X = StandardScaler().fit_transform(X)
    model = RecursiveAutoencoderClustering(
        n_clusters=n_clusters,
        distance_threshold=args.distance_threshold,
        merge_cost=args.merge_cost,
        max_iter=args.max_iter,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        random_state=args.random_state,
        memory_limit=args.memory_limit,
        verbose=0 if args.quiet else 1,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.fit(X)
        except MemoryError as exc:
            if "memory limit" not in str(exc):  # not the estimator's refusal
                raise
            raise InputError(
                f"{one_line(exc)} Here: give --memory-limit with a size (such as "
                "4G) or none."
            ) from None
    report_warnings(caught)
    return model


def _merge_cost_words(model) -> str:
    words = repr(model.merge_cost)
    if model.merge_cost_ != model.merge_cost:
        words += f" (kept {model.merge_cost_!r})"
    return words


def write_results(data: Dataset, model, args: argparse.Namespace) -> list[Path]:
    """Write labels.csv, linkage.npy and dendrogram.png as one set; return them.

    ``labels.csv`` holds the identifier columns that were left out (or the
    row number ``sample``, from 0, in the file's order) and the label of each
    row. Without matplotlib the dendrogram is not drawn, and a
    ``dendrogram.png`` of a previous run is removed in the same step: it
    would show another tree beside these labels.
    """
    labels_name, linkage_name, picture_name = OUTPUTS
    writers = {
        labels_name: lambda file: cli_write.write_labels_csv(
            file, data.identifiers, model.labels_
        ),
        linkage_name: lambda file: cli_write.write_linkage_npy(
            file, model.linkage_matrix_
        ),
    }
    title = printable(
        f"{data.source}: merge cost {_merge_cost_words(model)}, {model.n_iter_} steps"
    )
    draw = cli_write.dendrogram_writer(model, title, args.height_scale)
    if draw is not None:
        writers[picture_name] = draw
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            removed = cli_write.write_outputs(
                args.output_dir, writers, remove=[picture_name]
            )
        except OSError as exc:
            cause = cli_write.describe_write_error(exc, args.output_dir)
            raise InputError(
                f"the outputs could not be written to {args.output_dir}: "
                f"{cause}; its previous contents are unchanged."
            ) from None
    report_warnings(caught)
    if draw is None:
        stale = (
            f"; the {picture_name} of the previous run was removed"
            if picture_name in removed
            else ""
        )
        print(
            f"{PROG}: matplotlib is not installed, so {picture_name} was not "
            f"written (pip install matplotlib){stale}.",
            file=sys.stderr,
        )
    return [args.output_dir / name for name in writers]


def print_summary(data: Dataset, model, written: list[Path]) -> None:
    """The cluster sizes, the training, the ARI on iris and the files written."""
    sizes = np.bincount(model.labels_)
    say(
        f"{model.n_clusters_} clusters, sizes "
        + ", ".join(str(int(size)) for size in sizes)
        + " (labels 0, 1, ...)"
    )
    merge_cost = _merge_cost_words(model)
    if model.n_iter_:
        say(
            f"merge cost {merge_cost}: {model.n_iter_} training steps, tree "
            f"objective {model.loss_curve_[0]:.6g} at the first step, "
            f"{model.loss_curve_[-1]:.6g} at the last"
        )
    else:
        say(f"merge cost {merge_cost}: no training steps (untrained encoder)")
    if data.target is not None:
        from sklearn.metrics import adjusted_rand_score

        ari = adjusted_rand_score(data.target, model.labels_)
        say(f"adjusted Rand index against the iris species: {ari:.3f}")
    say("wrote " + ", ".join(str(path) for path in written))


def _run(args: argparse.Namespace) -> int:
    if args.n_clusters is not None and args.distance_threshold is not None:
        raise UsageError("give either --n-clusters or --distance-threshold, not both")
    # Before the data is read and the model trained: a run must not fail at
    # its very end because the results cannot be written.
    cli_write.check_outputs(args.output_dir, OUTPUTS, args.input)
    data = read_data(args)
    n_clusters_for(data, args)  # refused before anything is printed
    if (
        args.input is not None
        and args.standardize is None
        and args.merge_cost not in advice.UNIT_FREE_MERGE_COSTS
    ):
        advice.warn_about_scales(data.X, data.names)
    advice.warn_about_size(data.X.shape[0], args.merge_cost)
    if not args.quiet:
        scaled = ", standardized" if data.standardize else ""
        n_samples, n_features = data.X.shape
        say(f"{data.source}{scaled}: {n_samples} samples, {n_features} features")
        if data.n_dropped:
            say(
                f"left out {data.n_dropped} of {n_samples + data.n_dropped} rows "
                "with missing values (--dropna)"
            )
        say(f"columns used: {describe_columns(data.names)}")
    model = fit_model(data, args)
    written = write_results(data, model, args)
    if not args.quiet:
        print_summary(data, model, written)
    return 0


def _print_line(line: str) -> None:
    """One line on standard error; nothing if it is gone (a closed terminal)."""
    with contextlib.suppress(OSError, ValueError):
        print(line, file=sys.stderr, flush=True)


def _status(argv: list[str] | None) -> int:
    """Parse ``argv`` and run; each error becomes one line and a status."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return _run(args)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except UsageError as exc:
        message = printable(one_line(exc))
        _print_line(f"{PROG}: error: {message} (see {PROG} --help)")
        return 2
    except (InputError, ValueError, TypeError, MemoryError, OSError) as exc:
        _print_line(f"{PROG}: error: {printable(one_line(exc))}")
        return 1
    except Exception as exc:  # one line, never a traceback
        _print_line(f"{PROG}: error: {type(exc).__name__}: {printable(one_line(exc))}")
        return 1


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``).

    Returns
    -------
    status : int
        0 on success, 1 if the data cannot be read or clustered or the outputs
        not written, 2 for invalid options, 130 if interrupted (SIGINT), 143
        if terminated (SIGTERM) and 129 if the terminal hung up (SIGHUP).
        Errors are printed in one line on standard error; the signals too,
        wherever they arrive, the outputs then left as they were.
    """
    try:
        with signals.handled():
            return _status(argv)
    except KeyboardInterrupt:
        _print_line(f"{PROG}: interrupted")
        return 130
    except signals.Signalled as exc:
        _print_line(f"{PROG}: {exc.word}")
        return exc.exit_status
