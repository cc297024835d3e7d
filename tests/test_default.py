"""The default, ``merge_cost="auto"``: the boundary tree where clusters are
separated by gaps, the whitened means otherwise."""

import sys

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, make_blobs, make_circles, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering, _selection
from sklearn_rae._estimator import DEFAULT_MERGE_COST
from sklearn_rae._registry import MERGE_COSTS
from sklearn_rae._selection import boundary_separation


def test_the_default_is_auto():
    assert DEFAULT_MERGE_COST == "auto"
    assert RecursiveAutoencoderClustering().merge_cost == "auto"
    auto = MERGE_COSTS["auto"]
    assert (auto.gap_candidate.name, auto.fallback.name) == (
        "boundary",
        "whitened_means",
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: make_circles(1500, factor=0.5, noise=0.05, random_state=0),
        lambda: make_moons(1500, noise=0.05, random_state=0),
    ],
    ids=["circles", "moons"],
)
def test_shapes_keep_the_boundary_tree(make):
    X, y = make()
    X = StandardScaler().fit_transform(X)
    model = RecursiveAutoencoderClustering(n_clusters=2, random_state=0).fit(X)
    assert model.merge_cost_ == "boundary"
    assert model.separation_["kept"] == "boundary"
    assert model.separation_["separation"] >= 2.0
    assert adjusted_rand_score(y, model.labels_) > 0.99
    # The boundary tree is not trained: one iteration, the tree it judged.
    assert model.n_iter_ == 1 and model.loss_curve_ == []


def test_overlapping_classes_fall_back_to_the_whitened_means():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = RecursiveAutoencoderClustering(n_clusters=2, random_state=0).fit(X)
    assert model.merge_cost_ == "whitened_means"
    assert model.separation_["separation"] < 2.0
    assert adjusted_rand_score(y, model.labels_) > 0.7
    # The whitened means' cut into 2 lives longer in its tree than the
    # boundary tree's in its own (about 1.1 against 0.3).
    persistence = model.separation_["persistence"]
    assert persistence["whitened_means"] > 0.9
    assert persistence["boundary"] < 0.5


def _noisy_moons():
    X, y = make_moons(400, noise=0.1, random_state=0)
    return StandardScaler().fit_transform(X), y


def _fit_with_persistences(monkeypatch, values, **params):
    """A default fit in which the two cuts' persistences are ``values``."""
    calls = []

    def persistence(X, linkage, n_clusters, row_ids=None):
        calls.append(n_clusters)
        return values[len(calls) - 1]  # the boundary tree's first

    monkeypatch.setattr(_selection, "cut_persistence", persistence)
    params = {"n_clusters": 2, "random_state": 0, **params}
    return RecursiveAutoencoderClustering(**params).fit(_noisy_moons()[0]), calls


def test_noisy_moons_touch_and_the_means_cut_lives_longer():
    X, _ = _noisy_moons()
    model = RecursiveAutoencoderClustering(n_clusters=2, random_state=0).fit(X)
    report = model.separation_
    assert report["separation"] < 2.0  # noise bridges the moons
    assert report["persistence"]["boundary"] < report["persistence"]["whitened_means"]
    assert model.merge_cost_ == report["kept"] == "whitened_means"


@pytest.mark.parametrize(
    "values, kept",
    [
        ((2.0, 1.0), "boundary"),
        ((1.0, 2.0), "whitened_means"),
        ((1.0, 1.0), "whitened_means"),  # a tie keeps the means
        ((0.5, float("nan")), "boundary"),  # the means' cut has no persistence
        ((float("nan"), 0.5), "whitened_means"),
    ],
)
def test_the_longer_lived_cut_is_kept(monkeypatch, values, kept):
    model, calls = _fit_with_persistences(monkeypatch, values)
    assert calls == [2, 2]
    assert model.merge_cost_ == model.separation_["kept"] == kept
    if kept == "boundary":
        untrained = RecursiveAutoencoderClustering(
            n_clusters=2, merge_cost="boundary", max_iter=0, random_state=0
        ).fit(_noisy_moons()[0])
        np.testing.assert_array_equal(model.labels_, untrained.labels_)
        np.testing.assert_array_equal(model.linkage_matrix_, untrained.linkage_matrix_)
        assert model.n_iter_ == 1 and model.loss_curve_ == []


