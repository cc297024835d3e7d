"""Choosing the number of clusters without labels: how often each rule finds it.

Two tables.

1. Eight sets of well-separated Gaussian blobs (300 points, 2 to 7 centres,
   2 to 10 features, centres at least six standard deviations apart,
   standardised). For each: the true number of clusters and the number
   chosen by

   - ``GridSearchCV(RecursiveAutoencoderClustering(random_state=0),
     {"n_clusters": range(2, 10)}, cv=KFold(3, shuffle=True, random_state=0))``
     with no ``scoring`` (so by :meth:`score`),
   - one fit with ``n_clusters="auto"``,
   - the Gaussian mixture's BIC, ``GaussianMixture(k, random_state=0).bic(X)``
     minimised over k = 1..9.

2. The development battery (every set of at most 4,000 points, prepared by
   the battery's conventions: zero-variance columns dropped, white noise of
   standard deviation ``1e-6 * X.std()``, columns centred and the matrix
   divided by its overall standard deviation). For each rule: in how many
   sets the chosen number is one of the reference partitions' numbers of
   clusters, and the mean over the sets of the adjusted Rand index of its
   clustering at the chosen number (the maximum over the reference
   partitions, on non-noise points). Rules:

   - ``GridSearchCV`` as above over ``n_clusters`` in 2..``--grid-max``,
     ARI of the refitted best model;
   - ``n_clusters="auto"`` (its own candidates, 1..30);
   - the Gaussian mixture's BIC over 1..``--grid-max`` (scikit-learn defaults,
     full covariance, ``random_state=0``), ARI of that mixture's labels;
   - the silhouette of Ward's tree (SciPy) over 2..``--grid-max``, ARI of
     Ward's cut at the chosen number.

Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/n_clusters.py ../shared/benchmarks/battery-dev

The grid search refits ``3 * (grid-max - 1)`` models per set, the slow
part: on the battery it runs on the sets of at most ``--grid-max-samples``
points only (default 1,000; its counts are then over those sets), and
``--skip-grid`` leaves it out. ``--blobs-only`` and ``--battery-only`` run one
table.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import linkage
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._tree import cut_linkage

BLOB_SETS = [(2, 2), (3, 5), (4, 10), (5, 3), (6, 2), (7, 6), (3, 8), (5, 4)]
MAX_BATTERY_SAMPLES = 4000


def blob_set(n_centres, n_features, seed, n_samples=300):
    """Gaussian blobs of unit spread, centres >= 6 apart in a [-10, 10] box."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-10, 10, size=(1, n_features))
    while len(centres) < n_centres:
        candidate = rng.uniform(-10, 10, size=n_features)
        if np.min(np.linalg.norm(centres - candidate, axis=1)) >= 6:
            centres = np.vstack([centres, candidate])
    y = rng.integers(n_centres, size=n_samples)
    X = centres[y] + rng.normal(size=(n_samples, n_features))
    return StandardScaler().fit_transform(X), y


def grid_search_choice(X, candidates):
    search = GridSearchCV(
        RecursiveAutoencoderClustering(random_state=0),
        {"n_clusters": list(candidates)},
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X)
    return search.best_params_["n_clusters"], search.best_estimator_.labels_


def auto_choice(X):
    model = RecursiveAutoencoderClustering(n_clusters="auto", random_state=0).fit(X)
    return model.n_clusters_, model.labels_


def bic_choice(X, candidates):
    models = [GaussianMixture(k, random_state=0).fit(X) for k in candidates]
    best = int(np.argmin([model.bic(X) for model in models]))
    return candidates[best], models[best].predict(X)


def silhouette_choice(X, candidates):
    tree = linkage(X, "ward")
    cuts = [cut_linkage(tree, n_clusters=k) for k in candidates]
    best = int(np.argmax([silhouette_score(X, labels) for labels in cuts]))
    return candidates[best], cuts[best]


