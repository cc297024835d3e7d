"""The learned-metric criterion: NumPy costs, TensorFlow twin, quality."""

import numpy as np
import pytest
from fitted_state import build_tree
from scipy.cluster import hierarchy
from seed_oracle import random_weights
from sklearn.base import clone
from sklearn.datasets import load_iris, load_wine, make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._cut import CutRule
from sklearn_rae._estimator import DEFAULT_MERGE_COST
from sklearn_rae._fitting import SingleCriterion
from sklearn_rae._merger import build_merger
from sklearn_rae._numeric import leaf_state
from sklearn_rae._registry import MERGE_COSTS
from sklearn_rae.criteria.embedded import (
    EmbeddedCriterion,
    init_embedding_weights,
    learned_metric_objective,
)
from sklearn_rae.criteria.embedded_tf import EmbeddingTrainer
from sklearn_rae.criteria.learned_metric import (
    LearnedMetricCriterion,
    LearnedMetricMergeState,
)
from sklearn_rae.engines.greedy import greedy_linkage


def _ward_tree(X, kernel_embed):
    """The learned metric's tree: fastcluster's Ward of ``X @ L``."""
    return LearnedMetricCriterion().build_tree({"kernel_embed": kernel_embed}, X)


def init_learned_metric_weights(n_features, random_state):
    """The full weights: identity embedding, average encoder, copy decoder."""
    return EmbeddedCriterion().keras_weights(
        init_embedding_weights(n_features, random_state)
    )


def _metric_weights(d, seed):
    weights = init_learned_metric_weights(d, None)
    weights["kernel_embed"] = np.random.RandomState(seed).normal(size=(d, d))
    return weights


def _random_state(n, d, seed):
    rng = np.random.RandomState(seed)
    state = leaf_state(rng.normal(size=(n, d)))
    state["size"] = rng.randint(1, 6, size=n).astype(float)
    return state


def test_pair_costs_are_ward_in_the_embedding():
    n, d = 7, 3
    weights = _metric_weights(d, 0)
    state = _random_state(n, d, 1)
    criterion = LearnedMetricMergeState(weights, state)
    L, mean, size = weights["kernel_embed"], state["mean"], state["size"]
    expected = np.array(
        [
            [
                size[i]
                * size[j]
                / (size[i] + size[j])
                * 0.5
                * np.sum(((mean[i] - mean[j]) @ L) ** 2)
                for j in range(n)
            ]
            for i in range(n)
        ]
    )
    np.testing.assert_allclose(
        criterion.pair_costs(np.arange(n), np.arange(n)), expected, atol=1e-10
    )
    np.testing.assert_allclose(
        criterion.pair_costs(np.array([2]), slice(3, n)), expected[2:3, 3:], atol=1e-10
    )
    np.testing.assert_allclose(
        criterion.pair_costs(slice(0, 4), np.array([5])), expected[:4, 5:6], atol=1e-10
    )
    pairs = np.array([0, 3, 6]), np.array([1, 4, 2])
    np.testing.assert_allclose(
        criterion.pair_costs_paired(*pairs), expected[pairs], atol=1e-10
    )


