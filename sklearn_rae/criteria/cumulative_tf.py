"""The seed's tree objective in TensorFlow, and its trainer.

Training takes the gradient of the tree objective for a *fixed* greedy tree
(what the seed's ``GradientTape`` records while it merges) and applies it with
Adam. The tree is evaluated level by level: every merge whose children are
ready is computed in one batch, inside one compiled ``tf.function`` that is
traced once whatever the tree's shape. Importing this module imports
TensorFlow.
"""

from __future__ import annotations

import numpy as np

from .._adam import Adam
from .._merger import tf
from ..engines.tree import merge_levels
from .base import Trainer

__all__ = ["TreeTrainer", "tree_inputs"]

WEIGHT_NAMES = ("kernel_encode", "bias_encode", "kernel_decode", "bias_decode")


@tf.function(
    input_signature=(
        tf.TensorSpec([None, None], tf.float64),  # leaves
        tf.TensorSpec([None], tf.int32),  # first child of each merge, level order
        tf.TensorSpec([None], tf.int32),  # second child
        tf.TensorSpec([None], tf.int32),  # node id made by the merge
        tf.TensorSpec([None], tf.int32),  # level bounds
        tf.TensorSpec([None, None], tf.float64),  # kernel_encode
        tf.TensorSpec([None], tf.float64),  # bias_encode
        tf.TensorSpec([None, None], tf.float64),  # kernel_decode
        tf.TensorSpec([None], tf.float64),  # bias_decode
    )
)
def _cumulative_loss_and_gradients(X, first, second, node, bounds, *weights):
    """The seed's root score for a fixed tree, and its gradient.

    The root score is the sum of every merge's reconstruction error
    ``||o - c||^2 / 2``. The tree is evaluated level by level: all merges whose
    children are ready are one batch, and the merged codes are written into a
    table of node codes that the next level reads. Traced once per process,
    whatever the tree's shape.
    """
    kernel_encode, bias_encode, kernel_decode, bias_decode = weights
    with tf.GradientTape() as tape:
        tape.watch(weights)
        n_merges = tf.shape(first)[0]
        table = tf.concat([X, tf.zeros([n_merges, tf.shape(X)[1]], X.dtype)], axis=0)
        n_levels = tf.shape(bounds)[0] - 1

        def body(level, table, total):
            start, stop = bounds[level], bounds[level + 1]
            a = tf.gather(table, first[start:stop])
            b = tf.gather(table, second[start:stop])
            c = tf.concat([a, b], axis=1)
            h = tf.matmul(c, kernel_encode) + bias_encode
            o = tf.matmul(h, kernel_decode) + bias_decode
            table = tf.tensor_scatter_nd_update(
                table, tf.expand_dims(node[start:stop], 1), h
            )
            return level + 1, table, total + tf.nn.l2_loss(o - c)

        _, _, loss = tf.while_loop(
            lambda level, table, total: level < n_levels,
            body,
            (tf.constant(0), table, tf.constant(0.0, X.dtype)),
        )
    return loss, tape.gradient(loss, weights)


def tree_inputs(X: np.ndarray, linkage: np.ndarray) -> tuple:
    """The tree ``linkage`` over ``X`` as tensors, merges in level order."""
    order, bounds = merge_levels(linkage, linkage.shape[0])
    children = linkage[:, :2].astype(np.int32)
    return (
        tf.constant(X, tf.float64),
        tf.constant(children[order, 0]),
        tf.constant(children[order, 1]),
        tf.constant(X.shape[0] + order.astype(np.int32)),
        tf.constant(bounds.astype(np.int32)),
    )


class TreeTrainer(Trainer):
    """Adam on the seed merge encoder's weights, one fixed tree per step.

    The weights are float64, so that data of any magnitude a float64 array
    holds trains without overflow.

    Parameters
    ----------
    weights : dict of ndarray
        Initial weights of the merge encoder.
    learning_rate : float
        Adam's step size.
    """

    def __init__(self, weights: dict[str, np.ndarray], learning_rate: float):
        self._weights = {
            name: np.asarray(weights[name], dtype=np.float64) for name in WEIGHT_NAMES
        }
        self.optimizer = Adam(learning_rate)

    def weights(self) -> dict[str, np.ndarray]:
        """Current weights as NumPy arrays.

        Not copies: a step replaces the arrays (:meth:`Adam.apply` returns new
        ones) and never writes into them, and on wide data a copy of every
        weight at every step is gigabytes.
        """
        return dict(self._weights)

    def loss_and_gradients(
        self, X: np.ndarray, linkage: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray]]:
        """Tree objective (the root score) and its gradient for ``linkage``."""
        loss, gradients = _cumulative_loss_and_gradients(
            *tree_inputs(X, linkage),
            *(tf.constant(self._weights[name]) for name in WEIGHT_NAMES),
        )
        return float(loss), {
            name: g.numpy() for name, g in zip(WEIGHT_NAMES, gradients, strict=True)
        }

    def step(self, X: np.ndarray, tree, below_cut=None) -> float:
        """One Adam step on the tree objective; returns the objective before it.

        The whole tree counts: ``below_cut`` is not used.
        """
        loss, gradients = self.loss_and_gradients(X, tree.linkage)
        self._weights = self.optimizer.apply(self._weights, gradients)
        return loss
