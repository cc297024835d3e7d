"""A fitted tree: built with trained weights, cut, and ready to predict.

:func:`fit_tree` takes a criterion and its trained weights to everything the
estimator stores: the tree, its flat clusters, the states of the nodes below
the cut that ``predict`` compares new samples with, and the Gaussian mixture
that ``score`` evaluates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._cut import CutResult
from ._likelihood import tied_mixture
from ._numeric import finite, leaf_state, overflow_error
from ._progress import report_tree_build
from .engines.greedy import replay_forest
from .engines.tree import Tree

__all__ = ["FittedTree", "fit_tree"]


@dataclass(eq=False)
class FittedTree:
    """Everything a fit keeps of one criterion's tree over the training data.

    Attributes
    ----------
    weights : dict of ndarray
        The weights the tree was built with (a criterion's refinement may
        change the trained ones).
    tree : Tree
        The linkage matrix, costs and losses.
    cut : CutResult
        The flat clusters and, with ``"auto"``, every candidate cut.
    node_state : dict of ndarray
        States of the training samples and of the merged nodes below the cut
        that ``predict`` compares with.
    node_labels : ndarray
        The flat cluster of each of those nodes.
    mixture : dict of ndarray
        The tied Gaussian mixture of the flat clusters (``score``).
    """

    weights: dict
    tree: Tree
    cut: CutResult
    node_state: dict
    node_labels: np.ndarray
    mixture: dict


def fit_tree(criterion, weights, X, *, cut, adjacency=None, verbose=0) -> FittedTree:
    """Build ``criterion``'s tree over ``X`` with ``weights``, cut it, record it.

    Raises ``ValueError`` when the tree's costs are not finite in float64.
    """
    n_samples = X.shape[0]
    engine = criterion.describe_engine(graph=adjacency is not None)
    with report_tree_build(criterion.name, n_samples, engine, verbose):
        with np.errstate(over="ignore", invalid="ignore"):
            tree = criterion.build_tree(weights, X, adjacency)
    if not finite(tree.costs):
        raise overflow_error(X)
    flat = cut.apply(tree.linkage, X)
    if cut.distance_threshold is None:
        refined = criterion.refine(weights, X, tree, flat.labels, adjacency)
        if refined is not None:
            weights, tree = refined
            flat = cut.refined(tree.linkage, flat)
    node_state, node_labels = replay_forest(
        criterion.node_costs(weights, leaf_state(X)),
        tree.linkage,
        tree.costs,
        flat.n_merges_below if criterion.replays_merges else 0,
        flat.labels,
    )
    return FittedTree(
        weights=weights,
        tree=tree,
        cut=flat,
        node_state=node_state,
        node_labels=node_labels,
        mixture=tied_mixture(X, flat.labels),
    )
