"""Means in a whitened metric, trained exactly: ``merge_cost="whitened_means"``.

The merge encoder is the learned metric's (a shared embedding ``L``, the
size-weighted average as encoder, a copy as decoder), so a merge costs Ward's
cost in the embedding. What differs is how ``L`` is trained. For a fixed tree
the learned metric's objective, the reconstruction error of the merges below
the flat cut normalised to unit volume, is minimised in closed form: ``L L^T``
is the inverse of the clusters' within-cluster scatter ``S``, shrunk towards a
target. Training therefore takes exact steps instead of gradient steps:

    tree(X @ L) -> cut -> S -> L = ((1 - s) S + s diag(S))^(-1/2)

a classification EM of a Gaussian mixture with one shared covariance whose
E-step is the tree's cut. The shrinkage ``s`` is not a parameter: it is the
Ledoit-Wolf intensity towards the diagonal (Ledoit and Wolf 2004; the
estimator of Schäfer and Strimmer 2005 for that target), estimated from the
residuals at every step, so the metric's capacity grows with the evidence: strong
shrinkage for few samples per feature, little for many. Shrinking towards the
diagonal rather than a multiple of the identity, and starting from
``diag(1 / std)``, makes the metric ignore the unit of each column.

A few exact steps on one batch (all samples up to 4,000) settle the metric
(they can cycle between near equal partitions, so at most
:data:`MAX_EXACT_STEPS` are taken). The final tree over all
samples is then *refined*: the flat clusters are improved by the same
coordinate descent on the partition (each sample moved to the cluster whose
mean is nearest in the re-estimated metric, as Lloyd's algorithm moves them
for k-means), and the tree is rebuilt as Ward's tree inside each refined
cluster and Ward's tree of the clusters above, so that its cut is the refined
partition.

Where the clusters are spherical in the unit-free metric, k-means' own
refinement is used instead (:func:`refine_clusters`): a shared covariance
estimated from a *hard* partition of overlapping clusters is too narrow
across the boundary (each cluster is truncated there), and the full
covariance lets the boundary tilt to exploit that, so the coordinate descent
above settles on a partition that fits its model better than the true one
does. Lloyd's algorithm in the fixed metric ``diag(1 / std)`` has no such
freedom. It is kept iff its residuals, off the directions of the cluster
means, have the eigenvalues of a spherical sample (within a factor
:data:`SPHERICITY_MARGIN` of the Marchenko-Pastur edges): two Gaussian or
spherical-shell clusters pass, correlated features (iris, wine,
breast_cancer, digits) do not. NumPy and fastcluster only: no TensorFlow."""

from __future__ import annotations

import numpy as np

from .._numeric import (
    center_of,
    cluster_sums,
    number_by_first_appearance,
    within_residuals,
)
from .._training import FixedBatch, step_through_trees
from ..engines.graph import GRAPH
from ..engines.tree import cut_linkage
from ..engines.ward import WARD, partitioned_ward_tree
from .base import Refinement, Trainer
from .embedded import EmbeddedCriterion, column_scales, same_partition
from .learned_metric import LearnedMetricMergeState

__all__ = [
    "WhitenedMeansCriterion",
    "diagonal_shrinkage",
    "isotropic_partition",
    "looks_spherical",
    "refine_clusters",
    "refine_partition",
    "shrunk_within_scatter",
    "sphericity",
]

#: Eigenvalues of the shrunk scatter are floored at this share of their mean,
#: so that a direction without spread inside the clusters is not stretched
#: without bound.
EIGENVALUE_FLOOR = 1e-6
#: Most rounds of the partition's refinement.
REFINEMENT_ROUNDS = 20
#: Most rounds of Lloyd's algorithm in the unit-free metric.
ISOTROPIC_ROUNDS = 100
#: The sphericity test accepts eigenvalue ratios up to this factor beyond the
#: Marchenko-Pastur edges of a spherical sample (fixed before it was measured,
#: not tuned: ``docs/design.md``).
SPHERICITY_MARGIN = 1.5
#: Exact steps settle within a few; more can cycle between near-equal
#: partitions.
MAX_EXACT_STEPS = 3