def blobs_table():
    rows = []
    hits = {"grid": 0, "auto": 0, "bic": 0}
    for seed, (k, d) in enumerate(BLOB_SETS):
        X, _ = blob_set(k, d, seed)
        start = time.perf_counter()
        grid, _ = grid_search_choice(X, range(2, 10))
        auto, _ = auto_choice(X)
        bic, _ = bic_choice(X, list(range(1, 10)))
        seconds = time.perf_counter() - start
        for name, choice in (("grid", grid), ("auto", auto), ("bic", bic)):
            hits[name] += choice == k
        rows.append(f"| {seed} | {d} | {k} | {grid} | {auto} | {bic} | {seconds:.0f} |")
    n = len(BLOB_SETS)
    return "\n".join(
        [
            "| set | features | true k | GridSearchCV (score) | n_clusters=auto "
            "| GaussianMixture BIC | time (s) |",
            "|---|---|---|---|---|---|---|",
            *rows,
            f"| **found** | | | **{hits['grid']}/{n}** | **{hits['auto']}/{n}** "
            f"| **{hits['bic']}/{n}** | |",
        ]
    )


def battery_sets(folder):
    """(name, X, reference label arrays) of the sets of at most 4,000 points."""
    folder = Path(folder)
    with open(folder / "published_ari.csv") as table:
        for row in csv.DictReader(table):
            if int(row["n"]) > MAX_BATTERY_SAMPLES:
                continue
            stem = folder / row["battery"] / row["dataset"]
            X = np.loadtxt(f"{stem}.data.gz", ndmin=2)
            references = [
                np.loadtxt(path, dtype=int)
                for path in sorted(stem.parent.glob(f"{stem.name}.labels*.gz"))
            ]
            yield f"{row['battery']}/{row['dataset']}", prepare(X), references


def prepare(X):
    """The battery's preprocessing of the "original" space."""
    X = X[:, np.std(X, axis=0) > 0]
    rng = np.random.default_rng(0)
    X = X + rng.normal(scale=1e-6 * X.std(), size=X.shape)
    X = X - X.mean(axis=0)
    return X / X.std()


def best_ari(labels, references):
    return max(
        adjusted_rand_score(reference[reference > 0], labels[reference > 0])
        for reference in references
    )


def battery_table(folder, grid_max, skip_grid, grid_max_samples):
    methods = {
        "n_clusters=auto": auto_choice,
        "GaussianMixture BIC": lambda X: bic_choice(X, list(range(1, grid_max + 1))),
        "Ward silhouette": lambda X: silhouette_choice(X, list(range(2, grid_max + 1))),
    }
    if not skip_grid:
        methods = {
            "GridSearchCV (score)": lambda X: grid_search_choice(
                X, range(2, grid_max + 1)
            ),
            **methods,
        }
    hits = {name: 0 for name in methods}
    aris = {name: [] for name in methods}
    rows = []
    for name, X, references in battery_sets(folder):
        ks = sorted({len(np.unique(r[r > 0])) for r in references})
        cells = []
        start = time.perf_counter()
        for method, choose in methods.items():
            if method.startswith("GridSearchCV") and len(X) > grid_max_samples:
                cells.append("")
                continue
            k, labels = choose(X)
            ari = best_ari(np.asarray(labels), references)
            hits[method] += k in ks
            aris[method].append(ari)
            cells.append(f"{k} ({ari:.2f})")
        seconds = time.perf_counter() - start
        ks_text = " ".join(map(str, ks))
        rows.append(
            f"| {name} | {len(X)} | {ks_text} | {' | '.join(cells)} | {seconds:.0f} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    header = " | ".join(methods)
    return "\n".join(
        [
            f"| set | n | reference k | {header} | time (s) |",
            "|---|---|---|" + "---|" * len(methods) + "---|",
            *rows,
            "| **reference k found** | | | "
            + " | ".join(f"**{hits[m]}/{len(aris[m])}**" for m in methods)
            + " | |",
            "| **mean ARI at the chosen k** | | | "
            + " | ".join(f"**{np.mean(aris[m]):.3f}**" for m in methods)
            + " | |",
        ]
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "battery",
        nargs="?",
        default="../shared/benchmarks/battery-dev",
        help="the development battery's folder",
    )
    parser.add_argument("--grid-max", type=int, default=12)
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument("--grid-max-samples", type=int, default=1000)
    parser.add_argument("--blobs-only", action="store_true")
    parser.add_argument("--battery-only", action="store_true")
    args = parser.parse_args(argv)
    if not args.battery_only:
        print("## Well-separated blobs\n")
        print(blobs_table(), flush=True)
    if not args.blobs_only:
        print("\n## Development battery (sets of at most 4,000 points)\n")
        print("Each cell: the chosen number of clusters (ARI at that number).\n")
        print(
            battery_table(
                args.battery, args.grid_max, args.skip_grid, args.grid_max_samples
            )
        )


if __name__ == "__main__":
    main()
