"""The Keras merge encoder and its training on a fixed tree.

The merge encoder is the seed's network: the two inputs are concatenated,
``Dense(d)`` without activation gives the hidden vector, ``Dense(2d)`` without
activation reconstructs the concatenation. As a Keras model its inputs are
``[a, b]`` and its outputs ``[h, c, o]`` (hidden vector, concatenation,
reconstruction).

For ``merge_cost="learned_metric"`` a shared linear embedding is applied to
both inputs before they are concatenated, the encoder averages them and the
decoder copies the code to both halves: for two leaves ``|o - c|^2 / 2`` is
their merge cost, which the criterion extends to nodes of any size by
weighting with the children's sizes.

Training takes the gradient of the tree objective for a *fixed* greedy tree
(what the seed's ``GradientTape`` records while it merges) and applies it with
Adam. For the seed's criterion the tree is evaluated level by level: every
merge whose children are ready is computed in one batch, inside one compiled
``tf.function`` that is traced once whatever the tree's shape. The learned
metric's objective depends on the tree only through its nodes' sizes and
means, so it is evaluated from those in closed form.

TensorFlow is imported when this module is, so the estimator imports it only
when it trains or builds :attr:`merger_`.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from ._criteria import merge_code_differences
from ._tree import merge_levels


def _import_tensorflow_quietly():
    """Import TensorFlow without its C++ start-up chatter on standard error.

    TensorFlow's native logging (CUDA probing, CPU features) is written before
    it reads ``TF_CPP_MIN_LOG_LEVEL``; for a CPU clusterer it is noise, so the
    process's standard error is pointed at the null device for the import only.
    Python exceptions are unaffected. A level the user set is kept.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        import tensorflow

        return tensorflow
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            import tensorflow
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return tensorflow


tf = _import_tensorflow_quietly()


