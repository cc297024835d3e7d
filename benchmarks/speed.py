"""Speed and memory of sklearn-rae against SciPy, fastcluster and the seed.

Prints markdown tables; every time is also given as a ratio against a reference
measured in the same run, since absolute times drift on shared machines.

    python benchmarks/speed.py            # everything (about 5 minutes on 2 cores)
    python benchmarks/speed.py --quick    # smaller sizes, no seed run
    python benchmarks/speed.py --smoke    # a few seconds, no files

Writes ``docs/_static/bench_scaling.csv`` (columns n, method, seconds) and
``docs/_static/bench_scaling.png`` (log-log time against n) when matplotlib is
installed (not with ``--smoke``, which also leaves out the training steps, the
one part that imports TensorFlow).
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "docs" / "_static"
SEED_DIR = ROOT.parent / "shared" / "seed"


def best_of(function, *args, repeat: int = 1) -> float:
    """Smallest wall time of ``repeat`` calls of ``function(*args)``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def random_data(n: int, d: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


def untrained_fit(X, merge_cost="learned_metric"):
    from sklearn_rae import RecursiveAutoencoderClustering

    return RecursiveAutoencoderClustering(
        max_iter=0, merge_cost=merge_cost, random_state=0
    ).fit(X)


def untrained_seed_fit(X):
    return untrained_fit(X, merge_cost="cumulative")


def scaling(sizes: list[int]) -> list[tuple[int, str, float]]:
    """Tree building time against n for ours, SciPy and fastcluster."""
    from scipy.cluster.hierarchy import linkage

    methods = {
        "sklearn-rae (max_iter=0)": untrained_fit,
        "sklearn-rae cumulative (max_iter=0)": untrained_seed_fit,
        "scipy average": lambda X: linkage(X, "average"),
        "scipy ward": lambda X: linkage(X, "ward"),
    }
    try:
        import fastcluster

        methods["fastcluster average"] = lambda X: fastcluster.linkage(X, "average")
    except ImportError:
        pass
    rows = []
    for n in sizes:
        X = random_data(n)
        repeat = 3 if n <= 10000 else 1
        for name, method in methods.items():
            rows.append((n, name, best_of(method, X, repeat=repeat)))
    return rows


def peak_memory(n: int) -> float:
    """Peak resident memory (GiB) of a process that builds a tree over n points."""
    code = (
        "import resource, numpy as np\n"
        "from sklearn_rae import RecursiveAutoencoderClustering\n"
        f"X = np.random.default_rng(0).normal(size=({n}, 10))\n"
        "RecursiveAutoencoderClustering(max_iter=0, random_state=0).fit(X)\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH", "")])
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return int(out.stdout.split()[-1]) / 2**20


def seed_example() -> tuple[float, float]:
    """(seconds per seed training step, seconds for our 100-step fit)."""
    X = np.array([np.full(10, i, float) for i in range(10)] * 2)
    from sklearn_rae import RecursiveAutoencoderClustering

    # Warm up TensorFlow (import and tracing happen once per process).
    RecursiveAutoencoderClustering(merge_cost="cumulative", max_iter=1).fit(X)
    ours = best_of(
        lambda: RecursiveAutoencoderClustering(
            merge_cost="cumulative", max_iter=100, random_state=0
        ).fit(X),
        repeat=3,
    )
    sys.path.insert(0, str(SEED_DIR))
    import seed_code_formatted as seed
    import tensorflow as tf

    model = seed.merge_encoder(10)
    leaves = seed.ts2leafs([X[i : i + 1] for i in range(len(X))])
    optimizer = tf.keras.optimizers.Adam()

    def seed_step():
        with tf.GradientTape() as tape:
            node = seed.merge(leaves, model)
        gradients = tape.gradient(node.score, model.trainable_variables)
        optimizer.apply_gradients(
            zip(gradients, model.trainable_variables, strict=True)
        )

    seed_step()  # first call builds the optimizer
    return best_of(seed_step, repeat=2), ours


def digits_fit() -> tuple[float, float, float]:
    """(default fit seconds, Ward seconds, KMeans seconds) on standardised digits."""
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.datasets import load_digits
    from sklearn.preprocessing import StandardScaler

    from sklearn_rae import RecursiveAutoencoderClustering

    X = StandardScaler().fit_transform(load_digits().data)
    ours = best_of(
        lambda: RecursiveAutoencoderClustering(n_clusters=10, random_state=0).fit(X)
    )
    ward = best_of(lambda: AgglomerativeClustering(n_clusters=10).fit(X))
    kmeans = best_of(lambda: KMeans(10, n_init=10, random_state=0).fit(X))
    return ours, ward, kmeans


