"""The Genie criterion: the boundary criterion's spanning tree, Gini-corrected.

``merge_cost="genie"`` merges along the same minimum spanning tree of the
embedded samples as ``merge_cost="boundary"``, shortest edge first (single
linkage), with Genie's correction (Gagolewski, Bartoszuk and Cena 2016):
while the Gini index of the cluster sizes exceeds ``gini_threshold`` (0.3),
the smallest cluster joins its nearest neighbour along the tree first. Noise
points and outliers then join the shape they lie next to instead of bridging
two shapes or staying apart until the top of the tree. ``merge_cost="auto"``
builds it untrained, in the unit-free metric, for shapes that touch through
noise (see :mod:`sklearn_rae._selection` and ``docs/design.md``).
"""

from __future__ import annotations

from ..engines.genie import GENIE_SPANNING, GINI_THRESHOLD
from .boundary import BoundaryCriterion

__all__ = ["GenieCriterion"]


class GenieCriterion(BoundaryCriterion):
    """The boundary criterion's embedding and spanning tree, merged as Genie.

    Parameters are the boundary criterion's, and ``gini_threshold``.
    """

    name = "genie"
    engine = GENIE_SPANNING
    graph_engine = GENIE_SPANNING

    def __init__(self, *args, gini_threshold: float = GINI_THRESHOLD, **kwargs):
        super().__init__(*args, **kwargs)
        self.gini_threshold = float(gini_threshold)
