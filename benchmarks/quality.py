"""Clustering quality of every merge criterion against classical clusterers.

For each data set (standardised with StandardScaler, cut into the true number
of classes) and each random state, fits :class:`RecursiveAutoencoderClustering`
with every ``merge_cost`` and reports the adjusted Rand index (ARI) and
normalised mutual information (NMI) against the classes, mean and standard
deviation over the random states, with the agreement of ``predict`` on the
training data with ``labels_`` and the fit time. Baselines: SciPy's Ward,
average, complete and single linkage (``fcluster(..., "maxclust")``) and
scikit-learn's KMeans (``n_init=10``, seeded by the random state).

Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/quality.py --output quality-table.md

The tables in ``docs/quality.md`` are its output.

``--extra`` adds data sets that the targets do not name (generated blobs of
varied spread and shape, a generated classification problem), to check that
the default criterion holds beyond the four named ones. ``--merge-costs``
picks the criteria (default: every ``merge_cost``); ``--smoke`` is a few
seconds' run: iris, one random state, the default and ``whitened_means``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import KMeans
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_blobs,
    make_classification,
)
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering

LINKAGES = ("ward", "average", "complete", "single")
#: Every ``merge_cost`` the estimator accepts.
MERGE_COSTS = (
    "auto",
    "whitened_means",
    "boundary",
    "learned_metric",
    "adaptive",
    "cumulative",
)
DEFAULT_MERGE_COST = RecursiveAutoencoderClustering().get_params()["merge_cost"]


def named_datasets():
    """The four data sets of the quality targets."""
    for name, loader in [
        ("iris", load_iris),
        ("wine", load_wine),
        ("breast_cancer", load_breast_cancer),
        ("digits", load_digits),
    ]:
        X, y = loader(return_X_y=True)
        yield name, X, y


def extra_datasets():
    """Generated data sets that the targets do not name."""
    X, y = make_blobs(
        n_samples=300, centers=4, cluster_std=[0.5, 1.0, 1.5, 2.0], random_state=7
    )
    yield "blobs_varied", X, y
    X, y = make_blobs(n_samples=300, centers=3, random_state=11)
    yield "blobs_anisotropic", X @ np.array([[0.6, -0.6], [-0.4, 0.8]]), y
    X, y = make_blobs(n_samples=400, n_features=10, centers=5, random_state=3)
    yield "blobs_10d", X, y
    X, y = make_classification(
        n_samples=400,
        n_features=8,
        n_informative=4,
        n_redundant=2,
        n_classes=3,
        n_clusters_per_class=1,
        random_state=5,
    )
    yield "classification", X, y
    rng = np.random.default_rng(13)
    centers = rng.normal(scale=3.0, size=(4, 6))
    X = np.concatenate(
        [
            rng.multivariate_normal(c, (A := rng.normal(size=(6, 6))) @ A.T / 6, 150)
            for c in centers
        ]
    )
    yield "gaussians_random_covariance", X, np.repeat(np.arange(4), 150)
    X, y = make_blobs(n_samples=500, n_features=3, centers=4, random_state=17)
    noise = np.random.default_rng(17).normal(scale=2.0, size=(500, 7))
    yield "blobs_with_noise_features", np.hstack([X, noise]), y


def measure(X, y, random_states, merge_costs=MERGE_COSTS):
    """Rows of (method, ari list, nmi list, agreement list, time list)."""
    X = StandardScaler().fit_transform(X)
    n_classes = len(np.unique(y))
    rows = {}

    def add(method, labels, seconds, agreement=np.nan):
        entry = rows.setdefault(method, ([], [], [], []))
        entry[0].append(adjusted_rand_score(y, labels))
        entry[1].append(normalized_mutual_info_score(y, labels))
        entry[2].append(agreement)
        entry[3].append(seconds)

    for merge_cost in sorted(merge_costs, key=lambda c: c != DEFAULT_MERGE_COST):
        for state in random_states:
            model = RecursiveAutoencoderClustering(
                n_clusters=n_classes, merge_cost=merge_cost, random_state=state
            )
            start = time.perf_counter()
            model.fit(X)
            seconds = time.perf_counter() - start
            agreement = float(np.mean(model.predict(X) == model.labels_))
            label = merge_cost + (
                " (default)" if merge_cost == DEFAULT_MERGE_COST else ""
            )
            add(label, model.labels_, seconds, agreement)
    for method in LINKAGES:
        start = time.perf_counter()
        labels = fcluster(linkage(X, method), n_classes, criterion="maxclust")
        seconds = time.perf_counter() - start
        for _ in random_states:  # deterministic: same labels every state
            add(f"scipy {method}", labels, seconds)
    for state in random_states:
        start = time.perf_counter()
        labels = KMeans(n_classes, n_init=10, random_state=state).fit_predict(X)
        add("KMeans", labels, time.perf_counter() - start)
    return rows


def format_table(name, shape, rows):
    lines = [
        f"### {name} ({shape[0]} x {shape[1]})",
        "",
        "| method | ARI | NMI | predict agreement | fit time (s) |",
        "|---|---|---|---|---|",
    ]
    for method, (ari, nmi, agreement, seconds) in rows.items():
        agree = "" if np.isnan(agreement[0]) else f"{np.mean(agreement):.3f}"
        lines.append(
            f"| {method} | {np.mean(ari):.3f} ± {np.std(ari):.3f} "
            f"| {np.mean(nmi):.3f} ± {np.std(nmi):.3f} | {agree} "
            f"| {np.mean(seconds):.2f} |"
        )
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--random-states", type=int, default=3)
    parser.add_argument("--extra", action="store_true", help="generated data too")
    parser.add_argument("--only-extra", action="store_true")
    parser.add_argument("--output", help="also write the markdown here")
    parser.add_argument(
        "--merge-costs",
        nargs="+",
        default=list(MERGE_COSTS),
        metavar="MERGE_COST",
        help="merge_cost values to run (default: all)",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="iris, one state, two criteria"
    )
    args = parser.parse_args()
    random_states = list(range(args.random_states))
    merge_costs = list(dict.fromkeys(args.merge_costs))
    datasets = [] if args.only_extra else list(named_datasets())
    if args.extra or args.only_extra:
        datasets += list(extra_datasets())
    if args.smoke:
        datasets = datasets[:1]
        random_states = [0]
        merge_costs = [DEFAULT_MERGE_COST, "whitened_means"]
    sections = []
    summary = {}
    for name, X, y in datasets:
        rows = measure(X, y, random_states, merge_costs)
        section = format_table(name, X.shape, rows)
        print(section + "\n", flush=True)
        sections.append(section)
        summary[name] = {method: np.mean(r[0]) for method, r in rows.items()}
    methods = list(next(iter(summary.values())))
    lines = [
        "### Mean ARI over the data sets above",
        "",
        "| method | " + " | ".join(summary) + " | mean |",
        "|---|" + "---|" * (len(summary) + 1),
    ]
    for method in methods:
        values = [summary[name][method] for name in summary]
        lines.append(
            f"| {method} | "
            + " | ".join(f"{v:.3f}" for v in values)
            + f" | {np.mean(values):.3f} |"
        )
    sections.append("\n".join(lines))
    print(sections[-1])
    if args.output:
        with open(args.output, "w") as handle:
            handle.write("\n\n".join(sections) + "\n")


if __name__ == "__main__":
    main()
