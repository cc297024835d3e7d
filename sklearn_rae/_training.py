"""Training a criterion's merge encoder: the loop and its monitors.

Each step draws a batch, builds its greedy tree with the current weights,
cuts it where the criterion trains (:attr:`Criterion.trains_on_cut`), and
takes one gradient step of the tree objective (the criterion's trainer:
GradientTape and Adam). Monitors watch every step: divergence (an objective
that overflows or grows a thousandfold), convergence (the criterion's
:meth:`~sklearn_rae.criteria.base.Criterion.convergence_check`) and progress.
After the last step the start check (:func:`check_start`) compares the
trained weights with the initial ones by that objective, first on a share of
the samples held out of a first training (:func:`held_out_rows`), then on the
training samples, and keeps the initial weights where training ended above
them.
The loop returns the weights, the loss curve, the check and the warnings as
data, so the caller decides which to issue.
"""

from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._numeric import finite
from ._progress import TrainingProgress
from .engines.graph import connected_batch
from .engines.tree import cut_linkage

__all__ = [
    "BlowUpWatch",
    "StartCheck",
    "TrainingResult",
    "check_start",
    "prepare_worker_process",
    "train",
]

#: The start check's sample: every training sample up to this many, else this
#: many drawn with a fixed seed.
CHECK_SAMPLES = 4096
#: The share of the samples held out of training for the start check (at
#: most CHECK_SAMPLES of them), where there are at least HOLDOUT_MIN_SAMPLES
#: and no connectivity graph; elsewhere the check uses the training samples.
HOLDOUT_FRACTION = 0.2
HOLDOUT_MIN_SAMPLES = 250
#: How far the trained weights' objective (a logarithm) may lie above the
#: initial weights' before the check fires: a tenth of a percent of spread.
CHECK_TOLERANCE = 1e-3
#: Whether a check that fires keeps the initial weights. Adopted by the rule
#: of the seventh round of ``docs/default_experiments.md``: on the
#: development battery, reverting raised the learned metric's Gaussian mean
#: from 0.595 to 0.646 and its shapes' from 0.543 to 0.547.
CHECK_REVERTS = True


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


@dataclass(frozen=True)
class StartCheck:
    """Whether training lowered its own objective: the start check's outcome.

    Attributes
    ----------
    initial_objective : float
        The tree objective of the initial weights' tree over the check sample.
    trained_objective : float
        The same for the trained weights.
    n_samples : int
        Samples in the check sample.
    held_out : bool
        Whether the check sample was held out of training.
    kept_initial : bool
        Whether the fit kept the initial weights because training ended above
        them.
    """

    initial_objective: float
    trained_objective: float
    n_samples: int
    held_out: bool
    kept_initial: bool

    @property
    def worsened(self) -> bool:
        """Whether training ended above its start by more than the tolerance."""
        return not (self.trained_objective <= self.initial_objective + CHECK_TOLERANCE)

    def describe(self) -> str:
        """The warning of a check that fired."""
        kept = (
            "the fit keeps the initial weights (start_check_ holds both)"
            if self.kept_initial
            else "the trained tree may be worse than the untrained one"
        )
        return (
            "Training ended above where it started by its own measure: the tree "
            f"objective over {self.n_samples} "
            f"{'held-out' if self.held_out else 'training'} samples is "
            f"{self.trained_objective:.6g} with the trained weights against "
            f"{self.initial_objective:.6g} with the initial ones, so {kept}. "
            + (
                "The metric fitted the training samples' clusters better than "
                "it fits samples it has not seen: a larger shrinkage holds it "
                "nearer the initial one."
                if self.held_out
                else "A lower learning_rate takes smaller steps."
            )
        )


@dataclass
class TrainingResult:
    """What training returns.

    Attributes
    ----------
    weights : dict of ndarray
        The trained weights (the initial ones when ``max_iter`` is 0).
    loss_curve : list of float
        The tree objective of each step's tree, before the step.
    warnings : list of (type, str)
        Warning categories and messages, in order, for the caller to issue.
    start_check : StartCheck or None
        The start check, for a criterion that :attr:`checks_start` and
        training that took a step.
    """

    weights: dict
    loss_curve: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    start_check: StartCheck | None = None

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


#: How training may end for the start check to run: not where the flat
#: clusters were points (nothing was learnt).
CHECKED_OUTCOMES = ("converged", "not converged", "done", "diverged")


