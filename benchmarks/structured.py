"""Structured merging: sequence segmentation, a million-point chain, a kNN graph.

Prints one table. Every case runs in its own subprocess, which reports its wall
time for ``fit`` and its peak resident memory (``ru_maxrss``, the whole process:
data, graph and fit). scikit-learn's ``AgglomerativeClustering(linkage="ward")``
with the same connectivity runs in the same way for comparison.

Usage::

    PYTHONPATH=. python benchmarks/structured.py            # full sizes
    PYTHONPATH=. python benchmarks/structured.py --quick    # small sizes
    PYTHONPATH=. python benchmarks/structured.py --smoke    # a few seconds

``--merge-costs`` picks the criteria (default: every criterion);
``--smoke`` runs tiny sizes with ``whitened_means`` only (and Ward on the
sequence alone).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def regime_sequence(n_samples=1500, n_regimes=5, n_features=5, seed=0):
    """A multivariate sequence of regimes with different means and unit noise.

    Regime lengths are random (at least 100 samples); consecutive regimes'
    means differ by about 2 to 4 noise standard deviations per feature.
    """
    rng = np.random.RandomState(seed)
    cuts = np.sort(rng.choice(np.arange(100, n_samples - 100), n_regimes - 1, False))
    while np.diff(np.r_[0, cuts, n_samples]).min() < 100:
        cuts = np.sort(
            rng.choice(np.arange(100, n_samples - 100), n_regimes - 1, False)
        )
    regimes = np.searchsorted(cuts, np.arange(n_samples), side="right")
    steps = rng.uniform(2, 4, size=(n_regimes, n_features)) * rng.choice(
        [-1, 1], size=(n_regimes, n_features)
    )
    means = np.cumsum(steps, axis=0)
    means -= means.mean(axis=0)
    X = means[regimes] + rng.normal(size=(n_samples, n_features))
    return X, regimes


#: The criteria (not the selections between them) that take a graph.
CRITERIA = ("learned_metric", "boundary", "cumulative", "whitened_means")


def _chain(n):
    """The chain graph of a sequence: each sample joined to its neighbours."""
    from scipy.sparse import diags

    return diags([1, 1], [-1, 1], shape=(n, n), format="csr")


def run_case(case: str, method: str, n: int, merge_cost: str) -> dict:
    """Run one case in this process and return its measurements."""
    import warnings

    from sklearn.cluster import AgglomerativeClustering
    from sklearn.metrics import adjusted_rand_score

    from sklearn_rae import RecursiveAutoencoderClustering

    result: dict = {}
    if case == "sequence":
        X, truth = regime_sequence(n)
        graph = _chain(n)
        n_clusters, max_iter = 5, 100
    elif case == "chain":
        X = np.random.RandomState(0).normal(size=(n, 8))
        graph = _chain(n)
        n_clusters, max_iter = 5, 0
    else:
        from sklearn.neighbors import kneighbors_graph

        X = np.random.RandomState(0).normal(size=(n, 8))
        start = time.perf_counter()
        graph = kneighbors_graph(X, 10, include_self=False)
        result["graph_s"] = time.perf_counter() - start
        n_clusters, max_iter = 5, 0
    if method == "rae":
        kwargs = {} if case == "sequence" else {"max_iter": max_iter}
        model = RecursiveAutoencoderClustering(
            n_clusters=n_clusters,
            connectivity=graph,
            merge_cost=merge_cost,
            random_state=0,
            **kwargs,
        )
    else:
        model = AgglomerativeClustering(
            n_clusters=n_clusters, connectivity=graph, linkage="ward"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        start = time.perf_counter()
        model.fit(X)
        result["fit_s"] = time.perf_counter() - start
    if case == "sequence":
        result["ari"] = adjusted_rand_score(truth, model.labels_)
    labels = model.labels_
    if case in ("sequence", "chain"):
        n_changes = np.count_nonzero(np.diff(labels))
        result["contiguous"] = bool(n_changes == np.unique(labels).size - 1)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def _subprocess(case, method, n, merge_cost):
    command = [sys.executable, __file__, "--child", case, method, str(n), merge_cost]
    output = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, whitened_means only"
    )
    parser.add_argument(
        "--merge-costs",
        nargs="+",
        default=list(CRITERIA),
        metavar="MERGE_COST",
        help="criteria to run (default: all four)",
    )
    parser.add_argument("--no-sklearn", action="store_true", help="skip ward")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        case, method, n, merge_cost = args.child
        print(json.dumps(run_case(case, method, int(n), merge_cost)))
        return 0

    sizes = {"sequence": 1500, "chain": 1_000_000, "knn": 100_000}
    merge_costs = list(dict.fromkeys(args.merge_costs))
    if args.quick:
        sizes = {"sequence": 1500, "chain": 100_000, "knn": 10_000}
    if args.smoke:
        sizes = {"sequence": 600, "chain": 2_000, "knn": 1_000}
        merge_costs = ["whitened_means"]
        args.no_sklearn = True
    rows = []
    for merge_cost in merge_costs:
        rows.append(("sequence", f"rae {merge_cost}", sizes["sequence"], merge_cost))
    rows.append(("sequence", "ward", sizes["sequence"], ""))
    for case in ("chain", "knn"):
        for merge_cost in merge_costs:
            rows.append((case, f"rae {merge_cost}", sizes[case], merge_cost))
        if not args.no_sklearn:
            rows.append((case, "ward", sizes[case], ""))
    print(
        "| case | method | n | fit (s) | peak RSS (MB) | ARI | contiguous runs |\n"
        "|---|---|---|---|---|---|---|"
    )
    for case, label, n, merge_cost in rows:
        method = "ward" if label == "ward" else "rae"
        result = _subprocess(case, method, n, merge_cost or "cumulative")
        ari = f"{result['ari']:.3f}" if "ari" in result else ""
        contiguous = {True: "yes", False: "no"}.get(result.get("contiguous"), "")
        print(
            f"| {case} | {label} | {n:,} | {result['fit_s']:.1f} | "
            f"{result['peak_rss_mb']:.0f} | {ari} | {contiguous} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
