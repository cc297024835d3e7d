"""Conventions a scikit-learn and SciPy user relies on: clear refusals."""

import pickle

import numpy as np
import pytest

from sklearn_rae import RecursiveAutoencoderClustering, linkage_to_frame

X = np.random.RandomState(0).normal(size=(40, 2))


@pytest.mark.parametrize("name", ["n_clusters", "max_iter", "batch_size"])
def test_bools_are_not_taken_for_integers(name):
    model = RecursiveAutoencoderClustering(random_state=0).set_params(**{name: True})
    # batch_size=True is refused already by its range (at least 2).
    with pytest.raises((TypeError, ValueError), match=f"{name}"):
        model.fit(X)
    assert not hasattr(model, "labels_")


def test_score_on_data_that_overflows_raises_like_predict():
    model = RecursiveAutoencoderClustering(2, random_state=0).fit(X)
    huge = X * 1e200
    with pytest.raises(ValueError, match="not finite in float64") as predicted:
        model.predict(huge)
    with pytest.raises(ValueError, match="not finite in float64") as scored:
        model.score(huge)
    assert str(predicted.value) == str(scored.value)
    with pytest.raises(ValueError, match="not finite in float64"):
        model.bic(huge)


def test_a_model_whose_state_lacks_a_field_says_so_on_loading():
    model = RecursiveAutoencoderClustering(2, random_state=0).fit(X)
    state = dict(model.__getstate__())
    del state["_node_state"]
    restored = pickle.loads(pickle.dumps(model))  # the whole state loads
    np.testing.assert_array_equal(restored.predict(X), model.labels_)
    with pytest.raises(ValueError, match="incompatible version.*_node_state"):
        RecursiveAutoencoderClustering().__setstate__(state)


@pytest.mark.parametrize(
    "linkage, problem",
    [
        ([[0, 1, 0.5, 3]], "counts 3 leaves"),
        ([[0, 0, 0.5, 2]], "again"),
        ([[0, 2, 0.5, 2]], "leaves"),
        ([[0, 1, 0.5, 2], [2, 2, 1.0, 4]], "Not a valid SciPy linkage"),
        ([[0, 1, 0.5, 2], [0, 2, 1.0, 3]], "Not a valid SciPy linkage"),
    ],
)
def test_linkage_to_frame_refuses_invalid_trees(linkage, problem):
    with pytest.raises(ValueError, match=problem):
        linkage_to_frame(np.asarray(linkage, dtype=float))


def test_linkage_to_frame_takes_a_valid_one_row_tree():
    frame = linkage_to_frame(np.array([[0.0, 1.0, 0.5, 2.0]]))
    assert frame.shape[0] == 1


def test_memory_limit_auto_honours_the_address_space_limit(monkeypatch):
    resource = pytest.importorskip("resource")
    from sklearn_rae import _resources

    soft = 64 * 2**20  # far below what the process already maps
    monkeypatch.setattr(
        resource, "getrlimit", lambda which: (soft, resource.RLIM_INFINITY)
    )
    assert _resources.available_memory() == 0
    model = RecursiveAutoencoderClustering(2, merge_cost="cumulative", max_iter=0)
    with pytest.raises(MemoryError, match="memory limit"):
        model.fit(X)
    model.set_params(memory_limit=None).fit(X)  # the check can be switched off


def test_memory_limit_auto_honours_the_cgroup_limit(monkeypatch):
    from sklearn_rae import _resources

    values = {
        "/sys/fs/cgroup/memory.max": 2**30,
        "/sys/fs/cgroup/memory.current": 2**30 - 1000,
    }
    monkeypatch.setattr(_resources, "_read_int", values.get)
    assert _resources._cgroup_available() == 1000
    assert _resources.available_memory() <= 1000


def _scaled_iris():
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit_transform(load_iris().data)