def held_out_rows(n_samples: int, adjacency=None) -> np.ndarray | None:
    """The samples held out of training for the start check, sorted, or None.

    :data:`HOLDOUT_FRACTION` of them (at most :data:`CHECK_SAMPLES`), drawn
    with a fixed seed, so that the hold-out neither depends on nor advances
    the fit's random state; none with a connectivity graph (training batches
    are connected neighbourhoods) or fewer than :data:`HOLDOUT_MIN_SAMPLES`.
    """
    if adjacency is not None or n_samples < HOLDOUT_MIN_SAMPLES:
        return None
    n_held = min(int(HOLDOUT_FRACTION * n_samples), CHECK_SAMPLES)
    if n_held == 0:
        return None
    seeded = np.random.RandomState(0)
    return np.sort(seeded.choice(n_samples, n_held, replace=False))


def check_rows(n_samples: int, adjacency=None) -> np.ndarray | None:
    """Without a hold-out, the start check's sample: None for all, else rows.

    :data:`CHECK_SAMPLES` of them drawn with a fixed seed (a connected
    neighbourhood along ``adjacency``).
    """
    if n_samples <= CHECK_SAMPLES:
        return None
    seeded = np.random.RandomState(0)
    if adjacency is not None:
        return connected_batch(adjacency, CHECK_SAMPLES, seeded)
    return np.sort(seeded.choice(n_samples, CHECK_SAMPLES, replace=False))


def check_start(
    criterion, X, initial, trained, cut, adjacency=None, held_out=None
) -> StartCheck | None:
    """Compare the trained weights with the initial ones by training's objective.

    Both trees are built over the same check sample, the rows ``held_out`` of
    training (:func:`held_out_rows`) or else :func:`check_rows`, and cut where
    training cut, ``cut`` fixed (a number of clusters or a threshold); their
    objectives (:meth:`Criterion.tree_objective`) are compared. A gradient
    step lowers the objective of the tree it was taken on, but the next tree,
    built with the new weights, may merge differently and cost more; and a
    metric fitted to the training samples' own partition fits them better
    than it fits samples it has not seen. So training can end above where it
    started by its own measure, most plainly on held-out samples. The check
    fires when it does by more than :data:`CHECK_TOLERANCE`, and then (with
    :data:`CHECK_REVERTS`) the fit keeps the initial weights.

    Returns None, for a criterion trained below the cut, where the cut of
    the initial weights' tree over the held-out rows has more clusters than
    half of them (:func:`_keeps_merges_below`): their objective would then be
    mostly or wholly the tree above the cut, not what training lowered.
    """
    rows = held_out if held_out is not None else check_rows(X.shape[0], adjacency)
    sample = X if rows is None else X[rows]
    graph = None
    if adjacency is not None:
        graph = adjacency if rows is None else adjacency[rows][:, rows]
    objectives = []
    for weights in (initial, trained):
        with np.errstate(over="ignore", invalid="ignore"):
            tree = criterion.build_tree(weights, sample, graph)
        below_cut = None
        if criterion.trains_on_cut:
            # Decided on the initial tree: trained weights that lift the
            # held-out merges above a threshold must not escape the check.
            if (
                held_out is not None
                and weights is initial
                and not _keeps_merges_below(cut, tree.linkage, X.shape[0])
            ):
                return None
            below_cut = cut.below_cut(tree.linkage, X.shape[0])
        objectives.append(criterion.tree_objective(weights, sample, tree, below_cut))
    initial_objective, trained_objective = objectives
    worsened = not trained_objective <= initial_objective + CHECK_TOLERANCE
    return StartCheck(
        initial_objective,
        trained_objective,
        sample.shape[0],
        held_out=held_out is not None,
        kept_initial=bool(worsened and CHECK_REVERTS),
    )


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


def _keeps_merges_below(cut, linkage, n_samples_total) -> bool:
    """Whether ``cut`` leaves at least half as many merges below it as samples.

    That is, at most half as many clusters as the tree has samples: the
    held-out rows then show the merges inside clusters that training lowered
    (a cut with no merge below it counts the whole tree, and one with few
    rests on a handful of merges). With more clusters than that, the start
    check is made on the training samples, as their batches' trees were.
    """
    n_merges = linkage.shape[0]
    return 2 * int(cut.merges_below(linkage, n_samples_total).sum()) >= n_merges + 1


def _held_out_cut_keeps_merges(criterion, weights, X, held_out, cut) -> bool:
    """:func:`_keeps_merges_below` for the rows ``held_out``, before training.

    A number of clusters decides it at once, a threshold on the tree of
    ``weights``; ``"auto"``, chosen on the first training tree, is decided by
    :func:`check_start` after training.
    """
    if not criterion.trains_on_cut or cut.is_auto:
        return True
    n_clusters = cut.fixed_n_clusters
    if n_clusters is not None:
        return 2 * n_clusters <= held_out.size
    with np.errstate(over="ignore", invalid="ignore"):
        tree = criterion.build_tree(weights, X[held_out], None)
    return _keeps_merges_below(cut, tree.linkage, X.shape[0])


