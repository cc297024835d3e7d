"""Fit time of the default (``merge_cost="auto"``) against classical clusterers.

Prints markdown tables. Every time is also given as a ratio to a baseline
measured in the same run, since absolute times drift on shared machines: a
whole fit against scikit-learn's ``AgglomerativeClustering(linkage="ward")``,
the untrained tree against ``scipy.cluster.hierarchy.linkage(X, "average")``.

    python benchmarks/default_speed.py               # a few minutes on 2 cores
    python benchmarks/default_speed.py --quick       # smaller sizes, one repeat
    python benchmarks/default_speed.py --smoke       # a few seconds: iris, 300 blobs
    python benchmarks/default_speed.py --repeat 2    # best of 2 instead of 3
    python benchmarks/default_speed.py --profile digits
    python benchmarks/default_speed.py --data breast_cancer digits blobs5000

Method. Before anything is timed, every method fits once on small data (300
blobs), so imports and first-call costs (compilation, caches, lazy imports)
are not in the times. Each time is then the best of ``--repeat`` fits (3 by
default, 1 with ``--quick``), the repeats taken in rounds that fit every
method once, so that a burst of load falls on all methods alike. Wall time
and this process's CPU time are both reported; on a loaded machine the CPU
time is the steadier of the two. The script sets ``OMP_NUM_THREADS=1`` and
``OPENBLAS_NUM_THREADS=1`` before NumPy is imported unless they are already
set, so every method runs with the same threads.

Data: ``make_blobs`` (8 centres, d = 10, standardised, ``n_clusters=8``) at
n = 1,000 and 5,000; scikit-learn's digits (k = 10), breast_cancer (k = 2),
wine (k = 3) and iris (k = 3), each standardised per column. ARI is the
adjusted Rand index of the last fit's labels against the true labels.
``HDBSCAN(copy=True)`` chooses its own number of clusters (given in the table); its
noise points count as one more cluster in its ARI. ``kept`` is the criterion
the default kept (``merge_cost_``).

``--data NAME ...`` times only those data sets (names as in the tables) and
skips the untrained-tree table.

``--profile NAME`` (``breast_cancer``, ``digits`` or ``blobs5000``) runs
cProfile on one default fit of NAME, after one untimed fit of it, and prints
the 15 lines with the largest cumulative time, then the 15 with the largest
own time (``tottime``).
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import time  # noqa: E402
from functools import partial  # noqa: E402

import numpy as np  # noqa: E402
from sklearn.datasets import (  # noqa: E402
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_blobs,
)
from sklearn.metrics import adjusted_rand_score  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

PROFILE_NAMES = ("breast_cancer", "digits", "blobs5000")


def blobs(n: int, d: int = 10, seed: int = 0):
    """``n`` standardised samples of 8 Gaussian blobs in ``d`` dimensions."""
    X, y = make_blobs(n_samples=n, n_features=d, centers=8, random_state=seed)
    return StandardScaler().fit_transform(X), y


def table(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def datasets(sizes=(1000, 5000)) -> dict:
    """Name to ``(X, y, n_clusters)``: blobs of each size, then the tables."""
    cases = {f"blobs{n}": (*blobs(n), 8) for n in sizes}
    cases["digits"] = (*table(load_digits), 10)
    cases["breast_cancer"] = (*table(load_breast_cancer), 2)
    cases["wine"] = (*table(load_wine), 3)
    cases["iris"] = (*table(load_iris), 3)
    return cases


def ours(merge_cost: str = "auto", **params):
    from sklearn_rae import RecursiveAutoencoderClustering

    def make(k):
        return RecursiveAutoencoderClustering(
            n_clusters=k, merge_cost=merge_cost, random_state=0, **params
        )

    return make


def methods() -> dict:
    """Method name to a function of ``n_clusters`` that returns an estimator."""
    from genieclust import Genie
    from sklearn.cluster import HDBSCAN, AgglomerativeClustering, KMeans

    return {
        "default (auto)": ours("auto"),
        "whitened_means": ours("whitened_means"),
        "sklearn Ward": lambda k: AgglomerativeClustering(n_clusters=k, linkage="ward"),
        "genieclust Genie": lambda k: Genie(n_clusters=k),
        "sklearn HDBSCAN (own k)": lambda k: HDBSCAN(copy=True),
        "sklearn KMeans (n_init=10)": lambda k: KMeans(
            n_clusters=k, n_init=10, random_state=0
        ),
    }


def timed(fit):
    """Wall and CPU seconds of one call of ``fit``, and what it returned."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fit()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def interleaved(fits: dict, repeat: int) -> dict:
    """Name to ``(best wall, best CPU, last result)`` of ``repeat`` rounds.

    Each round calls every fit once, so that a burst of load on the shared
    machine falls on all methods alike rather than on one method's repeats.
    """
    best = {name: [np.inf, np.inf, None] for name in fits}
    for _ in range(repeat):
        for name, fit in fits.items():
            wall, cpu, result = timed(fit)
            best[name] = [min(best[name][0], wall), min(best[name][1], cpu), result]
    return {name: tuple(value) for name, value in best.items()}


