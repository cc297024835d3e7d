"""Trees without an ``n x n`` cache, for criteria that are Ward's in an embedding.

:func:`sklearn_rae._tree.greedy_linkage` caches every pair cost, which any
criterion allows but which needs ``O(n**2)`` memory. A criterion whose cost is
Ward's in a linear embedding of the samples (``reducible = True`` and a
``ward_points(weights, X)`` method, as
:class:`~sklearn_rae._criteria.LearnedMetricCriterion`) has the same tree as
Ward's linkage of the embedded samples, and that tree is built in ``O(n d)``
memory by fastcluster's ``linkage_vector``: Müllner's generic algorithm with
nearest-neighbour candidates, exact for Ward's cost because the cost is
reducible (merging two nodes never brings the merged node closer to a third
node than the nearer of its children was), so the greedy order and heights are
Ward's. The seed's criterion is not reducible, and keeps the cached engine.

The tree follows the package's conventions: float64, the merge cost in column 2
(fastcluster's Ward height ``h`` is ``sqrt(2 n_a n_b / (n_a + n_b)) |z_a - z_b|``,
the criterion's cost ``h**2 / 4``), heights that never decrease, and the child
holding the smaller sample index first. Merges of equal cost may come in
another order than the cached engine's.
"""

from __future__ import annotations

import os

import numpy as np
from scipy.spatial.distance import pdist

from ._criteria import center_of, leaf_state
from ._tree import GreedyTree, greedy_linkage

__all__ = [
    "NodeIndex",
    "build_tree",
    "describe_engine",
    "node_index",
    "uses_pair_cache",
    "ward_tree",
]

# From this many dimensions on, a Ward tree whose condensed distance matrix
# takes at most _MATRIX_MAX_BYTES is built from that matrix (fastcluster's
# nearest-neighbour chain) rather than from the points: faster, and the memory
# stays bounded (128 MiB is about 5,800 points).
_MATRIX_MIN_DIMS = 32
_MATRIX_MAX_BYTES = 128 * 2**20


def uses_pair_cache(criterion_class) -> bool:
    """Whether trees of ``criterion_class`` need the ``O(n**2)`` pair-cost cache."""
    return not getattr(criterion_class, "reducible", False)


def describe_engine(criterion_class, graph: bool = False) -> str:
    """How a tree of ``criterion_class`` is built, in words for progress lines."""
    if graph:
        return "greedy merging along the connectivity graph"
    if hasattr(criterion_class, "engine"):
        return criterion_class.engine
    if uses_pair_cache(criterion_class):
        return "greedy merging with an n x n pair-cost cache"
    return "fastcluster's Ward linkage of the embedded samples, O(n d) memory"


def build_tree(criterion_class, weights, X) -> GreedyTree:
    """The greedy tree of ``criterion_class`` over ``X``, by the cheapest engine.

    fastcluster's Ward on the criterion's embedded points when the criterion is
    reducible, otherwise :func:`sklearn_rae._tree.greedy_linkage` with its
    ``O(n**2)`` cache. Non-finite costs are returned as they are, for the caller
    to refuse.
    """
    if uses_pair_cache(criterion_class):
        return greedy_linkage(criterion_class(weights, leaf_state(X)), len(X))
    points = criterion_class.ward_points(weights, X)
    return ward_tree(points, loss_scale=criterion_class.loss_scale(weights))


