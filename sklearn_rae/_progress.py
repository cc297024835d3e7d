"""Progress reports of a verbose fit: the training steps and the tree builds."""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager

__all__ = ["PROGRESS_INTERVAL", "TrainingProgress", "report_tree_build"]

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


class TrainingProgress:
    """Progress over the training steps with the tree objective.

    On a terminal it is Keras' progress bar; otherwise (a log file, a pipe, a
    notebook's captured output) it prints a plain line at every tenth of the
    steps, and after any step that ends ``PROGRESS_INTERVAL`` seconds or more
    after the last line, since a bar redrawn with control characters is
    unreadable there.
    """

    def __init__(self, n_steps: int):
        self.n_steps = n_steps
        self.bar = None
        if sys.stdout.isatty():
            import tensorflow as tf

            self.bar = tf.keras.utils.Progbar(n_steps, stateful_metrics=["loss"])
        self.every = max(1, n_steps // 10)
        self.last_line = time.monotonic()

    def update(self, step: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(step, values=[("loss", loss)])
            return
        now = time.monotonic()
        if (
            step % self.every == 0
            or step == self.n_steps
            or now - self.last_line >= PROGRESS_INTERVAL
        ):
            print(f"step {step}/{self.n_steps} - loss: {loss:.4f}", flush=True)
            self.last_line = now

    def converged(self, step: int) -> None:
        """Say that training stopped at ``step`` because it converged."""
        # The bar's line is not ended until it reaches n_steps.
        start = "\n" if self.bar is not None else ""
        print(f"{start}Training converged after {step} steps", flush=True)
