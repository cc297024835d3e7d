"""Fitting a criterion's weights: the template, the step loop and its monitors.

:func:`train` is the template every fit goes through: it draws the
criterion's initial weights, then asks the criterion to fit them
(:meth:`Criterion.fit_weights <sklearn_rae.criteria.base.Criterion.fit_weights>`).
How is the criterion's own business: the gradient criteria take Adam's steps
through :func:`step_through_trees` with their trainer (GradientTape and
Adam), the embedded ones wrapped in the start check
(:mod:`sklearn_rae._start_check`); the whitened means take a few exact steps
through the same loop on one fixed batch.

Each step of :func:`step_through_trees` draws a batch, builds its greedy tree
with the current weights, cuts it where the criterion trains
(:attr:`Criterion.trains_on_cut`), and lets the stepper update the weights.
Monitors watch every step: divergence (an objective that overflows or grows
a thousandfold), convergence (the criterion's
:meth:`~sklearn_rae.criteria.base.Criterion.convergence_check`) and progress.
The loop returns the weights, the loss curve, how it ended and the warnings
as data, so the caller decides which to issue.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field, replace
from enum import Enum

import numpy as np

from ._connectivity import connected_batch
from ._numeric import finite
from ._progress import TrainingProgress
from .engines.tree import cut_linkage

__all__ = [
    "BlowUpWatch",
    "FixedBatch",
    "RandomBatches",
    "TrainingOutcome",
    "TrainingResult",
    "TrainingSettings",
    "prepare_worker_process",
    "step_through_trees",
    "train",
]


def prepare_worker_process() -> None:
    """In a joblib (loky) worker process, import TensorFlow at the first fit.

    loky measures a worker's memory after its first task and replaces a worker
    whose memory then grows by more than 300 MB, taking it for a leak, with
    the warning "A worker stopped while some jobs were given to the
    executor". Importing TensorFlow takes about that much. A worker whose
    first task did not train (``max_iter=0`` in a grid, a fit refused by
    validation) and whose next one did was therefore replaced, and the new
    worker imported TensorFlow again: seconds of CPU each time. Importing it
    in the first fit of every worker makes it part of the reference. Outside
    loky workers nothing is imported: a fit that does not train stays quick.
    """
    if "tensorflow" in sys.modules:
        return
    import multiprocessing

    if type(multiprocessing.current_process()).__name__ != "LokyProcess":
        return
    from . import _merger  # noqa: F401 - imports TensorFlow, sizes its pools


class TrainingOutcome(Enum):
    """How fitting a criterion's weights ended."""

    #: The convergence check was met.
    CONVERGED = "converged"
    #: Every step was taken before the convergence check was met.
    STEPS_RAN_OUT = "steps ran out"
    #: Every step was taken, by a criterion without a convergence check or
    #: one that takes fewer steps of its own than ``max_iter``.
    DONE = "done"
    #: The flat clusters were single samples: nothing to learn.
    NOTHING_TO_LEARN = "nothing to learn"
    #: The objective overflowed or grew a thousandfold.
    DIVERGED = "diverged"
    #: The start check found that training ended above its start, and the
    #: fit kept the initial weights.
    INITIAL_KEPT = "initial kept"
    #: No step was taken (``max_iter=0``).
    UNTRAINED = "untrained"
    #: An exception or Ctrl-C ended training.
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class TrainingSettings:
    """What fitting a criterion's weights is told by the estimator.

    Attributes
    ----------
    cut : CutRule
        Where each step's tree is cut (in the criterion's costs), for a
        criterion that trains below it.
    max_iter : int
        Largest number of steps.
    learning_rate : float
        Adam's step size (exact steps ignore it).
    batch_size : int
        Samples per step, at most ``n_samples``.
    random_state : numpy.random.RandomState
        Draws the initial weights and the batches.
    adjacency : sparse matrix or None
        The connectivity graph: batches are then connected neighbourhoods.
    n_samples : int
        Samples of the whole fit: a threshold cut of a batch's tree is scaled
        by the batch's share of them.
    """

    cut: object
    max_iter: int
    learning_rate: float
    batch_size: int
    random_state: np.random.RandomState
    adjacency: object = None
    n_samples: int = 0


