"""What the learned metric and the boundary criterion share: a learned embedding.

Both criteria have the same merge encoder: a shared linear embedding ``L``
(``kernel_embed``, d x d) applied to both inputs, the size-weighted average of
the two embedded children as encoder and a copy to both halves as decoder,
each half of the reconstruction error counted as often as its child has
leaves. The cost of merging nodes ``a`` and ``b`` with ``n_a`` and ``n_b``
leaves that present the codes ``p_a`` and ``p_b`` is therefore::

    cost(a, b) = n_a n_b / (n_a + n_b) * |(p_a - p_b) @ L|^2 / 2

The learned metric presents each child's leaf mean (Ward's cost in the
embedding), the boundary criterion its boundary point. Both train ``L`` on
the same objective, :func:`embedded_objective` of the merges below the flat
cut. This module holds that objective in NumPy (its TensorFlow twin, which
training differentiates, is in :mod:`sklearn_rae.criteria.embedded_tf`) and
the base class of the two criteria.
"""

from __future__ import annotations

import numpy as np

from .._numeric import (
    center_of,
    merge_code_differences,
    number_by_first_appearance,
    within_residuals,
)
from .._prediction import NodeIndex
from .._start_check import checked_training
from ..engines.tree import cut_linkage
from .base import Criterion

__all__ = [
    "ConvergenceCheck",
    "EmbeddedCriterion",
    "embedded_objective",
    "embedded_pairs_objective",
    "embedding_loss_scale",
    "init_embedding_weights",
    "learned_metric_objective",
    "merge_code_differences",
    "partition_objective",
]

# Above this many features a training step (LU factors and inverse of the
# d x d embedding) takes a second or more: fit warns. Measured: 3.6 s per step
# at 3,000 features on 2 cores.
WIDE_DATA_FEATURES = 2000
SECONDS_PER_STEP_AT_3000 = 3.6


def embedded_objective(
    scatter: np.ndarray, kernel_embed: np.ndarray, shrinkage: float
) -> float:
    """The training objective of an embedding ``L`` for a weighted scatter ``S``.

    With ``W(L) = tr(L^T S L) / 2`` the reconstruction error of the merges
    whose differences have the scatter ``S = sum factor diff^T diff`` (those
    below the flat cut), the objective is::

        log((1 - s) W(L) + s W(I) |L|_F^2 / d) - (2 / d) log |det L|

    The second term normalises the embedding to unit volume, so codes cannot
    shrink to make merges cheap (the role of Socher et al.'s normalisation of
    hidden vectors). The minimum over ``L`` is reached where ``L L^T`` is
    proportional to the inverse of ``(1 - s) S + s tr(S) / d I``: training
    whitens the differences, shrunk by ``s`` towards the plain metric. The
    objective is invariant to the scale of ``L`` and of the data.
    """
    d = kernel_embed.shape[0]
    within_embedded = 0.5 * np.sum(scatter * (kernel_embed @ kernel_embed.T))
    within = 0.5 * np.trace(scatter)
    spread = (1 - shrinkage) * within_embedded + shrinkage * within / d * np.sum(
        kernel_embed**2
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.log(spread) - 2.0 / d * np.linalg.slogdet(kernel_embed)[1])


def embedded_pairs_objective(
    difference: np.ndarray,
    factor: np.ndarray,
    kernel_embed: np.ndarray,
    shrinkage: float,
) -> float:
    """:func:`embedded_objective` of merges given by their code differences.

    ``difference`` (n_merges, d) and ``factor`` (n_merges,) as
    :func:`merge_code_differences` returns them, the factor 0 for the merges
    above the cut.
    """
    scatter = (difference * factor[:, None]).T @ difference
    return embedded_objective(scatter, kernel_embed, shrinkage)


def partition_objective(
    X: np.ndarray, labels: np.ndarray, kernel_embed: np.ndarray, shrinkage: float
) -> float:
    """The learned metric's objective for the flat partition ``labels`` of ``X``.

    Ward's costs of the merges inside a cluster add up to half its sum of
    squares, whatever the order of the merges, so the scatter of the merges
    below the cut is the clusters' within-cluster scatter.
    """
    centred = within_residuals(X, labels)
    return embedded_objective(centred.T @ centred, kernel_embed, shrinkage)


def learned_metric_objective(
    X: np.ndarray,
    linkage: np.ndarray,
    kernel_embed: np.ndarray,
    below_cut: np.ndarray,
    shrinkage: float,
) -> float:
    """The training objective of ``merge_cost="learned_metric"`` for one tree.

    :func:`embedded_pairs_objective` of the children's leaf means over the
    merges marked 1 in ``below_cut``: ``W(L)`` is then half the
    within-cluster sum of squares of the flat clusters in the embedding.
    """
    difference, factor = merge_code_differences(X, linkage)
    return embedded_pairs_objective(
        difference, factor * below_cut, kernel_embed, shrinkage
    )


