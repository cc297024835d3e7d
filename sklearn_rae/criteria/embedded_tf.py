"""The embedded criteria's objective in TensorFlow, and its trainer.

The objective depends on the tree only through its merges' code differences
and size factors (see
:func:`~sklearn_rae._numeric.merge_code_differences`), so it is
evaluated from those in closed form, in one compiled ``tf.function``.
Importing this module imports TensorFlow.
"""

from __future__ import annotations

import numpy as np

from .._adam import Adam
from .._merger import tf
from .._numeric import merge_code_differences
from .base import Trainer

__all__ = ["EmbeddingTrainer"]


@tf.function(
    input_signature=(
        tf.TensorSpec([None, None], tf.float64),  # the two codes' difference
        tf.TensorSpec([None], tf.float64),  # size factor, 0 above the cut
        tf.TensorSpec([], tf.float64),  # shrinkage
        tf.TensorSpec([None, None], tf.float64),  # kernel_embed
    )
)
def _embedded_pairs_loss_and_gradient(difference, factor, shrinkage, kernel_embed):
    """:func:`~sklearn_rae.criteria.embedded.embedded_pairs_objective`, gradient."""
    with tf.GradientTape() as tape:
        tape.watch(kernel_embed)
        embedded = tf.matmul(difference, kernel_embed)
        within_embedded = 0.5 * tf.reduce_sum(
            factor * tf.reduce_sum(tf.square(embedded), axis=1)
        )
        within = 0.5 * tf.reduce_sum(
            factor * tf.reduce_sum(tf.square(difference), axis=1)
        )
        d = tf.cast(tf.shape(kernel_embed)[0], tf.float64)
        spread = (1.0 - shrinkage) * within_embedded + shrinkage * within / d * (
            tf.reduce_sum(tf.square(kernel_embed))
        )
        _, log_volume = tf.linalg.slogdet(kernel_embed)
        loss = tf.math.log(spread) - 2.0 / d * log_volume
    return loss, tape.gradient(loss, kernel_embed)


class EmbeddingTrainer(Trainer):
    """Adam on the shared embedding of the learned metric and boundary criteria.

    The objective is :func:`sklearn_rae.criteria.embedded.embedded_objective`
    of a fixed tree's merges below the cut. The encoder (average) and decoder (copy) are
    where the objective's gradient with respect to them is zero, so they are
    kept as they are.

    Parameters
    ----------
    weights : dict of ndarray
        Initial weights, ``kernel_embed`` among them.
    learning_rate : float
        Adam's step size.
    shrinkage : float
        See :func:`sklearn_rae.criteria.embedded.learned_metric_objective`.
    """

    def __init__(
        self, weights: dict[str, np.ndarray], learning_rate: float, shrinkage: float
    ):
        self._weights = {
            name: np.asarray(value, dtype=np.float64) for name, value in weights.items()
        }
        self.shrinkage = tf.constant(float(shrinkage), tf.float64)
        self.optimizer = Adam(learning_rate)

    def weights(self) -> dict[str, np.ndarray]:
        """Current weights as NumPy arrays.

        Not copies: a step replaces the arrays (:meth:`Adam.apply` returns new
        ones) and never writes into them, and on wide data a copy of every
        weight at every step is gigabytes.
        """
        return dict(self._weights)

    def loss_and_gradients(
        self, X: np.ndarray, linkage: np.ndarray, below_cut: np.ndarray, *codes
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Objective and gradient for the tree ``linkage`` over ``X``.

        ``below_cut`` marks the merges below the cut (1) and above it (0);
        ``codes`` are what :func:`sklearn_rae.criteria.embedded.merge_code_differences`
        takes besides the tree (the boundary edges, for the boundary criterion).
        """
        difference, factor = merge_code_differences(X, linkage, *codes)
        loss, gradient = _embedded_pairs_loss_and_gradient(
            tf.constant(difference),
            tf.constant(factor * np.asarray(below_cut, dtype=np.float64)),
            self.shrinkage,
            tf.constant(self._weights["kernel_embed"]),
        )
        return float(loss), {"kernel_embed": gradient.numpy()}

    def step(self, X, tree, below_cut=None) -> float:
        """One Adam step; returns the objective before it.

        ``tree.boundary_edges`` are the boundary samples of the boundary criterion's
        merges (none for the learned metric).
        """
        loss, gradients = self.loss_and_gradients(
            X, tree.linkage, below_cut, *tree.boundary_edges
        )
        self._weights = self.optimizer.apply(self._weights, gradients)
        return loss
