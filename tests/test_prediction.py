"""predict's KD-tree over the nodes gives the same labels as comparing all."""

import pickle

import numpy as np
import pytest
from fitted_state import node_costs

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._prediction import CostPredictor, NodeIndex
from sklearn_rae._training import TrainingResult


def _brute_force(model, X):
    """The label of the cheapest node by comparing with every node."""
    costs = node_costs(model, X)
    return model._node_labels[np.argmin(costs, axis=0)]


def _model(X, n_clusters, kernel_embed=None):
    model = RecursiveAutoencoderClustering(n_clusters=n_clusters, max_iter=0).fit(X)
    if kernel_embed is not None:
        # Any embedding: refit the tree and the index with it.
        model.merger_weights_["kernel_embed"] = kernel_embed
        model = _refit_with(model, X)
    return model


def _refit_with(model, X):
    from sklearn_rae import _fitting

    weights = model.merger_weights_

    def train(criterion, X, settings, verbose=0):
        return TrainingResult(weights)

    original = _fitting.train
    _fitting.train = train
    try:
        return model.fit(X)
    finally:
        _fitting.train = original


@pytest.mark.parametrize("seed", range(8))
def test_index_equals_comparing_every_node(seed):
    rng = np.random.RandomState(seed)
    n, d = rng.randint(5, 400), rng.randint(1, 6)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d)
    L = rng.normal(size=(d, d))
    model = _model(X, n_clusters=rng.randint(1, min(n, 12)), kernel_embed=L)
    assert isinstance(model._fitted_predictor(), NodeIndex)
    new = np.vstack([X, rng.normal(size=(300, d)) * 3 * X.std(axis=0)])
    np.testing.assert_array_equal(model.predict(new), _brute_force(model, new))


def _exact(model, X):
    """Cheapest node from direct differences, the earliest of exact ties."""
    state, L = model._node_state, model.merger_weights_["kernel_embed"]
    center = state["mean"][: model.n_leaves_].mean(axis=0)
    nodes = (state["mean"] - center) @ L
    points = (X - center) @ L
    weight = state["size"] / (state["size"] + 1)
    costs = weight * 0.5 * ((nodes[None, :, :] - points[:, None, :]) ** 2).sum(-1)
    return np.argmin(costs, axis=1)


def test_index_handles_duplicates_and_ties_exactly():
    # Exact ties: the comparison with every node by the factorised cost
    # rounds them either way, the index gives the earliest node.
    rng = np.random.RandomState(1)
    base = rng.normal(size=(6, 2))
    X = base[rng.randint(0, 6, size=200)]
    model = _model(X, n_clusters=3)
    new = np.vstack([X, (base[0] + base[1]) / 2, base])
    index = model._fitted_predictor()
    index.first_k = 2  # force the widening of the query and the fallback
    index.max_k = 32
    np.testing.assert_array_equal(index.nearest(new), _exact(model, new))
    # A training sample's own leaf costs nothing: labels_ come back.
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_index_is_used_on_trained_models_and_survives_pickling():
    rng = np.random.RandomState(2)
    X = np.vstack([rng.normal(size=(60, 3)), rng.normal(size=(60, 3)) + 4])
    model = RecursiveAutoencoderClustering(n_clusters=2, max_iter=5, random_state=0)
    model.fit(X)
    new = rng.normal(size=(500, 3)) * 3
    expected = _brute_force(model, new)
    np.testing.assert_array_equal(model.predict(new), expected)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(new), expected)


def test_cumulative_compares_every_node():
    X = np.random.RandomState(3).normal(size=(30, 2))
    model = RecursiveAutoencoderClustering(
        n_clusters=3, merge_cost="cumulative", max_iter=0, random_state=0
    ).fit(X)
    assert isinstance(model._fitted_predictor(), CostPredictor)
    np.testing.assert_array_equal(model.predict(X), _brute_force(model, X))


def test_models_without_an_index_still_predict():
    X = np.random.RandomState(4).normal(size=(40, 2))
    model = RecursiveAutoencoderClustering(n_clusters=3, max_iter=0).fit(X)
    expected = model.predict(X)
    del model._predictor  # as a model pickled before the index existed
    np.testing.assert_array_equal(model.predict(X), expected)


@pytest.mark.parametrize("merge_cost", ["learned_metric", "boundary", "whitened_means"])
def test_predict_returns_labels_on_training_data(merge_cost):
    # With a criterion whose cost of merging a sample with its own copy is
    # zero, the cheapest node of a training sample is its own leaf.
    X = np.random.RandomState(0).normal(size=(40, 2))
    model = RecursiveAutoencoderClustering(
        n_clusters=3, merge_cost=merge_cost, max_iter=20, random_state=0
    ).fit(X)
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_cumulative_predict_leaves_a_cluster_only_for_a_cheaper_merge():
    # The seed's cost of merging a sample with its own copy is the encoder's
    # reconstruction error of [x, x], not zero, so a training sample's first
    # merge may be with a node of another cluster. Where predict and labels_
    # disagree, every node of the sample's own cluster costs strictly more.
    X = np.random.RandomState(0).normal(size=(40, 2))
    model = RecursiveAutoencoderClustering(
        n_clusters=3, merge_cost="cumulative", max_iter=20, random_state=0
    ).fit(X)
    costs = node_costs(model, X)
    own_leaf = costs[np.arange(len(X)), np.arange(len(X))]
    assert np.all(own_leaf > 1e-3)
    predicted = model.predict(X)
    disagree = np.flatnonzero(predicted != model.labels_)
    assert 10 <= len(disagree) <= 30  # 21 of 40 with these weights
    for sample in disagree:
        in_own_cluster = model._node_labels == model.labels_[sample]
        assert costs[in_own_cluster, sample].min() > costs[:, sample].min()
