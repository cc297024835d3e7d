"""Progress reports of a verbose fit: how often, and the final tree build."""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager

__all__ = ["PROGRESS_INTERVAL", "report_tree_build"]

# Seconds between two progress lines at most, while there is progress to
# report: a log shows that a long fit is alive.
PROGRESS_INTERVAL = 5.0


@contextmanager
def report_tree_build(n_samples: int, engine: str, verbose: int):
    """Report the start, the elapsed time and the end of a tree build.

    With ``verbose`` a line announces the build and its engine, a line every
    :data:`PROGRESS_INTERVAL` seconds gives the time elapsed (the engines run
    in compiled code or NumPy and report nothing themselves), and a last line
    gives the duration. Without ``verbose`` nothing is printed.
    """
    if not verbose:
        yield
        return
    print(f"Building the tree over {n_samples} samples ({engine})", flush=True)
    start = time.monotonic()
    done = threading.Event()
    # Resolve the stream now: a caller may swap sys.stdout after the build.
    stream = sys.stdout

    def heartbeat():
        while not done.wait(PROGRESS_INTERVAL):
            elapsed = time.monotonic() - start
            print(f"  building the tree: {elapsed:.0f} s", file=stream, flush=True)

    thread = threading.Thread(target=heartbeat, name="tree-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    print(f"Built the tree in {time.monotonic() - start:.2f} s", flush=True)