def warm_up(makers: dict) -> None:
    """Fit every method once on small data, untimed."""
    from scipy.cluster.hierarchy import linkage

    X, _ = blobs(300)
    for make in makers.values():
        make(8).fit(X)
    ours("auto", max_iter=0)(8).fit(X)
    ours("whitened_means", max_iter=0)(8).fit(X)
    linkage(X, "average")


def fit_new(make, k, X):
    """A new estimator ``make(k)`` fitted on ``X``."""
    return make(k).fit(X)


def fit_tables(cases: dict, makers: dict, repeat: int) -> list[tuple]:
    """Rows ``(case, shape, method, wall, wall ratio, ARI, clusters, kept, CPU,
    CPU ratio)``, ratios to scikit-learn's Ward."""
    rows = []
    for case, (X, y, k) in cases.items():
        fits = {name: partial(fit_new, make, k, X) for name, make in makers.items()}
        results = interleaved(fits, repeat)
        ward_wall, ward_cpu, _ = results["sklearn Ward"]
        for name, (wall, cpu, model) in results.items():
            labels = model.labels_
            clusters = len(set(labels.tolist()) - {-1})
            kept = getattr(model, "merge_cost_", "")
            ari = adjusted_rand_score(y, labels)
            rows.append(
                (
                    case,
                    X.shape,
                    name,
                    wall,
                    wall / ward_wall,
                    ari,
                    clusters,
                    kept,
                    cpu,
                    cpu / ward_cpu,
                )
            )
        print(f"  measured {case}", flush=True)
    return rows


def untrained_table(n: int, repeat: int) -> list[tuple]:
    """Untrained trees at ``n`` blobs against SciPy's average linkage."""
    from scipy.cluster.hierarchy import linkage

    X, _ = blobs(n)
    trees = {
        "scipy average linkage": lambda: linkage(X, "average"),
        "default (auto), max_iter=0": lambda: ours("auto", max_iter=0)(8).fit(X),
        "whitened_means, max_iter=0": lambda: ours("whitened_means", max_iter=0)(8).fit(
            X
        ),
    }
    results = interleaved(trees, repeat)
    wall_average, cpu_average, _ = results["scipy average linkage"]
    return [
        (
            name,
            wall,
            wall / wall_average,
            getattr(result, "merge_cost_", ""),
            cpu,
            cpu / cpu_average,
        )
        for name, (wall, cpu, result) in results.items()
    ]


