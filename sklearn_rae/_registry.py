"""Every ``merge_cost`` by name: the only list of names.

:data:`MERGE_COSTS` maps each name to an object that fits it,
``fit(X, context) -> FitResult``: a single criterion
(:class:`~sklearn_rae._fitting.SingleCriterion`) or a selection between
criteria (:mod:`sklearn_rae._selection`). The estimator's parameter
validation accepts exactly its keys, and its fit looks the name up and calls
it. A criterion added outside the package is registered with
:func:`register_criterion`.
"""

from __future__ import annotations

from ._fitting import SingleCriterion
from ._selection import GapSelection, StabilitySelection
from .criteria import (
    BoundaryCriterion,
    Criterion,
    CumulativeCriterion,
    GenieCriterion,
    LearnedMetricCriterion,
    WhitenedMeansCriterion,
)

__all__ = ["MERGE_COSTS", "get_criterion", "register_criterion"]

#: The ``merge_cost`` options by name.
MERGE_COSTS: dict = {
    "auto": GapSelection(
        "auto",
        # The boundary tree from the unit-free start, so that its gaps do
        # not depend on the columns' units.
        gap_candidate=SingleCriterion(BoundaryCriterion, start="unit_free"),
        fallback=SingleCriterion(WhitenedMeansCriterion),
        # Genie's tree along the same spanning tree, for shapes that touch
        # through noise: kept where its clusters are cut off by gaps once
        # the noise is left out.
        shape_candidate=SingleCriterion(GenieCriterion, start="unit_free"),
        description=(
            "keeps the boundary criterion's tree where its flat clusters are "
            "separated by gaps, Genie's tree where they are once the noise is "
            "left out, and fits the whitened means otherwise (unless the "
            "boundary tree's cut outlives theirs)"
        ),
    ),
    "whitened_means": SingleCriterion(WhitenedMeansCriterion),
    "learned_metric": SingleCriterion(LearnedMetricCriterion),
    "boundary": SingleCriterion(BoundaryCriterion),
    "genie": SingleCriterion(GenieCriterion),
    "adaptive": StabilitySelection(
        "adaptive",
        candidates=(
            SingleCriterion(LearnedMetricCriterion),
            SingleCriterion(BoundaryCriterion),
        ),
        description=(
            "fits the learned metric and the boundary criterion and keeps the "
            "one whose flat clusters are the more stable under subsampling"
        ),
    ),
    "cumulative": SingleCriterion(CumulativeCriterion),
}


def register_criterion(criterion_class: type[Criterion]) -> None:
    """Make ``criterion_class`` available as ``merge_cost=criterion_class.name``."""
    if not (
        isinstance(criterion_class, type) and issubclass(criterion_class, Criterion)
    ):
        raise TypeError(
            f"A criterion must be a subclass of Criterion; got {criterion_class!r}."
        )
    if not criterion_class.name:
        raise ValueError(f"{criterion_class.__name__} has no name.")
    MERGE_COSTS[criterion_class.name] = SingleCriterion(criterion_class)


def get_criterion(name: str, shrinkage: float = 0.3) -> Criterion:
    """The criterion that ``merge_cost=name`` fits (not for a selection)."""
    entry = MERGE_COSTS[name]
    if not isinstance(entry, SingleCriterion):
        raise ValueError(
            f"merge_cost={name!r} chooses between criteria; it is no criterion itself."
        )
    return entry.make(shrinkage)
