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

__all__ = ["build_merger", "merger_weights", "tf"]

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
