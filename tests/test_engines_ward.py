"""Trees without an n x n cache: fastcluster's Ward for the learned metric."""

import numpy as np
import pytest

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._numeric import leaf_state
from sklearn_rae.criteria.cumulative import CumulativeCriterion
from sklearn_rae.criteria.embedded import EmbeddedCriterion, init_embedding_weights
from sklearn_rae.criteria.learned_metric import (
    LearnedMetricCriterion,
    LearnedMetricMergeState,
)
from sklearn_rae.engines.greedy import GREEDY, greedy_linkage, replay_forest
from sklearn_rae.engines.ward import WARD, ward_memory_needs, ward_tree

LEARNED_METRIC = LearnedMetricCriterion()


def _weights(d, seed):
    weights = EmbeddedCriterion().keras_weights(init_embedding_weights(d, None))
    weights["kernel_embed"] = np.random.RandomState(seed).normal(size=(d, d))
    return weights


def test_engine_choice_follows_the_criterion():
    # The learned metric's trees need no pair-cost cache; the seed's do.
    assert LearnedMetricCriterion().engine is WARD
    assert CumulativeCriterion().engine is GREEDY
    n = 20_000
    ward_bytes = LearnedMetricCriterion().memory_needs(n, 3, training=False)[0][0]
    cache_bytes = CumulativeCriterion().memory_needs(n, 3, training=False)[0][0]
    assert ward_bytes < 8 * n * 40
    assert cache_bytes >= 8 * n * (n - 1) // 2


@pytest.mark.parametrize("seed", range(6))
def test_vector_tree_is_the_cached_engine_tree(seed):
    # Random data has no tied costs: the same merges in the same order, the
    # child holding the smaller sample index first, as the cached engine.
    rng = np.random.RandomState(seed)
    n, d = rng.randint(2, 90), rng.randint(1, 6)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10)
    weights = _weights(d, seed)
    tree = LEARNED_METRIC.build_tree(weights, X)
    expected = greedy_linkage(LearnedMetricMergeState(weights, leaf_state(X)), n)
    assert tree.linkage.dtype == np.float64
    np.testing.assert_array_equal(
        tree.linkage[:, [0, 1, 3]], expected.linkage[:, [0, 1, 3]]
    )
    np.testing.assert_allclose(tree.linkage[:, 2], expected.linkage[:, 2], rtol=1e-9)
    np.testing.assert_allclose(tree.costs, expected.costs, rtol=1e-9)
    np.testing.assert_allclose(tree.losses, expected.losses, rtol=1e-9)
    assert np.all(np.diff(tree.linkage[:, 2]) >= 0)


def test_replayed_forest_matches_the_cached_engine():
    rng = np.random.RandomState(3)
    X = rng.normal(size=(50, 3))
    weights = _weights(3, 4)
    ours = LEARNED_METRIC.build_tree(weights, X)
    cached = greedy_linkage(LearnedMetricMergeState(weights, leaf_state(X)), len(X))
    labels = np.zeros(len(X), dtype=np.intp)
    states = [
        replay_forest(
            LearnedMetricMergeState(weights, leaf_state(X)),
            tree.linkage,
            tree.costs,
            len(X) - 4,
            labels,
        )[0]
        for tree in (ours, cached)
    ]
    for key in ("mean", "size", "embedding"):
        np.testing.assert_allclose(states[0][key], states[1][key], atol=1e-12)


def test_ties_give_a_valid_tree():
    X = np.repeat(np.eye(3), 4, axis=0)
    tree = ward_tree(X)
    assert np.all(tree.linkage[:, 0] != tree.linkage[:, 1])
    assert tree.linkage[-1, 3] == len(X)
    np.testing.assert_array_equal(tree.costs[:9], 0.0)


def test_overflowing_points_give_infinite_costs():
    X = np.array([[0.0, 0.0], [1e200, 0.0], [1.0, 1.0]])
    assert np.isinf(ward_tree(X).costs).any()
    assert np.isinf(ward_tree(np.array([[0.0], [np.inf], [1.0]])).costs).all()


def test_default_fit_uses_the_vector_engine(monkeypatch):
    import sklearn_rae.engines.greedy as greedy

    def refuse(*args, **kwargs):
        raise AssertionError("the cached engine was used")

    monkeypatch.setattr(greedy, "greedy_linkage", refuse)
    X = np.random.RandomState(0).normal(size=(40, 2))
    model = RecursiveAutoencoderClustering(n_clusters=3, max_iter=2, random_state=0)
    assert model.fit(X).n_clusters_ == 3
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_memory_needs_count_the_distance_matrix_where_it_is_built():
    matrix = 8 * (2000 * 1999 // 2)
    (narrow,) = ward_memory_needs(2000, 10)
    (wide,) = ward_memory_needs(2000, 20)
    assert narrow[0] == 8 * 2000 * 41
    assert wide[0] == 8 * 2000 * 51 + matrix
    # Beyond 128 MiB of distances the tree is built from the points.
    (large,) = ward_memory_needs(20000, 20)
    assert large[0] == 8 * 20000 * 51