def fit_with(X, max_iter):
    from sklearn_rae import RecursiveAutoencoderClustering

    return RecursiveAutoencoderClustering(
        merge_cost="learned_metric", max_iter=max_iter, random_state=0
    ).fit(X)


def training_step_time(sizes: list[int]) -> list[tuple[int, float]]:
    """Seconds per gradient step of the learned metric with its default
    mini-batch, against n (the default criterion takes no gradient step)."""
    rows = []
    for n in sizes:
        X = random_data(n)
        steps = 30
        trained = best_of(fit_with, X, steps, repeat=3)
        untrained = best_of(fit_with, X, 0, repeat=3)
        rows.append((n, (trained - untrained) / steps))
    return rows


def plot(rows, path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for method in dict.fromkeys(name for _, name, _ in rows):
        points = [(n, s) for n, name, s in rows if name == method]
        ax.loglog(*zip(*points, strict=True), "o-", label=method)
    ax.set_xlabel("samples n (d = 10)")
    ax.set_ylabel("seconds")
    ax.set_title("Building the full tree")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes, no training, no files"
    )
    args = parser.parse_args()
    sizes = [500, 1000, 2000, 4000] if args.quick else [1000, 2000, 4000, 8000, 10000]
    n_memory = 4000 if args.quick else 20000
    step_sizes = [1000, 4000] if args.quick else [2000, 5000, 10000]
    if args.smoke:
        sizes, n_memory, step_sizes = [200, 400], 1000, []

    rows = scaling(sizes)
    if not args.smoke:
        STATIC.mkdir(parents=True, exist_ok=True)
        with open(STATIC / "bench_scaling.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["n", "method", "seconds"])
            writer.writerows((n, name, f"{s:.4f}") for n, name, s in rows)
        plot(rows, STATIC / "bench_scaling.png")

    print("## Tree building (max_iter=0), d = 10\n")
    print(
        "| n | sklearn-rae s | ratio to scipy average | cumulative s | ratio |"
        " scipy average s | scipy ward s | fastcluster average s |"
    )
    print("|---|---|---|---|---|---|---|---|")
    by = {(n, name): s for n, name, s in rows}
    default, seed = "sklearn-rae (max_iter=0)", "sklearn-rae cumulative (max_iter=0)"
    for n in sizes:
        ours, cumulative = by[(n, default)], by[(n, seed)]
        average = by[(n, "scipy average")]
        fast = by.get((n, "fastcluster average"), float("nan"))
        print(
            f"| {n} | {ours:.3f} | {ours / average:.2f} | {cumulative:.3f} |"
            f" {cumulative / average:.2f} | {average:.3f} |"
            f" {by[(n, 'scipy ward')]:.3f} | {fast:.3f} |"
        )
    if 4000 in sizes and 8000 in sizes:
        growth = {
            name: by[(8000, name)] / by[(4000, name)]
            for name in (default, seed, "scipy average")
        }
        print(
            f"\nGrowth t(8000)/t(4000): sklearn-rae {growth[default]:.2f}, "
            f"cumulative {growth[seed]:.2f}, scipy average "
            f"{growth['scipy average']:.2f}"
        )

    print(f"\n## Peak resident memory, tree over n = {n_memory} (d = 10)\n")
    print(f"{peak_memory(n_memory):.2f} GiB")

    if step_sizes:
        print("\n## Training step time of learned_metric, default mini-batch\n")
        print("| n | seconds per step |")
        print("|---|---|")
        for n, seconds in training_step_time(step_sizes):
            print(f"| {n} | {seconds:.4f} |")

    print("\n## Default fit on digits (1797 x 64, standardised)\n")
    ours, ward, kmeans = digits_fit()
    print("| sklearn-rae default s | Ward s | KMeans (n_init=10) s | ratio to Ward |")
    print("|---|---|---|---|")
    print(f"| {ours:.2f} | {ward:.3f} | {kmeans:.3f} | {ours / ward:.0f} |")

    if not (args.quick or args.smoke) and SEED_DIR.exists():
        print("\n## The seed's example (20 vectors of 10 features, 100 steps)\n")
        seed_step, ours = seed_example()
        print(
            "| seed s/step | seed 100 steps s (extrapolated) | sklearn-rae 100 steps s"
            " | speed-up |"
        )
        print("|---|---|---|---|")
        print(
            f"| {seed_step:.2f} | {100 * seed_step:.0f} | {ours:.3f} |"
            f" {100 * seed_step / ours:.0f}x |"
        )


if __name__ == "__main__":
    main()
