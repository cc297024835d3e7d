"""RecursiveAutoencoderClustering: fitted attributes, SciPy interop, predict, score."""

import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from scipy.cluster import hierarchy
from seed_oracle import seed_merge
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._estimator import init_merger_weights


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=60, centers=3, cluster_std=0.6, random_state=0)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module", params=["default", "cumulative"])
def fitted(request, blobs):
    X, _ = blobs
    params = {} if request.param == "default" else {"merge_cost": "cumulative"}
    model = RecursiveAutoencoderClustering(
        n_clusters=3, max_iter=5, random_state=0, **params
    )
    return model.fit(X)


def test_fitted_attributes(fitted, blobs):
    X, _ = blobs
    n = len(X)
    assert fitted.n_leaves_ == n
    assert fitted.n_features_in_ == 2
    assert fitted.n_clusters_ == 3
    assert fitted.labels_.shape == (n,)
    assert set(fitted.labels_) == {0, 1, 2}
    assert fitted.children_.shape == (n - 1, 2)
    np.testing.assert_array_equal(fitted.children_, fitted.linkage_matrix_[:, :2])
    np.testing.assert_array_equal(fitted.distances_, fitted.linkage_matrix_[:, 2])
    assert len(fitted.loss_curve_) == fitted.n_iter_ == 5
    assert all(np.isfinite(fitted.loss_curve_))
    assert not hasattr(fitted, "feature_names_in_")


def test_linkage_matrix_works_with_scipy(fitted, blobs):
    X, _ = blobs
    linkage = fitted.linkage_matrix_
    assert linkage.dtype == np.float64 and linkage.shape == (len(X) - 1, 4)
    assert hierarchy.is_valid_linkage(linkage, throw=True)
    assert hierarchy.is_monotonic(linkage)
    assert linkage[-1, 3] == len(X)
    hierarchy.dendrogram(linkage, no_plot=True)
    assert hierarchy.to_tree(linkage).get_count() == len(X)
    assert np.all(np.isfinite(hierarchy.cophenet(linkage)))
    expected = hierarchy.fcluster(linkage, 3, "maxclust")
    assert adjusted_rand_score(expected, fitted.labels_) == 1.0


def test_distance_threshold_cut(fitted, blobs):
    X, _ = blobs
    heights = fitted.linkage_matrix_[:, 2]
    threshold = 0.5 * (heights[-3] + heights[-2])
    model = clone(fitted).set_params(n_clusters=None, distance_threshold=threshold)
    model.fit(X)
    assert model.n_clusters_ == 3
    np.testing.assert_array_equal(model.labels_, fitted.labels_)
    # As AgglomerativeClustering: n_clusters_ = #merges at or above threshold + 1.
    assert model.n_clusters_ == np.count_nonzero(model.distances_ >= threshold) + 1


def test_final_tree_is_the_seed_tree_of_the_trained_merger(blobs):
    X, _ = blobs
    model = RecursiveAutoencoderClustering(
        merge_cost="cumulative", max_iter=3, random_state=0
    ).fit(X[:25])
    expected = seed_merge(X[:25], model._merger_weights)
    np.testing.assert_array_equal(model.linkage_matrix_[:, :2], expected[:, :2])
    np.testing.assert_allclose(model.linkage_matrix_[:, 2], expected[:, 2])


def test_untrained_fit_uses_initial_weights(blobs):
    X, _ = blobs
    model = RecursiveAutoencoderClustering(
        merge_cost="cumulative", max_iter=0, random_state=3
    ).fit(X)
    assert model.loss_curve_ == [] and model.n_iter_ == 0
    weights = init_merger_weights(2, np.random.RandomState(3))
    for name, value in weights.items():
        np.testing.assert_array_equal(model._merger_weights[name], value)


def test_seed_example_loss_decreases():
    # The blog's example: values 0..9 twice, 10 features, 100 Adam steps.
    X = np.array([np.full(10, i, float) for i in range(10)] * 2)
    model = RecursiveAutoencoderClustering(
        merge_cost="cumulative", max_iter=100, random_state=0
    ).fit(X)
    assert len(model.loss_curve_) == 100
    assert model.loss_curve_[-1] < 0.5 * model.loss_curve_[0]
    first_tree = seed_merge(X, init_merger_weights(10, np.random.RandomState(0)))
    assert model.loss_curve_[0] == pytest.approx(first_tree[-1, 2], rel=1e-9)