def embedding_loss_scale(weights: dict[str, np.ndarray]) -> float:
    """Factor from a merge's cost to its loss: ``|det L|^(-2/d)``.

    The cost in the embedding scaled to unit volume, comparable between
    trained models.
    """
    kernel_embed = np.asarray(weights["kernel_embed"], dtype=np.float64)
    sign, log_volume = np.linalg.slogdet(kernel_embed)
    d = kernel_embed.shape[0]
    return float(np.exp(-2.0 / d * log_volume)) if sign != 0 else 1.0


def column_scales(X: np.ndarray) -> np.ndarray:
    """Standard deviation of each column, 1 where a column is constant.

    ``diag(1 / column_scales(X))`` is the unit-free starting embedding.
    """
    scale = np.std(X, axis=0)
    scale[~(scale > 0)] = 1.0
    return scale


def init_embedding_weights(
    n_features: int, random_state: np.random.RandomState
) -> dict[str, np.ndarray]:
    """What the embedded criteria train and read: the identity embedding.

    The encoder (average) and decoder (copy) kernels are fixed and never read
    by the criteria or their trainer; at ``2 d x d`` each they would be most
    of the memory of a fit on wide data, so only ``merger_`` builds them (see
    :meth:`EmbeddedCriterion.keras_weights`). The zero biases are kept: they
    are small and give the merge encoder's width. Deterministic;
    ``random_state`` is unused.
    """
    return {
        "kernel_embed": np.eye(n_features),
        "bias_encode": np.zeros(n_features),
        "bias_decode": np.zeros(2 * n_features),
    }


class EmbeddedCriterion(Criterion):
    """A criterion whose cost is a size-weighted distance in a learned embedding.

    Training minimises :func:`embedded_objective` of the merges below the
    flat cut with GradientTape and Adam (see
    :mod:`sklearn_rae.criteria.embedded_tf`); it converges when the flat
    partition and the objective stop changing.
    """

    #: The objective is scale-free, and the embedding must travel a distance
    #: of order one within max_iter steps.
    auto_learning_rate = 1e-2
    #: The flat clusters need a large sample to be stable.
    auto_batch_size = 2000
    #: The embedding, the step before it, its gradient, Adam's moments and
    #: TensorFlow's copies and LU factors; one d x d matrix for a tree alone.
    weight_memory_factors = {"train": 18, "build": 3}
    trains_on_cut = True
    log_objective = True

    def fit_weights(self, X, weights, settings, progress=None):
        """Adam's steps, checked against their start.

        Adam's steps on noisy batches can end above where they started:
        :func:`sklearn_rae._start_check.checked_training` keeps the initial
        weights where they do.
        """
        return checked_training(self, X, weights, settings, progress)

    def initial_weights(self, X, random_state):
        weights = init_embedding_weights(X.shape[1], random_state)
        if self.start == "unit_free":
            weights["kernel_embed"] = np.diag(1.0 / column_scales(X))
        return weights

    def embed(self, weights, X, center=None):
        """The samples embedded, ``(X - c) @ L``, ``c`` their mean or ``center``.

        The shift changes no cost and keeps the precision of data far from
        the origin.
        """
        X = np.asarray(X, dtype=np.float64)
        if center is None:
            center = center_of(X)
        return (X - center) @ np.asarray(weights["kernel_embed"], np.float64)

    def loss_scale(self, weights):
        return embedding_loss_scale(weights)

    def heights(self, costs):
        """Ward's distance in the embedding, SciPy's unit: ``2 sqrt(cost)``.

        A cost ``n_a n_b / (n_a + n_b) |(x_a - x_b) @ L|^2 / 2`` is the height
        ``sqrt(2 n_a n_b / (n_a + n_b)) |(x_a - x_b) @ L|`` of
        :func:`scipy.cluster.hierarchy.ward` on the embedded samples (the
        children's means, or their boundary points); between two samples it
        is their distance.
        """
        return 2.0 * np.sqrt(np.maximum(np.asarray(costs, dtype=np.float64), 0.0))

    def cost_of_height(self, height):
        return (float(height) / 2.0) ** 2

    def wide_data_warning(self, n_features, max_iter):
        if max_iter == 0 or n_features <= WIDE_DATA_FEATURES:
            return None
        seconds = SECONDS_PER_STEP_AT_3000 * (n_features / 3000) ** 3
        return (
            f"Training the learned metric on {n_features} features factorises "
            f"and inverts a {n_features} x {n_features} embedding at each of the "
            f"{max_iter} steps, O(n_features**3): about "
            f"{_format_seconds(seconds)} per step on 2 cores. Reduce the features "
            "first (for example with PCA) or lower max_iter."
        )

    def tree_objective(self, weights, X, tree, below_cut=None):
        """:func:`embedded_pairs_objective` of ``tree``'s merges below the cut."""
        difference, factor = merge_code_differences(
            X, tree.linkage, *tree.boundary_edges
        )
        if below_cut is not None:
            factor = factor * below_cut
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return embedded_pairs_objective(
                difference, factor, weights["kernel_embed"], self.shrinkage
            )

    def make_trainer(self, weights, learning_rate):
        from .embedded_tf import EmbeddingTrainer

        return EmbeddingTrainer(weights, learning_rate, self.shrinkage)

    def convergence_check(self, X):
        return ConvergenceCheck(X, self.shrinkage)

    def predictor(self, weights, node_state, node_labels, n_leaves):
        """A KD-tree over the nodes' embedded means (see ``NodeIndex``)."""
        return NodeIndex(self, weights, node_state, node_labels, n_leaves)

    def keras_weights(self, weights):
        """``weights`` completed with the fixed average encoder and copy decoder."""
        if "kernel_encode" in weights:
            return weights
        identity = np.eye(weights["kernel_embed"].shape[0])
        return {
            **weights,
            "kernel_encode": np.vstack([identity, identity]) / 2,
            "kernel_decode": np.hstack([identity, identity]),
        }