@dataclass
class TrainingResult:
    """What fitting a criterion's weights returns.

    Attributes
    ----------
    weights : dict of ndarray
        The fitted weights (the initial ones when ``max_iter`` is 0).
    loss_curve : list of float
        The tree objective of each step's tree, before the step.
    warnings : list of (type, str)
        Warning categories and messages, in order, for the caller to issue.
    start_check : StartCheck or None
        The start check (:mod:`sklearn_rae._start_check`), for a criterion
        whose fit makes one and training that took a step.
    outcome : TrainingOutcome
        How training ended.
    training_cut : CutRule or None
        The cut the steps' trees were cut at (for ``"auto"``, the number of
        clusters chosen on the first tree), None before a step.
    """

    weights: dict
    loss_curve: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    start_check: object = None
    outcome: TrainingOutcome = TrainingOutcome.UNTRAINED
    training_cut: object = None

    def issue_warnings(self, stacklevel: int) -> None:
        """Issue the warnings, each once (``stacklevel`` as for the caller)."""
        issued = set()
        for category, message in self.warnings:
            if (category, message) not in issued:
                issued.add((category, message))
                warnings.warn(message, category, stacklevel=stacklevel + 1)


class BlowUpWatch:
    """Detects a tree objective that grows by orders of magnitude in training.

    Overflow is caught by the finiteness checks; a learning rate far too large
    can instead throw the objective up by dozens of orders of magnitude and
    leave it there, finite. Training is stopped when the objective exceeds
    the lowest one seen so far by ``GROWTH`` times (for ``"cumulative"``, a
    sum of squared errors) or by ``log(GROWTH)`` (for a criterion whose
    objective is a logarithm), and the weights of the lowest objective are
    kept. Ordinary training, even with noisy mini-batches, does not move the
    objective by a factor of a thousand.
    """

    GROWTH = 1e3

    def __init__(self, log_objective: bool):
        self.log_objective = log_objective
        self.best_loss = np.inf
        self.best_step = None
        self.best_weights = None
        self.n_recorded = 0

    def blew_up(self, loss: float) -> bool:
        if self.best_weights is None:
            return False
        if self.log_objective:
            return loss - self.best_loss > np.log(self.GROWTH)
        return self.best_loss > 0 and loss > self.GROWTH * self.best_loss

    def record(self, loss: float, weights) -> None:
        if loss < self.best_loss:
            self.best_loss, self.best_weights = loss, weights
            self.best_step = self.n_recorded
        self.n_recorded += 1

    def describe(self, loss: float) -> str:
        if self.log_objective:
            return (
                f"tree objective {loss:.4g}, up from {self.best_loss:.4g}: a "
                "spread more than a thousand times larger"
            )
        return (
            f"tree objective {loss:.3g}, up from {self.best_loss:.3g}: more than "
            "a thousandfold"
        )

    @property
    def keeping(self) -> str:
        return (
            f"the weights before step {self.best_step + 1}, whose tree objective "
            "was the lowest"
        )


class RandomBatches:
    """The rows of each step's batch: drawn afresh at every step.

    A random subset of ``batch_size`` samples (all of them, and no draw, when
    the batch is the data), or a connected neighbourhood along the graph.
    """

    def __init__(self, n_samples: int, settings: TrainingSettings):
        self.n_samples = n_samples
        self.batch_size = settings.batch_size
        self.random_state = settings.random_state
        self.adjacency = settings.adjacency
        self.rows = None

    def draw(self) -> np.ndarray | None:
        if self.adjacency is not None:
            return connected_batch(self.adjacency, self.batch_size, self.random_state)
        if self.batch_size < self.n_samples:
            return np.sort(
                self.random_state.choice(self.n_samples, self.batch_size, replace=False)
            )
        return self.rows

    def next(self, step: int) -> np.ndarray | None:
        """The rows of step ``step`` (None: every sample)."""
        self.rows = self.draw()
        return self.rows