def test_predict_assigns_cluster_of_lowest_merge_cost(fitted, blobs):
    X, _ = blobs
    costs = fitted._node_costs(X)
    # Every sample and every merged node below the cut.
    assert costs.shape == (2 * len(X) - fitted.n_clusters_, len(X))
    expected = fitted._node_labels[np.argmin(costs, axis=0)]
    np.testing.assert_array_equal(fitted.predict(X), expected)
    # Predicting is independent per sample.
    np.testing.assert_array_equal(fitted.predict(X[5:9]), expected[5:9])


def test_score_is_minus_mean_merge_loss(fitted, blobs):
    X, _ = blobs
    score = fitted.score(X)
    assert np.isfinite(score) and score <= 0
    if fitted.merge_cost == "cumulative":
        tree = seed_merge(X, fitted._merger_weights)
        assert score == pytest.approx(-tree[-1, 2] / (len(X) - 1), rel=1e-9)


def test_same_random_state_same_tree(blobs):
    X, _ = blobs
    params = dict(n_clusters=3, max_iter=4, batch_size=20, random_state=11)
    first = RecursiveAutoencoderClustering(**params).fit(X)
    second = RecursiveAutoencoderClustering(**params).fit(X)
    np.testing.assert_array_equal(first.linkage_matrix_, second.linkage_matrix_)
    assert first.loss_curve_ == second.loss_curve_


def test_fit_leaves_global_random_state_untouched(blobs):
    X, _ = blobs
    np.random.seed(123)  # noqa: NPY002 - the legacy global state is the subject
    state = np.random.get_state()  # noqa: NPY002
    RecursiveAutoencoderClustering(max_iter=2, random_state=0).fit(X)
    RecursiveAutoencoderClustering(max_iter=2, random_state=None).fit(X)
    after = np.random.get_state()  # noqa: NPY002
    assert state[0] == after[0] and np.array_equal(state[1], after[1])
    assert state[2:] == after[2:]


def test_pickle_clone_and_joblib(fitted, blobs, tmp_path):
    X, _ = blobs
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict(X), fitted.predict(X))
    np.testing.assert_array_equal(restored.linkage_matrix_, fitted.linkage_matrix_)
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path)
    np.testing.assert_array_equal(joblib.load(path).predict(X), fitted.predict(X))
    assert not hasattr(clone(fitted), "labels_")
    # The Keras model is rebuilt from NumPy weights, so a pickle stays small.
    fitted.merger_  # noqa: B018 - build it before pickling
    assert len(pickle.dumps(fitted)) < 50_000


def test_merger_saves_like_the_seed(fitted, tmp_path):
    import keras

    path = tmp_path / "merger.keras"
    fitted.merger_.save(path)
    loaded = keras.models.load_model(path)
    a = np.random.default_rng(0).normal(size=(3, 2))
    for got, expected in zip(loaded([a, a]), fitted.merger_([a, a]), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-6)
    assert [t.shape[-1] for t in fitted.merger_.outputs] == [2, 4, 4]


def test_dataframe_input_records_feature_names(blobs):
    X, _ = blobs
    frame = pd.DataFrame(X, columns=["width", "height"])
    model = RecursiveAutoencoderClustering(max_iter=1, random_state=0).fit(frame)
    np.testing.assert_array_equal(model.feature_names_in_, ["width", "height"])
    np.testing.assert_array_equal(model.predict(frame), model.predict(X))


def test_pipeline_and_grid_search_without_scoring(blobs):
    X, _ = blobs
    pipe = make_pipeline(
        StandardScaler(), RecursiveAutoencoderClustering(max_iter=2, random_state=0)
    )
    search = GridSearchCV(
        pipe,
        {"recursiveautoencoderclustering__learning_rate": [1e-3, 1e-2]},
        cv=2,
    )
    search.fit(X)
    assert np.isfinite(search.best_score_)
    assert search.best_estimator_.predict(X).shape == (len(X),)


def test_memory_guard_names_estimate_limit_and_way_out(blobs):
    X, _ = blobs
    model = RecursiveAutoencoderClustering(
        merge_cost="cumulative", max_iter=0, memory_limit=1000
    )
    with pytest.raises(
        MemoryError, match=r"needs about .* memory limit of .*memory_limit"
    ):
        model.fit(X)
    assert not hasattr(model, "labels_")
    model.set_params(memory_limit=None).fit(X)
    with pytest.raises(MemoryError):
        model.set_params(memory_limit=1000).score(X)


def test_memory_guard_skips_the_learned_metric_tree(blobs):
    # Its tree is fastcluster's Ward of the embedded samples: no n x n cache.
    X, _ = blobs
    model = RecursiveAutoencoderClustering(n_clusters=3, max_iter=2, memory_limit=1000)
    assert model.fit(X).n_clusters_ == 3
    assert np.isfinite(model.score(X))