def test_the_keras_merger_reconstructs_two_leaves_at_their_merge_cost():
    d = 3
    weights = _metric_weights(d, 2)
    model = build_merger(weights)
    rng = np.random.RandomState(3)
    a, b = rng.normal(size=(1, d)), rng.normal(size=(1, d))
    h, c, o = (t.numpy().astype(np.float64) for t in model([a, b]))
    L = weights["kernel_embed"]
    np.testing.assert_allclose(c, np.hstack([a @ L, b @ L]), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h, (a + b) @ L / 2, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(o, np.hstack([h, h]), rtol=1e-5, atol=1e-6)
    state = leaf_state(np.vstack([a, b]))
    cost = LearnedMetricMergeState(weights, state).pair_costs([0], [1])[0, 0]
    assert 0.5 * np.sum((o - c) ** 2) == pytest.approx(cost, rel=1e-5)


def test_merge_updates_match_a_fresh_criterion():
    n, d = 9, 4
    weights = _metric_weights(d, 4)
    X = np.random.RandomState(5).normal(size=(n, d))
    criterion = LearnedMetricMergeState(weights, leaf_state(X))
    cost = criterion.pair_costs(np.array([1]), np.array([6]))[0, 0]
    # The loss is the cost scaled to an embedding of unit volume.
    volume = abs(np.linalg.det(weights["kernel_embed"])) ** (2 / d)
    assert criterion.merge(1, 6, cost) == pytest.approx(cost / volume)
    fresh = LearnedMetricMergeState(weights, criterion.state)
    np.testing.assert_allclose(
        criterion.pair_costs(np.arange(n), np.arange(n)),
        fresh.pair_costs(np.arange(n), np.arange(n)),
        atol=1e-10,
    )
    np.testing.assert_allclose(criterion.state["mean"][1], X[[1, 6]].mean(axis=0))
    assert criterion.state["size"][1] == 2


def test_identity_embedding_builds_scipy_ward_tree():
    X = np.random.RandomState(6).normal(size=(80, 3))
    weights = init_learned_metric_weights(3, None)
    tree = greedy_linkage(LearnedMetricMergeState(weights, leaf_state(X)), len(X))
    expected = hierarchy.linkage(X, "ward")
    # SciPy's Ward height is sqrt(4 * cost) with the cost's factor 1/2.
    np.testing.assert_allclose(np.sqrt(4 * tree.linkage[:, 2]), expected[:, 2])
    np.testing.assert_array_equal(
        np.sort(tree.linkage[:, :2], axis=1), np.sort(expected[:, :2], axis=1)
    )


def test_training_tree_from_scipy_is_the_engine_tree():
    X = np.random.RandomState(7).normal(size=(60, 4))
    weights = _metric_weights(4, 8)
    ours = greedy_linkage(LearnedMetricMergeState(weights, leaf_state(X)), len(X))
    scipy_tree = _ward_tree(X, weights["kernel_embed"])
    np.testing.assert_allclose(scipy_tree.costs, ours.costs, rtol=1e-9)
    np.testing.assert_array_equal(
        np.sort(scipy_tree.linkage[:, :2], axis=1), np.sort(ours.linkage[:, :2], axis=1)
    )


@pytest.mark.parametrize("shrinkage", [0.0, 0.3, 1.0])
def test_numpy_objective_equals_tensorflow(shrinkage):
    X = np.random.RandomState(9).normal(size=(40, 3))
    weights = _metric_weights(3, 10)
    tree = _ward_tree(X, weights["kernel_embed"])
    below = (np.arange(len(X) - 1) < len(X) - 4).astype(float)
    trainer = EmbeddingTrainer(weights, learning_rate=1e-2, shrinkage=shrinkage)
    loss, gradients = trainer.loss_and_gradients(X, tree.linkage, below)
    gradient = gradients["kernel_embed"]
    expected = learned_metric_objective(
        X, tree.linkage, weights["kernel_embed"], below, shrinkage
    )
    assert loss == pytest.approx(expected, rel=1e-10)
    # Central differences of the NumPy objective give the same gradient.
    step, numeric = 1e-6, np.zeros_like(gradient)
    for index in np.ndindex(*gradient.shape):
        shifted = [weights["kernel_embed"].copy() for _ in range(2)]
        shifted[0][index] += step
        shifted[1][index] -= step
        values = [
            learned_metric_objective(X, tree.linkage, L, below, shrinkage)
            for L in shifted
        ]
        numeric[index] = (values[0] - values[1]) / (2 * step)
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5, atol=1e-7)


def test_objective_ignores_scale_and_prefers_whitening():
    rng = np.random.RandomState(11)
    X = rng.normal(size=(200, 2)) * [1.0, 5.0]
    tree = _ward_tree(X, np.eye(2))
    below = np.ones(len(X) - 1)
    value = learned_metric_objective(X, tree.linkage, np.eye(2), below, 0.0)
    assert learned_metric_objective(
        X, tree.linkage, 3 * np.eye(2), below, 0.0
    ) == pytest.approx(value)
    # Scaling the data only shifts the objective: its gradient is unchanged.
    assert learned_metric_objective(
        10 * X, tree.linkage, np.eye(2), below, 0.0
    ) == pytest.approx(value + np.log(100))
    whitening = np.diag([1.0, 0.2])
    assert learned_metric_objective(X, tree.linkage, whitening, below, 0.0) < value


