"""The Keras merge encoder and the level-batched gradient of the tree objective."""

import numpy as np
import pytest
import tensorflow as tf
from seed_oracle import random_weights

from sklearn_rae._adam import Adam
from sklearn_rae._merger import build_merger, merger_weights
from sklearn_rae._numeric import leaf_state
from sklearn_rae.criteria.cumulative import CumulativeMergeState
from sklearn_rae.criteria.cumulative_tf import TreeTrainer
from sklearn_rae.engines.greedy import greedy_linkage
from sklearn_rae.engines.tree import merge_levels


def seed_tape_gradient(X, model):
    """The seed's training step, naively: one Keras call per pair, on a tape."""
    with tf.GradientTape() as tape:
        nodes = [
            (tf.constant(X[i : i + 1], tf.float32), tf.constant(0.0))
            for i in range(len(X))
        ]
        while len(nodes) > 1:
            best = None
            for i in range(len(nodes)):
                for j in range(i + 1, len(nodes)):
                    h, c, o = model([nodes[i][0], nodes[j][0]])
                    score = tf.nn.l2_loss(o - c) + nodes[i][1] + nodes[j][1]
                    if best is None or score < best[0]:
                        best = (score, i, j, h)
            score, i, j, h = best
            nodes[i] = (h, score)
            del nodes[j]
        root_score = nodes[0][1]
    return float(root_score), tape.gradient(root_score, model.trainable_variables)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradient_equals_seed_tape(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(7, 3)).astype(np.float32)
    weights = {k: v.astype(np.float32) for k, v in random_weights(3, rng).items()}
    model = build_merger(weights, dtype="float32")  # the seed's network
    expected_loss, expected_gradients = seed_tape_gradient(X, model)

    tree = greedy_linkage(CumulativeMergeState(weights, leaf_state(X)), len(X))
    trainer = TreeTrainer(weights, learning_rate=1e-3)
    loss, gradients = trainer.loss_and_gradients(X.astype(np.float64), tree.linkage)

    assert loss == pytest.approx(expected_loss, rel=1e-5)
    names = ["kernel_encode", "bias_encode", "kernel_decode", "bias_decode"]
    for name, expected in zip(names, expected_gradients, strict=True):
        np.testing.assert_allclose(
            gradients[name], expected.numpy(), rtol=1e-4, atol=1e-5
        )


def test_merger_has_the_seed_interface():
    rng = np.random.default_rng(0)
    weights = random_weights(4, rng)
    model = build_merger(weights)
    a, b = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    h, c, o = (t.numpy() for t in model([a, b]))
    expected_c = np.concatenate([a, b], axis=1)
    expected_h = expected_c @ weights["kernel_encode"] + weights["bias_encode"]
    np.testing.assert_allclose(c, expected_c, rtol=1e-6)
    np.testing.assert_allclose(h, expected_h, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        o,
        expected_h @ weights["kernel_decode"] + weights["bias_decode"],
        rtol=1e-4,
        atol=1e-5,
    )
    roundtrip = merger_weights(model)
    for name, value in weights.items():
        np.testing.assert_allclose(roundtrip[name], value, rtol=1e-6)


def test_adam_step_lowers_the_objective_of_a_fixed_tree():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(12, 3))
    weights = random_weights(3, rng)
    tree = greedy_linkage(CumulativeMergeState(weights, leaf_state(X)), len(X))
    trainer = TreeTrainer(weights, learning_rate=1e-2)
    before = trainer.step(X, tree)
    after, _ = trainer.loss_and_gradients(X, tree.linkage)
    assert after < before
    assert before == pytest.approx(tree.losses.sum(), rel=1e-10)


def test_tree_levels_put_children_before_parents():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(30, 2))
    linkage = greedy_linkage(
        CumulativeMergeState(random_weights(2, rng), leaf_state(X)), len(X)
    ).linkage
    order, bounds = merge_levels(linkage, len(linkage))
    n = len(X)
    assert sorted(order) == list(range(n - 1))
    ready = set(range(n))
    for level in range(len(bounds) - 1):
        merges = order[bounds[level] : bounds[level + 1]]
        assert len(merges) > 0
        for step in merges:
            assert int(linkage[step, 0]) in ready and int(linkage[step, 1]) in ready
        ready.update(n + merges)


def test_adam_matches_keras_adam():
    rng = np.random.default_rng(8)
    start = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    gradients = [
        {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)} for _ in range(5)
    ]
    ours = Adam(learning_rate=0.05)
    weights = dict(start)
    for gradient in gradients:
        weights = ours.apply(weights, gradient)
    variables = {k: tf.Variable(v) for k, v in start.items()}
    keras_adam = tf.keras.optimizers.Adam(learning_rate=0.05)
    for gradient in gradients:
        keras_adam.apply_gradients(
            [(tf.constant(gradient[k]), variables[k]) for k in ("w", "b")]
        )
    # Keras keeps its learning rate in float32: agreement to about 1e-6.
    for name, variable in variables.items():
        np.testing.assert_allclose(weights[name], variable.numpy(), rtol=1e-5)
