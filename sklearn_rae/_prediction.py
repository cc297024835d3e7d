"""How ``predict`` labels new samples: the cheapest node below the cut.

A new sample is a new leaf appended after the training samples; it gets the
label of the node below the cut it would merge with most cheaply. A
criterion's :meth:`~sklearn_rae.criteria.base.Criterion.predictor` says how
that node is found: :class:`NodeIndex`, a KD-tree search exact for Ward-type
costs in an embedding, or :class:`CostPredictor`, every node's cost.
"""

from __future__ import annotations

import os

import numpy as np

from ._numeric import center_of, concat_states, finite, leaf_state

__all__ = ["CostPredictor", "NodeIndex"]


class CostPredictor:
    """Labels by comparing each new sample with every node below the cut.

    Costs are evaluated by the criterion's merge state in blocks of about four
    million. Raises ``FloatingPointError`` when they are not finite.
    """

    def __init__(self, criterion, weights, node_state, node_labels):
        self.criterion = criterion
        self.weights = weights
        self.node_state = node_state
        self.labels = np.asarray(node_labels)

    def node_costs(self, X: np.ndarray) -> np.ndarray:
        """Pair costs ``(n_nodes, n_samples)``: the nodes first, new leaves second."""
        n_nodes = self.labels.shape[0]
        return self._costs(X).pair_costs(
            slice(0, n_nodes), slice(n_nodes, n_nodes + X.shape[0])
        )

    def _costs(self, X):
        # One object for the nodes and the new leaves: the nodes' terms are
        # computed once.
        with np.errstate(over="ignore", invalid="ignore"):
            return self.criterion.merge_state(
                self.weights, concat_states(self.node_state, leaf_state(X))
            )

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The label of the cheapest node for each row of ``X``."""
        n_nodes = self.labels.shape[0]
        costs_of = self._costs(X)
        chunk = max(1, (1 << 22) // n_nodes)
        labels = np.empty(X.shape[0], dtype=np.intp)
        for start in range(0, X.shape[0], chunk):
            stop = min(start + chunk, X.shape[0])
            with np.errstate(over="ignore", invalid="ignore"):
                costs = costs_of.pair_costs(
                    slice(0, n_nodes), slice(n_nodes + start, n_nodes + stop)
                )
            if not finite(costs):
                raise FloatingPointError("merge costs are not finite")
            labels[start:stop] = self.labels[np.argmin(costs, axis=0)]
        return labels


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
    criterion : Criterion
        A criterion with ``embed``.
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

    def __init__(self, criterion, weights, node_state, node_labels, n_leaves):
        from scipy.spatial import cKDTree

        means = node_state["mean"]
        self.criterion = criterion
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
            points = self.criterion.embed(self.weights, X, self.center)
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
