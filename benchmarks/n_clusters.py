"""Choosing the number of clusters without labels: how often each rule finds it.

Tables, for one tree source given on the command line (``--tree``):
``adaptive`` (the default criterion), ``boundary``, ``learned_metric`` (fits
of ``RecursiveAutoencoderClustering(n_clusters=2, merge_cost=...,
random_state=0)``; the tree depends on ``n_clusters`` only through training)
or SciPy's ``ward`` and ``single`` linkage. The tree rule is
:func:`sklearn_rae._choose_k.choose_n_clusters` on that tree; its clustering
is the tree's cut into the chosen number (the last ``k - 1`` merges undone).

1. Eight sets of well-separated Gaussian blobs (300 points, 2 to 7 centres,
   2 to 10 features, centres at least six standard deviations apart,
   standardised): the true number of clusters and the number chosen by the
   tree rule, by ``GridSearchCV(RecursiveAutoencoderClustering(
   random_state=0), {"n_clusters": range(2, 10)}, cv=KFold(3, shuffle=True,
   random_state=0))`` with no ``scoring`` (so by :meth:`score`; left out by
   ``--skip-grid``), by one fit with ``n_clusters="auto"`` and by the
   Gaussian mixture's BIC, ``GaussianMixture(k, random_state=0).bic(X)``
   minimised over k = 1..9.

2. Shapes and digits: make_circles (factor 0.5) and make_moons, n = 1,500,
   noise 0.05 (scikit-learn's cluster comparison example), standardised;
   digits standardised; two blobs rounded to integers (few distinct rows).

3. The development battery: the wut and graves sets of at most 4,000 points,
   prepared by the battery's conventions (zero-variance columns dropped,
   white noise of standard deviation ``1e-6 * X.std()``, columns centred and
   the matrix divided by its overall standard deviation). Per set: the
   reference partitions' numbers of clusters, and for each rule the chosen
   number and the adjusted Rand index of its clustering (the maximum over the
   reference partitions, on non-noise points). A pick is *found* if it equals
   one reference partition's number. Rules: the tree rule; the Gaussian
   mixture's BIC over k = 1..20 (scikit-learn defaults, full covariance,
   ``random_state=0``), ARI of the mixture's labels; scikit-learn's
   ``HDBSCAN()`` with its defaults, whose number is its count of clusters
   without noise, and whose ARI counts its noise points as **one more
   cluster** (label -1, as ``fit_predict`` returns them).

Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/n_clusters.py ../shared/benchmarks/battery-dev \
        --tree adaptive --skip-grid

``--skip-auto`` leaves out the ``n_clusters="auto"`` fits of the blob table.
``--tree-cache DIR`` keeps each fitted tree as ``DIR/<set>.<tree>.npy`` and
reuses it. ``--only blobs,shapes,battery`` picks tables.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.cluster.hierarchy import cut_tree
from scipy.cluster.hierarchy import linkage as scipy_linkage
from sklearn.cluster import HDBSCAN
from sklearn.datasets import load_digits, make_blobs, make_circles, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._choose_k import choose_n_clusters

BLOB_SETS = [(2, 2), (3, 5), (4, 10), (5, 3), (6, 2), (7, 6), (3, 8), (5, 4)]
MAX_BATTERY_SAMPLES = 4000
BATTERIES = ("wut", "graves")
TREES = ("adaptive", "boundary", "learned_metric", "ward", "single")


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


def shape_sets():
    """(name, X, [labels]) of the shapes, digits and rounded blobs."""
    X, y = make_circles(1500, factor=0.5, noise=0.05, random_state=0)
    yield "circles", StandardScaler().fit_transform(X), [y + 1]
    X, y = make_moons(1500, noise=0.05, random_state=0)
    yield "moons", StandardScaler().fit_transform(X), [y + 1]
    digits = load_digits()
    yield "digits", StandardScaler().fit_transform(digits.data), [digits.target + 1]
    X, y = make_blobs(300, centers=2, random_state=0)
    yield "rounded blobs", np.round(StandardScaler().fit_transform(X)), [y + 1]


def tree_of(X, tree, name=None, cache=None):
    """The linkage matrix of ``X`` from the tree source ``tree``."""
    if tree in ("ward", "single"):
        return scipy_linkage(X, tree)
    path = None
    if cache is not None and name is not None:
        path = Path(cache) / f"{name.replace('/', '_').replace(' ', '_')}.{tree}.npy"
        if path.exists():
            return np.load(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RecursiveAutoencoderClustering(
            n_clusters=2, merge_cost=tree, random_state=0
        ).fit(X)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, model.linkage_matrix_)
    return model.linkage_matrix_


def cut(linkage, k):
    """The tree's cut into ``k`` clusters (the last ``k - 1`` merges undone)."""
    return cut_tree(linkage, n_clusters=[k]).ravel()