def _diverged(
    step: int,
    max_iter: int,
    what: str,
    keeping: str = "the last weights whose tree objective was finite",
) -> tuple[type[Warning], str]:
    return (
        RuntimeWarning,
        f"Training diverged at step {step + 1} of {max_iter} ({what}); keeping "
        f"{keeping}. Lower learning_rate or standardise the data.",
    )


def train(
    criterion,
    X: np.ndarray,
    *,
    cut,
    max_iter: int,
    learning_rate: float,
    batch_size: int,
    random_state: np.random.RandomState,
    adjacency=None,
    verbose=0,
) -> TrainingResult:
    """Initialise and train ``criterion``'s merge encoder on ``X``.

    Parameters
    ----------
    criterion : Criterion
        What is trained.
    X : ndarray of shape (n_samples, n_features)
        The training samples, validated.
    cut : Cut
        Where each step's tree is cut, for a criterion that trains below it.
    max_iter : int
        Largest number of steps; 0 returns the initial weights.
    learning_rate : float
        Adam's step size.
    batch_size : int
        Samples per step, at most ``n_samples``.
    random_state : numpy.random.RandomState
        Draws the initial weights and the batches.
    adjacency : sparse matrix or None
        The connectivity graph: batches are then connected neighbourhoods.
    verbose : int
        With a positive value, training shows its progress and how it ended
        (:class:`~sklearn_rae._progress.TrainingProgress`).

    Returns
    -------
    TrainingResult
    """
    weights = criterion.initial_weights(X, random_state)
    result = TrainingResult(weights)
    # Whether max_iter, rather than the criterion's own number of steps,
    # limits training.
    limited_by_max_iter = criterion.max_steps is None or max_iter <= criterion.max_steps
    requested_max_iter = max_iter
    if criterion.max_steps is not None:
        max_iter = min(max_iter, criterion.max_steps)
    if max_iter == 0:
        return result
    n_clusters = cut.fixed_n_clusters
    # A batch smaller than the data that every cluster could fill alone (with
    # as many clusters as samples there is no merge below any cut to train on).
    if (
        criterion.trains_on_cut
        and n_clusters is not None
        and batch_size <= n_clusters < X.shape[0]
    ):
        result.warnings.append(
            (
                UserWarning,
                f"n_clusters={n_clusters} leaves no merge below the cut of "
                f"a {batch_size}-sample training batch, so {criterion.name} is "
                "trained on whole trees; raise batch_size above n_clusters.",
            )
        )
    progress = None
    if verbose:
        # Shown before the trainer is made, which may import TensorFlow.
        progress = TrainingProgress(criterion.name, max_iter, requested_max_iter)
    steps = {
        "cut": cut,
        "max_iter": max_iter,
        "batch_size": batch_size,
        "n_samples_total": X.shape[0],
    }
    outcome = "interrupted"
    try:
        held_out = None
        if criterion.checks_start:
            held_out = held_out_rows(X.shape[0], adjacency)
        if held_out is not None:
            if _held_out_check_fires(
                criterion,
                X,
                held_out,
                result,
                learning_rate,
                random_state,
                steps,
                progress,
            ):
                outcome = "start kept"
                return result
        trainer = criterion.make_trainer(weights, learning_rate)
        if progress is not None:
            # After a held-out training that passed, the bar starts again.
            progress.started()
        outcome, training_cut = _run_steps(
            criterion,
            X,
            trainer,
            result,
            weights,
            random_state=random_state,
            adjacency=adjacency,
            progress=progress,
            **steps,
        )
        if (
            criterion.checks_start
            and outcome in CHECKED_OUTCOMES
            and result.weights is not weights
        ):
            _apply_check(
                result,
                check_start(
                    criterion, X, weights, result.weights, training_cut, adjacency
                ),
                weights,
            )
    finally:
        if progress is not None:
            if outcome == "not converged":
                outcome = "max_iter" if limited_by_max_iter else "done"
            progress.finish(outcome)
    return result


def _apply_check(result, check, initial) -> None:
    """Record the start check ``check`` in ``result``; revert if it says so."""
    result.start_check = check
    if check.kept_initial:
        result.weights = initial
    if check.worsened:
        result.warnings.append((ConvergenceWarning, check.describe()))


