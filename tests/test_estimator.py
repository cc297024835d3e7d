"""RecursiveAutoencoderClustering: fitted attributes, SciPy interop, predict, score."""

import pickle
import time
import tracemalloc
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
from fitted_state import node_costs
from scipy.cluster import hierarchy
from scipy.stats import multivariate_normal
from seed_oracle import seed_merge
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._cut import cut_linkage
from sklearn_rae._registry import get_criterion
from sklearn_rae.criteria.cumulative import init_merger_weights


def estimate_weight_memory(merge_cost, n_features, training):
    """Bytes a fit (or a tree alone) holds for the weights: the last need."""
    needs = get_criterion(merge_cost).memory_needs(3, n_features, training=training)
    return needs[-1][0]


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
    assert len(fitted.loss_curve_) == fitted.n_iter_
    # The seed's criterion takes every step; the default's exact steps stop
    # once the partition repeats.
    assert (
        fitted.n_iter_ == 5
        if fitted.merge_cost == "cumulative"
        else 1 <= fitted.n_iter_ <= 3
    )
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
    # As AgglomerativeClustering: n_clusters_ = #merges at or above threshold + 1.
    assert model.n_clusters_ == np.count_nonzero(model.distances_ >= threshold) + 1
    np.testing.assert_array_equal(
        model.labels_, cut_linkage(model.linkage_matrix_, distance_threshold=threshold)
    )
    if fitted.merge_cost == "cumulative":
        assert model.n_clusters_ == 3
        np.testing.assert_array_equal(model.labels_, fitted.labels_)


def test_final_tree_is_the_seed_tree_of_the_trained_merger(blobs):
    X, _ = blobs
    model = RecursiveAutoencoderClustering(
        merge_cost="cumulative", max_iter=3, random_state=0
    ).fit(X[:25])
    expected = seed_merge(X[:25], model.merger_weights_)
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
        np.testing.assert_array_equal(model.merger_weights_[name], value)


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
    costs = node_costs(fitted, X)
    # Every sample and every merged node below the cut.
    assert costs.shape == (2 * len(X) - fitted.n_clusters_, len(X))
    expected = fitted._node_labels[np.argmin(costs, axis=0)]
    np.testing.assert_array_equal(fitted.predict(X), expected)
    # Predicting is independent per sample.
    np.testing.assert_array_equal(fitted.predict(X[5:9]), expected[5:9])


def test_score_is_mean_complete_log_likelihood_of_the_cut_mixture(fitted, blobs):
    X, _ = blobs
    labels = fitted.labels_
    k, n = fitted.n_clusters_, len(X)
    means = np.array([X[labels == c].mean(axis=0) for c in range(k)])
    centred = X - means[labels]
    covariance = centred.T @ centred / n + 1e-6 * np.mean(np.var(X, axis=0)) * np.eye(2)
    # Each sample with the component that explains it best.
    joint = np.max(
        [
            np.mean(labels == c) * multivariate_normal(means[c], covariance).pdf(X)
            for c in range(k)
        ],
        axis=0,
    )
    assert fitted.score(X) == pytest.approx(np.mean(np.log(joint)), rel=1e-9)


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


@pytest.mark.parametrize("merge_cost", ["learned_metric", "cumulative"])
def test_wide_data_is_refused_quickly_by_the_memory_guard(merge_cost):
    # The weights grow with n_features**2 (a d x d embedding, 2d x d kernels,
    # their gradients and Adam's moments): the guard counts them.
    X = np.random.RandomState(0).randn(3, 2000)
    model = RecursiveAutoencoderClustering(
        merge_cost=merge_cost, max_iter=2, memory_limit=400 * 2**20
    )
    start = time.perf_counter()
    with pytest.raises(MemoryError, match=r"weights over 2000 features.*PCA"):
        model.fit(X)
    assert time.perf_counter() - start < 2
    # Building the untrained tree alone is within the limit.
    if merge_cost == "learned_metric":
        model.set_params(max_iter=0).fit(X)


@pytest.mark.parametrize("merge_cost", ["learned_metric", "cumulative"])
def test_fit_memory_on_wide_data_is_within_the_guard_estimate(merge_cost):
    d = 300
    X = np.random.RandomState(0).randn(3, d)
    RecursiveAutoencoderClustering(merge_cost=merge_cost, max_iter=1).fit(X[:, :3])
    tracemalloc.start()
    try:
        model = RecursiveAutoencoderClustering(
            merge_cost=merge_cost, max_iter=3, random_state=0
        ).fit(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < estimate_weight_memory(merge_cost, d, training=True)
    if merge_cost == "learned_metric":
        # Only the embedding is allocated: no 2d x d encoder or decoder, no
        # copy of the weights at every step.
        assert peak < 10 * 8 * d**2
        assert "kernel_encode" not in model.merger_weights_


def test_learned_metric_merger_is_built_from_the_embedding_alone():
    X = np.random.RandomState(1).randn(20, 3)
    model = RecursiveAutoencoderClustering(max_iter=3, random_state=0).fit(X)
    L = model.merger_weights_["kernel_embed"]
    a, b = X[:2], X[2:4]
    h, c, o = (np.asarray(t) for t in model.merger_([a, b]))
    np.testing.assert_allclose(c, np.hstack([a @ L, b @ L]), rtol=1e-6)
    np.testing.assert_allclose(h, (a + b) @ L / 2, rtol=1e-6)
    np.testing.assert_allclose(o, np.hstack([h, h]), rtol=1e-6)


def test_learned_metric_on_wide_data_warns_of_slow_steps():
    X = np.random.RandomState(0).randn(3, 2001)
    model = RecursiveAutoencoderClustering(
        merge_cost="learned_metric", max_iter=1, memory_limit=None
    )
    with pytest.warns(UserWarning, match=r"2001 features .* O\(n_features\*\*3\).*PCA"):
        model.fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # Three samples of noise: one step may well end above its start.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(max_iter=0).fit(X)  # nothing to train
        model.set_params(max_iter=1).fit(X[:, :2000])


@pytest.mark.parametrize("merge_cost", ["learned_metric", "boundary"])
def test_memory_guard_counts_no_pair_cache_for_o_n_d_trees(merge_cost):
    # Their trees are fastcluster's Ward of the embedded samples, or built along
    # a spanning tree: no n x n cache, so a limit far below it (36 MB for 3,000
    # samples) lets them fit and refuses the seed's criterion.
    X, _ = make_blobs(n_samples=3000, centers=3, random_state=0)
    limit = 4 * 2**20
    model = RecursiveAutoencoderClustering(
        n_clusters=3, merge_cost=merge_cost, max_iter=2, memory_limit=limit
    )
    assert model.fit(X).n_clusters_ == 3
    assert np.isfinite(model.score(X))
    with pytest.raises(MemoryError, match="pair-cost cache"):
        model.set_params(merge_cost="cumulative").fit(X)
