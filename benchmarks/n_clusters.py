"""Choosing the number of clusters without labels: how often each rule finds it.

Tables, for the ``merge_cost`` given by ``--merge-cost`` (default ``auto``,
the estimator's default). The tree rule is one fit of
``RecursiveAutoencoderClustering(n_clusters="auto", merge_cost=...,
random_state=0)``: its ``n_clusters_`` and ``labels_``, and how the pick was
decided, read off ``cut_n_clusters_``, ``cut_persistence_`` and ``cut_bic_``
(``persistence``: one persistent level, a partition persisting at least half
as long as the longest; ``bic``: the BIC among several, or one cluster).

1. Eight sets of well-separated Gaussian blobs (300 points, 2 to 7 centres,
   2 to 10 features, centres at least six standard deviations apart,
   standardised): the true number of clusters and the number chosen by the
   tree rule, by ``GridSearchCV(RecursiveAutoencoderClustering(
   merge_cost=..., random_state=0), {"n_clusters": range(2, 10)},
   cv=KFold(3, shuffle=True, random_state=0))`` with no ``scoring`` (so by
   :meth:`score`; left out by ``--skip-grid``) and by the Gaussian mixture's
   BIC, ``GaussianMixture(k, random_state=0).bic(X)`` minimised over
   k = 1..9.

2. Shapes and digits: make_circles (factor 0.5) and make_moons, n = 1,500,
   noise 0.05 (scikit-learn's cluster comparison example), standardised;
   digits standardised; two blobs rounded to integers (few distinct rows).

3. The development battery: the wut and graves sets of at most 4,000 points
   (``--max-samples``), prepared by the battery's conventions
   (``benchmarks/battery.py``). Per set: the reference partitions' numbers of
   clusters, and for each rule the chosen number and the adjusted Rand index
   of its clustering (the maximum over the reference partitions, on
   non-noise points). A pick is *found* if it equals one reference
   partition's number. Rules: the tree rule; ``GridSearchCV`` as above over
   2..12 on the sets of at most 1,000 points; the Gaussian mixture's BIC over
   k = 1..20 (scikit-learn defaults, full covariance, ``random_state=0``),
   ARI of the mixture's labels; scikit-learn's ``HDBSCAN()`` with its
   defaults, whose number is its count of clusters without noise, and whose
   ARI counts its noise points as **one more cluster** (label -1, as
   ``fit_predict`` returns them).

Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/n_clusters.py ../shared/benchmarks/battery-dev

(about a quarter of an hour on two cores; ``--skip-grid`` saves most of it).
``--only blobs,shapes,battery`` picks tables; ``--smoke`` runs every table at
a few seconds' size (two blob sets, smaller shapes, no digits, battery sets of
at most 300 points, narrower searches).

The package's rule reads any tree, SciPy's too, but only through a fit: the
figures of the rule on SciPy's Ward and single linkage trees, and of its
variants, are in ``benchmarks/archive/n_clusters_experiments.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from dataclasses import dataclass

import numpy as np
from battery import best_ari_of, load_battery  # benchmarks/battery.py, beside
from sklearn.cluster import HDBSCAN
from sklearn.datasets import load_digits, make_blobs, make_circles, make_moons
from sklearn.mixture import GaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering

BLOB_SETS = [(2, 2), (3, 5), (4, 10), (5, 3), (6, 2), (7, 6), (3, 8), (5, 4)]
BATTERIES = ("wut", "graves")
#: The grid search refits 3 folds per candidate: only on sets this small.
GRID_MAX_SAMPLES = 1000


@dataclass(frozen=True)
class Sizes:
    """How large each table is."""

    blob_sets: int = len(BLOB_SETS)
    blob_samples: int = 300
    blob_grid: range = range(2, 10)
    blob_bic: range = range(1, 10)
    shape_samples: int = 1500
    digits: bool = True
    battery_samples: int = 4000
    battery_grid: range = range(2, 13)
    battery_bic: range = range(1, 21)


SMOKE = Sizes(
    blob_sets=2,
    blob_samples=150,
    blob_grid=range(2, 5),
    blob_bic=range(1, 5),
    shape_samples=300,
    digits=False,
    battery_samples=300,
    battery_grid=range(2, 5),
    battery_bic=range(1, 6),
)


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


def shape_sets(n_samples=1500, digits=True):
    """(name, X, [labels]) of the shapes, digits and rounded blobs."""
    X, y = make_circles(n_samples, factor=0.5, noise=0.05, random_state=0)
    yield "circles", StandardScaler().fit_transform(X), [y + 1]
    X, y = make_moons(n_samples, noise=0.05, random_state=0)
    yield "moons", StandardScaler().fit_transform(X), [y + 1]
    if digits:
        data = load_digits()
        yield "digits", StandardScaler().fit_transform(data.data), [data.target + 1]
    X, y = make_blobs(300, centers=2, random_state=0)
    yield "rounded blobs", np.round(StandardScaler().fit_transform(X)), [y + 1]


@dataclass(frozen=True)
class TreeRuleChoice:
    """One ``n_clusters="auto"`` fit: its pick, labels and how it decided."""

    n_clusters: int
    labels: np.ndarray
    criterion: str
    n_distinct: int


def tree_rule_choice(X, merge_cost):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RecursiveAutoencoderClustering(
            n_clusters="auto", merge_cost=merge_cost, random_state=0
        ).fit(X)
    persistence = np.nan_to_num(model.cut_persistence_, nan=-np.inf)
    # The estimator's documented rule: the partitions persisting at least
    # half as long as the longest; the BIC decides among several.
    levels = int(np.sum(persistence >= persistence.max() / 2))
    criterion = "persistence" if model.n_clusters_ > 1 and levels == 1 else "bic"
    n_distinct = np.unique(X, axis=0).shape[0]
    return TreeRuleChoice(model.n_clusters_, model.labels_, criterion, n_distinct)


def grid_search_choice(X, merge_cost, candidates):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search = GridSearchCV(
            RecursiveAutoencoderClustering(merge_cost=merge_cost, random_state=0),
            {"n_clusters": list(candidates)},
            cv=KFold(3, shuffle=True, random_state=0),
        ).fit(X)
    return search.best_params_["n_clusters"], search.best_estimator_.labels_


def bic_choice(X, candidates):
    candidates = list(candidates)
    models = [GaussianMixture(k, random_state=0).fit(X) for k in candidates]
    best = int(np.argmin([model.bic(X) for model in models]))
    return candidates[best], models[best].predict(X)


def hdbscan_choice(X):
    labels = HDBSCAN(copy=True).fit_predict(X)
    return len(np.unique(labels[labels >= 0])), labels


def blobs_table(merge_cost, skip_grid, sizes):
    names = ["tree rule", "GaussianMixture BIC"]
    if not skip_grid:
        names.insert(1, "GridSearchCV (score)")
    hits = dict.fromkeys(names, 0)
    rows = []
    for seed, (k, d) in enumerate(BLOB_SETS[: sizes.blob_sets]):
        X, _ = blob_set(k, d, seed, sizes.blob_samples)
        start = time.perf_counter()
        picks = {"tree rule": tree_rule_choice(X, merge_cost).n_clusters}
        if not skip_grid:
            picks["GridSearchCV (score)"] = grid_search_choice(
                X, merge_cost, sizes.blob_grid
            )[0]
        picks["GaussianMixture BIC"] = bic_choice(X, sizes.blob_bic)[0]
        seconds = time.perf_counter() - start
        for name in names:
            hits[name] += picks[name] == k
        cells = " | ".join(str(picks[name]) for name in names)
        rows.append(f"| {seed} | {d} | {k} | {cells} | {seconds:.1f} |")
        print(rows[-1], file=sys.stderr, flush=True)
    n = len(rows)
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


def shapes_table(merge_cost, sizes):
    rows = []
    for name, X, references in shape_sets(sizes.shape_samples, sizes.digits):
        choice = tree_rule_choice(X, merge_cost)
        k_bic, labels_bic = bic_choice(X, range(1, 21))
        k_hdb, labels_hdb = hdbscan_choice(X)
        true_k = len(np.unique(references[0]))
        rows.append(
            f"| {name} | {len(X)} | {choice.n_distinct} | {true_k} | "
            f"{choice.n_clusters} ({best_ari_of(choice.labels, references):.3f}, "
            f"{choice.criterion}) "
            f"| {k_bic} ({best_ari_of(labels_bic, references):.3f}) "
            f"| {k_hdb} ({best_ari_of(labels_hdb, references):.3f}) |"
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


def battery_table(folder, merge_cost, skip_grid, sizes):
    methods = ("tree rule", "GridSearchCV (score)", "GaussianMixture BIC", "HDBSCAN")
    if skip_grid:
        methods = tuple(m for m in methods if m != "GridSearchCV (score)")
    hits = dict.fromkeys(methods, 0)
    aris = {name: [] for name in methods}
    by_criterion = {}
    rows = []
    sets = load_battery(folder, sizes.battery_samples, BATTERIES)
    for battery, dataset, X, references, _ in sets:
        ks = sorted({len(np.unique(r[r > 0])) for r in references})
        choice = tree_rule_choice(X, merge_cost)
        picks = {
            "tree rule": (choice.n_clusters, choice.labels),
            "GaussianMixture BIC": bic_choice(X, sizes.battery_bic),
            "HDBSCAN": hdbscan_choice(X),
        }
        if not skip_grid and len(X) <= GRID_MAX_SAMPLES:
            picks["GridSearchCV (score)"] = grid_search_choice(
                X, merge_cost, sizes.battery_grid
            )
        by_criterion[choice.criterion] = by_criterion.get(choice.criterion, 0) + 1
        cells = []
        for method in methods:
            if method not in picks:  # the grid search on a large set
                cells.append("")
                continue
            pick, method_labels = picks[method]
            ari = best_ari_of(np.asarray(method_labels), references)
            hits[method] += pick in ks
            aris[method].append(ari)
            mark = f", {choice.criterion}" if method == "tree rule" else ""
            cells.append(f"{pick} ({ari:.2f}{mark})")
        ks_cell = " ".join(map(str, ks))
        rows.append(
            f"| {battery}/{dataset} | {len(X)} | {ks_cell} | {' | '.join(cells)} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    decided = ", ".join(f"{c}: {v}" for c, v in sorted(by_criterion.items()))
    found = [f"**{hits[m]}/{len(aris[m])}**" for m in methods]
    means = [f"**{np.mean(aris[m]):.3f}**" if aris[m] else "" for m in methods]
    return "\n".join(
        [
            f"| set | n | reference k | {' | '.join(methods)} |",
            "|---|---|---|" + "---|" * len(methods),
            *rows,
            "| **reference k found** | | | " + " | ".join(found) + " |",
            "| **mean ARI at the pick** | | | " + " | ".join(means) + " |",
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
    parser.add_argument(
        "--merge-cost", default="auto", help="merge_cost of the fits (default: auto)"
    )
    parser.add_argument("--skip-grid", action="store_true")
    parser.add_argument(
        "--only", default="blobs,shapes,battery", help="tables to run, comma-separated"
    )
    parser.add_argument(
        "--max-samples", type=int, default=None, help="largest battery set (4000)"
    )
    parser.add_argument(
        "--smoke", action="store_true", help="every table at a few seconds' size"
    )
    args = parser.parse_args(argv)
    sizes = SMOKE if args.smoke else Sizes()
    if args.max_samples is not None:
        sizes = Sizes(**{**vars(sizes), "battery_samples": args.max_samples})
    tables = set(args.only.split(","))
    print(f"merge_cost: {args.merge_cost}\n")
    if "blobs" in tables:
        print("## Well-separated blobs\n")
        print(blobs_table(args.merge_cost, args.skip_grid, sizes), flush=True)
    if "shapes" in tables:
        print("\n## Shapes, digits, few distinct rows\n")
        print("Each cell: the chosen number of clusters (ARI at that number).\n")
        print(shapes_table(args.merge_cost, sizes), flush=True)
    if "battery" in tables:
        print(
            f"\n## Development battery (wut and graves, at most "
            f"{sizes.battery_samples:,} points)\n"
        )
        print("Each cell: the chosen number of clusters (ARI at that number).\n")
        print(
            battery_table(args.battery, args.merge_cost, args.skip_grid, sizes),
            flush=True,
        )


if __name__ == "__main__":
    main()
