"""The Ward engine: trees without an ``n x n`` cache, for Ward's cost in an embedding.

:func:`sklearn_rae.engines.greedy.greedy_linkage` caches every pair cost, which
any criterion allows but which needs ``O(n**2)`` memory. A criterion whose cost
is Ward's in a linear embedding of the samples (its ``embed(weights, X)`` gives
the embedded samples, as
:class:`~sklearn_rae.criteria.learned_metric.LearnedMetricCriterion`) has the
same tree as Ward's linkage of the embedded samples, and that tree is built in
``O(n d)`` memory by fastcluster's ``linkage_vector``: Müllner's generic algorithm with
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

import numpy as np
from scipy.spatial.distance import pdist

from .._numeric import cluster_sums
from .interruptible import call_interruptibly
from .tree import Engine, Tree, infinite_tree, put_earlier_child_first

__all__ = ["WARD", "partitioned_ward_tree", "ward_tree"]

# From this many dimensions on, a Ward tree whose condensed distance matrix
# takes at most _MATRIX_MAX_BYTES is built from that matrix (fastcluster's
# nearest-neighbour chain) rather than from the points: faster, and the memory
# stays bounded (128 MiB is about 5,800 points). Measured at 500 and 2,000
# Gaussian points, the points' route over the matrix's takes 0.6 times as
# long at 8 dimensions, 1.1 to 1.2 at 16, 1.8 to 2.0 at 32 and 2.6 at 64.
_MATRIX_MIN_DIMS = 16
_MATRIX_MAX_BYTES = 128 * 2**20
# Up to this n**2 d a Ward linkage takes about a fifth of a second at most
# here (6 ms at 569 x 30): it is called directly, since handing it to a
# worker thread (so that Ctrl-C can interrupt it) costs up to milliseconds of
# scheduling on a loaded machine, a training step's whole time at this size.
_DIRECT_MAX_WORK = 2**28


def _builds_from_distances(n_samples: int, n_dims: int) -> bool:
    """Whether :func:`ward_tree` builds from the condensed distance matrix."""
    matrix_bytes = 8 * (n_samples * (n_samples - 1) // 2)
    return n_dims >= _MATRIX_MIN_DIMS and matrix_bytes <= _MATRIX_MAX_BYTES


def _linkage_call(work: int, function, *args, **kwargs):
    """``function(*args, **kwargs)``, directly for small ``work``, else in a thread."""
    if work <= _DIRECT_MAX_WORK:
        return function(*args, **kwargs)
    return call_interruptibly(function, *args, **kwargs)


def ward_tree(points: np.ndarray, loss_scale: float = 1.0) -> Tree:
    """Ward's tree of ``points`` with costs ``h**2 / 4``, in ``O(n d)`` memory.

    Parameters
    ----------
    points : ndarray of shape (n_samples, n_dims)
        At least two rows.
    loss_scale : float, default=1.0
        Each merge's loss is its cost times this factor.

    Returns
    -------
    tree : Tree
        All costs are infinite when the points or their distances overflow
        float64.
    """
    import fastcluster

    points = np.ascontiguousarray(points, dtype=np.float64)
    n, d = points.shape
    if not np.isfinite(points).all():
        return infinite_tree(n - 1)
    if _builds_from_distances(n, d):
        # Many dimensions: computing the distances once and running the
        # nearest-neighbour chain on them beats recomputing them from the
        # centroids, while the matrix is small.
        try:
            linkage = _linkage_call(
                n * n * d,
                fastcluster.linkage,
                pdist(points),
                method="ward",
                preserve_input=False,
            )
        except (ValueError, FloatingPointError):
            return infinite_tree(n - 1)
    else:
        # About a minute at 100,000 points: run where Ctrl-C can interrupt it.
        linkage = _linkage_call(
            n * n * d, fastcluster.linkage_vector, points, method="ward"
        )
    costs = linkage[:, 2] ** 2 / 4
    # fastcluster emits merges by increasing height; the running maximum only
    # guards against rounding.
    costs = np.maximum.accumulate(np.maximum(costs, 0.0))
    linkage[:, 2] = costs
    put_earlier_child_first(linkage)
    return Tree(linkage, costs, costs * loss_scale)


def build_ward_tree(criterion, weights, X, adjacency=None) -> Tree:
    """The engine's entry point: Ward's tree of ``criterion.embed(weights, X)``."""
    points = criterion.embed(weights, X)
    return ward_tree(points, loss_scale=criterion.loss_scale(weights))


def ward_memory_needs(n_samples, n_features, adjacency=None):
    """The embedded samples and ``O(n)`` rows of a few numbers per sample.

    Also the condensed distance matrix where :func:`ward_tree` builds from
    it (:func:`_builds_from_distances`: at most :data:`_MATRIX_MAX_BYTES`).
    """
    n_bytes = 8 * n_samples * (n_features + 31)
    if _builds_from_distances(n_samples, n_features):
        n_bytes += 8 * (n_samples * (n_samples - 1) // 2)
    return [(n_bytes, f"the tree of {n_samples} samples", "Fit on a subsample")]


WARD = Engine(
    name="ward",
    description="fastcluster's Ward linkage of the embedded samples, O(n d) memory",
    build_tree=build_ward_tree,
    memory_needs=ward_memory_needs,
)


def partitioned_ward_tree(
    points: np.ndarray, labels: np.ndarray, loss_scale: float = 1.0
) -> Tree:
    """Ward's tree inside each cluster of ``labels``, then Ward's above them.

    The greedy tree of Ward's cost when merges across clusters wait until
    every cluster is one node: its cut into ``k`` clusters is ``labels``
    exactly. Costs are ``h**2 / 4`` as in :func:`ward_tree`; the merges above
    the clusters are lifted by the largest cost inside any cluster, so
    heights never decrease.

    Parameters
    ----------
    points : ndarray of shape (n_samples, n_dims)
    labels : ndarray of shape (n_samples,)
        Clusters ``0 .. k - 1``, none empty.
    loss_scale : float, default=1.0
        Each merge's loss is its cost times this factor.

    Returns
    -------
    tree : Tree
    """
    points = np.ascontiguousarray(points, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.intp)
    n = points.shape[0]
    k = int(labels.max()) + 1
    # Merges of every cluster, children as leaf indices or -(1 + row).
    pairs, costs, sizes, roots = [], [], [], []
    n_rows = 0
    for cluster in range(k):
        members = np.flatnonzero(labels == cluster)
        m = len(members)
        if m == 1:
            roots.append(int(members[0]))
            continue
        local = ward_tree(points[members])
        children = local.linkage[:, :2].astype(np.intp)
        pairs.append(
            np.where(
                children < m,
                members[np.minimum(children, m - 1)],
                -(1 + n_rows + children - m),
            )
        )
        costs.append(local.costs)
        sizes.append(local.linkage[:, 3])
        n_rows += m - 1
        roots.append(-n_rows)
    inside = np.concatenate(costs) if costs else np.empty(0)
    order = np.argsort(inside, kind="stable")
    position = np.empty(n_rows, dtype=np.intp)
    position[order] = np.arange(n_rows)

    def node_id(child: int) -> int:
        return child if child >= 0 else n + int(position[-child - 1])

    linkage = np.empty((n - 1, 4))
    all_costs = np.empty(n - 1)
    if n_rows:
        pairs = np.concatenate(pairs)[order]
        linkage[:n_rows, :2] = np.where(
            pairs >= 0, pairs, n + position[np.maximum(-pairs - 1, 0)]
        )
        linkage[:n_rows, 2] = inside[order]
        linkage[:n_rows, 3] = np.concatenate(sizes)[order]
        all_costs[:n_rows] = inside[order]
    top = float(inside.max()) if inside.size else 0.0
    # Ward's greedy merging of the k cluster nodes (k is small).
    sizes = list(np.bincount(labels, minlength=k).astype(np.float64))
    sums = cluster_sums(points, labels, k)
    means = list(sums / np.asarray(sizes)[:, None])
    nodes = [node_id(root) for root in roots]
    rank = n_rows
    height = top
    while len(nodes) > 1:
        best = None
        for i in range(len(nodes)):
            for j in range(i + 1, len(nodes)):
                gap = means[i] - means[j]
                cost = sizes[i] * sizes[j] / (sizes[i] + sizes[j]) * (gap @ gap) / 2
                if best is None or cost < best[0]:
                    best = (cost, i, j)
        cost, i, j = best
        height = max(height, top + cost)
        total = sizes[i] + sizes[j]
        linkage[rank] = (nodes[i], nodes[j], height, total)
        all_costs[rank] = top + cost
        means[i] = (sizes[i] * means[i] + sizes[j] * means[j]) / total
        sizes[i] = total
        nodes[i] = n + rank
        del means[j], sizes[j], nodes[j]
        rank += 1
    put_earlier_child_first(linkage)
    return Tree(linkage, all_costs, all_costs * loss_scale)