def diagonal_shrinkage(residuals: np.ndarray) -> float:
    """Ledoit-Wolf intensity for shrinking a scatter matrix towards its diagonal.

    The estimator of Schäfer and Strimmer (2005, target D): with ``R`` the
    residuals scaled to unit variance per column and ``C = R^T R / n`` their
    correlations, the intensity that minimises the expected squared error of
    ``(1 - s) C + s I`` is the estimated variance of the off-diagonal entries
    of ``C`` over their squared sum, clipped to [0, 1]. Computed on scaled
    residuals it does not depend on the columns' units. ``O(n d)`` beyond the
    correlations themselves.
    """
    n = residuals.shape[0]
    spread = np.sqrt(np.mean(residuals**2, axis=0))
    spread[~(spread > 0)] = 1.0
    scaled = residuals / spread
    correlation = scaled.T @ scaled / n
    off_squares = np.sum(correlation**2) - np.sum(np.diag(correlation) ** 2)
    if not off_squares > 0:
        return 1.0
    squared = scaled**2
    row_fourth = np.sum(squared, axis=1) ** 2 - np.sum(squared**2, axis=1)
    variance = (np.sum(row_fourth) / n - off_squares) / n
    return float(np.clip(variance / off_squares, 0.0, 1.0))


def shrunk_within_scatter(X: np.ndarray, labels: np.ndarray) -> tuple:
    """``(1 - s) S + s diag(S)`` of the clusters ``labels``, and ``s``."""
    residuals = within_residuals(X, labels)
    scatter = residuals.T @ residuals / residuals.shape[0]
    shrinkage = diagonal_shrinkage(residuals)
    shrunk = (1 - shrinkage) * scatter
    shrunk[np.diag_indices_from(shrunk)] += shrinkage * np.diag(scatter)
    return shrunk, shrinkage


def inverse_square_root(matrix: np.ndarray) -> np.ndarray:
    """An ``L`` with ``L L^T = matrix^(-1)``, unit-free.

    ``matrix = D C D`` with ``D`` its diagonal's square root and ``C`` a
    correlation matrix; ``L = D^(-1) C^(-1/2)``, with the eigenvalues of
    ``C`` floored at :data:`EIGENVALUE_FLOOR` times their mean, so that a
    direction without spread inside the clusters is not stretched without
    bound. Working on ``C`` keeps the floor, and so the metric, independent
    of the columns' units.
    """
    scale = np.sqrt(np.diag(matrix))
    scale[~(scale > 0)] = 1.0
    correlation = matrix / np.outer(scale, scale)
    values, vectors = np.linalg.eigh(correlation)
    mean = max(float(np.mean(values)), np.finfo(np.float64).tiny)
    values = np.maximum(values, EIGENVALUE_FLOOR * mean)
    return ((vectors / np.sqrt(values)) @ vectors.T) / scale[:, None]


def whitened_objective(scatter: np.ndarray, kernel_embed: np.ndarray) -> float:
    """``log tr(L^T T L) - (2 / d) log |det L|`` for the shrunk scatter ``T``.

    The learned metric's objective with the shrinkage of ``T``; its minimum
    over ``L``, ``log d + log det T / d``, is reached at ``L = T^(-1/2)``.
    """
    d = kernel_embed.shape[0]
    spread = np.sum(scatter * (kernel_embed @ kernel_embed.T))
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.log(spread) - 2.0 / d * np.linalg.slogdet(kernel_embed)[1])


def refine_partition(X: np.ndarray, labels: np.ndarray, rounds=REFINEMENT_ROUNDS):
    """Coordinate descent on the partition: classification EM, shared covariance.

    Each round re-estimates the metric ``L = T^(-1/2)`` from the partition and
    moves every sample to the cluster whose mean is nearest in ``X @ L``. A
    cluster that would be emptied keeps its sample nearest to its mean.

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        Numbered by first appearance.
    kernel_embed : ndarray of shape (n_features, n_features)
        The metric of the last partition.
    n_moves : int
        Rounds that moved a sample.
    """
    labels = number_by_first_appearance(labels)
    n_moves = 0
    kernel_embed = inverse_square_root(shrunk_within_scatter(X, labels)[0])
    for _ in range(rounds):
        moved = nearest_mean_step(X @ kernel_embed, labels)
        if np.array_equal(moved, labels):
            break
        labels = moved
        n_moves += 1
        kernel_embed = inverse_square_root(shrunk_within_scatter(X, labels)[0])
    return labels, kernel_embed, n_moves


