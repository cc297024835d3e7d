"""The merge criteria, by the name ``merge_cost`` gives them.

Each criterion is one :class:`~sklearn_rae.criteria.base.Criterion` subclass
in a module of its own; :data:`CRITERIA` is the only list of names. A
criterion added outside the package is registered with
:func:`register_criterion`.
"""

from __future__ import annotations

from .base import Criterion
from .boundary import BoundaryCriterion
from .cumulative import CumulativeCriterion
from .learned_metric import LearnedMetricCriterion
from .whitened_means import WhitenedMeansCriterion

__all__ = [
    "CRITERIA",
    "MERGE_COST_NAMES",
    "Criterion",
    "get_criterion",
    "register_criterion",
]

#: Criterion classes by name.
CRITERIA: dict[str, type[Criterion]] = {
    "learned_metric": LearnedMetricCriterion,
    "boundary": BoundaryCriterion,
    "cumulative": CumulativeCriterion,
    "whitened_means": WhitenedMeansCriterion,
}

#: Every name ``merge_cost`` accepts: the criteria and the selections between
#: them (see :mod:`sklearn_rae._selection`). The estimator's parameter
#: validation holds this very set, so a registered criterion is accepted.
MERGE_COST_NAMES: set[str] = set(CRITERIA)


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
    CRITERIA[criterion_class.name] = criterion_class
    MERGE_COST_NAMES.add(criterion_class.name)


def get_criterion(name: str, shrinkage: float = 0.3, **options) -> Criterion:
    """A criterion instance by its ``merge_cost`` name."""
    return CRITERIA[name](shrinkage=shrinkage, **options)
