"""The Keras merge encoder and its training on a fixed tree.

The merge encoder is the seed's network: the two inputs are concatenated,
``Dense(d)`` without activation gives the hidden vector, ``Dense(2d)`` without
activation reconstructs the concatenation. As a Keras model its inputs are
``[a, b]`` and its outputs ``[h, c, o]`` (hidden vector, concatenation,
reconstruction).

Training takes the gradient of the tree objective for a *fixed* greedy tree
(what the seed's ``GradientTape`` records while it merges) and applies it with
Adam. The tree is evaluated level by level: every merge whose children are ready
is computed in one batch, inside one compiled ``tf.function`` that is traced
once whatever the tree's shape.

TensorFlow is imported when this module is, so the estimator imports it only
when it trains or builds :attr:`merger_`.
"""

from __future__ import annotations

import os

import numpy as np

# TensorFlow's C++ start-up chatter (CUDA probing, CPU features) is noise for a
# CPU clusterer; a level the user set explicitly is kept.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

__all__ = [
    "build_merger",
    "merger_weights",
    "TreeTrainer",
    "tree_levels",
    "tree_inputs",
]

WEIGHT_NAMES = ("kernel_encode", "bias_encode", "kernel_decode", "bias_decode")


def build_merger(weights: dict[str, np.ndarray]) -> tf.keras.Model:
    """The seed's merge encoder as a Keras model, holding ``weights``.

    Parameters
    ----------
    weights : dict of ndarray
        ``kernel_encode`` (2d, d), ``bias_encode`` (d,), ``kernel_decode``
        (d, 2d), ``bias_decode`` (2d,).

    Returns
    -------
    model : keras.Model
        Inputs ``[a, b]`` of width d, outputs ``[h, c, o]``.
    """
    n_features = int(np.shape(weights["bias_encode"])[0])
    a = tf.keras.layers.Input((n_features,), name="a")
    b = tf.keras.layers.Input((n_features,), name="b")
    c = tf.keras.layers.Concatenate(name="c")([a, b])
    encode = tf.keras.layers.Dense(n_features, name="encode")
    decode = tf.keras.layers.Dense(2 * n_features, name="decode")
    h = encode(c)
    o = decode(h)
    model = tf.keras.models.Model(inputs=[a, b], outputs=[h, c, o], name="merger")
    encode.set_weights([weights["kernel_encode"], weights["bias_encode"]])
    decode.set_weights([weights["kernel_decode"], weights["bias_decode"]])
    return model


def merger_weights(model: tf.keras.Model) -> dict[str, np.ndarray]:
    """The weights of a merge encoder built by :func:`build_merger`."""
    kernel_encode, bias_encode = model.get_layer("encode").get_weights()
    kernel_decode, bias_decode = model.get_layer("decode").get_weights()
    return {
        "kernel_encode": kernel_encode,
        "bias_encode": bias_encode,
        "kernel_decode": kernel_decode,
        "bias_decode": bias_decode,
    }