def ward_tree(points: np.ndarray, loss_scale: float = 1.0) -> GreedyTree:
    """Ward's tree of ``points`` with costs ``h**2 / 4``, in ``O(n d)`` memory.

    Parameters
    ----------
    points : ndarray of shape (n_samples, n_dims)
        At least two rows.
    loss_scale : float, default=1.0
        Each merge's loss is its cost times this factor.

    Returns
    -------
    tree : GreedyTree
        All costs are infinite when the points or their distances overflow
        float64.
    """
    import fastcluster

    points = np.ascontiguousarray(points, dtype=np.float64)
    n, d = points.shape
    if not np.isfinite(points).all():
        return _infinite_tree(n - 1)
    if d >= _MATRIX_MIN_DIMS and 8 * (n * (n - 1) // 2) <= _MATRIX_MAX_BYTES:
        # Many dimensions: computing the distances once and running the
        # nearest-neighbour chain on them beats recomputing them from the
        # centroids, while the matrix is small.
        try:
            linkage = fastcluster.linkage(
                pdist(points), method="ward", preserve_input=False
            )
        except (ValueError, FloatingPointError):
            return _infinite_tree(n - 1)
    else:
        linkage = fastcluster.linkage_vector(points, method="ward")
    costs = linkage[:, 2] ** 2 / 4
    # fastcluster emits merges by increasing height; the running maximum only
    # guards against rounding.
    costs = np.maximum.accumulate(np.maximum(costs, 0.0))
    linkage[:, 2] = costs
    _put_earlier_child_first(linkage)
    return GreedyTree(linkage, costs, costs * loss_scale)


def _infinite_tree(n_merges: int) -> GreedyTree:
    """A placeholder tree whose costs overflow, for the caller to refuse."""
    infinite = np.full(n_merges, np.inf)
    return GreedyTree(np.zeros((n_merges, 4)), infinite, infinite.copy())


def _put_earlier_child_first(linkage: np.ndarray) -> None:
    """Order each merge's children by their smallest sample index, in place."""
    n = linkage.shape[0] + 1
    left = linkage[:, 0].astype(np.int64)
    right = linkage[:, 1].astype(np.int64)
    lowest = list(range(n))
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        low_a, low_b = lowest[a], lowest[b]
        lowest.append(low_a if low_a < low_b else low_b)
    lowest_array = np.asarray(lowest, dtype=np.int64)
    swap = lowest_array[left] > lowest_array[right]
    linkage[swap, 0], linkage[swap, 1] = right[swap], left[swap]


class NodeIndex:
    """Exact nearest-node search for ``predict`` with a Ward-type criterion.

    ``predict`` gives a new sample the label of the node below the cut that it
    would merge with most cheaply. For a criterion that is Ward's cost in an
    embedding, merging a node of ``s`` leaves and embedded mean ``z`` with a
    new leaf ``x`` costs ``w |z - x|^2 / 2`` with ``w = s / (s + 1)``, which
    lies in ``[1/2, 1)``. A KD-tree over the nodes' embedded means finds the
    ``k`` nearest nodes; if the cheapest of them costs ``c``, every node that
    costs less lies within ``sqrt(2 c / w_min)`` of ``x`` (``w_min = 1/2``,
    a leaf's), so when the ``k``-th nearest node is farther than that the
    answer is among the ``k``. Samples for which it is not are queried again
    with four times as many nodes, and the few that still are not (many
    duplicates at the same place) are compared with every node. Costs are
    computed from the differences directly; ties go to the earliest node, as
    in the comparison with every node.

    Parameters
    ----------
    criterion_class : type
        A criterion with ``ward_points``.
    weights : dict of ndarray
        Its weights.
    node_state : dict of ndarray
        ``mean`` and ``size`` of every node below the cut, the leaves first.
    node_labels : ndarray
        The flat cluster of each node.
    n_leaves : int
        How many of the nodes are leaves (training samples).
    """

    # Nodes fetched per sample at first, and the most before comparing a
    # sample with every node.
    first_k = 4
    max_k = 512
    # Rows per block: a block holds rows x k x n_features differences.
    block_values = 1 << 21

    def __init__(self, criterion_class, weights, node_state, node_labels, n_leaves):
        from scipy.spatial import cKDTree

        means = node_state["mean"]
        self.criterion_class = criterion_class
        self.weights = weights
        self.center = center_of(means[:n_leaves])
        # The criterion's codes are the nodes' means embedded relative to the
        # same centre, averaged in the embedding as nodes merged: re-embedding
        # the raw means would lose the merged nodes' differences to rounding
        # on data far from the origin (1e-16 of 1e300, whose square overflows).
        points = node_state["embedding"]
        self.tree = cKDTree(points)
        sizes = node_state["size"]
        self.weight = sizes / (sizes + 1)
        self.labels = np.asarray(node_labels)

    def __len__(self) -> int:
        return self.tree.n

    def nearest(self, X: np.ndarray) -> np.ndarray:
        """Index of the cheapest node for each row of ``X`` (the earliest of ties).

        Raises ``FloatingPointError`` when a sample's embedding or costs are
        not finite.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            points = self.criterion_class.ward_points(self.weights, X, self.center)
        if not np.isfinite(points).all():
            raise FloatingPointError("embedded samples are not finite")
        result = np.empty(points.shape[0], dtype=np.intp)
        rows = max(1, self.block_values // (self.first_k * max(points.shape[1], 1)))
        for start in range(0, points.shape[0], rows):
            block = slice(start, start + rows)
            result[block] = self._nearest_block(points[block])
        return result

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The label of the cheapest node for each row of ``X``."""
        return self.labels[self.nearest(X)]

    def _nearest_block(self, points: np.ndarray) -> np.ndarray:
        n_nodes = len(self)
        result = np.empty(points.shape[0], dtype=np.intp)
        pending = np.arange(points.shape[0])
        k = min(self.first_k, n_nodes)
        while pending.size:
            best, complete = self._query(points[pending], k)
            result[pending[complete]] = best[complete]
            pending = pending[~complete]
            if k >= n_nodes:
                break
            k = min(4 * k, n_nodes)
            if k > self.max_k:
                result[pending] = self._compare_all(points[pending])
                break
        return result

    def _query(self, points: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The cheapest of the ``k`` nearest nodes, and whether it is exact."""
        distances, nodes = self.tree.query(points, k=k, workers=_query_threads())
        distances = distances.reshape(len(points), k)
        nodes = nodes.reshape(len(points), k)
        if not np.isfinite(distances).all():
            # Squared distances overflow: the tree reports no neighbour.
            raise FloatingPointError("merge costs are not finite")
        difference = self.tree.data[nodes] - points[:, None, :]
        costs = (
            self.weight[nodes] * 0.5 * np.einsum("rkd,rkd->rk", difference, difference)
        )
        if not np.isfinite(costs).all():
            raise FloatingPointError("merge costs are not finite")
        cheapest = costs.min(axis=1)
        tied = costs == cheapest[:, None]
        best = np.where(tied, nodes, np.iinfo(np.intp).max).min(axis=1)
        if k >= len(self):
            return best, np.ones(len(points), dtype=bool)
        # Any node cheaper than ``cheapest`` lies within this squared radius
        # (w >= 1/2); the slack covers rounding of the distances.
        radius = 4.0 * cheapest * (1 + 1e-9)
        complete = distances[:, -1] ** 2 > radius
        return best, complete

    def _compare_all(self, points: np.ndarray) -> np.ndarray:
        result = np.empty(points.shape[0], dtype=np.intp)
        data, weight = self.tree.data, self.weight
        for row, point in enumerate(points):
            difference = data - point
            costs = weight * 0.5 * np.einsum("nd,nd->n", difference, difference)
            result[row] = int(np.argmin(costs))
        return result


def _query_threads() -> int:
    """Threads for KD-tree queries: ``OMP_NUM_THREADS`` if set, else every core.

    Dask's and joblib's worker processes set the variable to their share of
    the cores, so parallel predictions do not oversubscribe the machine.
    """
    try:
        threads = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return -1
    return threads if threads > 0 else -1


def node_index(criterion_class, weights, node_state, node_labels, n_leaves):
    """A :class:`NodeIndex` for ``predict``, or None if the criterion has none."""
    if uses_pair_cache(criterion_class):
        return None
    return NodeIndex(criterion_class, weights, node_state, node_labels, n_leaves)
