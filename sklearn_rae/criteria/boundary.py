"""The boundary criterion: Ward's form across the gap between two clusters.

``merge_cost="boundary"`` presents each child's boundary point (the end of
the minimum-spanning-tree edge between the two children) to the shared merge
encoder of :mod:`sklearn_rae.criteria.embedded`, so merges follow the data's
shape and large groups meet only across small gaps.
"""

from __future__ import annotations

from ..engines.spanning import SPANNING
from .embedded import EmbeddedCriterion
from .learned_metric import LearnedMetricMergeState

__all__ = ["BoundaryCriterion"]


class BoundaryCriterion(EmbeddedCriterion):
    """Size-weighted reconstruction of the children's boundary points.

    The merge encoder is the learned metric's (a shared embedding ``L``, the
    size-weighted average as encoder, a copy as decoder), given for each child
    its boundary point: the end of the spanning-tree edge between the two
    children (see :mod:`sklearn_rae.engines.spanning`, which builds the tree). The
    cost of merging two nodes joined by the edge ``(p_a, p_b)`` is::

        cost(a, b) = n_a n_b / (n_a + n_b) * |(p_a - p_b) @ L|^2 / 2

    Between two leaves this is the learned metric's cost, so its merge state
    over the leaves are the learned metric's, and ``predict`` prices a new
    sample against the training samples only: a sample merges most cheaply
    with a leaf (its factor, 1/2, is the smallest of any node), the leaf
    nearest to it in the embedding. Its trees, with or without a connectivity
    graph, are built by the spanning-tree engine.
    """

    name = "boundary"
    engine = SPANNING
    graph_engine = SPANNING
    #: predict compares new samples with the training samples only.
    replays_merges = False

    def merge_state(self, weights, state):
        return LearnedMetricMergeState(weights, state)