def test_greedy_costs_never_decrease():
    # Ward's cost in any embedding is reducible: the raw greedy costs (before
    # the engine's running maximum) already never decrease.
    X = np.random.RandomState(12).normal(size=(70, 3))
    model = RecursiveAutoencoderClustering(
        n_clusters=3, merge_cost="learned_metric", max_iter=5, random_state=0
    )
    model.fit(X)
    assert hierarchy.is_monotonic(model.linkage_matrix_)
    tree = build_tree(model, X)
    assert np.all(np.diff(tree.costs) >= -1e-12 * tree.costs[-1])
    np.testing.assert_array_equal(
        model._criterion.heights(tree.costs), model.distances_
    )


def test_data_far_from_the_origin_gives_the_same_tree():
    # Costs are computed from codes relative to the nodes' average, so an
    # offset of the data (timestamps, say) loses no precision.
    X, y = make_blobs(n_samples=200, centers=2, random_state=0)
    near = RecursiveAutoencoderClustering(merge_cost="learned_metric", max_iter=0)
    far = clone(near)
    near.fit(X)
    far.fit(X + 1.7e9)
    assert adjusted_rand_score(near.labels_, far.labels_) == 1.0
    # Shifted samples themselves carry rounding of about 1e-7 (relative to the
    # offset), so merge costs (squared heights) agree to that absolute precision.
    np.testing.assert_allclose(
        far.distances_**2,
        near.distances_**2,
        rtol=1e-6,
        atol=1e-9 * near.distances_[-1] ** 2,
    )


def test_predict_is_the_cheapest_node_below_the_cut():
    # An independent oracle: Ward's cost in the embedding between every node
    # (sample or merged node below the cut) and each new sample.
    X, _ = make_blobs(n_samples=60, centers=3, random_state=5)
    model = RecursiveAutoencoderClustering(n_clusters=3, max_iter=10, random_state=0)
    model.fit(X)
    L = model.merger_weights_["kernel_embed"]
    n = len(X)
    sizes = np.ones(2 * n - 1)
    sums = np.vstack([X, np.zeros((n - 1, X.shape[1]))])
    for step, (a, b) in enumerate(model.children_):
        sizes[n + step] = sizes[a] + sizes[b]
        sums[n + step] = sums[a] + sums[b]
    n_nodes = 2 * n - 3  # the samples and the first n - 3 merges
    means, sizes = sums[:n_nodes] / sizes[:n_nodes, None], sizes[:n_nodes]
    node_labels = np.empty(n_nodes, dtype=int)
    node_labels[:n] = model.labels_
    for step, (a, _) in enumerate(model.children_[: n - 3]):
        node_labels[n + step] = node_labels[a]
    new = np.random.RandomState(6).uniform(X.min(), X.max(), size=(25, 2))
    costs = (
        sizes[:, None]
        / (sizes[:, None] + 1)
        * 0.5
        * (((means[:, None, :] - new[None, :, :]) @ L) ** 2).sum(-1)
    )
    np.testing.assert_array_equal(model.predict(new), node_labels[costs.argmin(0)])


def test_predict_refuses_overflowing_samples():
    X, _ = make_blobs(n_samples=30, centers=2, random_state=0)
    model = RecursiveAutoencoderClustering(max_iter=2, random_state=0).fit(X)
    with pytest.raises(ValueError, match="not finite in float64"):
        model.predict(np.array([[1e300, 0.0]]))


def test_repeated_fits_trace_tensorflow_once(recwarn):
    import logging

    X, _ = make_blobs(n_samples=40, centers=2, random_state=0)
    messages = []
    handler = logging.Handler()
    handler.emit = lambda record: messages.append(record.getMessage())
    logging.getLogger("tensorflow").addHandler(handler)
    try:
        for seed in range(8):
            RecursiveAutoencoderClustering(max_iter=3, random_state=seed).fit(X)
            RecursiveAutoencoderClustering(
                merge_cost="cumulative", max_iter=3, random_state=seed
            ).fit(X)
    finally:
        logging.getLogger("tensorflow").removeHandler(handler)
    assert not [m for m in messages if "retracing" in m]
    assert not [w for w in recwarn if "retracing" in str(w.message)]


