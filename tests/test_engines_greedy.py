"""The greedy engine against the seed's loop and against SciPy."""

import numpy as np
import pytest
from scipy.cluster import hierarchy
from seed_oracle import random_weights, seed_merge
from sklearn.metrics import adjusted_rand_score

from sklearn_rae._cut import cut_linkage
from sklearn_rae._numeric import leaf_state
from sklearn_rae.criteria.cumulative import CumulativeMergeState
from sklearn_rae.engines.greedy import (
    estimate_linkage_memory,
    greedy_linkage,
    replay_forest,
)
from sklearn_rae.engines.merge_state import MergeState


def seed_tree(X, weights):
    return greedy_linkage(CumulativeMergeState(weights, leaf_state(X)), len(X))


@pytest.mark.parametrize("seed", range(40))
def test_cumulative_tree_equals_seed_loop(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(2, 31)), int(rng.integers(1, 7))
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 3)
    weights = random_weights(d, rng)
    tree = seed_tree(X, weights)
    expected = seed_merge(X, weights)
    np.testing.assert_array_equal(tree.linkage[:, :2], expected[:, :2])
    np.testing.assert_allclose(tree.linkage[:, 2], expected[:, 2], rtol=1e-12)
    np.testing.assert_allclose(tree.costs, expected[:, 2], rtol=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_ties_go_to_first_pair_in_list_order(seed):
    # Repeated rows give exactly equal pair costs: the seed's strict "<" keeps
    # the first pair (i, j) in list order.
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(4, 3))
    X = base[rng.integers(0, 4, size=14)]
    weights = random_weights(3, rng, bias_scale=0.0)
    tree = seed_tree(X, weights)
    expected = seed_merge(X, weights)
    np.testing.assert_array_equal(tree.linkage[:, :2], expected[:, :2])


def test_seed_example_tree():
    # The blog's own data: values 0..9 twice, 10 features.
    X = np.array([np.full(10, i, float) for i in range(10)] * 2)
    weights = random_weights(10, np.random.default_rng(0), bias_scale=0.0)
    tree = seed_tree(X, weights)
    np.testing.assert_array_equal(tree.linkage[:, :2], seed_merge(X, weights)[:, :2])


def test_cumulative_losses_sum_to_root_score():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(25, 4))
    tree = seed_tree(X, random_weights(4, rng))
    assert tree.losses.sum() == pytest.approx(tree.costs[-1], rel=1e-10)
    assert np.all(tree.losses >= 0)


class WardCriterion(MergeState):
    """Ward's cost as node costs, to test the engine against SciPy."""

    def __init__(self, X):
        self.mean = np.array(X, dtype=float)
        self.size = np.ones(len(X))
        self.state = {"mean": self.mean, "size": self.size}

    def pair_costs(self, first, second):
        na, nb = self.size[first][:, None], self.size[second][None, :]
        diff = self.mean[first][:, None, :] - self.mean[second][None, :, :]
        return na * nb / (na + nb) * np.einsum("ijk,ijk->ij", diff, diff)

    def merge(self, first, second, cost):
        na, nb = self.size[first], self.size[second]
        self.mean[first] = (na * self.mean[first] + nb * self.mean[second]) / (na + nb)
        self.size[first] = na + nb
        return cost


@pytest.mark.parametrize("n", [2, 3, 17, 120])
def test_engine_with_ward_cost_matches_scipy_ward(n):
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, 3))
    tree = greedy_linkage(WardCriterion(X), n)
    expected = hierarchy.linkage(X, "ward")
    # SciPy's Ward height is sqrt(2 * increase in the sum of squares).
    np.testing.assert_allclose(np.sqrt(2 * tree.linkage[:, 2]), expected[:, 2])
    np.testing.assert_array_equal(
        np.sort(tree.linkage[:, :2], axis=1), np.sort(expected[:, :2], axis=1)
    )
    np.testing.assert_array_equal(tree.linkage[:, 3], expected[:, 3])


@pytest.fixture
def random_tree():
    rng = np.random.default_rng(7)
    X = np.concatenate([rng.normal(loc, 0.3, size=(20, 2)) for loc in (0, 3, 6)])
    return X, greedy_linkage(WardCriterion(X), len(X)).linkage


def test_linkage_is_valid_for_scipy(random_tree):
    X, linkage = random_tree
    assert linkage.dtype == np.float64
    assert linkage.shape == (len(X) - 1, 4)
    assert hierarchy.is_valid_linkage(linkage, throw=True)
    assert hierarchy.is_monotonic(linkage)
    hierarchy.dendrogram(linkage, no_plot=True)
    root = hierarchy.to_tree(linkage)
    assert root.get_count() == len(X)
    coph = hierarchy.cophenet(linkage)
    assert coph.shape == (len(X) * (len(X) - 1) // 2,)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 59, 60])
def test_cut_matches_fcluster_maxclust(random_tree, k):
    _, linkage = random_tree
    labels = cut_linkage(linkage, n_clusters=k)
    expected = hierarchy.fcluster(linkage, k, "maxclust")
    assert labels.max() + 1 == k
    assert adjusted_rand_score(expected, labels) == 1.0
    # Consecutive integers from 0 in order of first appearance.
    _, first_seen = np.unique(labels, return_index=True)
    assert np.all(np.diff(first_seen) > 0)


def test_cut_by_threshold_keeps_merges_below_it(random_tree):
    _, linkage = random_tree
    threshold = 0.5 * (linkage[-3, 2] + linkage[-2, 2])
    labels = cut_linkage(linkage, distance_threshold=threshold)
    assert labels.max() + 1 == 3
    expected = hierarchy.fcluster(linkage, threshold, "distance")
    assert adjusted_rand_score(expected, labels) == 1.0


def test_replay_gives_the_states_below_the_cut(random_tree):
    X, linkage = random_tree
    tree = greedy_linkage(WardCriterion(X), len(X))
    labels = cut_linkage(tree.linkage, n_clusters=3)
    n_merges = len(X) - 3
    state, node_labels = replay_forest(
        WardCriterion(X), tree.linkage, tree.costs, n_merges, labels
    )
    assert node_labels.shape == (len(X) + n_merges,)
    np.testing.assert_array_equal(node_labels[: len(X)], labels)
    np.testing.assert_array_equal(state["mean"][: len(X)], X)
    # The last node made in each cluster is its root: its mean is the cluster's.
    for label in range(3):
        root = len(X) + np.flatnonzero(node_labels[len(X) :] == label)[-1]
        np.testing.assert_allclose(state["mean"][root], X[labels == label].mean(axis=0))
        assert state["size"][root] == np.count_nonzero(labels == label)


def test_memory_estimate_covers_the_cache():
    n = 20_000
    assert estimate_linkage_memory(n) >= 8 * n * (n - 1) // 2
    assert estimate_linkage_memory(n) < 1.2 * 8 * n * (n - 1) // 2


def test_one_and_two_leaves():
    X = np.zeros((1, 2))
    assert greedy_linkage(WardCriterion(X), 1).linkage.shape == (0, 4)
    X = np.array([[0.0, 0.0], [1.0, 0.0]])
    linkage = greedy_linkage(WardCriterion(X), 2).linkage
    np.testing.assert_allclose(linkage, [[0, 1, 0.5, 2]])