@pytest.mark.parametrize("setting", ["n_clusters_auto", "connectivity"])
def test_persistence_is_compared_only_for_a_given_number_without_a_graph(
    monkeypatch, setting
):
    from sklearn.neighbors import kneighbors_graph

    if setting == "n_clusters_auto":
        params = {"n_clusters": "auto"}
    else:
        params = {"connectivity": kneighbors_graph(_noisy_moons()[0], 10)}
    model, calls = _fit_with_persistences(monkeypatch, (9.0, 0.0), **params)
    assert calls == []
    assert model.separation_["persistence"] is None
    assert model.merge_cost_ == "whitened_means"


def test_spherical_clusters_keep_the_means_without_comparing(monkeypatch):
    # Two spherical Gaussian clusters in 6 dimensions: the whitened means
    # refine them by k-means, whatever the boundary tree's cut.
    rng = np.random.RandomState(3)
    y = np.repeat([0, 1], 500)
    X = rng.normal(size=(1000, 6)) + np.outer(y, np.full(6, 2.5 / np.sqrt(6)))
    monkeypatch.setattr(
        _selection, "cut_persistence", lambda *args: pytest.fail("compared")
    )
    model = RecursiveAutoencoderClustering(n_clusters=2, random_state=0).fit(X)
    assert model.merge_cost_ == "whitened_means"
    # Large boundary clusters: only the sphericity skips the comparison.
    assert model.separation_["smallest_cluster"] * 2 >= 0.2
    assert model.separation_["persistence"] is None
    assert adjusted_rand_score(y, model.labels_) > 0.6


def test_a_default_fit_needs_no_tensorflow():
    X, _ = make_moons(300, noise=0.05, random_state=1)
    before = "tensorflow" in sys.modules
    RecursiveAutoencoderClustering(n_clusters=2, random_state=0).fit(X)
    RecursiveAutoencoderClustering(
        n_clusters=2, merge_cost="whitened_means", random_state=0
    ).fit(X)
    assert ("tensorflow" in sys.modules) == before


def test_refit_with_another_selection_drops_the_other_description():
    X, _ = make_moons(200, noise=0.05, random_state=2)
    model = RecursiveAutoencoderClustering(n_clusters=2, random_state=0).fit(X)
    assert hasattr(model, "separation_")
    model.set_params(merge_cost="whitened_means").fit(X)
    assert not hasattr(model, "separation_")
    assert not hasattr(model, "stability_")


def test_boundary_separation_by_hand():
    # Two clusters on a line: inside spacing 1, a gap of 5 between them.
    Z = np.array([[0.0], [1.0], [2.0], [7.0], [8.0], [9.0]])
    first = np.array([0, 1, 2, 3, 4])
    second = np.array([1, 2, 3, 4, 5])
    labels = np.array([0, 0, 0, 1, 1, 1])
    assert boundary_separation(Z, first, second, labels, 0.9) == pytest.approx(5.0)
    assert boundary_separation(Z, first, second, np.zeros(6, int), 0.9) == np.inf
    # Duplicates join at length zero and leave the spacing as it was.
    Z2 = np.array([[0.0], [0.0], [1.0], [2.0], [2.0], [2.0], [7.0], [8.0], [9.0]])
    first2 = np.array([0, 1, 2, 3, 4, 5, 6, 7])
    second2 = np.array([1, 2, 3, 4, 5, 6, 7, 8])
    labels2 = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1])
    assert boundary_separation(Z2, first2, second2, labels2, 0.9) == pytest.approx(5.0)


def test_repeating_every_row_keeps_the_default_s_choice():
    # Two overlapping Gaussian clusters, every row ten times (integer scores,
    # weights given as repeats): nine in ten spanning-tree edges inside the
    # clusters have length zero, which once made any cut look separated by
    # a gap, and the default kept the chaining boundary tree.
    X, y = make_blobs(
        300, centers=[[0.0, 0.0], [4.0, 0.0]], cluster_std=1.2, random_state=0
    )
    X, y = np.repeat(X, 10, axis=0), np.repeat(y, 10)
    once = RecursiveAutoencoderClustering(n_clusters=2, random_state=0).fit(X[::10])
    repeated = RecursiveAutoencoderClustering(n_clusters=2, random_state=0).fit(X)
    assert once.merge_cost_ == repeated.merge_cost_ == "whitened_means"
    assert repeated.separation_["separation"] == pytest.approx(
        once.separation_["separation"]
    )
    assert once.separation_["separation"] < 2.0
    ours = adjusted_rand_score(y, repeated.labels_)
    assert ours == pytest.approx(adjusted_rand_score(y[::10], once.labels_), abs=0.01)
    assert ours > 0.7
