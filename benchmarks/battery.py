"""Clustering quality on a battery of Gagolewski's benchmark suite.

Reads a battery folder laid out as the suite's (``<battery>/<name>.data.gz``,
``<battery>/<name>.labels<J>.gz``, and ``published_ari.csv`` with the
published scores of Ward, k-means, the Gaussian mixture, Genie and average
linkage), applies the suite's conventions and prints a per-set table:

1. Preprocessing: drop zero-variance columns, add white noise of standard
   deviation ``1e-6 * X.std()`` (no ties), centre each column and divide the
   whole matrix by its overall standard deviation.
2. For each reference partition: ``k`` is its number of distinct non-zero
   labels; cluster into ``k`` clusters; the adjusted Rand index (ARI) is taken
   on the non-noise points (label 0 is noise).
3. A set's score is the maximum over its reference partitions.

Columns: each ``merge_cost`` of :class:`RecursiveAutoencoderClustering`, its
ARI with the first random state given, the spread (max - min) of the ARI over
the random states and the fit time (mean over the reference partitions, of
the last random state), and for ``"adaptive"`` the initials of the criteria it
kept (``b`` boundary, ``l`` learned_metric) over the partitions and states;
with ``--candidates``, the graph-criterion prototypes of
``benchmarks/criterion_candidates.py``; then the published methods. The last
rows give the means and the number of sets where each method is at or above
the best of the published Ward, k-means, Gaussian mixture and Genie.

Run from the repository root (the folder is an argument; the data are not
part of this repository)::

    PYTHONPATH=$PWD python benchmarks/battery.py ../shared/benchmarks/battery-dev

``docs/quality.md`` holds its output.
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import sys
import time

import numpy as np
from sklearn.metrics import adjusted_rand_score

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._criteria import CRITERIA

PUBLISHED = ("ward", "kmeans", "gaussian_mixture", "genie_0.3", "average")


def load_battery(folder, max_samples):
    """Yield ``(name, X, partitions, published)`` for each set, preprocessed."""
    with open(os.path.join(folder, "published_ari.csv")) as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        if int(row["n"]) > max_samples:
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
        yield f"{row['battery']}/{row['dataset']}", X, partitions, published


def best_ari(cluster, X, partitions):
    """Max over reference partitions of the ARI of ``cluster(X, k)``."""
    scores = []
    for reference in partitions:
        k = len(np.unique(reference[reference > 0]))
        labels = cluster(X, k)
        kept = reference > 0
        scores.append(adjusted_rand_score(reference[kept], labels[kept]))
    return max(scores)


def ours(merge_cost, random_state):
    """``cluster(X, k)`` by our estimator; ``cluster.kept`` lists each fit's
    ``merge_cost_`` (the criterion ``"adaptive"`` kept)."""

    def cluster(X, k):
        model = RecursiveAutoencoderClustering(
            n_clusters=k, merge_cost=merge_cost, random_state=random_state
        )
        labels = model.fit(X).labels_
        cluster.kept.append(model.merge_cost_)
        return labels

    cluster.kept = []
    return cluster


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="battery folder with published_ari.csv")
    parser.add_argument("--max-samples", type=int, default=4000)
    parser.add_argument("--random-states", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--merge-costs", nargs="*", default=sorted(CRITERIA), choices=sorted(CRITERIA)
    )
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="add the graph-criterion prototypes of criterion_candidates.py",
    )
    args = parser.parse_args()

    methods = list(args.merge_costs)
    candidates = []
    if args.candidates:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from criterion_candidates import CANDIDATES, candidate_labels

        candidates = list(CANDIDATES)
    selecting = [m for m in methods if hasattr(CRITERIA[m], "candidates")]
    ours_columns = [
        column
        for m in methods
        for column in (
            m,
            f"{m} spread",
            f"{m} fit s",
            *([f"{m} kept"] if m in selecting else []),
        )
    ]
    header = ["set", "n", *ours_columns, *candidates, *PUBLISHED]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    table = {name: [] for name in [*methods, *candidates, *PUBLISHED]}
    spreads = {m: [] for m in methods}
    for name, X, partitions, published in load_battery(args.folder, args.max_samples):
        cells = [name, str(len(X))]
        for merge_cost in methods:
            scores, kept = [], []
            for random_state in args.random_states:
                start = time.perf_counter()
                cluster = ours(merge_cost, random_state)
                scores.append(best_ari(cluster, X, partitions))
                seconds = (time.perf_counter() - start) / len(partitions)
                kept += cluster.kept
            table[merge_cost].append(scores[0])
            spreads[merge_cost].append(max(scores) - min(scores))
            cells += [f"{scores[0]:.3f}", f"{spreads[merge_cost][-1]:.3f}"]
            cells.append(f"{seconds:.1f}")
            if merge_cost in selecting:
                # Initials of the kept criteria, over partitions and states.
                cells.append(" ".join(sorted({name[0] for name in kept})))
        for candidate in candidates:
            score = best_ari(
                lambda X, k, c=candidate: candidate_labels(c, X, k), X, partitions
            )
            table[candidate].append(score)
            cells.append(f"{score:.3f}")
        for method in PUBLISHED:
            table[method].append(published[method])
            cells.append(f"{published[method]:.3f}")
        print("| " + " | ".join(cells) + " |", flush=True)

    # The anchors: Ward, k-means, the Gaussian mixture and Genie.
    best = np.max([table[method] for method in PUBLISHED[:4]], axis=0)

    def at_or_above(method):
        return str(int(np.sum(np.asarray(table[method]) >= best - 5e-4)))

    means, counts = ["mean", ""], ["at or above the best published", ""]
    for m in methods:
        extra = [""] if m in selecting else []
        means += [f"**{np.mean(table[m]):.3f}**", f"{np.mean(spreads[m]):.3f}", ""]
        means += extra
        counts += [at_or_above(m), "", "", *extra]
    for m in [*candidates, *PUBLISHED]:
        means.append(f"**{np.mean(table[m]):.3f}**")
        counts.append(at_or_above(m))
    print("| " + " | ".join(means) + " |")
    print("| " + " | ".join(counts) + " |")


if __name__ == "__main__":
    main()
