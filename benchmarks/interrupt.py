"""How late Ctrl-C lands in a long default fit.

Two measurements on ``make_blobs(n, 10 features)`` with the default estimator
(``RecursiveAutoencoderClustering(random_state=0, verbose=1)``):

``latency``
    A child process fits; SIGINT is sent ``--wait`` seconds after the tree
    build's first progress line (which comes 5 s into the build), and the
    time until the child reports ``KeyboardInterrupt`` is printed, with
    whether the estimator was left as it was.
``gaps``
    The fit runs with a Python signal handler called by a timer every 50 ms
    (``SIGALRM``); every delay of the handler over 0.3 s is printed with where
    the main thread was. Python runs SIGINT's handler at the same moments, so
    the longest delay is the longest Ctrl-C can wait anywhere in the fit.

    PYTHONPATH=$PWD python benchmarks/interrupt.py latency --n 80000 --wait 0
    PYTHONPATH=$PWD python benchmarks/interrupt.py gaps --n 80000
    PYTHONPATH=$PWD python benchmarks/interrupt.py gaps --n 80000 --overlapping

``--overlapping`` makes the blobs overlap (``cluster_std=6``), so that the
default falls back from the boundary tree to the whitened means (fastcluster's
Ward linkage). A fit at n = 80,000 takes 2 to 5 minutes on 2 cores;
``--smoke`` is n = 3,000, a few seconds (a latency run then finishes before the
build's first progress line, and says so).
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
import traceback

_CHILD = """
import sys
from sklearn.datasets import make_blobs
from sklearn_rae import RecursiveAutoencoderClustering

n_samples, cluster_std, merge_cost = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
X, _ = make_blobs(n_samples, 10, cluster_std=cluster_std, random_state=0)
model = RecursiveAutoencoderClustering(
    merge_cost=merge_cost, random_state=0, verbose=1
)
try:
    model.fit(X)
    print("finished", flush=True)
except KeyboardInterrupt:
    fresh = RecursiveAutoencoderClustering(
        merge_cost=merge_cost, random_state=0, verbose=1
    )
    print("interrupted, estimator unchanged:", vars(model) == vars(fresh), flush=True)
"""


def latency(n_samples, cluster_std, merge_cost, wait):
    child = subprocess.Popen(
        [sys.executable, "-u", "-c", _CHILD, str(n_samples), str(cluster_std)]
        + [merge_cost],
        stdout=subprocess.PIPE,
        text=True,
    )
    started = outcome = None
    for line in child.stdout:
        if line.startswith("finished"):
            outcome = "finished before the build's first progress line"
            break
        if started is None and line.startswith("Building"):
            started = time.monotonic()
            print(line.strip(), file=sys.stderr)
        if started is not None and time.monotonic() - started >= wait:
            break
    after = ""
    if outcome is None:
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        outcome = "no answer"
        for line in child.stdout:
            if line.startswith(("interrupted", "finished")):
                outcome, after = line.strip(), f"{time.monotonic() - sent:.3f}"
                break
    child.wait()
    print("| n | merge_cost | wait (s) | outcome | seconds after SIGINT |")
    print("|---|---|---|---|---|")
    print(f"| {n_samples} | {merge_cost} | {wait:g} | {outcome} | {after} |")


def gaps(n_samples, cluster_std, merge_cost):
    from sklearn.datasets import make_blobs

    from sklearn_rae import RecursiveAutoencoderClustering

    X, _ = make_blobs(n_samples, 10, cluster_std=cluster_std, random_state=0)
    delays = []
    last = [time.monotonic()]

    def on_alarm(signum, frame):
        now = time.monotonic()
        if now - last[0] > 0.3:
            where = "".join(traceback.format_stack(frame, limit=4))
            delays.append((now - last[0], where))
        last[0] = now

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
    start = time.perf_counter()
    model = RecursiveAutoencoderClustering(
        merge_cost=merge_cost, random_state=0, verbose=1
    ).fit(X)
    signal.setitimer(signal.ITIMER_REAL, 0)
    seconds = time.perf_counter() - start
    longest = max((delay for delay, _ in delays), default=0.0)
    print("| n | merge_cost | fit (s) | kept | delays over 0.3 s | longest delay (s) |")
    print("|---|---|---|---|---|---|")
    print(
        f"| {n_samples} | {merge_cost} | {seconds:.1f} | {model.merge_cost_} "
        f"| {len(delays)} | {longest:.2f} |"
    )
    for delay, where in sorted(delays, reverse=True)[:10]:
        print(f"\n--- {delay:.2f} s, ending in:\n{where}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("measure", choices=["latency", "gaps"])
    parser.add_argument("--n", type=int, default=80_000)
    parser.add_argument("--wait", type=float, default=0.0)
    parser.add_argument("--overlapping", action="store_true")
    parser.add_argument("--merge-cost", default="auto")
    parser.add_argument("--smoke", action="store_true", help="n = 3,000")
    args = parser.parse_args()
    if args.smoke:
        args.n = 3_000
    cluster_std = 6.0 if args.overlapping else 1.0
    if args.measure == "latency":
        latency(args.n, cluster_std, args.merge_cost, args.wait)
    else:
        gaps(args.n, cluster_std, args.merge_cost)


if __name__ == "__main__":
    main()
