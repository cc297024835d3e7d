"""The merge criteria.

Each criterion is one :class:`~sklearn_rae.criteria.base.Criterion` subclass
in a module of its own. :data:`sklearn_rae.MERGE_COSTS` names them (with the
selections between them); a criterion added outside the package is
registered with :func:`sklearn_rae.register_criterion`.
"""

from __future__ import annotations

from .base import Criterion, Refinement
from .boundary import BoundaryCriterion
from .cumulative import CumulativeCriterion
from .genie import GenieCriterion
from .learned_metric import LearnedMetricCriterion
from .whitened_means import WhitenedMeansCriterion

__all__ = [
    "BoundaryCriterion",
    "Criterion",
    "CumulativeCriterion",
    "GenieCriterion",
    "LearnedMetricCriterion",
    "Refinement",
    "WhitenedMeansCriterion",
]