class FixedBatch(RandomBatches):
    """One batch, drawn at the first step and used at every step (exact steps)."""

    def next(self, step: int) -> np.ndarray | None:
        if step == 0:
            self.rows = self.draw()
        return self.rows


def train(criterion, X: np.ndarray, settings: TrainingSettings, verbose=0):
    """Draw ``criterion``'s initial weights and let it fit them on ``X``.

    The template of every fit: the criterion's :meth:`initial_weights`, then
    (unless ``max_iter`` is 0) its :meth:`fit_weights` of at most
    :meth:`n_steps` steps, with a progress line in a verbose fit.

    Parameters
    ----------
    criterion : Criterion
        What is fitted.
    X : ndarray of shape (n_samples, n_features)
        The training samples, validated.
    settings : TrainingSettings
    verbose : int
        With a positive value, training shows its progress and how it ended
        (:class:`~sklearn_rae._progress.TrainingProgress`).

    Returns
    -------
    TrainingResult
    """
    weights = criterion.initial_weights(X, settings.random_state)
    requested_max_iter = settings.max_iter
    n_steps = criterion.n_steps(requested_max_iter)
    if n_steps == 0:
        return TrainingResult(weights)
    settings = replace(settings, max_iter=n_steps, n_samples=X.shape[0])
    early = []
    n_clusters = settings.cut.fixed_n_clusters
    # A batch smaller than the data that every cluster could fill alone (with
    # as many clusters as samples there is no merge below any cut to train on).
    if (
        criterion.trains_on_cut
        and n_clusters is not None
        and settings.batch_size <= n_clusters < X.shape[0]
    ):
        early.append(
            (
                UserWarning,
                f"n_clusters={n_clusters} leaves no merge below the cut of "
                f"a {settings.batch_size}-sample training batch, so "
                f"{criterion.name} is trained on whole trees; raise batch_size "
                "above n_clusters.",
            )
        )
    progress = None
    if verbose:
        # Shown before the trainer is made, which may import TensorFlow.
        progress = TrainingProgress(criterion.name, n_steps, requested_max_iter)
    outcome = TrainingOutcome.INTERRUPTED
    try:
        result = criterion.fit_weights(X, weights, settings, progress)
        outcome = result.outcome
    finally:
        if progress is not None:
            if (
                outcome is TrainingOutcome.STEPS_RAN_OUT
                and n_steps < requested_max_iter
            ):
                # The criterion's own number of steps, not max_iter, ended it.
                outcome = TrainingOutcome.DONE
            progress.finish(outcome.value)
    result.warnings[:0] = early
    return result


def _flat_below_cut(batch: np.ndarray, tree, below_cut: np.ndarray) -> bool:
    """Whether the merges below the cut join identical samples only.

    The flat clusters are then points, and there is nothing to learn. Merge
    costs of exactly zero say so; otherwise each flat cluster's samples are
    compared, since a Ward engine merging exact duplicates gives costs of
    rounding size (about 1e-15 of the data's squared spread), not zeros,
    and a cost's size alone cannot tell rounding from clusters that are
    small beside one far outlier.
    """
    if not np.any(tree.costs[below_cut > 0]):
        return True
    n_below = int(np.count_nonzero(below_cut))
    labels = cut_linkage(tree.linkage, n_clusters=batch.shape[0] - n_below)
    # Labels are numbered by first appearance: the first sample of each.
    first = np.unique(labels, return_index=True)[1]
    return bool(np.array_equal(batch, batch[first[labels]]))


def _diverged(
    step: int,
    max_iter: int,
    what: str,
    advice: str,
    keeping: str = "the last weights whose tree objective was finite",
) -> tuple[type[Warning], str]:
    return (
        RuntimeWarning,
        f"Training diverged at step {step + 1} of {max_iter} ({what}); keeping "
        f"{keeping}. {advice}",
    )


