"""Fitting one criterion on data: what every ``merge_cost`` is made of.

A ``merge_cost`` (:mod:`sklearn_rae._registry`) is fitted on validated data
with a :class:`FitContext`, the estimator's parameters that a fit needs,
made once by the estimator; it returns a :class:`FitResult`. A single
criterion is one call of :func:`fit_criterion`: check memory, train the
weights (:func:`sklearn_rae._training.train`), build the tree with them, cut
it and refine it (:func:`sklearn_rae._fitted_tree.fit_tree`). A selection
between criteria makes several such calls and keeps one. Nothing here knows
the estimator.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._connectivity import component_warnings
from ._fitted_tree import FittedTree, fit_tree
from ._progress import StepProgress, say
from ._resources import check_memory
from ._training import TrainingResult, TrainingSettings, train

__all__ = ["FitContext", "FitResult", "SingleCriterion", "fit_criterion", "refit_tree"]


@dataclass(frozen=True)
class FitContext:
    """The estimator's parameters as a fit needs them.

    Attributes
    ----------
    cut : CutRule
        Where the trees are cut (``n_clusters`` or ``distance_threshold``).
    adjacency : sparse matrix or None
        The symmetric connectivity graph over the samples, or None.
    random_state : numpy.random.RandomState
        The fit's generator.
    integer_seed : int or None
        ``random_state`` when the user gave an int: a selection fits every
        candidate with it, so that a kept candidate's fit is the one its own
        name gives.
    max_iter : int
    learning_rate : float or "auto"
    batch_size : int or "auto"
    shrinkage : float
    memory_limit : int, float or None
        Bytes a fit may allocate (``"auto"`` resolved by the resource check).
    verbose : int
    """

    cut: object
    adjacency: object
    random_state: np.random.RandomState
    integer_seed: int | None
    max_iter: int
    learning_rate: float | str
    batch_size: int | str
    shrinkage: float
    memory_limit: object
    verbose: int = 0

    def candidate_seed(self) -> int:
        """The seed of a selection's candidates (draws one without an int)."""
        if self.integer_seed is not None:
            return self.integer_seed
        return int(self.random_state.randint(np.iinfo(np.int32).max))

    def say(self, text: str) -> None:
        """Print ``text`` in a verbose fit."""
        if self.verbose:
            say(text)

    def progress(self, description: str, total: int, unit: str):
        """A stage's :class:`StepProgress` in a verbose fit, otherwise None."""
        if self.verbose:
            return StepProgress(description, total, unit)
        return None

    def check_tree_memory(self, criterion, X) -> None:
        """Refuse ``X`` if a tree of ``criterion`` over it would not fit."""
        check_memory(
            criterion.memory_needs(*X.shape, training=False), self.memory_limit
        )


@dataclass
class FitResult:
    """A fitted ``merge_cost``: the kept criterion, its training and its tree.

    Attributes
    ----------
    criterion : Criterion
        The fitted criterion, with the options it was fitted with.
    training : TrainingResult
    fitted : FittedTree
    attributes : dict
        Fitted attributes that describe a selection's choice
        (``separation_``, ``stability_``), set on the estimator.
    """

    criterion: object
    training: TrainingResult
    fitted: FittedTree
    attributes: dict = field(default_factory=dict)


def fit_criterion(
    criterion, X, context: FitContext, random_state=None, max_iter=None
) -> FitResult:
    """Train ``criterion`` on ``X`` and fit its tree.

    Parameters
    ----------
    criterion : Criterion
    X : ndarray of shape (n_samples, n_features)
    context : FitContext
    random_state : numpy.random.RandomState, optional
        Instead of the context's (a selection's candidates share a seed).
    max_iter : int, optional
        Instead of the context's (``0``: the untrained tree).

    Returns
    -------
    FitResult
        Whose training's warnings also hold this fit's own (wide data, a
        disconnected graph, a number of clusters chosen at a search's edge).
    """
    n_samples, n_features = X.shape
    adjacency = context.adjacency
    cut = context.cut.in_costs(criterion)
    max_iter = context.max_iter if max_iter is None else max_iter
    trains = max_iter > 0
    check_memory(
        criterion.memory_needs(n_samples, n_features, adjacency, training=trains),
        context.memory_limit,
        training=trains,
    )
    caught = []
    if trains:
        wide = criterion.wide_data_warning(n_features, max_iter)
        if wide is not None:
            caught.append((UserWarning, wide))
    if adjacency is not None:
        caught.extend(component_warnings(adjacency))
    learning_rate = context.learning_rate
    if learning_rate == "auto":
        learning_rate = criterion.auto_learning_rate
    batch_size = context.batch_size
    if batch_size == "auto":
        batch_size = criterion.auto_batch_size
    settings = TrainingSettings(
        cut=cut,
        max_iter=max_iter,
        learning_rate=learning_rate,
        batch_size=min(n_samples, batch_size),
        random_state=context.random_state if random_state is None else random_state,
        adjacency=adjacency,
        n_samples=n_samples,
    )
    training = train(criterion, X, settings, verbose=context.verbose)
    training.warnings[:0] = caught
    return _with_tree(criterion, training, X, cut, adjacency, context.verbose)


def refit_tree(result: FitResult, X, context: FitContext) -> FitResult:
    """``result``'s criterion and weights, with the tree rebuilt over ``X``.

    For a selection that trained its candidates on a subset: the kept
    weights serve, only the tree is built over all the samples.
    """
    criterion = result.criterion
    cut = context.cut.in_costs(criterion)
    check_memory(
        criterion.memory_needs(*X.shape, context.adjacency, training=False),
        context.memory_limit,
        training=False,
    )
    return _with_tree(
        criterion, result.training, X, cut, context.adjacency, context.verbose
    )


def _with_tree(criterion, training, X, cut, adjacency, verbose) -> FitResult:
    fitted = fit_tree(
        criterion, training.weights, X, cut=cut, adjacency=adjacency, verbose=verbose
    )
    choice = fitted.cut.n_clusters_choice
    if choice is not None and choice.message is not None:
        training.warnings.append((UserWarning, choice.message))
    return FitResult(criterion, training, fitted)


class SingleCriterion:
    """A ``merge_cost`` that is one criterion: fit it as it is.

    Parameters
    ----------
    criterion_class : type
        A :class:`~sklearn_rae.criteria.base.Criterion` subclass.
    **options
        Keyword arguments of the criterion besides ``shrinkage`` (a
        selection's candidate may fix its ``start``).
    """

    #: Fitted attributes this merge cost sets: none beyond the common ones.
    attributes = ()

    def __init__(self, criterion_class, **options):
        self.criterion_class = criterion_class
        self.options = options

    @property
    def name(self) -> str:
        return self.criterion_class.name

    @property
    def description(self) -> str:
        """The first line of the criterion's docstring."""
        return (self.criterion_class.__doc__ or "").strip().split("\n")[0]

    def make(self, shrinkage: float):
        """The criterion, with ``shrinkage`` and this entry's options."""
        return self.criterion_class(shrinkage=shrinkage, **self.options)

    def fit(self, X, context: FitContext) -> FitResult:
        """Train the criterion on ``X`` and fit its tree."""
        return fit_criterion(self.make(context.shrinkage), X, context)