def tree_levels(linkage: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merges grouped by depth level, for batched evaluation.

    Returns
    -------
    order : ndarray of shape (n_merges,)
        Merge indices sorted by level (stable, so merge order within a level).
    bounds : ndarray of shape (n_levels + 1,)
        Level ``l`` is ``order[bounds[l]:bounds[l + 1]]``.
    """
    n_merges = linkage.shape[0]
    n = n_merges + 1
    level = np.zeros(n + n_merges, dtype=np.int64)
    children = linkage[:, :2].astype(np.int64)
    for step in range(n_merges):
        level[n + step] = 1 + max(level[children[step, 0]], level[children[step, 1]])
    merge_level = level[n:]
    order = np.argsort(merge_level, kind="stable")
    counts = np.bincount(merge_level, minlength=1)[1:] if n_merges else np.array([])
    bounds = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    return order, bounds


_TREE_SIGNATURE = (
    tf.TensorSpec([None, None], tf.float64),  # leaves
    tf.TensorSpec([None], tf.float64),  # leaf count of every node
    tf.TensorSpec([None, None], tf.float64),  # leaf mean of every node
    tf.TensorSpec([None], tf.int32),  # first child of each merge, level order
    tf.TensorSpec([None], tf.int32),  # second child
    tf.TensorSpec([None], tf.int32),  # node id made by the merge
    tf.TensorSpec([None], tf.int32),  # level bounds
    tf.TensorSpec([None], tf.float64),  # weight of each merge in the objective
    tf.TensorSpec([None, None], tf.float64),  # kernel_encode
    tf.TensorSpec([None], tf.float64),  # bias_encode
    tf.TensorSpec([None, None], tf.float64),  # kernel_decode
    tf.TensorSpec([None], tf.float64),  # bias_decode
)


def _merge_levels(X, first, second, node, bounds, merge_level):
    """Run ``merge_level`` on every level; per-merge losses in level order.

    ``merge_level(a, b, first, second)`` takes the children's codes and ids of
    one level's merges and returns their codes and losses.
    """
    n_merges = tf.shape(first)[0]
    table = tf.concat([X, tf.zeros([n_merges, tf.shape(X)[1]], X.dtype)], axis=0)
    n_levels = tf.shape(bounds)[0] - 1

    def body(level, table, losses):
        start, stop = bounds[level], bounds[level + 1]
        first_ids, second_ids = first[start:stop], second[start:stop]
        h, loss = merge_level(
            tf.gather(table, first_ids),
            tf.gather(table, second_ids),
            first_ids,
            second_ids,
        )
        table = tf.tensor_scatter_nd_update(
            table, tf.expand_dims(node[start:stop], 1), h
        )
        positions = tf.expand_dims(tf.range(start, stop), 1)
        return level + 1, table, tf.tensor_scatter_nd_update(losses, positions, loss)

    _, _, losses = tf.while_loop(
        lambda level, table, losses: level < n_levels,
        body,
        (tf.constant(0), table, tf.zeros([n_merges], X.dtype)),
    )
    return losses


def _cumulative_tree_loss(
    X,
    sizes,
    means,
    first,
    second,
    node,
    bounds,
    kernel_encode,
    bias_encode,
    kernel_decode,
    bias_decode,
):
    """Each merge's reconstruction error; their sum is the seed's root score."""

    def merge_level(a, b, first_ids, second_ids):
        c = tf.concat([a, b], axis=1)
        h = tf.matmul(c, kernel_encode) + bias_encode
        o = tf.matmul(h, kernel_decode) + bias_decode
        return h, 0.5 * tf.reduce_sum(tf.square(o - c), axis=1)

    return _merge_levels(X, first, second, node, bounds, merge_level)


def _weighted_tree_loss(
    X,
    sizes,
    means,
    first,
    second,
    node,
    bounds,
    kernel_encode,
    bias_encode,
    kernel_decode,
    bias_decode,
):
    """Each merge's size-weighted error in reconstructing the children's means."""
    d = tf.shape(X)[1]

    def merge_level(a, b, first_ids, second_ids):
        size_a = tf.gather(sizes, first_ids)[:, None]
        size_b = tf.gather(sizes, second_ids)[:, None]
        total = size_a + size_b
        c = tf.concat([size_a / total * a, size_b / total * b], axis=1)
        h = tf.matmul(c, kernel_encode) + bias_encode
        o = tf.matmul(h, kernel_decode) + bias_decode
        error_a = o[:, :d] - tf.gather(means, first_ids)
        error_b = o[:, d:] - tf.gather(means, second_ids)
        loss = 0.5 * (
            size_a[:, 0] * tf.reduce_sum(tf.square(error_a), axis=1)
            + size_b[:, 0] * tf.reduce_sum(tf.square(error_b), axis=1)
        )
        return h, loss

    return _merge_levels(X, first, second, node, bounds, merge_level)


def _symmetric_weighted_tree_loss(
    X,
    sizes,
    means,
    first,
    second,
    node,
    bounds,
    kernel_encode,
    bias_encode,
    kernel_decode,
    bias_decode,
):
    """:func:`_weighted_tree_loss` with the children's weight blocks averaged."""
    d = tf.shape(X)[1]
    encode = 0.5 * (kernel_encode[:d] + kernel_encode[d:])
    decode = 0.5 * (kernel_decode[:, :d] + kernel_decode[:, d:])
    bias = 0.5 * (bias_decode[:d] + bias_decode[d:])
    return _weighted_tree_loss(
        X,
        sizes,
        means,
        first,
        second,
        node,
        bounds,
        tf.concat([encode, encode], axis=0),
        bias_encode,
        tf.concat([decode, decode], axis=1),
        tf.concat([bias, bias], axis=0),
    )


TREE_LOSSES = {
    "cumulative": _cumulative_tree_loss,
    "weighted": _symmetric_weighted_tree_loss,
    "weighted_ordered": _weighted_tree_loss,
}


def _with_gradients(tree_loss):
    @tf.function(input_signature=_TREE_SIGNATURE)
    def loss_and_gradients(
        X, sizes, means, first, second, node, bounds, merge_weights, *weights
    ):
        with tf.GradientTape() as tape:
            tape.watch(weights)
            losses = tree_loss(X, sizes, means, first, second, node, bounds, *weights)
            loss = tf.reduce_sum(merge_weights * losses)
        return loss, tape.gradient(loss, weights)

    return loss_and_gradients


# Traced once per process and criterion, whatever the data's shape.
_LOSS_AND_GRADIENTS = {name: _with_gradients(fn) for name, fn in TREE_LOSSES.items()}


def node_sizes_and_means(
    X: np.ndarray, linkage: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Leaf count and leaf mean of every node of the tree ``linkage`` over ``X``."""
    n = X.shape[0]
    sizes = np.ones(2 * n - 1)
    sums = np.empty((2 * n - 1, X.shape[1]))
    sums[:n] = X
    children = linkage[:, :2].astype(np.intp)
    for step, (left, right) in enumerate(children):
        sizes[n + step] = sizes[left] + sizes[right]
        sums[n + step] = sums[left] + sums[right]
    return sizes, sums / sizes[:, None]


def tree_inputs(
    X: np.ndarray, linkage: np.ndarray, merge_weights: np.ndarray | None = None
) -> tuple:
    """The tree ``linkage`` over ``X`` as tensors for the tree losses.

    ``merge_weights`` (in merge order, default all ones) weighs each merge's
    loss in the objective.
    """
    order, bounds = tree_levels(linkage)
    n = X.shape[0]
    children = linkage[:, :2].astype(np.int32)
    sizes, means = node_sizes_and_means(X, linkage)
    if merge_weights is None:
        merge_weights = np.ones(linkage.shape[0])
    return (
        tf.constant(X, tf.float64),
        tf.constant(sizes, tf.float64),
        tf.constant(means, tf.float64),
        tf.constant(children[order, 0]),
        tf.constant(children[order, 1]),
        tf.constant(n + order.astype(np.int32)),
        tf.constant(bounds.astype(np.int32)),
        tf.constant(np.asarray(merge_weights, dtype=np.float64)[order]),
    )


class TreeTrainer:
    """Adam on the merge encoder's weights, one fixed tree per step.

    The weights live in float64 ``tf.Variable`` objects so that data of any
    magnitude a float64 array holds trains without overflow.

    Parameters
    ----------
    merge_cost : str
        Key of :data:`TREE_LOSSES`.
    weights : dict of ndarray
        Initial weights of the merge encoder.
    learning_rate : float
        Adam's step size.
    """

    def __init__(
        self, merge_cost: str, weights: dict[str, np.ndarray], learning_rate: float
    ):
        self._loss_and_gradients = _LOSS_AND_GRADIENTS[merge_cost]
        self.variables = [
            tf.Variable(np.asarray(weights[name], dtype=np.float64), name=name)
            for name in WEIGHT_NAMES
        ]
        self.optimizer = tf.keras.optimizers.Adam(learning_rate=learning_rate)
        self.optimizer.build(self.variables)
        # Keras applies Adam eagerly at several milliseconds a step; compiled,
        # the update costs a small fraction of that.
        self._apply_gradients = tf.function(self.optimizer.apply_gradients)
        # Largest absolute gradient component of the last step.
        self.last_gradient_max = np.inf

    def weights(self) -> dict[str, np.ndarray]:
        """Current weights as NumPy arrays."""
        return {
            name: v.numpy()
            for name, v in zip(WEIGHT_NAMES, self.variables, strict=True)
        }

    def loss_and_gradients(
        self, X: np.ndarray, linkage: np.ndarray, merge_weights=None
    ) -> tuple[float, list[np.ndarray]]:
        """Tree objective and its gradient for the tree ``linkage`` over ``X``.

        The objective is the sum of the merges' losses, each weighted by
        ``merge_weights`` (in merge order; default all ones).
        """
        loss, gradients = self._loss_and_gradients(
            *tree_inputs(X, linkage, merge_weights), *self.variables
        )
        return float(loss), [g.numpy() for g in gradients]

    def step(self, X: np.ndarray, linkage: np.ndarray, merge_weights=None) -> float:
        """One Adam step on the tree objective; returns the objective before it."""
        loss, gradients = self._loss_and_gradients(
            *tree_inputs(X, linkage, merge_weights), *self.variables
        )
        self.last_gradient_max = max(float(tf.reduce_max(tf.abs(g))) for g in gradients)
        self._apply_gradients(list(zip(gradients, self.variables, strict=True)))
        return float(loss)
