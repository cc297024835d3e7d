"""score, bic, aic and n_clusters="auto": the mixture of the fitted cut."""

import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage
from sklearn.metrics import adjusted_rand_score
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._cut import cut_linkage
from sklearn_rae._likelihood import (
    cut_path,
    max_auto_clusters,
    mixture_log_likelihood,
    mixture_n_parameters,
    tied_mixture,
)


def blobs(k, n_features=3, n_samples=120, seed=0):
    """Well-separated blobs: centres at least eight standard deviations apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(1, n_features))
    while len(centres) < k:
        candidate = rng.uniform(-12, 12, size=n_features)
        if np.min(np.linalg.norm(centres - candidate, axis=1)) > 8:
            centres = np.vstack([centres, candidate])
    y = np.arange(n_samples) % k
    X = centres[y] + rng.normal(size=(n_samples, n_features))
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("k", [2, 4])
def test_cut_path_matches_the_mixture_of_each_cut(k):
    X, _ = blobs(k)
    tree = linkage(X, "ward")
    path = cut_path(X, tree, k_max=6)
    np.testing.assert_array_equal(path.n_clusters, np.arange(1, 7))
    for j in path.n_clusters:
        mixture = tied_mixture(X, cut_linkage(tree, n_clusters=j))
        total = np.sum(mixture_log_likelihood(mixture, X))
        assert path.log_likelihood[j - 1] == pytest.approx(total, rel=1e-9)
        bic = -2 * total + mixture_n_parameters(mixture) * np.log(len(X))
        assert path.bic[j - 1] == pytest.approx(bic, rel=1e-9)
    assert path.best == k


def test_max_auto_clusters_keeps_fewer_parameters_than_samples():
    assert max_auto_clusters(10_000, 2) == 30
    assert max_auto_clusters(3, 2) == 1
    # k = 9 in 10 features: 8 + 90 + 55 = 153 parameters, fewer than 160.
    assert max_auto_clusters(160, 10) == 9


def test_score_ranks_the_true_number_of_clusters_first():
    X, _ = blobs(3, n_samples=150)
    train, test = X[::2], X[1::2]
    scores = {
        k: RecursiveAutoencoderClustering(n_clusters=k, max_iter=5, random_state=0)
        .fit(train)
        .score(test)
        for k in range(1, 7)
    }
    assert max(scores, key=scores.get) == 3
    assert all(np.isfinite(list(scores.values())))


def test_scores_compare_across_merge_costs():
    # The score depends on the tree only through its flat clusters, so models
    # of different criteria are scored in the same units; the one that finds
    # the blobs scores higher.
    X, y = blobs(3, n_samples=90)
    models = {
        merge_cost: RecursiveAutoencoderClustering(
            n_clusters=3, merge_cost=merge_cost, max_iter=3, random_state=0
        ).fit(X)
        for merge_cost in ("learned_metric", "cumulative")
    }
    for model in models.values():
        mixture = tied_mixture(X, model.labels_)
        expected = np.mean(mixture_log_likelihood(mixture, X))
        assert model.score(X) == pytest.approx(expected, rel=1e-12)
    assert adjusted_rand_score(y, models["learned_metric"].labels_) == 1.0
    assert adjusted_rand_score(y, models["cumulative"].labels_) < 1.0
    assert models["learned_metric"].score(X) > models["cumulative"].score(X)


def test_bic_and_aic_follow_from_the_score():
    X, _ = blobs(3)
    model = RecursiveAutoencoderClustering(n_clusters=3, max_iter=3, random_state=0)
    model.fit(X)
    n, d = X.shape
    n_parameters = 2 + 3 * d + d * (d + 1) // 2
    total = len(X) * model.score(X)
    assert model.bic(X) == pytest.approx(-2 * total + n_parameters * np.log(n))
    assert model.aic(X) == pytest.approx(-2 * total + 2 * n_parameters)
    assert model.bic(X) - model.aic(X) == pytest.approx(n_parameters * (np.log(n) - 2))


@pytest.mark.parametrize("merge_cost", ["learned_metric", "cumulative"])
@pytest.mark.parametrize("k", [1, 3, 5])
def test_auto_finds_the_number_of_blobs(k, merge_cost):
    X, y = blobs(k, n_samples=150, seed=k)
    model = RecursiveAutoencoderClustering(
        n_clusters="auto", merge_cost=merge_cost, max_iter=5, random_state=0
    ).fit(X)
    if merge_cost == "learned_metric":
        assert model.n_clusters_ == k
    assert model.n_clusters_ == len(set(model.labels_))
    assert model.n_clusters_ in model.cut_n_clusters_
    assert model.cut_bic_.shape == model.cut_n_clusters_.shape
    assert model.cut_persistence_.shape == model.cut_n_clusters_.shape
    assert model.cut_n_clusters_[0] == 1 and model.cut_n_clusters_.max() <= 30
    # The BIC kept for the chosen cut is the fitted model's BIC.
    chosen = np.flatnonzero(model.cut_n_clusters_ == model.n_clusters_)[0]
    assert model.bic(X) == pytest.approx(model.cut_bic_[chosen], rel=1e-9)


def test_auto_attributes_go_with_a_refit_to_a_fixed_number():
    X, _ = blobs(3)
    model = RecursiveAutoencoderClustering(n_clusters="auto", max_iter=0).fit(X)
    assert hasattr(model, "cut_bic_")
    model.set_params(n_clusters=2).fit(X)
    assert not hasattr(model, "cut_bic_") and not hasattr(model, "cut_n_clusters_")


def test_auto_on_tiny_data():
    X = np.array([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    model = RecursiveAutoencoderClustering(n_clusters="auto", max_iter=2).fit(X)
    assert model.n_clusters_ == 1
    assert np.isfinite(model.score(X))


def test_score_on_constant_data_is_finite():
    X = np.ones((10, 2))
    model = RecursiveAutoencoderClustering(n_clusters=2, max_iter=0).fit(X)
    assert np.isfinite(model.score(X))
    assert np.isfinite(model.score(X + 1.0))


def test_grid_search_without_scoring_picks_the_true_number_of_clusters():
    X, _ = blobs(4, n_samples=150, seed=1)
    search = GridSearchCV(
        RecursiveAutoencoderClustering(max_iter=5, random_state=0),
        {"n_clusters": range(2, 7)},
        cv=KFold(3, shuffle=True, random_state=0),
    ).fit(X)
    assert search.best_params_["n_clusters"] == 4


def test_auto_when_the_first_training_tree_overflows(monkeypatch):
    from sklearn_rae.criteria.learned_metric import LearnedMetricCriterion
    from sklearn_rae.engines.tree import Tree

    built = LearnedMetricCriterion.build_tree

    def overflowing_training_tree(self, weights, X, adjacency=None):
        if len(X) == 20 and not overflowing_training_tree.called:
            overflowing_training_tree.called = True
            n_merges = len(X) - 1
            return Tree(np.zeros((n_merges, 4)), *[np.full(n_merges, np.inf)] * 2)
        return built(self, weights, X, adjacency)

    overflowing_training_tree.called = False
    monkeypatch.setattr(LearnedMetricCriterion, "build_tree", overflowing_training_tree)
    X, _ = blobs(2, n_samples=20)
    model = RecursiveAutoencoderClustering(
        n_clusters="auto", merge_cost="learned_metric", max_iter=3
    )
    with pytest.warns(RuntimeWarning, match="Training diverged at step 1"):
        model.fit(X)
    assert model.n_iter_ == 1 and model.loss_curve_ == []
    assert model.n_clusters_ in model.cut_n_clusters_