# Training has converged when, for PATIENCE consecutive steps, the flat
# partition is unchanged and the objective changed by at most TOLERANCE (a
# relative change of the clusters' spread).
TOLERANCE = 1e-4
PATIENCE = 5


def same_partition(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether two labelings of the same samples agree up to renaming.

    They do when both, renamed ``0, 1, ...`` in order of first appearance,
    are the same array.
    """
    if first.shape[0] == 0:
        return True
    return bool(
        np.array_equal(
            number_by_first_appearance(first), number_by_first_appearance(second)
        )
    )


class ConvergenceCheck:
    """Follows the training steps and tells when they stopped changing anything.

    Each training step builds the tree of a batch, cuts it into flat clusters
    and moves the embedding ``L`` to tighten them. Training has converged when
    a step no longer changes either:

    - the flat partition: the partition of the samples that the batch shares
      with the previous step's batch is the same up to renaming of the
      clusters (with full batches, the whole partition);
    - the objective: on the batch and its partition, the objective with the
      current ``L`` differs from the one with the previous step's ``L`` by
      less than a tolerance. The objective is a logarithm of the clusters'
      spread, so this is a relative change of the spread; comparing on the
      same samples and partition keeps the sampling noise of mini-batches out
      of it.

    Both must hold for ``patience`` consecutive steps.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        All training samples.
    shrinkage : float
        The objective's shrinkage.
    tolerance, patience : float, int
        See above.
    """

    def __init__(
        self,
        X: np.ndarray,
        shrinkage: float,
        tolerance: float = TOLERANCE,
        patience: int = PATIENCE,
    ):
        self.X = X
        self.shrinkage = float(shrinkage)
        self.tolerance = tolerance
        self.patience = patience
        self.quiet_steps = 0
        self._rows = None
        self._labels = None
        self._kernel = None

    def update(self, rows, linkage, below_cut, weights) -> bool:
        """Record one step; True once ``patience`` steps in a row changed nothing.

        ``rows`` are the batch's sample indices, sorted (None for all samples),
        ``linkage`` and ``below_cut`` its tree and cut, ``weights`` those the
        tree was built with (before the step's update).
        """
        kernel_embed = weights["kernel_embed"]
        n_batch = linkage.shape[0] + 1
        rows = np.arange(n_batch) if rows is None else np.asarray(rows)
        labels = cut_linkage(linkage, n_clusters=n_batch - int(np.sum(below_cut)))
        quiet = False
        if self._rows is not None:
            _, previous_index, index = np.intersect1d(
                self._rows, rows, assume_unique=True, return_indices=True
            )
            if same_partition(self._labels[previous_index], labels[index]):
                batch = self.X[rows]
                now, before = (
                    partition_objective(batch, labels, kernel, self.shrinkage)
                    for kernel in (kernel_embed, self._kernel)
                )
                quiet = bool(abs(now - before) <= self.tolerance)
        self.quiet_steps = self.quiet_steps + 1 if quiet else 0
        self._rows, self._labels = rows, labels
        self._kernel = np.array(kernel_embed, dtype=np.float64)
        return self.quiet_steps >= self.patience


def _format_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"
