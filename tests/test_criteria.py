"""Tests of the merge criteria: NumPy costs, TensorFlow twins, quality."""

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, is_monotonic, linkage
from sklearn.datasets import load_iris, make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._criteria import CRITERIA, leaf_state, symmetric_weights
from sklearn_rae._estimator import (
    DEFAULT_MERGE_COST,
    init_average_copy_weights,
    init_merger_weights,
)
from sklearn_rae._tree import greedy_linkage

WEIGHTED = ["weighted", "weighted_ordered"]


def _random_weights(d, seed):
    rng = np.random.RandomState(seed)
    return {
        "kernel_encode": rng.normal(size=(2 * d, d)),
        "bias_encode": rng.normal(size=d),
        "kernel_decode": rng.normal(size=(d, 2 * d)),
        "bias_decode": rng.normal(size=2 * d),
    }


def _random_state(n, d, seed):
    rng = np.random.RandomState(seed)
    state = leaf_state(rng.normal(size=(n, d)))
    state["embedding"] = rng.normal(size=(n, d))
    state["size"] = rng.randint(1, 6, size=n).astype(float)
    return state


def _naive_weighted_cost(weights, state, i, j):
    """The size-weighted criterion's definition, one pair at a time."""
    d = state["embedding"].shape[1]
    n_a, n_b = state["size"][i], state["size"][j]
    share_a, share_b = n_a / (n_a + n_b), n_b / (n_a + n_b)
    c = np.concatenate(
        [share_a * state["embedding"][i], share_b * state["embedding"][j]]
    )
    h = c @ weights["kernel_encode"] + weights["bias_encode"]
    o = h @ weights["kernel_decode"] + weights["bias_decode"]
    return 0.5 * (
        n_a * np.sum((o[:d] - state["mean"][i]) ** 2)
        + n_b * np.sum((o[d:] - state["mean"][j]) ** 2)
    )


@pytest.mark.parametrize("merge_cost", WEIGHTED)
def test_weighted_pair_costs_match_definition(merge_cost):
    n, d = 7, 3
    weights = _random_weights(d, 0)
    state = _random_state(n, d, 1)
    criterion = CRITERIA[merge_cost](weights, state)
    effective = symmetric_weights(weights) if merge_cost == "weighted" else weights
    expected = np.array(
        [
            [_naive_weighted_cost(effective, state, i, j) for j in range(n)]
            for i in range(n)
        ]
    )
    np.testing.assert_allclose(
        criterion.pair_costs(np.arange(n), np.arange(n)), expected, rtol=1e-10
    )
    # Single rows, single columns and slices give the same numbers.
    np.testing.assert_allclose(
        criterion.pair_costs(np.array([2]), slice(3, n)), expected[2:3, 3:], rtol=1e-10
    )
    np.testing.assert_allclose(
        criterion.pair_costs(slice(0, 4), np.array([5])), expected[:4, 5:6], rtol=1e-10
    )


def test_weighted_cost_ignores_pair_order():
    weights = _random_weights(3, 2)
    costs = CRITERIA["weighted"](weights, _random_state(6, 3, 3)).pair_costs(
        np.arange(6), np.arange(6)
    )
    np.testing.assert_allclose(costs, costs.T, rtol=1e-10)
    ordered = CRITERIA["weighted_ordered"](weights, _random_state(6, 3, 3))
    ordered_costs = ordered.pair_costs(np.arange(6), np.arange(6))
    assert np.abs(ordered_costs - ordered_costs.T).max() > 1e-3


@pytest.mark.parametrize("merge_cost", WEIGHTED)
def test_merge_updates_match_fresh_criterion(merge_cost):
    # After a merge the cached per-node terms equal those of a criterion built
    # on the merged state, and the merge's loss is its cost.
    weights = _random_weights(3, 4)
    criterion = CRITERIA[merge_cost](weights, _random_state(6, 3, 5))
    cost = criterion.pair_costs(np.array([1]), np.array([4]))[0, 0]
    loss = criterion.merge(1, 4, cost)
    assert loss == pytest.approx(cost, rel=1e-10)
    np.testing.assert_allclose(
        criterion.state["size"][1], _random_state(6, 3, 5)["size"][[1, 4]].sum()
    )
    fresh = CRITERIA[merge_cost](weights, criterion.state)
    rows = np.array([0, 1, 2, 3, 5])
    np.testing.assert_allclose(
        criterion.pair_costs(rows, rows), fresh.pair_costs(rows, rows), rtol=1e-10
    )


