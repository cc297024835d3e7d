"""The rules tried for choosing between the learned metric and the boundary code.

For each data set (the four classic tables, standardised, and a battery of
Gagolewski's suite, prepared by ``battery.py``) and random state, fits
``merge_cost="learned_metric"`` and ``"boundary"`` and keeps one by a rule:

``S``
    5 paired subsamples of 80% (the same for both criteria); each criterion
    builds its tree on a subsample with its fitted weights, cuts it into k
    and labels the left-out samples by their nearest kept sample in its
    embedding; stability is the ARI against the full fit. Keep ``boundary``
    if its mean stability is higher.
``S2``
    As S with 20 subsamples.
``S3``
    As S2, keeping ``boundary`` only if the mean paired difference exceeds
    two standard errors.
``S4``
    As S2, drawn in rounds of 10 until the mean difference is three
    standard errors from zero (20 to 100 subsamples): the package's
    ``merge_cost="adaptive"``, which this rule runs directly.

Prints each set's mean ARI and its range over the random states, then the
four tables' scores and the battery's mean and mean range. Run from the
repository root::

    PYTHONPATH=$PWD python benchmarks/stability_rules.py \\
        ../shared/benchmarks/battery-dev --rule S4
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from multiprocessing import Pool

import numpy as np
from sklearn import datasets
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from battery import best_ari, load_battery  # noqa: E402

from sklearn_rae import RecursiveAutoencoderClustering  # noqa: E402
from sklearn_rae._selection import subsample_stability  # noqa: E402
from sklearn_rae.criteria import get_criterion  # noqa: E402

CLASSIC = ("iris", "wine", "breast_cancer", "digits")
RULES = {"S": (5, None), "S2": (20, None), "S3": (20, 2.0), "S4": None}


def fixed_rule_labels(X, k, seed, n_subsamples, margin):
    """Rules S, S2, S3: a fixed number of paired subsamples."""
    fits = [
        RecursiveAutoencoderClustering(
            n_clusters=k, merge_cost=name, random_state=seed
        ).fit(X)
        for name in ("learned_metric", "boundary")
    ]
    rng = np.random.RandomState(seed)
    n_kept = int(0.8 * len(X))
    scores = np.empty((n_subsamples, 2))
    for row in range(n_subsamples):
        kept = np.sort(rng.choice(len(X), n_kept, replace=False))
        for column, fit in enumerate(fits):
            scores[row, column] = subsample_stability(
                get_criterion(fit.merge_cost),
                fit._merger_weights,
                X,
                fit.labels_,
                k,
                kept,
            )
    differences = scores[:, 1] - scores[:, 0]
    threshold = 0.0
    if margin is not None:
        threshold = margin * differences.std(ddof=1) / np.sqrt(n_subsamples)
    return fits[int(differences.mean() > threshold)].labels_


def cluster_by(rule, seed):
    def cluster(X, k):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if RULES[rule] is None:
                return (
                    RecursiveAutoencoderClustering(n_clusters=k, random_state=seed)
                    .fit(X)
                    .labels_
                )
            return fixed_rule_labels(X, k, seed, *RULES[rule])

    return cluster


def score(job):
    rule, name, X, partitions, seed = job
    return name, seed, best_ari(cluster_by(rule, seed), X, partitions)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="battery folder with published_ari.csv")
    parser.add_argument("--rule", choices=sorted(RULES), default="S4")
    parser.add_argument("--random-states", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    sets = []
    for name in CLASSIC:
        X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
        sets.append((name, StandardScaler().fit_transform(X), [y + 1]))
    sets += [(name, X, p) for name, X, p, _ in load_battery(args.folder, 4000)]
    jobs = [(args.rule, *s, seed) for s in sets for seed in args.random_states]
    with Pool(args.processes) as pool:
        results = pool.map(score, jobs, chunksize=1)
    table = {}
    for name, _, value in results:
        table.setdefault(name, []).append(value)
    print(f"| set | rule {args.rule}: mean ARI | range |\n|---|---|---|")
    for name, values in table.items():
        print(f"| {name} | {np.mean(values):.3f} | {np.ptp(values):.3f} |")
    classic = " ".join(f"{np.mean(table[name]):.3f}" for name in CLASSIC)
    battery = [values for name, values in table.items() if name not in CLASSIC]
    print(f"\nclassic (iris wine breast_cancer digits): {classic}")
    print(
        f"battery: mean {np.mean([np.mean(v) for v in battery]):.3f}, "
        f"mean range {np.mean([np.ptp(v) for v in battery]):.3f}"
    )


if __name__ == "__main__":
    main()