def test_distance_threshold_scales_to_mini_batches():
    X, _ = make_blobs(n_samples=600, centers=4, random_state=1)
    full = RecursiveAutoencoderClustering(n_clusters=4, max_iter=0).fit(X)
    heights = full.distances_
    threshold = 0.5 * (heights[-4] + heights[-3])
    model = RecursiveAutoencoderClustering(
        n_clusters=None, distance_threshold=threshold, max_iter=0
    )
    model.fit(X)
    batch = X[np.random.RandomState(0).choice(600, 200, replace=False)]
    batch_tree = RecursiveAutoencoderClustering(n_clusters=4, max_iter=0).fit(batch)
    cut = CutRule(model.n_clusters, model.distance_threshold)
    below = cut.below_cut(batch_tree.linkage_matrix_, len(X))
    # About the same number of clusters as the full tree's cut (4).
    assert 2 <= len(batch) - below.sum() <= 7


def test_default_criterion_beats_ward_on_iris_and_wine():
    # "auto" and "adaptive" are selections between criteria, not criteria;
    # merge_cost accepts all, from the one registry.
    criteria = {
        name
        for name, entry in MERGE_COSTS.items()
        if isinstance(entry, SingleCriterion)
    }
    assert DEFAULT_MERGE_COST == "auto" and criteria == {
        "learned_metric",
        "boundary",
        "genie",
        "cumulative",
        "whitened_means",
    }
    assert set(MERGE_COSTS) - criteria == {"auto", "adaptive"}
    adaptive = MERGE_COSTS["adaptive"]
    assert [c.name for c in adaptive.candidates] == ["learned_metric", "boundary"]
    for loader, ward_ari in [(load_iris, 0.615), (load_wine, 0.790)]:
        X, y = loader(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        k = len(np.unique(y))
        model = RecursiveAutoencoderClustering(n_clusters=k, random_state=0).fit(X)
        assert adjusted_rand_score(y, model.labels_) > ward_ari + 0.1
        # Overlapping classes: no gap separates them, the whitened means fit.
        assert model.merge_cost_ == "whitened_means"
        assert model.separation_["separation"] < 2.0
        assert np.all(model.predict(X) == model.labels_)
        model = RecursiveAutoencoderClustering(
            n_clusters=k, merge_cost="adaptive", random_state=0
        ).fit(X)
        assert adjusted_rand_score(y, model.labels_) > ward_ari + 0.1
        # Overlapping classes: the means' partition is the more stable one.
        assert model.merge_cost_ == "learned_metric"
        assert model.stability_["learned_metric"] > model.stability_["boundary"] + 0.02
        # Training converges before max_iter=100 (83 and 54 steps).
        assert model.n_iter_ < 100
        assert model.loss_curve_[-1] < model.loss_curve_[0]
        assert np.mean(model.predict(X) == model.labels_) >= 0.95
        untrained = RecursiveAutoencoderClustering(
            n_clusters=k, merge_cost="learned_metric", max_iter=0
        ).fit(X)
        ward = hierarchy.fcluster(hierarchy.linkage(X, "ward"), k, "maxclust")
        assert adjusted_rand_score(ward, untrained.labels_) == pytest.approx(1.0)


def test_predict_on_new_samples_follows_clusters():
    X, y = make_blobs(n_samples=120, centers=3, cluster_std=0.5, random_state=2)
    model = RecursiveAutoencoderClustering(n_clusters=3, random_state=0).fit(X[:90])
    predicted = model.predict(X[90:])
    mapping = {
        label: np.bincount(y[:90][model.labels_ == label]).argmax()
        for label in range(3)
    }
    assert np.mean(np.array([mapping[p] for p in predicted]) == y[90:]) > 0.95


def test_cumulative_weights_are_the_seed_merger():
    weights = random_weights(3, np.random.default_rng(0))
    model = build_merger(weights)
    assert [layer.name for layer in model.layers if "embed" in layer.name] == []
