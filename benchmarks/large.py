"""Large data: fit speed, tree time and memory, predict and Dask throughput.

Prints markdown tables. Every case runs in a child process of its own, which
reports its wall times and its peak resident memory (``ru_maxrss``), so the
cases do not share memory or warm caches. Times are also given as ratios
against a reference measured in the same run, since absolute times drift on
shared machines.

    PYTHONPATH=$PWD python benchmarks/large.py            # about 15 minutes
    PYTHONPATH=$PWD python benchmarks/large.py --quick    # n up to 30,000
    PYTHONPATH=$PWD python benchmarks/large.py --smoke    # a few seconds, no files

Data: ``make_blobs`` with 8 centres in 10 dimensions, standardised, cut into
8 clusters. Writes ``docs/_static/large_scaling.csv`` and
``docs/_static/large_scaling.png`` (log-log fit or tree time and peak memory
against n). A fit's tree time is the one its ``verbose=1`` output reports for
the final tree (``Built the ... tree over n samples ... in s``).

``--smoke`` runs n = 2,000 with the default criterion only (no gradient
training, so no TensorFlow), fastcluster beside it, small predict and Dask
runs on one worker, and writes no file.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "docs" / "_static"
D = 10
CENTERS = 8


# --------------------------------------------------------------- child cases


def _centres():
    import numpy as np

    # make_blobs' own draw of 8 centres in [-10, 10]^10 with random_state=0.
    return np.random.RandomState(0).uniform(-10, 10, size=(CENTERS, D))


def _scaling():
    """Mean and standard deviation of the blobs (from a reference sample)."""
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=100_000, centers=_centres(), random_state=12345)
    return X.mean(axis=0), X.std(axis=0)


def _data(n, seed=0, scaling=None):
    """n standardised samples of the blobs; other seeds give other samples."""
    from sklearn.datasets import make_blobs

    X, _ = make_blobs(n_samples=n, centers=_centres(), random_state=seed)
    mean, std = _scaling() if scaling is None else scaling
    return (X - mean) / std


def _blob_block(mean, std, block_info=None):
    """One chunk of new samples for Dask, seeded by its position."""
    info = block_info[None]
    rows = info["chunk-shape"][0]
    return _data(rows, seed=1000 + info["chunk-location"][0], scaling=(mean, std))


def _peak_mib():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


#: The line ``verbose=1`` prints for each tree it builds.
BUILT = re.compile(
    r"Built the (?P<name>\S+) tree over (?P<n>\d+) samples.* in (?P<s>[\d.]+) s"
)


def final_tree_seconds(output, n):
    """The build time of the last tree over all ``n`` samples in ``output``."""
    times = [
        float(match["s"]) for match in BUILT.finditer(output) if int(match["n"]) == n
    ]
    return times[-1] if times else float("nan")


def case_fit_ratio(n, merge_cost="auto", repeat=3):
    """A fit against scikit-learn's Ward at n, best of ``repeat`` each."""
    from sklearn.cluster import AgglomerativeClustering

    from sklearn_rae import RecursiveAutoencoderClustering

    X = _data(n)
    # First-call costs (TensorFlow's import and tracing for the criteria
    # trained by gradient) before anything is timed.
    RecursiveAutoencoderClustering(
        n_clusters=CENTERS, merge_cost=merge_cost, max_iter=2
    ).fit(X[:200])
    ours, theirs, steps = [], [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        AgglomerativeClustering(n_clusters=CENTERS).fit(X)
        theirs.append(time.perf_counter() - start)
        start = time.perf_counter()
        model = RecursiveAutoencoderClustering(
            n_clusters=CENTERS, merge_cost=merge_cost, random_state=0
        )
        model.fit(X)
        ours.append(time.perf_counter() - start)
        steps = model.n_iter_
    return {
        "ours": min(ours),
        "sklearn": min(theirs),
        "n_iter": steps,
        "kept": model.merge_cost_,
    }


def case_tree(method, n, model_path=None):
    """One tree (or fit) in this process: its time and the peak memory."""
    import numpy as np

    X = _data(n)
    baseline = _peak_mib()
    result = {}
    if method in ("ours", "learned_metric", "boundary"):
        from sklearn_rae import RecursiveAutoencoderClustering

        merge_cost = "auto" if method == "ours" else method
        model = RecursiveAutoencoderClustering(
            n_clusters=CENTERS, merge_cost=merge_cost, random_state=0, verbose=1
        )
        output = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(output):
            model.fit(X)
        result["fit"] = time.perf_counter() - start
        # The last tree over all n is the final one (the whitened means
        # train on at most 4,000 samples first).
        result["tree"] = final_tree_seconds(output.getvalue(), n)
        result["n_iter"] = model.n_iter_
        result["kept"] = model.merge_cost_
        if model_path:
            import pickle

            with open(model_path, "wb") as file:
                pickle.dump(model, file)
    elif method == "fastcluster":
        import fastcluster

        start = time.perf_counter()
        fastcluster.linkage_vector(X, method="ward")
        result["tree"] = time.perf_counter() - start
    elif method == "sklearn":
        from sklearn.cluster import AgglomerativeClustering

        start = time.perf_counter()
        AgglomerativeClustering(n_clusters=CENTERS).fit(X)
        result["tree"] = time.perf_counter() - start
    else:
        raise ValueError(method)
    result["peak_mib"] = _peak_mib()
    result["baseline_mib"] = baseline
    del np
    return result


def case_predict(model_path, n_rows):
    """Rows per second of predict in this process, all cores."""
    import pickle

    import numpy as np

    with open(model_path, "rb") as file:
        model = pickle.load(file)
    # New samples around the same centres.
    X = _data(n_rows, seed=1)
    model.predict(X[:1000])
    start = time.perf_counter()
    labels = model.predict(X)
    seconds = time.perf_counter() - start
    return {
        "rows_per_s": n_rows / seconds,
        # The leaves and the merges below the cut.
        "n_nodes": 2 * model.n_leaves_ - model.n_clusters_,
        "labels": int(np.unique(labels).shape[0]),
    }


def case_dask(model_path, n_rows, n_workers, chunk):
    """Dask throughput: predict n_rows generated on the workers."""
    import pickle

    import dask.array as da
    import distributed

    with open(model_path, "rb") as file:
        model = pickle.load(file)
    with (
        distributed.LocalCluster(
            n_workers=n_workers,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster),
    ):
        # New samples of the blobs, made on the workers, so that only the
        # labels' counts come back.
        mean, std = _scaling()
        sizes = (chunk,) * (n_rows // chunk) + (
            (n_rows % chunk,) if n_rows % chunk else ()
        )

        def rows():
            return da.map_blocks(
                _blob_block, mean, std, chunks=(sizes, (D,)), dtype=float
            )

        start = time.perf_counter()
        rows().sum().compute()
        generate = time.perf_counter() - start
        start = time.perf_counter()
        counts = da.bincount(model.predict(rows()), minlength=CENTERS).compute()
        total = time.perf_counter() - start
    return {
        "seconds": total,
        "generate_seconds": generate,
        "rows_per_s": n_rows / total,
        "predicted": int(counts.sum()),
    }


CASES = {
    "fit_ratio": case_fit_ratio,
    "tree": case_tree,
    "predict": case_predict,
    "dask": case_dask,
}


def child(argv):
    name, arguments = argv[0], json.loads(argv[1])
    print(json.dumps(CASES[name](*arguments)), flush=True)


# ------------------------------------------------------------------- parent


def run(name, *arguments, timeout=3600):
    command = [sys.executable, __file__, "--child", name, json.dumps(arguments)]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), env.get("PYTHONPATH", "")])
    )
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stderr[-3000:])
        raise RuntimeError(f"case {name} {arguments} failed")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n up to 30,000")
    parser.add_argument("--dask-rows", type=int, default=10_000_000)
    parser.add_argument("--predict-rows", type=int, default=200_000)
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument(
        "--smoke", action="store_true", help="n = 2,000, default only, no files"
    )
    args = parser.parse_args()
    sizes = [10_000, 30_000] if args.quick else [10_000, 30_000, 100_000]
    fit_n, fit_repeat = 5000, 3
    tree_methods = ["ours", "learned_metric", "boundary", "fastcluster", "sklearn"]
    fit_costs, dask_workers = ("auto", "learned_metric", "boundary"), (1, 2)
    if args.smoke:
        sizes, fit_n, fit_repeat = [2000], 1000, 1
        tree_methods = ["ours", "fastcluster"]
        fit_costs, dask_workers = ("auto",), (1,)
        args.predict_rows = min(args.predict_rows, 20_000)
        args.dask_rows = min(args.dask_rows, 20_000)
    # Ward in scikit-learn builds a condensed n x n distance matrix.
    sklearn_max = 30_000
    workdir = Path(tempfile.mkdtemp(prefix="sklearn-rae-large-"))
    # Fitted models kept for predict: the smallest and the largest n.
    model_paths = {n: str(workdir / f"model-{n}.pkl") for n in (sizes[0], sizes[-1])}

    print(f"# Large data (d={D}, {CENTERS} blobs, standardised)\n", flush=True)
    fit_rows = []
    for merge_cost in fit_costs:
        fit = run("fit_ratio", fit_n, merge_cost, fit_repeat)
        fit_rows.append(
            [
                merge_cost,
                fit_n,
                f"{fit['ours']:.2f}",
                f"{fit['sklearn']:.2f}",
                f"{fit['ours'] / fit['sklearn']:.2f}",
                fit["n_iter"],
                fit["kept"],
            ]
        )
    print(f"## A fit at n={fit_n:,} against scikit-learn's Ward\n")
    header = ["merge_cost", "n", "ours (s)", "AgglomerativeClustering ward (s)"]
    print(table([*header, "ratio", "n_iter_", "kept"], fit_rows), "\n", flush=True)

    records = []
    rows = []
    for n in sizes:
        results = {"ours": run("tree", "ours", n, model_paths.get(n))}
        for method in tree_methods[1:]:
            if method != "sklearn" or n <= sklearn_max:
                results[method] = run("tree", method, n)
        reference = results["fastcluster"]["tree"]
        for method, result in results.items():
            records.append(
                {
                    "n": n,
                    "method": method,
                    "tree_seconds": result["tree"],
                    "fit_seconds": result.get("fit", result["tree"]),
                    "peak_mib": result["peak_mib"],
                }
            )
            kept = result.get("kept")
            rows.append(
                [
                    n,
                    f"{method} (kept {kept})" if method == "ours" else method,
                    f"{result.get('fit', float('nan')):.1f}",
                    f"{result['tree']:.2f}",
                    f"{result['tree'] / reference:.2f}",
                    f"{result['peak_mib']:.0f}",
                    f"{result['baseline_mib']:.0f}",
                ]
            )
        print(f"(n={n} done)", file=sys.stderr, flush=True)
    print("## Tree time and peak memory\n")
    print(
        "`ours` is a whole default fit (`n_clusters=8`, `merge_cost='auto'`) "
        "in a fresh process, `learned_metric` and `boundary` the same with that "
        "`merge_cost`: the final tree's "
        "time, and the process's peak RSS, TensorFlow included. "
        "`fastcluster` is `linkage_vector(X, 'ward')`, `sklearn` is "
        "`AgglomerativeClustering(8)` (Ward), each alone in a fresh process. "
        "`vs fastcluster` is the tree time over fastcluster's at the same n. "
        "`before (MiB)` is the process's peak after loading the data.\n"
    )
    print(
        table(
            [
                "n",
                "method",
                "fit (s)",
                "tree (s)",
                "vs fastcluster",
                "peak RSS (MiB)",
                "before (MiB)",
            ],
            rows,
        ),
        "\n",
        flush=True,
    )

    predict_rows = []
    for n_model, path in model_paths.items():
        predict = run("predict", path, args.predict_rows)
        predict_rows.append(
            [
                f"{n_model:,}",
                f"{predict['n_nodes']:,}",
                f"{args.predict_rows:,}",
                f"{predict['rows_per_s']:,.0f}",
            ]
        )
    print("## predict, one process (KD-tree queries on every core)\n")
    print(
        table(
            ["training n", "nodes below the cut", "rows predicted", "rows/s"],
            predict_rows,
        ),
        "\n",
        flush=True,
    )
    # Dask predicts with the model fitted on the smallest n: fit on a
    # sample, predict the rest.
    n_model = sizes[0]
    model_path = model_paths[n_model]

    dask_rows = []
    for n_workers in dask_workers:
        result = run("dask", model_path, args.dask_rows, n_workers, 250_000)
        dask_rows.append(
            [
                n_workers,
                f"{args.dask_rows:,}",
                f"{result['seconds']:.1f}",
                f"{result['generate_seconds']:.1f}",
                f"{result['rows_per_s']:,.0f}",
            ]
        )
    print(f"## Dask: predict on a LocalCluster (model fitted on n={n_model:,})\n")
    print(
        "Processes with one thread each; the rows (new samples of the blobs, "
        "chunks of 250,000) are generated on the workers and only the label "
        "counts come back. `generate (s)` is the time to make and sum the rows "
        "alone.\n"
    )
    print(
        table(["workers", "rows", "seconds", "generate (s)", "rows/s"], dask_rows),
        flush=True,
    )

    if args.smoke:
        return
    STATIC.mkdir(parents=True, exist_ok=True)
    with open(STATIC / "large_scaling.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    if not args.no_plot:
        plot(records, STATIC / "large_scaling.png")


def plot(records, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    labels = {
        "ours": "sklearn-rae default fit",
        "boundary": "sklearn-rae boundary fit",
        "fastcluster": "fastcluster linkage_vector (Ward)",
        "sklearn": "AgglomerativeClustering (Ward)",
    }
    for method, label in labels.items():
        points = [r for r in records if r["method"] == method]
        if not points:
            continue
        ns = [r["n"] for r in points]
        seconds = [r["fit_seconds"] for r in points]
        left.plot(ns, seconds, "o-", label=label)
        right.plot(ns, [r["peak_mib"] for r in points], "o-", label=label)
    for axes, ylabel in ((left, "fit time (s)"), (right, "peak RSS (MiB)")):
        axes.set_xscale("log")
        axes.set_yscale("log")
        axes.set_xlabel("n samples (d = 10)")
        axes.set_ylabel(ylabel)
        axes.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
    else:
        main()
