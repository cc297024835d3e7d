"""The start check: does Adam's training lower its own objective?

A gradient step lowers the objective of the tree it was taken on, but the
next tree, built with the new weights, may merge differently and cost more;
and a metric fitted to the training samples' own partition fits them better
than it fits samples it has not seen. So training can end above where it
started by its own measure, most plainly on held-out samples.
:func:`checked_training` wraps the embedded criteria's gradient training in
a check of exactly that:

1. Where there are enough samples and no connectivity graph, a share of them
   (:func:`held_out_rows`) is held out of a first training, and the trained
   and initial weights' trees over those rows are compared by training's
   objective (:func:`compare_with_start`). If training ended above its start
   there, the fit keeps the initial weights.
2. Otherwise training runs on every sample, and the same comparison is made
   on the training samples (:func:`check_rows`).

The outcome is a :class:`StartCheck`, kept by the estimator as
``start_check_``. The rule and its constants are in ``docs/design.md``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._connectivity import connected_batch
from ._training import TrainingOutcome, TrainingResult

__all__ = [
    "CHECK_SAMPLES",
    "CHECK_TOLERANCE",
    "StartCheck",
    "StartCheckOutcome",
    "check_rows",
    "checked_training",
    "compare_with_start",
    "held_out_rows",
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

#: How training may end for the start check to run: not where the flat
#: clusters were points (nothing was learnt).
CHECKED_OUTCOMES = (
    TrainingOutcome.CONVERGED,
    TrainingOutcome.STEPS_RAN_OUT,
    TrainingOutcome.DONE,
    TrainingOutcome.DIVERGED,
)


class StartCheckOutcome(Enum):
    """What the fit kept after the start check."""

    #: Training lowered its objective (within the tolerance): trained weights.
    TRAINED_KEPT = "trained kept"
    #: Training ended above its start: the fit keeps the initial weights.
    INITIAL_KEPT = "initial kept"


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
    outcome : StartCheckOutcome
        Which weights the fit kept.
    """

    initial_objective: float
    trained_objective: float
    n_samples: int
    held_out: bool
    outcome: StartCheckOutcome

    @property
    def kept_initial(self) -> bool:
        """Whether the fit kept the initial weights."""
        return self.outcome is StartCheckOutcome.INITIAL_KEPT

    @property
    def worsened(self) -> bool:
        """Whether training ended above its start by more than the tolerance."""
        return not (self.trained_objective <= self.initial_objective + CHECK_TOLERANCE)

    def describe(self) -> str:
        """The warning of a check that fired."""
        return (
            "Training ended above where it started by its own measure: the tree "
            f"objective over {self.n_samples} "
            f"{'held-out' if self.held_out else 'training'} samples is "
            f"{self.trained_objective:.6g} with the trained weights against "
            f"{self.initial_objective:.6g} with the initial ones, so the fit "
            "keeps the initial weights (start_check_ holds both). "
            + (
                "The metric fitted the training samples' clusters better than "
                "it fits samples it has not seen: a larger shrinkage holds it "
                "nearer the initial one."
                if self.held_out
                else "A lower learning_rate takes smaller steps."
            )
        )


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


def compare_with_start(
    criterion, X, initial, trained, cut, adjacency=None, held_out=None
) -> StartCheck | None:
    """Compare the trained weights with the initial ones by training's objective.

    Both trees are built over the same check sample, the rows ``held_out`` of
    training (:func:`held_out_rows`) or else :func:`check_rows`, and cut where
    training cut, ``cut`` fixed (a number of clusters or a threshold); their
    objectives (:meth:`Criterion.tree_objective`) are compared. The check
    fires when training ended above its start by more than
    :data:`CHECK_TOLERANCE`, and the fit then keeps the initial weights.

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
        outcome=(
            StartCheckOutcome.INITIAL_KEPT
            if worsened
            else StartCheckOutcome.TRAINED_KEPT
        ),
    )


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
    :func:`compare_with_start` after training.
    """
    if not criterion.trains_on_cut or cut.is_auto:
        return True
    n_clusters = cut.fixed_n_clusters
    if n_clusters is not None:
        return 2 * n_clusters <= held_out.size
    with np.errstate(over="ignore", invalid="ignore"):
        tree = criterion.build_tree(weights, X[held_out], None)
    return _keeps_merges_below(cut, tree.linkage, X.shape[0])


def _record(result: TrainingResult, check: StartCheck, initial) -> TrainingResult:
    """``result`` with the start check ``check``; the initial weights if it fired."""
    result.start_check = check
    if check.kept_initial:
        result.weights = initial
        result.warnings.append((ConvergenceWarning, check.describe()))
    return result


def checked_training(criterion, X, weights, settings, progress):
    """``criterion``'s gradient training from ``weights``, checked against its start.

    Parameters
    ----------
    criterion : Criterion
        Trains (:meth:`Criterion.gradient_steps`), builds the check's trees
        and gives their objective.
    X : ndarray of shape (n_samples, n_features)
    weights : dict of ndarray
        The initial weights.
    settings : TrainingSettings
    progress : TrainingProgress or None
        Shows both trainings' steps; the bar starts again for the second.

    Returns
    -------
    TrainingResult
        With the :class:`StartCheck` (None where none was made). Where the
        held-out check fires, its outcome is ``INITIAL_KEPT`` and it holds the
        first training's loss curve and warnings; otherwise it is the training
        on every sample.
    """
    held_out = held_out_rows(X.shape[0], settings.adjacency)
    if held_out is not None:
        fired = _held_out_check(criterion, X, weights, held_out, settings, progress)
        if fired is not None:
            return fired
    result = criterion.gradient_steps(X, weights, settings, progress)
    if result.outcome in CHECKED_OUTCOMES and result.weights is not weights:
        check = compare_with_start(
            criterion,
            X,
            weights,
            result.weights,
            result.training_cut,
            settings.adjacency,
        )
        _record(result, check, weights)
    return result


def _held_out_check(criterion, X, initial, held_out, settings, progress):
    """Train without the ``held_out`` rows and check the weights on them.

    Returns the result to keep where the check fires: this training's loss
    curve and warnings, the check and the initial weights. Otherwise None; the
    fit then trains on every sample. This training draws its batches from a
    copy of the fit's random state, so that the training on every sample is
    the one a fit without the check would take.
    """
    if not _held_out_cut_keeps_merges(criterion, initial, X, held_out, settings.cut):
        # Too few merges below the held-out rows' cut (_keeps_merges_below):
        # the check is made on the training samples instead.
        return None
    trained_rows = np.ones(X.shape[0], dtype=bool)
    trained_rows[held_out] = False
    X_trained = X[trained_rows]
    state_copy = np.random.RandomState()
    state_copy.set_state(settings.random_state.get_state())
    first = criterion.gradient_steps(
        X_trained,
        initial,
        replace(
            settings,
            random_state=state_copy,
            adjacency=None,
            batch_size=min(settings.batch_size, X_trained.shape[0]),
        ),
        progress,
    )
    if first.outcome not in CHECKED_OUTCOMES or first.weights is initial:
        return None
    check = compare_with_start(
        criterion, X, initial, first.weights, first.training_cut, held_out=held_out
    )
    if check is None or not check.worsened:
        return None
    first.outcome = TrainingOutcome.INITIAL_KEPT
    return _record(first, check, initial)