def nearest_mean_step(Z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Every sample of ``Z`` moved to the nearest mean of the clusters ``labels``.

    A cluster that would be emptied keeps its member nearest to its mean.
    Numbered by first appearance.
    """
    k = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=k)
    sums = cluster_sums(Z, labels, k)
    means = sums / counts[:, None]
    distance = (
        np.einsum("ij,ij->i", means, means)[None, :] - 2.0 * Z @ means.T
    )  # the samples' own norms do not change the nearest mean
    moved = np.argmin(distance, axis=1)
    for cluster in range(k):
        if not np.any(moved == cluster):
            members = np.flatnonzero(labels == cluster)
            moved[members[np.argmin(distance[members, cluster])]] = cluster
    return number_by_first_appearance(moved)


def isotropic_partition(X: np.ndarray, labels: np.ndarray, rounds=ISOTROPIC_ROUNDS):
    """Lloyd's algorithm (k-means) from ``labels`` in the metric ``diag(1 / std)``.

    The metric is fixed (the unit-free start), so this is k-means of the
    columns scaled to unit variance, started from ``labels`` rather than from
    random seeds. Returns ``(labels, kernel_embed, n_moves)`` as
    :func:`refine_partition`.
    """
    kernel_embed = np.diag(1.0 / column_scales(X))
    Z = X @ kernel_embed
    labels = number_by_first_appearance(labels)
    n_moves = 0
    for _ in range(rounds):
        moved = nearest_mean_step(Z, labels)
        if np.array_equal(moved, labels):
            break
        labels = moved
        n_moves += 1
    return labels, kernel_embed, n_moves


def sphericity(Z: np.ndarray, labels: np.ndarray) -> dict:
    """How spherical the clusters ``labels`` of ``Z`` are, without labels of truth.

    The within-cluster residuals are projected off the span of the centred
    cluster means (the directions a hard boundary truncates, rank ``r``),
    leaving ``p = d - r`` dimensions. Returns ``p`` and the largest and
    smallest eigenvalue of the residuals' scatter there as ratios to their
    mean (``nan`` when ``p < 2`` or the residuals have no spread).
    """
    n, d = Z.shape
    k = int(labels.max()) + 1
    residuals = within_residuals(Z, labels)
    means = (Z - residuals) - Z.mean(axis=0)  # each sample's centred cluster mean
    basis, singular, _ = np.linalg.svd(means.T @ means, hermitian=True)
    rank = int(np.sum(singular > 1e-10 * max(float(singular[0]), np.finfo(float).tiny)))
    p = d - rank
    report = {"p": p, "n": n - k, "largest": np.nan, "smallest": np.nan}
    if p < 2:
        return report
    projected = residuals @ basis[:, rank:]
    values = np.linalg.eigvalsh(projected.T @ projected / n)
    mean = float(np.mean(values))
    if mean > 0:
        report["largest"] = float(values[-1] / mean)
        report["smallest"] = float(values[0] / mean)
    return report


def looks_spherical(Z: np.ndarray, labels: np.ndarray) -> bool:
    """Whether the clusters ``labels`` of ``Z`` pass the sphericity test.

    With ``p`` and the eigenvalue ratios of :func:`sphericity` and ``m`` the
    samples less the clusters, the largest ratio must be at most
    ``SPHERICITY_MARGIN * (1 + sqrt(p / m))^2`` and the smallest at least
    ``(1 - sqrt(p / m))^2 / SPHERICITY_MARGIN``: the Marchenko-Pastur edges
    of the eigenvalues of a spherical sample, widened by the margin. Fewer
    than two dimensions off the means (``p < 2``) cannot be tested and fail.
    """
    report = sphericity(Z, labels)
    if not np.isfinite(report["largest"]):
        return False
    edge = np.sqrt(report["p"] / max(report["n"], 1))
    return bool(
        report["largest"] <= SPHERICITY_MARGIN * (1.0 + edge) ** 2
        and report["smallest"] >= (1.0 - edge) ** 2 / SPHERICITY_MARGIN
    )


def refine_clusters(X: np.ndarray, labels: np.ndarray):
    """The refinement of the final tree's cut ``labels`` of the centred ``X``.

    Lloyd's algorithm in the unit-free metric (:func:`isotropic_partition`)
    where its clusters pass :func:`looks_spherical`, otherwise the
    classification EM with the shared covariance (:func:`refine_partition`).
    Returns ``(labels, kernel_embed, n_moves, kind)``, ``kind`` the
    :class:`~sklearn_rae.criteria.base.Refinement` kept.
    """
    isotropic, kernel_embed, n_moves = isotropic_partition(X, labels)
    if looks_spherical(X @ kernel_embed, isotropic):
        return isotropic, kernel_embed, n_moves, Refinement.ISOTROPIC
    return (*refine_partition(X, labels), Refinement.SHARED_COVARIANCE)


class ExactMetricTrainer(Trainer):
    """Exact steps: the embedding that minimises the objective for the cut."""

    divergence_advice = (
        "The exact steps did not settle on these clusters; no learning_rate "
        "changes them."
    )

    def __init__(self, weights):
        self._weights = dict(weights)

    def weights(self):
        return dict(self._weights)

    def step(self, X, tree, below_cut=None):
        n_batch = tree.linkage.shape[0] + 1
        n_clusters = n_batch - int(np.sum(below_cut))
        labels = cut_linkage(tree.linkage, n_clusters=n_clusters)
        X = X - center_of(X)
        scatter, _ = shrunk_within_scatter(X, labels)
        loss = whitened_objective(scatter, self._weights["kernel_embed"])
        if np.trace(scatter) > 0:  # clusters of points leave nothing to learn
            self._weights = {
                **self._weights,
                "kernel_embed": inverse_square_root(scatter),
            }
        return loss


class PartitionRepeats:
    """Convergence of exact steps: the batch's flat partition repeats."""

    def __init__(self):
        self._previous = None

    def update(self, rows, linkage, below_cut, weights) -> bool:
        n_batch = linkage.shape[0] + 1
        labels = cut_linkage(linkage, n_clusters=n_batch - int(np.sum(below_cut)))
        repeated = self._previous is not None and same_partition(self._previous, labels)
        self._previous = labels
        return repeated


class WhitenedMeansCriterion(EmbeddedCriterion):
    """Ward's cost in a whitened metric trained exactly (see the module docstring).

    Parameters
    ----------
    shrinkage : float, default=0.3
        Not used: the shrinkage is estimated from the data (Ledoit-Wolf).
    start : {"unit_free", "identity"}, default="unit_free"
        The embedding before training.
    """

    name = "whitened_means"
    engine = WARD
    graph_engine = GRAPH
    #: batch_size="auto": every set of up to 4,000 samples trains on all its
    #: samples, so that the fit does not depend on the random state (a 4,000
    #: sample distance matrix for Ward's tree is 64 MB).
    auto_batch_size = 4000
    #: The embedding, its scatter, eigenvectors and the step before it.
    weight_memory_factors = {"train": 6, "build": 3}

    def __init__(self, shrinkage: float = 0.3, start: str = "unit_free"):
        super().__init__(shrinkage, start)

    def merge_state(self, weights, state):
        return LearnedMetricMergeState(weights, state)

    def wide_data_warning(self, n_features, max_iter):
        return None

    def n_steps(self, max_iter):
        return min(max_iter, MAX_EXACT_STEPS)

    def fit_weights(self, X, weights, settings, progress=None):
        """At most :data:`MAX_EXACT_STEPS` exact steps on one batch.

        Each step cuts the batch's tree and whitens the flat clusters'
        shrunk scatter (:class:`ExactMetricTrainer`); training stops when
        the partition repeats (:class:`PartitionRepeats`). No start check:
        an exact step cannot overshoot as Adam's can.
        """
        if progress is not None:
            progress.started()
        return step_through_trees(
            self,
            X,
            ExactMetricTrainer(weights),
            weights,
            settings,
            progress,
            batches=FixedBatch(X.shape[0], settings),
        )

    def convergence_check(self, X):
        return PartitionRepeats()

    def refine(self, weights, X, tree, labels, adjacency=None):
        """Refine the flat clusters and rebuild the tree around them.

        :func:`refine_clusters`: k-means in the unit-free metric where the
        clusters are spherical there, else the classification EM. Not with
        a connectivity graph, whose clusters must stay connected.
        """
        if labels.max() == 0 or adjacency is not None:
            return None
        centred = X - center_of(X)
        if not np.trace(shrunk_within_scatter(centred, labels)[0]) > 0:
            return None  # every cluster is a point: nothing to refine
        refined, kernel_embed, _, kind = refine_clusters(centred, labels)
        weights = {**weights, "kernel_embed": kernel_embed}
        points = centred @ kernel_embed
        tree = partitioned_ward_tree(points, refined, self.loss_scale(weights))
        return weights, tree, kind
