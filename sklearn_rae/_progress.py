"""Progress reports of a verbose fit: one line per stage, a bar where it redraws.

A verbose fit reports each of its stages in one line: training a criterion
(over its steps, with the tree objective as ``loss``), building a tree (with
its engine), comparing subsamples (``merge_cost="adaptive"``) and the choice
of a selection. Where a line can be redrawn in place, on a terminal or in a
Jupyter notebook, the stages with steps show tqdm's bar (:mod:`tqdm.auto`: a
widget in a notebook with ipywidgets) with the rate and the time left, and a
tree build redraws the time elapsed. Elsewhere, in a log file or a pipe,
redrawing would leave a carriage return per update: a stage prints its line
when it ends and, while it runs, at most one line every
:data:`PROGRESS_INTERVAL` seconds, so that a log shows that a long fit is
alive and how far it has come.

TensorFlow is not imported here: the default criterion never needs it.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from contextlib import contextmanager

__all__ = [
    "PROGRESS_INTERVAL",
    "StepProgress",
    "TrainingProgress",
    "redraws_in_place",
    "report_tree_build",
    "say",
]

# Seconds between two progress lines of a stage in a log or a pipe at most,
# while it runs: a log shows that a long fit is alive.
PROGRESS_INTERVAL = 5.0
# Seconds between two redraws of a tree build's elapsed time where a line is
# redrawn in place.
REDRAW_INTERVAL = 1.0


def redraws_in_place(stream) -> bool:
    """Whether ``stream`` shows a line redrawn in place.

    True for a terminal and for a Jupyter kernel's output (ipykernel's
    stream, which is not a terminal but is drawn by the notebook, where a
    carriage return redraws the line); False for a file or a pipe.
    """
    if type(stream).__module__.split(".")[0] == "ipykernel":
        return True
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def say(text: str) -> None:
    """Print one line of a verbose fit."""
    print(text, file=sys.stdout, flush=True)


def _format_line(n, total, elapsed, description, unit, postfix) -> str:
    from tqdm.std import tqdm

    return tqdm.format_meter(
        n,
        total,
        elapsed,
        prefix=description,
        unit=unit,
        postfix=postfix or None,
        ascii=True,
    )


class StepProgress:
    """Progress over the steps of one stage, ``total`` at most.

    Where the output redraws in place it is tqdm's bar. Otherwise it is the
    same text as plain lines: one when :meth:`close` ends the stage and, while
    it runs, one on an update that comes :data:`PROGRESS_INTERVAL` seconds or
    more after the previous line (or the start).

    Parameters
    ----------
    description : str
        What the stage does, at the start of its line.
    total : int
        The most steps it can take.
    unit : str, default="step"
        What a step is, for the rate.
    """

    def __init__(self, description: str, total: int, unit: str = "step"):
        # Resolve the stream now: a caller may swap sys.stdout during a fit.
        self.stream = sys.stdout
        self.description = description
        self.total = total
        self.unit = unit
        self.n = 0
        self.postfix = ""
        self.start = self.last_line = time.monotonic()
        self.bar = None
        if redraws_in_place(self.stream):
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=total,
                desc=description,
                unit=unit,
                file=self.stream,
                dynamic_ncols=True,
            )

    def restart_clock(self) -> None:
        """Count and time the steps from now: what came before was not a step.

        The steps and the postfix of a stage run before (set-up, or a
        training whose weights were discarded) are forgotten.
        """
        self.start = self.last_line = time.monotonic()
        self.n, self.postfix = 0, ""
        if self.bar is not None:
            self.bar.set_postfix_str("", refresh=False)
            self.bar.reset(total=self.total)

    def update(self, n: int, postfix: str = "") -> None:
        """``n`` steps are done; ``postfix`` (``"loss=4.11"``) ends the line."""
        self.n, self.postfix = n, postfix
        if self.bar is not None:
            self.bar.set_postfix_str(postfix, refresh=False)
            self.bar.update(n - self.bar.n)
            return
        now = time.monotonic()
        if now - self.last_line >= PROGRESS_INTERVAL and n < self.total:
            self._print_line(now, postfix)

    def close(self, note: str = "", complete: bool = False) -> None:
        """End the stage's line with ``note``; ``complete`` if it ended early.

        A stage that stopped early because it was done (training that
        converged, a comparison that was decided) is shown as complete at
        the steps it took; one that stopped on a failure stays at its share.
        """
        complete = complete and self.n > 0
        if complete:
            self.total = self.n
        postfix = ", ".join(part for part in (self.postfix, note) if part)
        if self.bar is None:
            self._print_line(time.monotonic(), postfix)
            return
        self.bar.set_postfix_str(postfix, refresh=False)
        if complete:
            self.bar.total = self.n
        self.bar.close()

    def _print_line(self, now: float, postfix: str) -> None:
        line = _format_line(
            self.n, self.total, now - self.start, self.description, self.unit, postfix
        )
        print(line, file=self.stream, flush=True)
        self.last_line = now


class TrainingProgress:
    """Progress over the training steps of criterion ``name``, with the loss.

    Parameters
    ----------
    name : str
        The criterion's ``merge_cost``.
    n_steps : int
        The most steps training takes.
    max_iter : int
        The estimator's ``max_iter``, named when training stops there before
        it converged.
    """

    def __init__(self, name: str, n_steps: int, max_iter: int):
        self.name = name
        self.max_iter = max_iter
        self.steps = StepProgress(f"Training {name}", n_steps)

    def started(self) -> None:
        """The first step starts: the rate and the time left count from here."""
        self.steps.restart_clock()

    def update(self, step: int, loss: float) -> None:
        self.steps.update(step, f"loss={loss:.4f}")

    def finish(self, outcome: str) -> None:
        """End the line with how training ended.

        ``outcome`` is the value of a
        :class:`~sklearn_rae._training.TrainingOutcome`: ``"converged"``,
        ``"steps ran out"`` (at ``max_iter``, before the convergence check was
        met), ``"done"`` (all the steps, for a criterion without a check or
        with its own number of steps), ``"nothing to learn"``,
        ``"diverged"``, ``"initial kept"`` (training without a held-out share
        of the samples did not lower its objective on them) or
        ``"interrupted"``.
        """
        if outcome == "converged":
            self.steps.close("converged", complete=True)
        elif outcome == "nothing to learn":
            self.steps.close(
                "stopped: the flat clusters are single samples", complete=True
            )
        elif outcome == "diverged":
            self.steps.close("diverged (see the warning)")
        elif outcome == "initial kept":
            self.steps.close("kept the initial weights (see the warning)")
        else:
            self.steps.close()
        if outcome == "steps ran out":
            say(
                f"Training {self.name} stopped at max_iter={self.max_iter} before "
                "converging; raise max_iter to let it converge."
            )


class _RedrawnLine:
    """One line of text redrawn in place with a carriage return."""

    def __init__(self, stream):
        self.stream = stream
        self.text = ""
        # A line wider than a terminal wraps, and a carriage return would
        # then redraw only its last row: it is cut to the width.
        self.width = None
        if type(stream).__module__.split(".")[0] != "ipykernel":
            self.width = shutil.get_terminal_size().columns - 1

    def draw(self, text: str, end: str = "") -> None:
        if self.width is not None and not end:
            text = text[: self.width]
        padding = " " * max(0, len(self.text) - len(text))
        self.stream.write(f"\r{text}{padding}{end}")
        self.stream.flush()
        self.text = "" if end else text


@contextmanager
def report_tree_build(name: str, n_samples: int, engine: str, verbose: int):
    """Report a tree build in one line: the criterion, the engine, the duration.

    With ``verbose`` the line ``Built the NAME tree over N samples (ENGINE)
    in T s`` ends the build. While it runs, the time elapsed is redrawn
    every second where the output redraws in place, and printed in a line of
    its own every :data:`PROGRESS_INTERVAL` seconds in a log or a pipe (the
    engines run in compiled code or NumPy and report nothing themselves).
    Without ``verbose`` nothing is printed.
    """
    if not verbose:
        yield
        return
    what = f"the {name} tree over {n_samples} samples ({engine})"
    # Resolve the stream now: a caller may swap sys.stdout during the build.
    stream = sys.stdout
    line = _RedrawnLine(stream) if redraws_in_place(stream) else None
    start = time.monotonic()
    done = threading.Event()
    lock = threading.Lock()
    if line is not None:
        line.draw(f"Building {what}")

    def heartbeat():
        interval = PROGRESS_INTERVAL if line is None else REDRAW_INTERVAL
        while not done.wait(interval):
            text = f"Building {what}: {time.monotonic() - start:.0f} s"
            with lock:
                if done.is_set():
                    return
                if line is None:
                    print(text, file=stream, flush=True)
                else:
                    line.draw(text)

    thread = threading.Thread(target=heartbeat, name="tree-progress", daemon=True)
    thread.start()
    built = False
    try:
        yield
        built = True
    finally:
        with lock:
            done.set()
        thread.join()
        text = f"Built {what} in {time.monotonic() - start:.2f} s"
        if line is not None:
            # An interrupted build ends the redrawn line as it was.
            line.draw(text if built else line.text, end="\n")
        elif built:
            print(text, file=stream, flush=True)