def limit_threads_from_environment() -> None:
    """Size TensorFlow's thread pools from ``OMP_NUM_THREADS`` when it is set.

    TensorFlow ignores ``OMP_NUM_THREADS`` and starts pools of one thread per
    core in every process. joblib's process workers (loky) and Dask's worker
    processes set ``OMP_NUM_THREADS`` to each worker's share of the cores, so
    ``GridSearchCV(n_jobs=k)`` would otherwise run ``k`` times too many threads.
    Pools configured explicitly (``tf.config.threading`` or the
    ``TF_NUM_INTRAOP_THREADS`` and ``TF_NUM_INTEROP_THREADS`` variables) are
    kept, and so is a TensorFlow runtime that has already started.
    """
    try:
        n_threads = int(os.environ.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return
    if n_threads < 1:
        return
    threading = tf.config.threading
    try:
        if (
            threading.get_intra_op_parallelism_threads() == 0
            and "TF_NUM_INTRAOP_THREADS" not in os.environ
        ):
            threading.set_intra_op_parallelism_threads(n_threads)
        if (
            threading.get_inter_op_parallelism_threads() == 0
            and "TF_NUM_INTEROP_THREADS" not in os.environ
        ):
            threading.set_inter_op_parallelism_threads(n_threads)
    except RuntimeError:
        # The runtime is running already; its pools can no longer change.
        pass


limit_threads_from_environment()

__all__ = [
    "Adam",
    "LearnedMetricTrainer",
    "make_trainer",
    "build_merger",
    "merger_weights",
    "TreeTrainer",
    "tree_inputs",
]

WEIGHT_NAMES = ("kernel_encode", "bias_encode", "kernel_decode", "bias_decode")


def build_merger(
    weights: dict[str, np.ndarray], dtype: str = "float64"
) -> tf.keras.Model:
    """The merge encoder as a Keras model, holding ``weights``.

    Parameters
    ----------
    weights : dict of ndarray
        ``kernel_encode`` (2d, d), ``bias_encode`` (d,), ``kernel_decode``
        (d, 2d), ``bias_decode`` (2d,), and for ``merge_cost="learned_metric"``
        ``kernel_embed`` (d, d), a linear embedding shared by both inputs and
        applied before they are concatenated.
    dtype : str, default="float64"
        The layers' and inputs' dtype. float64, like the fitted weights and
        the estimator's costs; ``"float32"`` builds the seed's network as
        Keras builds it by default.

    Returns
    -------
    model : keras.Model
        Inputs ``[a, b]`` of width d, outputs ``[h, c, o]``: the hidden
        vector, the concatenation of the (embedded) inputs and the
        reconstruction.
    """
    n_features = int(np.shape(weights["bias_encode"])[0])
    # float64 by default, like the fitted weights and the estimator's costs:
    # in float32 the outputs would differ from them, and overflow beyond 3e38.
    a = tf.keras.layers.Input((n_features,), name="a", dtype=dtype)
    b = tf.keras.layers.Input((n_features,), name="b", dtype=dtype)
    # Zero initialisers: the weights are set below, and random ones would
    # draw from the caller's global random state.
    embed = None
    if "kernel_embed" in weights:
        embed = tf.keras.layers.Dense(
            n_features,
            use_bias=False,
            kernel_initializer="zeros",
            name="embed",
            dtype=dtype,
        )
        c = tf.keras.layers.Concatenate(name="c", dtype=dtype)([embed(a), embed(b)])
    else:
        c = tf.keras.layers.Concatenate(name="c", dtype=dtype)([a, b])
    encode = tf.keras.layers.Dense(
        n_features, kernel_initializer="zeros", name="encode", dtype=dtype
    )
    decode = tf.keras.layers.Dense(
        2 * n_features, kernel_initializer="zeros", name="decode", dtype=dtype
    )
    h = encode(c)
    o = decode(h)
    model = tf.keras.models.Model(inputs=[a, b], outputs=[h, c, o], name="merger")
    encode.set_weights([weights["kernel_encode"], weights["bias_encode"]])
    decode.set_weights([weights["kernel_decode"], weights["bias_decode"]])
    if embed is not None:
        embed.set_weights([weights["kernel_embed"]])
    return model


def merger_weights(model: tf.keras.Model) -> dict[str, np.ndarray]:
    """The weights of a merge encoder built by :func:`build_merger`."""
    kernel_encode, bias_encode = model.get_layer("encode").get_weights()
    kernel_decode, bias_decode = model.get_layer("decode").get_weights()
    weights = {
        "kernel_encode": kernel_encode,
        "bias_encode": bias_encode,
        "kernel_decode": kernel_decode,
        "bias_decode": bias_decode,
    }
    if any(layer.name == "embed" for layer in model.layers):
        (weights["kernel_embed"],) = model.get_layer("embed").get_weights()
    return weights


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


class Adam:
    """Adam, as ``keras.optimizers.Adam`` updates, on NumPy arrays.

    With Keras' defaults (``beta_1=0.9``, ``beta_2=0.999``, ``epsilon=1e-7``)
    and its update rule, ``m += (g - m)(1 - beta_1)``, ``v += (g^2 - v)(1 -
    beta_2)``, ``w -= lr sqrt(1 - beta_2^t) / (1 - beta_1^t) m / (sqrt(v) +
    epsilon)``. The merge encoder's weights are a few small arrays, so the
    update costs microseconds in NumPy. Measured by ``benchmarks/adam.py``
    (100 steps on a 10 x 10 embedding, a fresh optimizer per fit):
    ``keras.optimizers.Adam`` takes about 200 ms, this copy under 1 ms (about
    250 times less), for the same trajectory up to Keras' float32 step size
    (largest difference 6e-6 after 100 steps). A default fit at 5,000 samples
    takes 1 to 2 s, so Keras' optimizer would add 10 to 20 %.

    Parameters
    ----------
    learning_rate : float
        The step size.
    """

    beta_1, beta_2, epsilon = 0.9, 0.999, 1e-7

    def __init__(self, learning_rate: float):
        self.learning_rate = float(learning_rate)
        self.iterations = 0
        self._moments: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def apply(
        self, weights: dict[str, np.ndarray], gradients: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """The weights after one step along ``gradients`` (same keys)."""
        self.iterations += 1
        t = self.iterations
        alpha = self.learning_rate * np.sqrt(1 - self.beta_2**t) / (1 - self.beta_1**t)
        updated = dict(weights)
        # A diverging step overflows; the caller checks the weights it returns.
        with np.errstate(over="ignore", invalid="ignore"):
            for name, gradient in gradients.items():
                m, v = self._moments.get(name, (0.0, 0.0))
                m = m + (gradient - m) * (1 - self.beta_1)
                v = v + (np.square(gradient) - v) * (1 - self.beta_2)
                self._moments[name] = (m, v)
                step = m * alpha / (np.sqrt(v) + self.epsilon)
                updated[name] = weights[name] - step
        return updated


class TreeTrainer:
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

    def step(self, X: np.ndarray, linkage: np.ndarray) -> float:
        """One Adam step on the tree objective; returns the objective before it."""
        loss, gradients = self.loss_and_gradients(X, linkage)
        self._weights = self.optimizer.apply(self._weights, gradients)
        return loss


@tf.function(
    input_signature=(
        tf.TensorSpec([None, None], tf.float64),  # the two codes' difference
        tf.TensorSpec([None], tf.float64),  # size factor, 0 above the cut
        tf.TensorSpec([], tf.float64),  # shrinkage
        tf.TensorSpec([None, None], tf.float64),  # kernel_embed
    )
)
def _embedded_pairs_loss_and_gradient(difference, factor, shrinkage, kernel_embed):
    """:func:`sklearn_rae._criteria.embedded_pairs_objective` and its gradient."""
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


class LearnedMetricTrainer:
    """Adam on the shared embedding of ``merge_cost="learned_metric"``.

    The objective is :func:`sklearn_rae._criteria.learned_metric_objective`
    for a fixed tree and cut. The encoder (average) and decoder (copy) are
    where the objective's gradient with respect to them is zero, so they are
    kept as they are.

    Parameters
    ----------
    weights : dict of ndarray
        Initial weights, ``kernel_embed`` among them.
    learning_rate : float
        Adam's step size.
    shrinkage : float
        See :func:`sklearn_rae._criteria.learned_metric_objective`.
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
        ``codes`` are what :func:`sklearn_rae._criteria.merge_code_differences`
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

    def step(self, X, linkage, below_cut, *codes) -> float:
        """One Adam step; returns the objective before it."""
        loss, gradients = self.loss_and_gradients(X, linkage, below_cut, *codes)
        self._weights = self.optimizer.apply(self._weights, gradients)
        return loss


def make_trainer(criterion_class, weights, learning_rate, shrinkage):
    """The trainer of a criterion (a class of ``CRITERIA``) started at ``weights``.

    Both trainers have ``weights()`` and ``step(X, linkage, *cut)``: for the
    criteria trained below the cut (``trains_below_cut``, the learned metric
    and the boundary criterion) the step also takes the below-cut marks of
    the tree's merges and, for the boundary criterion, their boundary samples.
    """
    if criterion_class.trains_below_cut:
        return LearnedMetricTrainer(weights, learning_rate, shrinkage)
    return TreeTrainer(weights, learning_rate)
