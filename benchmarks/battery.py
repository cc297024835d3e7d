"""Clustering quality on the batteries of Gagolewski's benchmark suite.

Reads a folder laid out as the suite's (``<battery>/<name>.data.gz``,
``<battery>/<name>.labels<J>.gz``, and ``published_ari.csv`` with the
published scores of Ward, k-means, the Gaussian mixture, Genie and average
linkage), applies the suite's conventions and prints a per-set table:

1. Preprocessing: drop zero-variance columns, add white noise of standard
   deviation ``1e-6 * X.std()`` (no ties), centre each column and divide the
   whole matrix by its overall standard deviation.
2. For each reference partition: ``k`` is its number of distinct non-zero
   labels; cluster into ``k`` clusters; the adjusted Rand index (ARI) is taken
   on the non-noise points (label 0 is noise). The dendrogram purity
   (:func:`sklearn_rae.dendrogram_purity` with ``ignore_label=0``: the tree
   restricted to the non-noise points) scores the whole tree against it.
3. A set's score, ARI or purity, is the maximum over its reference
   partitions.

Columns, for each ``--merge-costs`` of :class:`RecursiveAutoencoderClustering`
(default ``auto``): its ARI with the first random state given, the spread (max
- min) of the ARI over the random states, the dendrogram purity of the first
random state's trees, the fit time (mean over all fits: reference partitions
and random states), and for a selection (``"auto"``, ``"adaptive"``) the
initials of the criteria it kept (its ``merge_cost_``: ``b`` boundary, ``w``
whitened_means, ``l`` learned_metric) over the partitions and states. Then
SciPy's single, average, complete
and Ward linkages (:func:`scipy.cluster.hierarchy.linkage` of the preprocessed
data): the ARI of each tree cut into ``k`` clusters (exactly ``k``: the last
``k - 1`` merges undone), its dendrogram purity, and the time of SciPy's Ward
linkage as the baseline for time ratios. Then the published methods.

The last rows give the means over the shape and table batteries (every
battery but ``g2mg`` and ``h2mg``), over the Gaussian batteries (``g2mg``,
``h2mg``) and over all sets, and for each group the number of sets where a
method's ARI is at or above the best of the published Ward, k-means, Gaussian
mixture and Genie. ``--csv`` writes the per-set figures (and every SciPy
linkage's time) to a file, one row per set, as each set finishes.

Run from the repository root (the folder is an argument; the data are not
part of this repository)::

    PYTHONPATH=$PWD python benchmarks/battery.py ../shared/benchmarks/battery-dev

``docs/quality.md`` holds its output. ``--smoke`` is a few seconds' run: the
sets of at most 300 points, random state 0 only.
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import time

import numpy as np
from scipy.cluster.hierarchy import linkage
from sklearn.metrics import adjusted_rand_score

from sklearn_rae import RecursiveAutoencoderClustering, dendrogram_purity

PUBLISHED = ("ward", "kmeans", "gaussian_mixture", "genie_0.3", "average")
SCIPY_LINKAGES = ("single", "average", "complete", "ward")
GAUSSIAN_BATTERIES = ("g2mg", "h2mg")
GROUPS = ("shapes and tables", "Gaussian", "all")
# Merge costs that choose a criterion per fit; their table shows which.
SELECTING = ("auto", "adaptive")


def group_of(battery):
    return "Gaussian" if battery in GAUSSIAN_BATTERIES else "shapes and tables"


def read_published(folder):
    with open(os.path.join(folder, "published_ari.csv")) as file:
        return list(csv.DictReader(file))


def load_battery(folder, max_samples, batteries=None):
    """Yield ``(battery, name, X, partitions, published)`` per set, preprocessed."""
    for row in read_published(folder):
        if int(row["n"]) > max_samples:
            continue
        if batteries is not None and row["battery"] not in batteries:
            continue
        stem = os.path.join(folder, row["battery"], row["dataset"])
        X = np.loadtxt(f"{stem}.data.gz", ndmin=2)
        partitions = [
            np.loadtxt(path, dtype=int)
            for path in sorted(glob.glob(f"{stem}.labels*.gz"))
        ]
        X = X[:, X.std(axis=0) > 0]
        noise = np.random.RandomState(0).normal(0.0, 1e-6 * X.std(), X.shape)
        X = X + noise
        X = (X - X.mean(axis=0)) / X.std()
        published = {method: float(row[method]) for method in PUBLISHED}
        yield row["battery"], row["dataset"], X, partitions, published


def n_clusters_of(reference):
    return len(np.unique(reference[reference > 0]))


def ari(reference, labels):
    """ARI on the non-noise points (reference label 0 is noise)."""
    kept = reference > 0
    return adjusted_rand_score(reference[kept], labels[kept])


def best_ari_of(labels, references):
    """The best ARI of ``labels`` over the reference partitions."""
    return max(ari(reference, labels) for reference in references)


def cut_into(Z, n_clusters):
    """Flat labels of the linkage ``Z`` with its last ``n_clusters - 1``
    merges undone: exactly ``n_clusters`` clusters, also with tied heights."""
    n_samples = len(Z) + 1
    parent = np.arange(2 * n_samples - 1)
    rows = np.arange(n_samples - n_clusters)
    children = Z[rows, :2].astype(np.intp)
    parent[children[:, 0]] = n_samples + rows
    parent[children[:, 1]] = n_samples + rows
    while True:
        grandparent = parent[parent]
        if np.array_equal(grandparent, parent):
            break
        parent = grandparent
    return np.unique(parent[:n_samples], return_inverse=True)[1]


def fit_ours(X, n_clusters, merge_cost, random_state, max_iter):
    """``(labels, linkage, kept merge_cost_, fit seconds)`` of one fit."""
    options = {} if max_iter is None else {"max_iter": max_iter}
    model = RecursiveAutoencoderClustering(
        n_clusters=n_clusters,
        merge_cost=merge_cost,
        random_state=random_state,
        **options,
    )
    start = time.perf_counter()
    model.fit(X)
    seconds = time.perf_counter() - start
    return model.labels_, model.linkage_matrix_, model.merge_cost_, seconds


def score_ours(X, partitions, merge_cost, random_states, max_iter):
    """Per-set figures of one merge cost: ARI and purity of the first random
    state, ARI spread over the states, mean fit time, kept criteria."""
    aris, purities, seconds, kept = [], [], [], []
    for random_state in random_states:
        state_aris, state_purities = [], []
        for reference in partitions:
            labels, Z, kept_cost, fit_seconds = fit_ours(
                X, n_clusters_of(reference), merge_cost, random_state, max_iter
            )
            state_aris.append(ari(reference, labels))
            state_purities.append(dendrogram_purity(Z, reference, ignore_label=0))
            seconds.append(fit_seconds)
            kept.append(kept_cost)
        aris.append(max(state_aris))
        purities.append(max(state_purities))
    return {
        "ari": aris[0],
        "spread": max(aris) - min(aris),
        "purity": purities[0],
        "fit_s": float(np.mean(seconds)),
        "kept": " ".join(sorted({name[0] for name in kept})),
    }


def score_scipy(X, partitions, method):
    """ARI (cut into each partition's ``k``), purity and time of one linkage."""
    start = time.perf_counter()
    Z = linkage(X, method=method)
    seconds = time.perf_counter() - start
    return {
        "ari": max(ari(ref, cut_into(Z, n_clusters_of(ref))) for ref in partitions),
        "purity": max(dendrogram_purity(Z, ref, ignore_label=0) for ref in partitions),
        "fit_s": seconds,
    }


def check_merge_costs(parser, merge_costs):
    """Refuse unknown merge costs before the first set, with the estimator's
    own message, and fit each (and each SciPy linkage) once on a small set
    so that start-up costs (TensorFlow's first tracing above all) are not
    timed on the first set."""
    X = np.random.RandomState(0).normal(size=(40, 2))
    X[20:] += 5.0
    for merge_cost in merge_costs:
        try:
            RecursiveAutoencoderClustering(
                merge_cost=merge_cost, max_iter=2, random_state=0
            ).fit(X)
        except (TypeError, ValueError) as error:
            parser.error(f"--merge-costs {merge_cost}: {error}")
    for method in SCIPY_LINKAGES:
        linkage(X, method=method)


def markdown_row(cells):
    return "| " + " | ".join(cells) + " |"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="battery folder with published_ari.csv")
    parser.add_argument("--max-samples", type=int, default=4000)
    parser.add_argument(
        "--batteries",
        nargs="+",
        metavar="BATTERY",
        help="sub-folders to run (default: every battery of published_ari.csv)",
    )
    parser.add_argument("--random-states", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--merge-costs",
        nargs="+",
        default=["auto"],
        metavar="MERGE_COST",
        help="merge_cost values of RecursiveAutoencoderClustering to run "
        "(default: auto)",
    )
    parser.add_argument(
        "--max-iter",
        type=int,
        default=None,
        help="max_iter of the estimator (default: the estimator's)",
    )
    parser.add_argument(
        "--csv", metavar="PATH", help="write the per-set figures to this CSV file"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="sets of at most 300 points, state 0"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.max_samples, args.random_states = min(args.max_samples, 300), [0]

    known = sorted({row["battery"] for row in read_published(args.folder)})
    unknown = sorted(set(args.batteries or ()) - set(known))
    if unknown:
        parser.error(
            f"--batteries: {', '.join(unknown)} not in published_ari.csv "
            f"(it has {', '.join(known)})"
        )
    check_merge_costs(parser, args.merge_costs)
    methods = list(dict.fromkeys(args.merge_costs))

    # Every per-set figure: (CSV column, Markdown header, format).
    columns = []
    for m in methods:
        columns += [
            (f"{m}_ari", m, ".3f"),
            (f"{m}_ari_spread", f"{m} spread", ".3f"),
            (f"{m}_purity", f"{m} purity", ".3f"),
            (f"{m}_fit_s", f"{m} fit s", ".3f"),
        ]
        if m in SELECTING:
            columns.append((f"{m}_kept", f"{m} kept", "s"))
    columns += [(f"scipy_{m}_ari", f"SciPy {m}", ".3f") for m in SCIPY_LINKAGES]
    columns += [
        (f"scipy_{m}_purity", f"SciPy {m} purity", ".3f") for m in SCIPY_LINKAGES
    ]
    columns.append(("scipy_ward_fit_s", "SciPy ward fit s", ".3f"))
    columns += [(f"published_{m}_ari", f"{m} (published)", ".3f") for m in PUBLISHED]
    ari_columns = [
        *(f"{m}_ari" for m in methods),
        *(f"scipy_{m}_ari" for m in SCIPY_LINKAGES),
        *(f"published_{m}_ari" for m in PUBLISHED),
    ]
    csv_fields = ["set", "battery", "group", "n", "d", *(c[0] for c in columns)]
    csv_fields += [f"scipy_{m}_fit_s" for m in SCIPY_LINKAGES if m != "ward"]

    print(markdown_row(["set", "n", *(c[1] for c in columns)]))
    print("|" + "---|" * (2 + len(columns)))
    csv_file = writer = None
    if args.csv:
        csv_file = open(args.csv, "w", newline="")
        writer = csv.DictWriter(csv_file, fieldnames=csv_fields)
        writer.writeheader()
    rows = []
    try:
        sets = load_battery(args.folder, args.max_samples, args.batteries)
        for battery, dataset, X, partitions, published in sets:
            row = {
                "set": f"{battery}/{dataset}",
                "battery": battery,
                "group": group_of(battery),
                "n": X.shape[0],
                "d": X.shape[1],
            }
            for m in methods:
                scores = score_ours(X, partitions, m, args.random_states, args.max_iter)
                row[f"{m}_ari"] = scores["ari"]
                row[f"{m}_ari_spread"] = scores["spread"]
                row[f"{m}_purity"] = scores["purity"]
                row[f"{m}_fit_s"] = scores["fit_s"]
                if m in SELECTING:
                    row[f"{m}_kept"] = scores["kept"]
            for m in SCIPY_LINKAGES:
                for key, value in score_scipy(X, partitions, m).items():
                    row[f"scipy_{m}_{key}"] = value
            for m in PUBLISHED:
                row[f"published_{m}_ari"] = published[m]
            rows.append(row)
            cells = [row["set"], str(row["n"])]
            cells += [format(row[key], spec) for key, _, spec in columns]
            print(markdown_row(cells), flush=True)
            if writer is not None:
                writer.writerow(row)
                csv_file.flush()
    finally:
        if csv_file is not None:
            csv_file.close()

    # The anchors: Ward, k-means, the Gaussian mixture and Genie.
    anchors = [f"published_{m}_ari" for m in PUBLISHED[:4]]
    for group in GROUPS:
        members = [r for r in rows if group in ("all", r["group"])]
        if not members:
            continue
        best = np.max([[r[a] for a in anchors] for r in members], axis=1)
        means = [f"mean, {group} ({len(members)} sets)", ""]
        counts = [f"at or above the best published, {group}", ""]
        for key, _, spec in columns:
            if spec == "s":
                means.append("")
                counts.append("")
                continue
            mean = format(np.mean([r[key] for r in members]), spec)
            means.append(f"**{mean}**" if key in ari_columns else mean)
            if key in ari_columns:
                values = np.array([r[key] for r in members])
                counts.append(str(int(np.sum(values >= best - 5e-4))))
            else:
                counts.append("")
        print(markdown_row(means))
        print(markdown_row(counts))


if __name__ == "__main__":
    main()