def test_weighted_at_average_copy_init_is_ward():
    X = StandardScaler().fit_transform(load_iris().data)
    weights = init_average_copy_weights(X.shape[1], np.random.RandomState(0))
    for merge_cost in WEIGHTED:
        tree = greedy_linkage(CRITERIA[merge_cost](weights, leaf_state(X)), len(X))
        ward = linkage(X, "ward")
        # SciPy's Ward height is sqrt(2 n_a n_b / (n_a + n_b)) |m_a - m_b|.
        np.testing.assert_allclose(np.sqrt(4 * tree.linkage[:, 2]), ward[:, 2])
        np.testing.assert_allclose(tree.losses, tree.costs, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("merge_cost", sorted(CRITERIA))
def test_numpy_tree_loss_equals_tensorflow(merge_cost):
    from sklearn_rae._merger import TreeTrainer

    X = np.random.RandomState(6).normal(size=(25, 4))
    weights = init_merger_weights(4, np.random.RandomState(7))
    tree = greedy_linkage(CRITERIA[merge_cost](weights, leaf_state(X)), len(X))
    trainer = TreeTrainer(merge_cost, weights, 1e-3)
    loss, gradients = trainer.loss_and_gradients(X, tree.linkage)
    assert loss == pytest.approx(tree.losses.sum(), rel=1e-10)
    # Merge weights pick out merges: the first ten merges' losses.
    merge_weights = np.zeros(len(X) - 1)
    merge_weights[:10] = 1.0
    part, _ = trainer.loss_and_gradients(X, tree.linkage, merge_weights)
    assert part == pytest.approx(tree.losses[:10].sum(), rel=1e-10)
    assert all(np.isfinite(g).all() for g in gradients)
    assert max(np.abs(g).max() for g in gradients) > 1e-3


def test_weighted_gradient_vanishes_at_ward_weights():
    # The average encoder and copy decoder minimise the symmetric objective
    # for every tree; the ordered criterion can still move away from them.
    from sklearn_rae._merger import TreeTrainer

    X = np.random.RandomState(8).normal(size=(30, 3))
    weights = init_average_copy_weights(3, None)
    for merge_cost, vanishes in [("weighted", True), ("weighted_ordered", False)]:
        tree = greedy_linkage(CRITERIA[merge_cost](weights, leaf_state(X)), len(X))
        loss, gradients = TreeTrainer(merge_cost, weights, 1e-3).loss_and_gradients(
            X, tree.linkage
        )
        largest = max(np.abs(g).max() for g in gradients)
        assert (largest < 1e-9 * loss) == vanishes


@pytest.mark.parametrize("merge_cost", WEIGHTED)
def test_weighted_heights_monotone(merge_cost):
    X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
    model = RecursiveAutoencoderClustering(
        n_clusters=3, merge_cost=merge_cost, max_iter=5, random_state=0
    ).fit(X)
    assert is_monotonic(model.linkage_matrix_)
    # The greedy costs themselves never decrease for the default criterion.
    if merge_cost == "weighted":
        assert np.all(np.diff(model.distances_) >= 0)


def test_default_criterion_quality_floor():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = RecursiveAutoencoderClustering(n_clusters=3, random_state=0).fit(X)
    assert model.merge_cost == DEFAULT_MERGE_COST == "weighted"
    # Ward linkage reaches 0.615; the seed's criterion about 0.004.
    assert adjusted_rand_score(y, model.labels_) > 0.6
    # Training stops at once: the initial weights are a stationary point.
    assert model.n_iter_ == 1
    assert np.mean(model.predict(X) == model.labels_) >= 0.95

    X, y = make_blobs(
        n_samples=200, centers=4, cluster_std=[0.5, 1.0, 1.5, 1.0], random_state=1
    )
    model = RecursiveAutoencoderClustering(n_clusters=4, random_state=0).fit(X)
    ward = fcluster(linkage(X, "ward"), 4, criterion="maxclust")
    assert adjusted_rand_score(y, model.labels_) > 0.8
    assert adjusted_rand_score(ward, model.labels_) == pytest.approx(1.0)


def test_predict_on_new_samples_follows_clusters():
    X, y = make_blobs(n_samples=120, centers=3, cluster_std=0.5, random_state=2)
    model = RecursiveAutoencoderClustering(n_clusters=3, random_state=0).fit(X[:90])
    predicted = model.predict(X[90:])
    # Map fitted labels to true classes through the training data.
    mapping = {
        label: np.bincount(y[:90][model.labels_ == label]).argmax()
        for label in range(3)
    }
    assert np.mean(np.array([mapping[p] for p in predicted]) == y[90:]) > 0.95
