"""A criterion added from outside the package, through the interface alone.

Plain Ward: the identity embedding, Ward's engine, the learned metric's node
costs and the nearest-node index. Registered for these tests only; the
estimator must fit, cut, predict and pickle it without knowing its name.
"""

import pickle

import numpy as np
import pytest
from scipy.cluster import hierarchy
from sklearn.datasets import make_blobs

from sklearn_rae import RecursiveAutoencoderClustering, register_criterion
from sklearn_rae._fitting import SingleCriterion
from sklearn_rae._numeric import center_of
from sklearn_rae._prediction import NodeIndex
from sklearn_rae._registry import MERGE_COSTS, get_criterion
from sklearn_rae.criteria import Criterion
from sklearn_rae.criteria.learned_metric import LearnedMetricMergeState
from sklearn_rae.engines.graph import GRAPH
from sklearn_rae.engines.ward import WARD


class PlainWardCriterion(Criterion):
    """Ward's cost of the samples as they are; nothing to train."""

    name = "plain_ward"
    engine = WARD
    graph_engine = GRAPH

    def initial_weights(self, X, random_state):
        return {"kernel_embed": np.eye(np.shape(X)[1])}

    def embed(self, weights, X, center=None):
        X = np.asarray(X, dtype=np.float64)
        return X - (center_of(X) if center is None else center)

    def merge_state(self, weights, state):
        return LearnedMetricMergeState(weights, state)

    def predictor(self, weights, node_state, node_labels, n_leaves):
        return NodeIndex(self, weights, node_state, node_labels, n_leaves)

    def make_trainer(self, weights, learning_rate):
        raise AssertionError("plain Ward has nothing to train")


@pytest.fixture
def plain_ward():
    assert "plain_ward" not in MERGE_COSTS
    register_criterion(PlainWardCriterion)
    try:
        yield PlainWardCriterion
    finally:
        MERGE_COSTS.pop("plain_ward", None)


@pytest.fixture(scope="module")
def blobs():
    X, _ = make_blobs(n_samples=80, centers=3, cluster_std=1.5, random_state=0)
    return X


def _same_partition_by_a_bijection(first, second):
    pairs = set(zip(first.tolist(), second.tolist(), strict=True))
    return len(pairs) == len(set(first.tolist())) == len(set(second.tolist()))


def test_registration_is_accepted_and_removed_again(plain_ward):
    entry = MERGE_COSTS["plain_ward"]
    assert isinstance(entry, SingleCriterion) and entry.criterion_class is plain_ward
    criterion = get_criterion("plain_ward", shrinkage=0.5)
    assert isinstance(criterion, plain_ward) and criterion.shrinkage == 0.5
    assert criterion.describe_engine() == WARD.description
    assert criterion.describe_engine(graph=True) == GRAPH.description


def test_registration_refuses_what_is_not_a_criterion():
    with pytest.raises(TypeError, match="subclass of Criterion"):
        register_criterion(LearnedMetricMergeState)

    class Nameless(Criterion):
        pass

    with pytest.raises(ValueError, match="has no name"):
        register_criterion(Nameless)
    assert "" not in MERGE_COSTS


def test_unregistered_name_is_refused(blobs):
    with pytest.raises(ValueError, match="merge_cost"):
        RecursiveAutoencoderClustering(merge_cost="plain_ward", max_iter=0).fit(blobs)


def test_plain_ward_fits_scipy_ward_tree(plain_ward, blobs):
    X = blobs
    model = RecursiveAutoencoderClustering(
        merge_cost="plain_ward", max_iter=0, n_clusters=3
    ).fit(X)
    assert model.merge_cost_ == "plain_ward"
    assert model.n_iter_ == 0 and model.loss_curve_ == []
    expected = hierarchy.ward(X)
    ours = model.linkage_matrix_
    assert ours.shape == expected.shape == (len(X) - 1, 4)
    # The same merges in the same order (so the same node ids); our first
    # child is the one holding the smaller sample index.
    assert [set(row) for row in ours[:, :2].astype(int).tolist()] == [
        set(row) for row in expected[:, :2].astype(int).tolist()
    ]
    np.testing.assert_array_equal(ours[:, 3], expected[:, 3])
    # Our height is the merge cost, a quarter of the squared Ward height.
    np.testing.assert_allclose(ours[:, 2], expected[:, 2] ** 2 / 4, rtol=1e-10)
    # The flat clusters are SciPy's, up to renaming.
    flat = hierarchy.fcluster(expected, 3, "maxclust")
    assert model.n_clusters_ == 3 and len(set(flat.tolist())) == 3
    assert _same_partition_by_a_bijection(model.labels_, flat)
    # predict finds each training sample's own leaf.
    assert isinstance(model._fitted_predictor(), NodeIndex)
    np.testing.assert_array_equal(model.predict(X), model.labels_)


def test_plain_ward_survives_pickling(plain_ward, blobs):
    X = blobs
    model = RecursiveAutoencoderClustering(
        merge_cost="plain_ward", max_iter=0, n_clusters=3
    ).fit(X)
    new = np.random.RandomState(0).uniform(X.min(0), X.max(0), size=(50, 2))
    expected = model.predict(new)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.labels_)
    np.testing.assert_array_equal(restored.predict(new), expected)


def test_training_asks_the_criterion_for_its_trainer(plain_ward, blobs):
    model = RecursiveAutoencoderClustering(
        merge_cost="plain_ward", max_iter=1, n_clusters=3
    )
    with pytest.raises(AssertionError, match="nothing to train"):
        model.fit(blobs)
    assert not hasattr(model, "labels_")