def step_through_trees(
    criterion,
    X,
    trainer,
    weights,
    settings: TrainingSettings,
    progress=None,
    batches: RandomBatches | None = None,
) -> TrainingResult:
    """Take ``settings.max_iter`` steps of ``trainer``, each on a batch's tree.

    Parameters
    ----------
    criterion : Criterion
        Builds the trees and says whether (and how) they are cut.
    X : ndarray of shape (n_samples, n_features)
    trainer : Trainer
        Takes the steps from ``weights``; its :attr:`~Trainer.divergence_advice`
        ends a divergence warning.
    weights : dict of ndarray
        The weights before the first step.
    settings : TrainingSettings
    progress : TrainingProgress or None
        Told of every step.
    batches : RandomBatches or None
        The rows of each step (:class:`RandomBatches` by default).

    Returns
    -------
    TrainingResult
        Its outcome is ``CONVERGED``, ``STEPS_RAN_OUT`` (every step taken
        before the convergence check was met), ``DONE`` (every step, for a
        criterion without a check), ``NOTHING_TO_LEARN`` or ``DIVERGED``; its
        ``training_cut`` is the cut training fixed (``settings.cut``, or for
        ``"auto"`` the number of clusters chosen on the first tree).
    """
    n_samples = X.shape[0]
    max_iter = settings.max_iter
    adjacency = settings.adjacency
    if batches is None:
        batches = RandomBatches(n_samples, settings)
    result = TrainingResult(weights)
    advice = trainer.divergence_advice
    previous = weights
    watch = BlowUpWatch(log_objective=criterion.log_objective)
    convergence = criterion.convergence_check(X) if criterion.trains_on_cut else None

    def ended(outcome, final):
        result.outcome, result.weights = outcome, final
        return result

    for step in range(max_iter):
        rows = batches.next(step)
        batch = X if rows is None else X[rows]
        # Overflow is detected below; NumPy's warnings about it are noise.
        with np.errstate(over="ignore", invalid="ignore"):
            tree = criterion.build_tree(
                weights,
                batch,
                None if adjacency is None else adjacency[rows][:, rows],
            )
        tree_is_finite = finite(tree.costs)
        below_cut = None
        if criterion.trains_on_cut:
            if result.training_cut is None:
                # "auto" is chosen on the first tree, then fixed.
                result.training_cut = settings.cut.fixed_on(
                    batch, tree.linkage, tree_is_finite
                )
            below_cut = result.training_cut.below_cut(tree.linkage, settings.n_samples)
            if tree_is_finite and _flat_below_cut(batch, tree, below_cut):
                # The flat clusters are points: nothing to learn.
                return ended(TrainingOutcome.NOTHING_TO_LEARN, weights)
        if tree_is_finite:
            loss = trainer.step(batch, tree, below_cut)
            new_weights = trainer.weights()
        else:
            loss, new_weights = np.nan, None
        if not np.isfinite(loss):
            # ``weights`` already overflow: keep the step before them.
            result.warnings.append(
                _diverged(step, max_iter, f"tree objective {loss}", advice)
            )
            return ended(TrainingOutcome.DIVERGED, previous)
        if watch.blew_up(loss):
            result.warnings.append(
                _diverged(step, max_iter, watch.describe(loss), advice, watch.keeping)
            )
            return ended(TrainingOutcome.DIVERGED, watch.best_weights)
        watch.record(loss, weights)
        result.loss_curve.append(loss)
        if not all(map(finite, new_weights.values())):
            # The step from ``weights``, whose objective is finite, overflows.
            result.warnings.append(
                _diverged(step, max_iter, "weights not finite after it", advice)
            )
            return ended(TrainingOutcome.DIVERGED, weights)
        previous, weights = weights, new_weights
        if progress is not None:
            progress.update(step + 1, loss)
        if convergence is not None and convergence.update(
            rows, tree.linkage, below_cut, previous
        ):
            return ended(TrainingOutcome.CONVERGED, weights)
    if convergence is None:
        return ended(TrainingOutcome.DONE, weights)
    return ended(TrainingOutcome.STEPS_RAN_OUT, weights)