def _held_out_check_fires(
    criterion, X, held_out, result, learning_rate, random_state, steps, progress
) -> bool:
    """Train without the ``held_out`` rows and check the weights on them.

    Where the check fires, ``result`` gets this training's loss curve, its
    warnings and the check, and the initial weights (with
    :data:`CHECK_REVERTS`): returns True. Otherwise returns False and leaves
    ``result`` as it was; the fit then trains on every sample. This training
    draws its batches from a copy of ``random_state``, so that the training
    on every sample is the one a fit without the check would take; it shows
    its steps on ``progress``, whose bar starts again for that training.
    """
    initial = result.weights
    if not _held_out_cut_keeps_merges(criterion, initial, X, held_out, steps["cut"]):
        # Too few merges below the held-out rows' cut (_keeps_merges_below):
        # the check is made on the training samples instead.
        return False
    trained_rows = np.ones(X.shape[0], dtype=bool)
    trained_rows[held_out] = False
    X_trained = X[trained_rows]
    state_copy = np.random.RandomState()
    state_copy.set_state(random_state.get_state())
    first = TrainingResult(initial)
    trainer = criterion.make_trainer(initial, learning_rate)
    if progress is not None:
        progress.started()
    outcome, training_cut = _run_steps(
        criterion,
        X_trained,
        trainer,
        first,
        initial,
        random_state=state_copy,
        adjacency=None,
        progress=progress,
        **{**steps, "batch_size": min(steps["batch_size"], X_trained.shape[0])},
    )
    if outcome not in CHECKED_OUTCOMES or first.weights is initial:
        return False
    check = check_start(
        criterion, X, initial, first.weights, training_cut, held_out=held_out
    )
    if check is None or not check.worsened:
        return False
    result.loss_curve = first.loss_curve
    result.warnings.extend(first.warnings)
    _apply_check(result, check, initial)
    return True


def _run_steps(
    criterion,
    X,
    trainer,
    result,
    weights,
    *,
    cut,
    max_iter,
    batch_size,
    random_state,
    adjacency,
    progress,
    n_samples_total,
) -> str:
    """The training loop of :func:`train`; sets ``result.weights``.

    Returns how it ended, ``"converged"``, ``"not converged"`` (every step
    taken before the convergence check was met), ``"done"`` (every step, for
    a criterion without a check), ``"nothing to learn"`` or ``"diverged"``,
    and the cut training fixed (``cut`` itself, or for ``"auto"`` the number
    of clusters chosen on the first tree).
    """
    n_samples = X.shape[0]
    previous = weights
    watch = BlowUpWatch(log_objective=criterion.log_objective)
    convergence = criterion.convergence_check(X) if criterion.trains_on_cut else None
    training_cut = None
    rows = None
    for step in range(max_iter):
        if step > 0 and criterion.fixed_batch:
            pass  # the batch of the first step
        elif adjacency is not None:
            rows = connected_batch(adjacency, batch_size, random_state)
        elif batch_size < n_samples:
            rows = np.sort(random_state.choice(n_samples, batch_size, replace=False))
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
            if training_cut is None:
                # "auto" is chosen on the first tree, then fixed.
                training_cut = cut.fixed_on(batch, tree.linkage, tree_is_finite)
            below_cut = training_cut.below_cut(tree.linkage, n_samples_total)
            if tree_is_finite and _flat_below_cut(batch, tree, below_cut):
                # The flat clusters are points: nothing to learn.
                result.weights = weights
                return "nothing to learn", training_cut
        if tree_is_finite:
            loss = trainer.step(batch, tree, below_cut)
            new_weights = trainer.weights()
        else:
            loss, new_weights = np.nan, None
        if not np.isfinite(loss):
            # ``weights`` already overflow: keep the step before them.
            result.warnings.append(_diverged(step, max_iter, f"tree objective {loss}"))
            result.weights = previous
            return "diverged", training_cut
        if watch.blew_up(loss):
            result.warnings.append(
                _diverged(step, max_iter, watch.describe(loss), watch.keeping)
            )
            result.weights = watch.best_weights
            return "diverged", training_cut
        watch.record(loss, weights)
        result.loss_curve.append(loss)
        if not all(map(finite, new_weights.values())):
            # The step from ``weights``, whose objective is finite, overflows.
            result.warnings.append(
                _diverged(step, max_iter, "weights not finite after it")
            )
            result.weights = weights
            return "diverged", training_cut
        previous, weights = weights, new_weights
        if progress is not None:
            progress.update(step + 1, loss)
        if convergence is not None and convergence.update(
            rows, tree.linkage, below_cut, previous
        ):
            result.weights = weights
            return "converged", training_cut
    result.weights = weights
    return ("done" if convergence is None else "not converged"), training_cut
