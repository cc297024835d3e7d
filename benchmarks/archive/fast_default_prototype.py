"""The prototype of the whitened-means default, as it was measured.

``benchmarks/default_candidates.py`` runs its candidates to reproduce the
tables of ``docs/default_experiments.md``; the package's implementation of
the adopted candidate is :mod:`sklearn_rae.criteria.whitened_means` and the
``"auto"`` selection of :mod:`sklearn_rae._selection`, which the harness runs
as the candidate ``package``.

A fast learned-metric tree, trained in closed form, in NumPy.

The learned metric's training objective (see
:func:`sklearn_rae.criteria.embedded.embedded_pairs_objective`) is, for a fixed tree,
minimised in closed form: the embedding ``L`` whitens the within-cluster
scatter of the tree's flat clusters, shrunk towards a target. Training can
therefore alternate a tree and its exact minimiser, a classification EM of a
tied-covariance Gaussian mixture whose E-step is the tree's cut:

    tree(X @ L) -> cut into k -> within-cluster scatter S -> L = T(S)^(-1/2)

This module holds that loop and what it needs, as pure functions of arrays:
the unit-free starting metric, the Ledoit-Wolf shrinkage of the scatter
towards its diagonal, the refinement of the flat cut by Lloyd steps in the
embedding, a tree rebuilt so that its cut is a given partition, the boundary
(spanning-tree) tree and a rule choosing between the two trees. It uses
NumPy, SciPy and fastcluster only.
"""

from __future__ import annotations

import fastcluster
import numpy as np
from scipy.spatial.distance import pdist

from ._likelihood import mixture_log_likelihood, tied_mixture

__all__ = [
    "boundary_separation",
    "classification_score",
    "closed_form_metric_tree",
    "column_scales",
    "constrained_ward_linkage",
    "cut_labels",
    "diagonal_shrinkage",
    "inverse_square_root",
    "kmeans_plus_plus_labels",
    "lloyd_refine",
    "shrunk_within_scatter",
    "ward_linkage",
]


def column_scales(X: np.ndarray) -> np.ndarray:
    """Standard deviation of each column, 1 where a column is constant.

    ``diag(1 / column_scales(X))`` is the unit-free starting metric: the first
    tree does not depend on the unit in which each column is measured.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_features,)
    """
    scale = np.std(X, axis=0)
    scale[~(scale > 0)] = 1.0
    return scale


#: From this many features on, and up to ``_MATRIX_MAX_SAMPLES`` samples, Ward's
#: tree is built from the condensed distance matrix (fastcluster's
#: nearest-neighbour chain), measured faster than from the points.
_MATRIX_MIN_FEATURES = 16
_MATRIX_MAX_SAMPLES = 6000


def ward_linkage(Z: np.ndarray) -> np.ndarray:
    """Ward's linkage of the points ``Z`` (fastcluster).

    From the points in ``O(n d)`` memory, or for many features and at most
    a few thousand samples from their distance matrix, which is faster.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)

    Returns
    -------
    ndarray of shape (n_samples - 1, 4)
        SciPy's linkage format; heights never decrease.
    """
    Z = np.ascontiguousarray(Z, dtype=np.float64)
    n, d = Z.shape
    if d >= _MATRIX_MIN_FEATURES and n <= _MATRIX_MAX_SAMPLES:
        return fastcluster.linkage(pdist(Z), method="ward", preserve_input=False)
    return fastcluster.linkage_vector(Z, method="ward")


