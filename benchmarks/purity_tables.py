"""Dendrogram purity of our trees and SciPy's linkages on the classic tables.

The tables are the labelled real data sets shipped with scikit-learn: iris,
wine, breast_cancer and digits (its other bundled tables, diabetes and
linnerud, are regression targets without classes). Each is standardised per
column (:class:`~sklearn.preprocessing.StandardScaler`). The trees are:

- :class:`RecursiveAutoencoderClustering` with its default ``merge_cost`` and
  with each of ``--merge-costs``, fitted with ``n_clusters`` the number of
  classes and ``random_state=--random-state``;
- SciPy's single, average, complete and Ward linkages
  (:func:`scipy.cluster.hierarchy.linkage`) of the same data.

Three tables are printed: the dendrogram purity
(:func:`sklearn_rae.dendrogram_purity`) of each tree against the classes, the
adjusted Rand index of each tree cut into as many clusters as classes (our
``labels_``; SciPy's trees with their last ``k - 1`` merges undone), and the
fit time, in seconds and as a ratio to SciPy's Ward linkage on the same table
in the same run. For a selection (``"auto"``, ``"adaptive"``) the purity
cell also names the criterion it kept (its ``merge_cost_``).

Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/purity_tables.py
    PYTHONPATH=$PWD python benchmarks/purity_tables.py --smoke  # iris, the default
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from battery import cut_into  # benchmarks/battery.py, beside this script
from scipy.cluster.hierarchy import linkage
from sklearn import datasets
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering, dendrogram_purity

TABLES = {
    "iris": datasets.load_iris,
    "wine": datasets.load_wine,
    "breast_cancer": datasets.load_breast_cancer,
    "digits": datasets.load_digits,
}
SCIPY_LINKAGES = ("single", "average", "complete", "ward")
MERGE_COSTS = ("whitened_means", "learned_metric", "boundary", "cumulative")
# Merge costs that choose a criterion per fit; their cells name the kept one.
SELECTING = ("auto", "adaptive")


def fit_ours(X, n_clusters, merge_cost, random_state, max_iter):
    """``(purity tree, labels, kept merge_cost_, seconds)``; ``merge_cost``
    ``None`` is the estimator's default."""
    options = {} if max_iter is None else {"max_iter": max_iter}
    if merge_cost is not None:
        options["merge_cost"] = merge_cost
    model = RecursiveAutoencoderClustering(
        n_clusters=n_clusters, random_state=random_state, **options
    )
    start = time.perf_counter()
    model.fit(X)
    seconds = time.perf_counter() - start
    return model.linkage_matrix_, model.labels_, model.merge_cost_, seconds


def markdown_table(title, header, rows):
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--tables",
        nargs="+",
        choices=list(TABLES),
        default=list(TABLES),
        help="tables to run (default: all four)",
    )
    parser.add_argument(
        "--merge-costs",
        nargs="*",
        default=list(MERGE_COSTS),
        metavar="MERGE_COST",
        help="merge_cost values to run besides the default (default: "
        + " ".join(MERGE_COSTS)
        + ")",
    )
    parser.add_argument("--random-state", type=int, default=0)
    parser.add_argument(
        "--max-iter",
        type=int,
        default=None,
        help="max_iter of the estimator (default: the estimator's)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="iris and the default only"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.tables, args.merge_costs = ["iris"], []

    default = RecursiveAutoencoderClustering().get_params()["merge_cost"]
    ours = [(f"default ({default})", None)]
    ours += [(m, m) for m in dict.fromkeys(args.merge_costs)]
    # A first small fit per criterion and linkage, so that start-up costs
    # (TensorFlow's first tracing above all) are not timed on the first table.
    X_small = np.random.RandomState(0).normal(size=(40, 2))
    X_small[20:] += 5.0
    for _, merge_cost in ours:
        try:
            fit_ours(X_small, 2, merge_cost, 0, 2)
        except (TypeError, ValueError) as error:
            parser.error(f"--merge-costs {merge_cost}: {error}")
    for method in SCIPY_LINKAGES:
        linkage(X_small, method=method)

    methods = [name for name, _ in ours] + [f"SciPy {m}" for m in SCIPY_LINKAGES]
    selecting = {name: (m or default) in SELECTING for name, m in ours}
    purity, ari, seconds = {}, {}, {}
    for table in args.tables:
        X, y = TABLES[table](return_X_y=True)
        X = StandardScaler().fit_transform(X)
        k = len(np.unique(y))
        for name, merge_cost in ours:
            Z, labels, kept, fit_seconds = fit_ours(
                X, k, merge_cost, args.random_state, args.max_iter
            )
            purity[table, name] = (dendrogram_purity(Z, y), kept)
            ari[table, name] = adjusted_rand_score(y, labels)
            seconds[table, name] = fit_seconds
        for method in SCIPY_LINKAGES:
            start = time.perf_counter()
            Z = linkage(X, method=method)
            seconds[table, f"SciPy {method}"] = time.perf_counter() - start
            purity[table, f"SciPy {method}"] = (dendrogram_purity(Z, y), method)
            ari[table, f"SciPy {method}"] = adjusted_rand_score(y, cut_into(Z, k))
        print(f"{table}: done", file=sys.stderr, flush=True)

    def purity_cell(table, method):
        value, kept = purity[table, method]
        # The criterion a selecting merge cost kept, by its initial.
        note = f" ({kept[0]})" if selecting.get(method) else ""
        return f"{value:.3f}{note}"

    header = ["table", *methods]
    rows = [[t] + [purity_cell(t, m) for m in methods] for t in args.tables]
    rows.append(
        ["mean"]
        + [
            f"**{np.mean([purity[t, m][0] for t in args.tables]):.3f}**"
            for m in methods
        ]
    )
    markdown_table("Dendrogram purity", header, rows)

    rows = [[t] + [f"{ari[t, m]:.3f}" for m in methods] for t in args.tables]
    rows.append(
        ["mean"]
        + [f"**{np.mean([ari[t, m] for t in args.tables]):.3f}**" for m in methods]
    )
    markdown_table("ARI of the tree cut into the number of classes", header, rows)

    rows = [
        [t]
        + [
            f"{seconds[t, m]:.3f} ({seconds[t, m] / seconds[t, 'SciPy ward']:.1f}x)"
            for m in methods
        ]
        for t in args.tables
    ]
    markdown_table("Fit time, s (ratio to SciPy's Ward, same run)", header, rows)


if __name__ == "__main__":
    main()
