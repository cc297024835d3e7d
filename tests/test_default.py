"""The default, ``merge_cost="auto"``: the boundary tree where clusters are
separated by gaps, the whitened means otherwise."""

import sys

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, make_circles, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._estimator import DEFAULT_MERGE_COST
from sklearn_rae._selection import SELECTIONS, boundary_separation


def test_the_default_is_auto():
    assert DEFAULT_MERGE_COST == "auto"
    assert RecursiveAutoencoderClustering().merge_cost == "auto"
    assert SELECTIONS["auto"].candidates == ("boundary", "whitened_means")


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
    assert model.n_iter_ == 0  # the boundary tree is not trained


def test_overlapping_classes_fall_back_to_the_whitened_means():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = RecursiveAutoencoderClustering(n_clusters=2, random_state=0).fit(X)
    assert model.merge_cost_ == "whitened_means"
    assert model.separation_["separation"] < 2.0
    assert adjusted_rand_score(y, model.labels_) > 0.7


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