def cut_labels(linkage: np.ndarray, n_clusters: int) -> np.ndarray:
    """Flat clusters of a tree: undo its last ``n_clusters - 1`` merges.

    Parameters
    ----------
    linkage : ndarray of shape (n_samples - 1, 4)
        Merges in the order they were made.
    n_clusters : int

    Returns
    -------
    ndarray of shape (n_samples,)
        Labels ``0 .. n_clusters - 1``, numbered by first appearance.
    """
    n = linkage.shape[0] + 1
    children = linkage[:, :2].astype(np.intp)
    parent = np.arange(2 * n - 1)
    n_below = n - n_clusters
    parent[children[:n_below, 0]] = n + np.arange(n_below)
    parent[children[:n_below, 1]] = n + np.arange(n_below)
    # Follow parents up to the roots of the forest below the cut, all nodes
    # at once (a node's parent always has a higher index).
    root = parent.copy()
    while True:
        following = root[root]
        if np.array_equal(following, root):
            break
        root = following
    _, first, labels = np.unique(root[:n], return_index=True, return_inverse=True)
    order = np.argsort(np.argsort(first))
    return order[labels]


def within_residuals(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each sample minus the mean of its cluster."""
    n_labels = labels.max() + 1
    counts = np.bincount(labels, minlength=n_labels).astype(np.float64)
    sums = np.zeros((n_labels, X.shape[1]))
    np.add.at(sums, labels, X)
    means = sums / np.maximum(counts, 1)[:, None]
    return X - means[labels]


def diagonal_shrinkage(residuals: np.ndarray) -> float:
    """Ledoit-Wolf intensity for shrinking a scatter matrix towards its diagonal.

    With ``S = R^T R / n`` the scatter of the rows ``r_i`` of ``residuals``,
    the intensity minimising the expected squared Frobenius error of
    ``(1 - s) S + s diag(S)`` (Ledoit and Wolf 2004; the diagonal target of
    Schaefer and Strimmer 2005) is the estimated variance of the off-diagonal
    entries of ``S`` over their squared sum, clipped to [0, 1].

    Parameters
    ----------
    residuals : ndarray of shape (n_samples, n_features)

    Returns
    -------
    float
    """
    n = residuals.shape[0]
    scatter = residuals.T @ residuals / n
    off_squares = np.sum(scatter**2) - np.sum(np.diag(scatter) ** 2)
    if not off_squares > 0:
        return 1.0
    squared = residuals**2
    row_fourth = np.sum(squared, axis=1) ** 2 - np.sum(squared**2, axis=1)
    variance = (np.sum(row_fourth) / n - off_squares) / n
    return float(np.clip(variance / off_squares, 0.0, 1.0))


def shrunk_within_scatter(
    X: np.ndarray, labels: np.ndarray, shrinkage="ledoit-wolf", target="diagonal"
) -> tuple[np.ndarray, float]:
    """The within-cluster scatter of ``X``, shrunk.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
        Flat clusters ``0 .. k - 1``.
    shrinkage : float or "ledoit-wolf"
        The intensity ``s``; ``"ledoit-wolf"`` computes it
        (:func:`diagonal_shrinkage`).
    target : {"diagonal", "identity"}
        ``diag(S)`` or ``tr(S) / d I`` (the package's ``shrinkage``).

    Returns
    -------
    scatter : ndarray of shape (n_features, n_features)
        ``(1 - s) S + s target``.
    shrinkage : float
        ``s``.
    """
    residuals = within_residuals(X, labels)
    n, d = residuals.shape
    scatter = residuals.T @ residuals / n
    if shrinkage == "ledoit-wolf":
        shrinkage = diagonal_shrinkage(residuals)
    if target == "diagonal":
        goal = np.diag(np.diag(scatter))
    else:
        goal = np.trace(scatter) / d * np.eye(d)
    return (1 - shrinkage) * scatter + shrinkage * goal, float(shrinkage)


def inverse_square_root(matrix: np.ndarray, floor: float = 1e-6) -> np.ndarray:
    """Symmetric ``matrix^(-1/2)``, eigenvalues floored at ``floor`` times their mean.

    Parameters
    ----------
    matrix : ndarray of shape (d, d)
        Symmetric, positive semi-definite.
    floor : float
        Relative floor on the eigenvalues, so that a direction without
        within-cluster spread is not stretched without bound.

    Returns
    -------
    ndarray of shape (d, d)
    """
    values, vectors = np.linalg.eigh(matrix)
    mean = max(float(np.mean(values)), np.finfo(float).tiny)
    values = np.maximum(values, floor * mean)
    return (vectors / np.sqrt(values)) @ vectors.T


def _same_partition(first: np.ndarray, second: np.ndarray) -> bool:
    # Both numbered by first appearance, so equal partitions are equal arrays.
    return first is not None and np.array_equal(first, second)


def _renumber(labels: np.ndarray) -> np.ndarray:
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse]


def closed_form_metric_tree(
    X: np.ndarray,
    n_clusters: int,
    *,
    shrinkage="ledoit-wolf",
    target="diagonal",
    unit_free_start=True,
    max_rounds=10,
    batch_size=2000,
    random_state=None,
):
    """The learned metric trained in closed form, and its tree over ``X``.

    Rounds of: Ward's tree of the training batch in the embedding ``L``, its
    cut into ``n_clusters``, the shrunk within-cluster scatter ``T`` of that
    cut, ``L = T^(-1/2)``; until the cut repeats or ``max_rounds``. Then one
    Ward tree of all samples in the last embedding.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_clusters : int
    shrinkage : float or "ledoit-wolf"
    target : {"diagonal", "identity"}
        See :func:`shrunk_within_scatter`.
    unit_free_start : bool
        Start from ``diag(1 / column_scales(X))`` instead of the identity.
    max_rounds : int
        Most rounds of training (0: the starting metric's tree).
    batch_size : int
        Training uses a random subsample of this many samples when there are
        more.
    random_state : int, RandomState or None
        Draws the training batch.

    Returns
    -------
    linkage : ndarray of shape (n_samples - 1, 4)
    embedding : ndarray of shape (n_features, n_features)
        The last ``L``.
    info : dict
        ``rounds``, ``shrinkage`` (per round), ``log_volume`` (per round: the
        trained objective's value at its minimiser, ``log det T / d``, the
        log of the within-cluster spread per unit volume), ``converged``.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    X = X - X.mean(axis=0)
    if unit_free_start:
        embedding = np.diag(1.0 / column_scales(X))
    else:
        embedding = np.eye(d)
    rng = np.random.default_rng(random_state)
    if n > batch_size:
        batch = np.sort(rng.choice(n, size=batch_size, replace=False))
    else:
        batch = np.arange(n)
    X_batch = X[batch]
    previous = None
    info = {"rounds": 0, "shrinkage": [], "log_volume": [], "converged": False}
    for _ in range(max_rounds):
        labels = cut_labels(ward_linkage(X_batch @ embedding), n_clusters)
        if _same_partition(previous, labels):
            info["converged"] = True
            break
        scatter, used = shrunk_within_scatter(X_batch, labels, shrinkage, target)
        embedding = inverse_square_root(scatter)
        info["rounds"] += 1
        info["shrinkage"].append(used)
        info["log_volume"].append(float(np.linalg.slogdet(scatter)[1] / d))
        previous = labels
    linkage = ward_linkage(X @ embedding)
    return linkage, embedding, info


def lloyd_refine(
    X: np.ndarray,
    labels: np.ndarray,
    *,
    shrinkage="ledoit-wolf",
    target="diagonal",
    max_rounds=20,
    embedding=None,
):
    """Refine a partition by classification EM with one shrunk, shared covariance.

    Each round re-estimates the metric ``L = T^(-1/2)`` from the current
    partition (:func:`shrunk_within_scatter`) and moves every sample to the
    cluster whose mean is nearest in ``X @ L``: Lloyd's steps on the
    within-cluster sum of squares in the learned embedding, the quantity the
    learned metric's training minimises. A cluster that would be emptied
    keeps its sample nearest to its mean.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
        The starting partition, ``0 .. k - 1``.
    shrinkage, target
        See :func:`shrunk_within_scatter`.
    max_rounds : int
    embedding : ndarray of shape (n_features, n_features) or None
        A fixed metric: Lloyd's steps in ``X @ embedding`` without
        re-estimating it (k-means in that embedding).

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        Numbered by first appearance.
    embedding : ndarray of shape (n_features, n_features)
        The metric of the last round.
    rounds : int
        Rounds that moved a sample.
    """
    X = np.asarray(X, dtype=np.float64)
    X = X - X.mean(axis=0)
    labels = _renumber(np.asarray(labels))
    k = labels.max() + 1
    rounds = 0
    fixed = embedding is not None
    if fixed:
        Z = X @ embedding
    for _ in range(max_rounds):
        if not fixed:
            scatter, _ = shrunk_within_scatter(X, labels, shrinkage, target)
            embedding = inverse_square_root(scatter)
            Z = X @ embedding
        counts = np.bincount(labels, minlength=k)
        sums = np.zeros((k, Z.shape[1]))
        np.add.at(sums, labels, Z)
        means = sums / counts[:, None]
        distance = (
            np.einsum("ij,ij->i", Z, Z)[:, None]
            - 2.0 * Z @ means.T
            + np.einsum("ij,ij->i", means, means)[None, :]
        )
        moved = np.argmin(distance, axis=1)
        for cluster in range(k):
            if not np.any(moved == cluster):
                members = np.flatnonzero(labels == cluster)
                moved[members[np.argmin(distance[members, cluster])]] = cluster
        moved = _renumber(moved)
        if np.array_equal(moved, labels):
            break
        labels = moved
        rounds += 1
    return labels, embedding, rounds


def constrained_ward_linkage(Z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """A tree whose cut into ``k`` clusters is ``labels``: Ward inside, Ward above.

    Each cluster's samples are merged by Ward's linkage of their points
    ``Z``; the ``k`` cluster nodes are then merged by Ward's cost of their
    means and sizes. The heights above the clusters are Ward's heights of
    those merges plus the largest height inside any cluster, so heights never
    decrease and cutting the tree into ``k`` clusters gives ``labels``.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)
        Embedded samples.
    labels : ndarray of shape (n_samples,)
        ``0 .. k - 1``.

    Returns
    -------
    ndarray of shape (n_samples - 1, 4)
        SciPy's linkage format.
    """
    Z = np.asarray(Z, dtype=np.float64)
    n = Z.shape[0]
    k = int(labels.max()) + 1
    # Merges of all clusters with children as global leaf indices or, for
    # internal nodes, -(1 + position in `rows`).
    rows, heights = [], []
    roots = []
    for cluster in range(k):
        members = np.flatnonzero(labels == cluster)
        if len(members) == 1:
            roots.append(int(members[0]))
            continue
        local = ward_linkage(Z[members])
        offset = len(rows)
        m = len(members)
        for a, b, h, size in local:
            pair = []
            for child in (int(a), int(b)):
                pair.append(members[child] if child < m else -(1 + offset + child - m))
            rows.append((pair[0], pair[1], size))
            heights.append(h)
        roots.append(-(1 + len(rows) - 1))
    heights = np.asarray(heights)
    order = np.argsort(heights, kind="stable")
    position = np.empty(len(rows), dtype=np.intp)
    position[order] = np.arange(len(rows))

    def node_id(child):
        return child if child >= 0 else n + position[-child - 1]

    linkage = np.empty((n - 1, 4))
    for rank, row in enumerate(order):
        a, b, size = rows[row]
        linkage[rank] = (node_id(a), node_id(b), heights[row], size)
    top = heights.max() if len(heights) else 0.0
    # Ward among the k cluster nodes (k is small: a plain greedy loop).
    sizes = np.bincount(labels, minlength=k).astype(np.float64)
    sums = np.zeros((k, Z.shape[1]))
    np.add.at(sums, labels, Z)
    means = list(sums / sizes[:, None])
    sizes = list(sizes)
    nodes = [node_id(root) for root in roots]
    rank = len(rows)
    base = top
    while len(nodes) > 1:
        best = None
        for i in range(len(nodes)):
            for j in range(i + 1, len(nodes)):
                gap = means[i] - means[j]
                cost = 2 * sizes[i] * sizes[j] / (sizes[i] + sizes[j]) * (gap @ gap)
                if best is None or cost < best[0]:
                    best = (cost, i, j)
        cost, i, j = best
        height = max(base, top + np.sqrt(cost))
        base = height
        total = sizes[i] + sizes[j]
        linkage[rank] = (
            min(nodes[i], nodes[j]),
            max(nodes[i], nodes[j]),
            height,
            total,
        )
        means[i] = (sizes[i] * means[i] + sizes[j] * means[j]) / total
        sizes[i] = total
        nodes[i] = n + rank
        del means[j], sizes[j], nodes[j]
        rank += 1
    return linkage


def boundary_separation(
    Z: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    labels: np.ndarray,
    quantile: float = 0.9,
) -> float:
    """How clearly a spanning-tree partition's clusters are separated.

    For every spanning-tree edge joining two clusters, its length over the
    ``quantile`` of the edges inside those two clusters; the smallest such
    ratio. Large when every cluster is cut off by a gap wider than the
    spacing of its own samples; near one when the clusters touch.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)
    first, second : ndarray of shape (n_samples - 1,)
        The spanning tree's edges.
    labels : ndarray of shape (n_samples,)
    quantile : float

    Returns
    -------
    float
        ``inf`` for one cluster; 0 when a cluster has no inside edge (a
        single sample).
    """
    length = np.sqrt(np.sum((Z[first] - Z[second]) ** 2, axis=1))
    side_a, side_b = labels[first], labels[second]
    inside = side_a == side_b
    ratios = []
    for edge in np.flatnonzero(~inside):
        pair = (side_a[edge], side_b[edge])
        near = inside & np.isin(side_a, pair)
        if not near.any():
            return 0.0
        ratios.append(length[edge] / max(np.quantile(length[near], quantile), 1e-300))
    return float(min(ratios)) if ratios else float("inf")


def classification_score(X: np.ndarray, labels: np.ndarray) -> float:
    """Mean classification log-likelihood of the tied Gaussian mixture of a partition.

    The mixture that the flat clusters ``labels`` define on ``X`` (their
    shares, means and pooled covariance, :func:`sklearn_rae._likelihood.tied_mixture`),
    each sample scored with its best component, averaged over the samples.
    An affine map of ``X`` shifts every partition's score by the same
    constant, so two partitions of the same samples into the same number of
    clusters compare alike in any units.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of shape (n_samples,)
        ``0 .. k - 1``, every cluster non-empty.

    Returns
    -------
    float
    """
    X = np.asarray(X, dtype=np.float64)
    labels = _renumber(np.asarray(labels))
    return float(np.mean(mixture_log_likelihood(tied_mixture(X, labels), X)))


def kmeans_plus_plus_labels(
    Z: np.ndarray, n_clusters: int, rng: np.random.Generator
) -> np.ndarray:
    """A starting partition: k-means++ seeds in ``Z``, each sample to its nearest.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)
    n_clusters : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of shape (n_samples,)
        Labels numbered by first appearance; fewer than ``n_clusters``
        distinct labels only when samples coincide.
    """
    Z = np.asarray(Z, dtype=np.float64)
    n = Z.shape[0]
    seeds = [int(rng.integers(n))]
    nearest = np.sum((Z - Z[seeds[0]]) ** 2, axis=1)
    for _ in range(1, n_clusters):
        total = nearest.sum()
        if not total > 0:
            seeds.append(int(rng.integers(n)))
        else:
            seeds.append(int(rng.choice(n, p=nearest / total)))
        nearest = np.minimum(nearest, np.sum((Z - Z[seeds[-1]]) ** 2, axis=1))
    centres = Z[seeds]
    distance = (
        np.einsum("ij,ij->i", Z, Z)[:, None]
        - 2.0 * Z @ centres.T
        + np.einsum("ij,ij->i", centres, centres)[None, :]
    )
    return _renumber(np.argmin(distance, axis=1))
