"""A fitted tree: built with trained weights, cut, and ready to predict.

:func:`fit_tree` takes a criterion and its trained weights to everything the
estimator stores: the tree, its flat clusters, the states of the nodes below
the cut that ``predict`` compares new samples with, and the Gaussian mixture
that ``score`` evaluates.
"""

from __future__ import annotations

import numpy as np

from ._cut import FlatClusters
from ._likelihood import tied_mixture
from ._numeric import finite, leaf_state, overflow_error
from ._progress import report_tree_build
from .engines.greedy import replay_forest
from .engines.tree import Tree

__all__ = ["FittedTree", "fit_tree"]


class FittedTree:
    """Everything a fit keeps of one criterion's tree over the training data.

    The states of the nodes that ``predict`` compares with and the mixture
    that ``score`` evaluates are computed when first read: a selection that
    fits several candidates and keeps one computes them for the kept one
    only.

    Attributes
    ----------
    weights : dict of ndarray
        The weights the tree was built with (a criterion's refinement may
        change the trained ones).
    tree : Tree
        The linkage matrix, costs and losses.
    cut : FlatClusters
        The flat clusters and, with ``"auto"``, every candidate cut.
    node_state : dict of ndarray
        States of the training samples and of the merged nodes below the cut
        that ``predict`` compares with.
    node_labels : ndarray
        The flat cluster of each of those nodes.
    mixture : dict of ndarray
        The tied Gaussian mixture of the flat clusters (``score``).
    refinement : str or None
        How the criterion refined the flat clusters (``"isotropic"`` or
        ``"shared covariance"`` for the whitened means), ``None`` if it did
        not.
    """

    def __init__(
        self,
        criterion,
        weights: dict,
        tree: Tree,
        cut: FlatClusters,
        X,
        refinement=None,
    ):
        self.criterion = criterion
        self.refinement = refinement
        self.weights = weights
        self.tree = tree
        self.cut = cut
        self._X = X
        self._replayed = None
        self._mixture = None

    def _replay(self) -> tuple[dict, np.ndarray]:
        if self._replayed is None:
            criterion, tree, flat = self.criterion, self.tree, self.cut
            self._replayed = replay_forest(
                criterion.merge_state(self.weights, leaf_state(self._X)),
                tree.linkage,
                tree.costs,
                flat.n_merges_below if criterion.replays_merges else 0,
                flat.labels,
            )
        return self._replayed

    @property
    def node_state(self) -> dict:
        return self._replay()[0]

    @property
    def node_labels(self) -> np.ndarray:
        return self._replay()[1]

    @property
    def mixture(self) -> dict:
        if self._mixture is None:
            self._mixture = tied_mixture(self._X, self.cut.labels)
        return self._mixture


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
    refinement = None
    if cut.distance_threshold is None:
        refined = criterion.refine(weights, X, tree, flat.labels, adjacency)
        if refined is not None:
            weights, tree, refinement = refined
            flat = cut.refined(tree.linkage, flat)
    return FittedTree(criterion, weights, tree, flat, X, refinement)