def ratio_table(cases, names, by_key, seconds: int, ratio: int) -> None:
    print("| data | n x d | Ward (s) | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for case in cases:
        shape = by_key[case, names[0]][1]
        ward = by_key[case, "sklearn Ward"][seconds]
        cells = [f"{by_key[case, name][ratio]:.2f}" for name in names]
        line = f"| {case} | {shape[0]} x {shape[1]} | {ward:.3f} | "
        print(line + " | ".join(cells) + " |")


def print_tables(rows, untrained, n_untrained: int, repeat: int) -> None:
    print(f"\n### Whole fits against scikit-learn's Ward (best of {repeat})\n")
    names = list(dict.fromkeys(row[2] for row in rows))
    cases = list(dict.fromkeys(row[0] for row in rows))
    by_key = {(row[0], row[2]): row for row in rows}
    print("Wall time over Ward's in the same run:\n")
    ratio_table(cases, names, by_key, seconds=3, ratio=4)
    print("\nCPU time (this process, one thread) over Ward's in the same run:\n")
    ratio_table(cases, names, by_key, seconds=8, ratio=9)
    print("\nAdjusted Rand index against the true labels (HDBSCAN: its clusters):\n")
    print("| data | k | kept by default | " + " | ".join(names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for case in cases:
        kept = by_key[case, "default (auto)"][7]
        k = by_key[case, "default (auto)"][6]
        cells = []
        for name in names:
            row = by_key[case, name]
            cell = f"{row[5]:.3f}"
            if name.startswith("sklearn HDBSCAN"):
                cell += f" ({row[6]})"
            cells.append(cell)
        print(f"| {case} | {k} | {kept} | " + " | ".join(cells) + " |")
    print("\nWall seconds:\n")
    print("| data | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for case in cases:
        cells = [f"{by_key[case, name][3]:.3f}" for name in names]
        print(f"| {case} | " + " | ".join(cells) + " |")
    if not untrained:
        return
    print(f"\n### Untrained tree, blobs n = {n_untrained}, d = 10 (best of {repeat})\n")
    print(
        "| method | wall (s) | vs SciPy average | CPU (s) | vs SciPy average | kept |"
    )
    print("|---|---|---|---|---|---|")
    for name, wall, wall_ratio, kept, cpu, cpu_ratio in untrained:
        print(
            f"| {name} | {wall:.3f} | {wall_ratio:.2f} | {cpu:.3f} | "
            f"{cpu_ratio:.2f} | {kept} |"
        )


def profile(name: str) -> None:
    """cProfile one default fit of ``name``; the top 15 by cumulative and own time."""
    if name == "blobs5000":
        X, _ = blobs(5000)
        k = 8
    else:
        loader = {"breast_cancer": load_breast_cancer, "digits": load_digits}[name]
        k = {"breast_cancer": 2, "digits": 10}[name]
        X, _ = table(loader)
    make = ours("auto")
    make(k).fit(X)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    model = make(k).fit(X)
    profiler.disable()
    seconds = time.perf_counter() - start
    print(f"### Profile of one default fit of {name} ({seconds:.2f} s under cProfile)")
    print(f"kept: {model.merge_cost_}\n")
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream).strip_dirs()
    stats.sort_stats("cumulative").print_stats(15)
    stats.sort_stats("tottime").print_stats(15)
    print(stream.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 1 repeat")
    parser.add_argument(
        "--smoke", action="store_true", help="300 blobs and iris, 1 repeat"
    )
    parser.add_argument("--repeat", type=int, default=None, help="best of N fits")
    parser.add_argument(
        "--profile", choices=PROFILE_NAMES, help="profile one default fit of NAME"
    )
    parser.add_argument(
        "--data",
        nargs="+",
        metavar="NAME",
        help="time only these data sets; skip the untrained-tree table",
    )
    args = parser.parse_args()
    threads = ", ".join(
        f"{v}={os.environ[v]}" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
    )
    if args.profile:
        print(f"Threads: {threads}")
        profile(args.profile)
        return
    repeat = args.repeat or (1 if args.quick or args.smoke else 3)
    if repeat < 1:
        parser.error("--repeat must be at least 1")
    n_untrained = 2000 if args.quick else 10000
    sizes = (500, 2000) if args.quick else (1000, 5000)
    if args.smoke:
        n_untrained, sizes = 500, (300,)
    print(f"Threads: {threads}; best of {repeat} after one warm-up fit of each method")
    makers = methods()
    warm_up(makers)
    cases = datasets(sizes)
    if args.smoke and not args.data:
        cases = {name: cases[name] for name in ("blobs300", "iris")}
    if args.data:
        unknown = sorted(set(args.data) - set(cases))
        if unknown:
            parser.error(f"unknown data {unknown}; choose from {sorted(cases)}")
        cases = {name: cases[name] for name in args.data}
    rows = fit_tables(cases, makers, repeat)
    untrained = [] if args.data else untrained_table(n_untrained, repeat)
    print_tables(rows, untrained, n_untrained, repeat)


if __name__ == "__main__":
    main()