def test_untrained_learned_metric_is_scipys_ward_heights_included():
    from scipy.cluster.hierarchy import ward

    Y = np.random.RandomState(0).normal(size=(300, 5))
    model = RecursiveAutoencoderClustering(
        3, merge_cost="learned_metric", max_iter=0
    ).fit(Y)
    reference = ward(Y)
    np.testing.assert_array_equal(
        model.linkage_matrix_[:, [0, 1, 3]], reference[:, [0, 1, 3]]
    )
    np.testing.assert_allclose(
        model.linkage_matrix_[:, 2], reference[:, 2], rtol=1e-12, atol=1e-12
    )
    np.testing.assert_array_equal(model.distances_, model.linkage_matrix_[:, 2])
    np.testing.assert_array_equal(model.children_, reference[:, :2].astype(int))


def test_a_threshold_read_off_scipys_ward_gives_scipys_clusters():
    from scipy.cluster.hierarchy import cophenet, fcluster, ward
    from sklearn.metrics import adjusted_rand_score

    # Scaled iris has duplicate rows and tied heights: the merges at one
    # height may come in another order, the tree's heights may not.
    X = _scaled_iris()
    reference = ward(X)
    model = RecursiveAutoencoderClustering(
        3, merge_cost="learned_metric", max_iter=0
    ).fit(X)
    np.testing.assert_allclose(
        model.linkage_matrix_[:, 2], reference[:, 2], rtol=1e-12, atol=1e-12
    )
    np.testing.assert_allclose(
        cophenet(model.linkage_matrix_), cophenet(reference), rtol=1e-12
    )
    threshold = 0.5 * (reference[-4, 2] + reference[-3, 2])
    expected = fcluster(reference, threshold, criterion="distance")
    assert len(set(expected)) == 4
    by_threshold = RecursiveAutoencoderClustering(
        n_clusters=None,
        distance_threshold=threshold,
        merge_cost="learned_metric",
        max_iter=0,
    ).fit(X)
    assert by_threshold.n_clusters_ == 4
    assert adjusted_rand_score(by_threshold.labels_, expected) == 1.0


def test_boundary_heights_between_two_samples_are_their_distance():
    from scipy.spatial.distance import pdist

    X = _scaled_iris()[:30]
    model = RecursiveAutoencoderClustering(2, merge_cost="boundary", max_iter=0).fit(X)
    # The first merge joins the two closest samples, at their distance.
    assert model.linkage_matrix_[0, 2] == pytest.approx(pdist(X).min(), rel=1e-12)


def test_cumulative_heights_are_the_seeds_reconstruction_errors():
    model = RecursiveAutoencoderClustering(
        2, merge_cost="cumulative", max_iter=0, random_state=0
    ).fit(X)
    # Heights are the merge costs themselves (what the seed's loop compares).
    from sklearn_rae._registry import get_criterion

    criterion = get_criterion("cumulative")
    tree = criterion.build_tree(model.merger_weights_, X)
    np.testing.assert_allclose(model.distances_, tree.linkage[:, 2], rtol=1e-12)


def _internal_scores(node):
    if node.left is None:
        return []
    return _internal_scores(node.left) + _internal_scores(node.right) + [node.score]


def test_the_seeds_loop_runs_on_merger_with_float64_leaves():
    # The user guide's snippet: merger_ computes in float64, so the blog's
    # leaves (float32 constants) are built in float64 instead.
    tf = pytest.importorskip("tensorflow")
    from seed_loop import Node, merge

    X = np.random.RandomState(5).normal(size=(9, 3))
    model = RecursiveAutoencoderClustering(
        n_clusters=2, merge_cost="cumulative", max_iter=5, random_state=0
    ).fit(X)
    assert model.merger_.inputs[0].dtype == "float64"
    float32_leaves = [
        Node(i, tf.constant(X[i : i + 1], tf.float32), tf.constant(0.0))
        for i in range(len(X))
    ]
    with pytest.raises(Exception, match="double|float64"):
        merge(float32_leaves, model.merger_)

    leaves = [
        Node(i, tf.constant(X[i : i + 1], tf.float64), tf.constant(0.0, tf.float64))
        for i in range(len(X))
    ]
    root = merge(leaves, model.merger_)
    scores = np.sort([float(score) for score in _internal_scores(root)])
    np.testing.assert_allclose(scores, np.sort(model.linkage_matrix_[:, 2]), rtol=1e-9)
    assert float(root.score) == pytest.approx(model.linkage_matrix_[-1, 2], rel=1e-9)