def tree_rule_choice(X, linkage):
    choice = choose_n_clusters(X, linkage)
    return choice.n_clusters, cut(linkage, choice.n_clusters), choice


def grid_search_choice(X, candidates):
    search = GridSearchCV(
        RecursiveAutoencoderClustering(random_state=0),
        {"n_clusters": list(candidates)},
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X)
    return search.best_params_["n_clusters"], search.best_estimator_.labels_


def auto_choice(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RecursiveAutoencoderClustering(n_clusters="auto", random_state=0)
        model.fit(X)
    return model.n_clusters_, model.labels_


def bic_choice(X, candidates):
    models = [GaussianMixture(k, random_state=0).fit(X) for k in candidates]
    best = int(np.argmin([model.bic(X) for model in models]))
    return candidates[best], models[best].predict(X)


def hdbscan_choice(X):
    labels = HDBSCAN(copy=True).fit_predict(X)
    return len(np.unique(labels[labels >= 0])), labels


def best_ari(labels, references):
    return max(
        adjusted_rand_score(reference[reference > 0], labels[reference > 0])
        for reference in references
    )


def blobs_table(tree, skip_grid, skip_auto, cache):
    names = ["tree rule", "n_clusters=auto", "GaussianMixture BIC"]
    if skip_auto:
        names.remove("n_clusters=auto")
    if not skip_grid:
        names.insert(1, "GridSearchCV (score)")
    hits = dict.fromkeys(names, 0)
    rows = []
    for seed, (k, d) in enumerate(BLOB_SETS):
        X, _ = blob_set(k, d, seed)
        start = time.perf_counter()
        picks = {
            "tree rule": tree_rule_choice(X, tree_of(X, tree, f"blobs{seed}", cache))[0]
        }
        if not skip_grid:
            picks["GridSearchCV (score)"] = grid_search_choice(X, range(2, 10))[0]
        if not skip_auto:
            picks["n_clusters=auto"] = auto_choice(X)[0]
        picks["GaussianMixture BIC"] = bic_choice(X, list(range(1, 10)))[0]
        seconds = time.perf_counter() - start
        for name in names:
            hits[name] += picks[name] == k
        cells = " | ".join(str(picks[name]) for name in names)
        rows.append(f"| {seed} | {d} | {k} | {cells} | {seconds:.0f} |")
        print(rows[-1], file=sys.stderr, flush=True)
    n = len(BLOB_SETS)
    return "\n".join(
        [
            f"| set | features | true k | {' | '.join(names)} | time (s) |",
            "|---|---|---|" + "---|" * len(names) + "---|",
            *rows,
            "| **found** | | | "
            + " | ".join(f"**{hits[name]}/{n}**" for name in names)
            + " | |",
        ]
    )


def shapes_table(tree, cache):
    rows = []
    for name, X, references in shape_sets():
        linkage = tree_of(X, tree, name, cache)
        k, labels, choice = tree_rule_choice(X, linkage)
        k_bic, labels_bic = bic_choice(X, list(range(1, 21)))
        k_hdb, labels_hdb = hdbscan_choice(X)
        true_k = len(np.unique(references[0]))
        rows.append(
            f"| {name} | {len(X)} | {choice.n_distinct} | {true_k} | {k} "
            f"({best_ari(labels, references):.3f}, {choice.criterion}) "
            f"| {k_bic} ({best_ari(labels_bic, references):.3f}) "
            f"| {k_hdb} ({best_ari(labels_hdb, references):.3f}) |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(
        [
            "| data | n | distinct rows | true k | tree rule (ARI, criterion) "
            "| GaussianMixture BIC | HDBSCAN |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )


def battery_sets(folder):
    """(name, X, reference label arrays) of the wut and graves sets <= 4,000."""
    folder = Path(folder)
    with open(folder / "published_ari.csv") as table:
        for row in csv.DictReader(table):
            if row["battery"] not in BATTERIES or int(row["n"]) > MAX_BATTERY_SAMPLES:
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


#: The grid search refits 3 folds per candidate: only on sets this small.
GRID_MAX_SAMPLES = 1000


def battery_table(folder, tree, cache, skip_auto=False, skip_grid=False):
    methods = (
        "tree rule",
        "n_clusters=auto",
        "GridSearchCV (score)",
        "GaussianMixture BIC",
        "HDBSCAN",
    )
    if skip_auto:
        methods = tuple(m for m in methods if m != "n_clusters=auto")
    if skip_grid:
        methods = tuple(m for m in methods if m != "GridSearchCV (score)")
    hits = dict.fromkeys(methods, 0)
    aris = {name: [] for name in methods}
    by_criterion = {}
    rows = []
    for name, X, references in battery_sets(folder):
        ks = sorted({len(np.unique(r[r > 0])) for r in references})
        k, labels, choice = tree_rule_choice(X, tree_of(X, tree, name, cache))
        picks = {
            "tree rule": (k, labels),
            "GaussianMixture BIC": bic_choice(X, list(range(1, 21))),
            "HDBSCAN": hdbscan_choice(X),
        }
        if not skip_auto:
            picks["n_clusters=auto"] = auto_choice(X)
        if not skip_grid and len(X) <= GRID_MAX_SAMPLES:
            picks["GridSearchCV (score)"] = grid_search_choice(X, range(2, 13))
        by_criterion[choice.criterion] = by_criterion.get(choice.criterion, 0) + 1
        cells = []
        for method in methods:
            if method not in picks:  # the grid search on a large set
                cells.append("")
                continue
            pick, method_labels = picks[method]
            ari = best_ari(np.asarray(method_labels), references)
            hits[method] += pick in ks
            aris[method].append(ari)
            mark = f", {choice.criterion}" if method == "tree rule" else ""
            cells.append(f"{pick} ({ari:.2f}{mark})")
        rows.append(
            f"| {name} | {len(X)} | {' '.join(map(str, ks))} | {' | '.join(cells)} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    decided = ", ".join(f"{c}: {v}" for c, v in sorted(by_criterion.items()))
    return "\n".join(
        [
            f"| set | n | reference k | {' | '.join(methods)} |",
            "|---|---|---|" + "---|" * len(methods),
            *rows,
            "| **reference k found** | | | "
            + " | ".join(f"**{hits[m]}/{len(aris[m])}**" for m in methods)
            + " |",
            "| **mean ARI at the pick** | | | "
            + " | ".join(f"**{np.mean(aris[m]):.3f}**" for m in methods)
            + " |",
            "",
            f"Tree rule decided by: {decided}. GridSearchCV runs on the sets of at "
            f"most {GRID_MAX_SAMPLES} points only; its counts are over those.",
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
    parser.add_argument("--tree", choices=TREES, default="adaptive")
    parser.add_argument("--tree-cache", default=None, help="folder of cached trees")
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument(
        "--skip-auto", action="store_true", help='leave out n_clusters="auto" fits'
    )
    parser.add_argument(
        "--only", default="blobs,shapes,battery", help="tables to run, comma-separated"
    )
    args = parser.parse_args(argv)
    tables = set(args.only.split(","))
    print(f"Tree: {args.tree}\n")
    if "blobs" in tables:
        print("## Well-separated blobs\n")
        print(
            blobs_table(args.tree, args.skip_grid, args.skip_auto, args.tree_cache),
            flush=True,
        )
    if "shapes" in tables:
        print("\n## Shapes, digits, few distinct rows\n")
        print("Each cell: the chosen number of clusters (ARI at that number).\n")
        print(shapes_table(args.tree, args.tree_cache), flush=True)
    if "battery" in tables:
        print("\n## Development battery (wut and graves, at most 4,000 points)\n")
        print("Each cell: the chosen number of clusters (ARI at that number).\n")
        print(
            battery_table(
                args.battery, args.tree, args.tree_cache, args.skip_auto, args.skip_grid
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
