"""Genie's tree along the spanning tree, and the default's route for shapes
that touch through noise."""

import dataclasses
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._registry import MERGE_COSTS
from sklearn_rae._selection import denoised_separation
from sklearn_rae.engines.genie import genie_tree
from sklearn_rae.engines.spanning import spanning_edges
from sklearn_rae.engines.tree import cut_linkage


def bridged_moons(seed, n_bridge=8):
    """Two moons joined at both tips by a sparse bridge of ``n_bridge`` points.

    Labels 1 and 2 are the moons, 0 the bridge (noise).
    """
    rng = np.random.RandomState(seed)
    X, y = make_moons(600, noise=0.05, random_state=seed)
    t = np.linspace(0, 1, n_bridge + 2)[1:-1]
    tips = np.outer(1 - t, [1, 0]) + np.outer(t, [1, -0.5])
    other_tips = np.outer(1 - t, [0, 0.5]) + np.outer(t, [0, 1])
    bridge = np.r_[tips, other_tips] + rng.normal(0, 0.01, (2 * n_bridge, 2))
    X = StandardScaler().fit_transform(np.r_[X, bridge])
    return X, np.r_[y + 1, np.zeros(2 * n_bridge, dtype=int)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_genie_tree_is_genieclusts(seed):
    genieclust = pytest.importorskip("genieclust")
    X, _ = make_blobs(400, centers=4, cluster_std=2.0, random_state=seed)
    X = np.r_[X, np.random.RandomState(seed).uniform(-15, 15, (40, 2))]
    first, second, n_graph_edges = spanning_edges(X)
    tree, _ = genie_tree(X, first, second, n_graph_edges)
    for k in (2, 3, 4, 6):
        ours = cut_linkage(tree.linkage, n_clusters=k)
        theirs = genieclust.Genie(n_clusters=k, gini_threshold=0.3).fit_predict(X)
        assert adjusted_rand_score(ours, theirs) == 1.0


def test_genie_heights_are_the_edge_lengths_made_monotone():
    X, _ = make_blobs(200, centers=3, random_state=0)
    model = RecursiveAutoencoderClustering(
        n_clusters=3, merge_cost="genie", max_iter=0
    ).fit(X)
    heights = model.linkage_matrix_[:, 2]
    assert np.all(np.diff(heights) >= 0)
    # The unit-free start is not the plain one: the identity embedding here.
    first, second, _ = spanning_edges(X - X.mean(axis=0))
    lengths = np.linalg.norm(X[first] - X[second], axis=1)
    np.testing.assert_allclose(heights[-1], lengths.max(), rtol=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shapes_bridged_by_noise_keep_genies_tree(seed, monkeypatch):
    X, y = bridged_moons(seed)
    shapes = y > 0
    model = RecursiveAutoencoderClustering(n_clusters=2, random_state=0).fit(X)
    report = model.separation_
    assert report["separation"] < 2.0  # the bridge closes the gap
    assert report["denoised_separation"] >= 2.0 and report["denoised_share"] > 0.9
    assert model.merge_cost_ == report["kept"] == "genie"
    assert adjusted_rand_score(y[shapes], model.labels_[shapes]) == 1.0
    # Without the route the default falls back to the whitened means, which
    # cut the moons across.
    monkeypatch.setitem(
        MERGE_COSTS,
        "auto",
        dataclasses.replace(MERGE_COSTS["auto"], shape_candidate=None),
    )
    without = RecursiveAutoencoderClustering(n_clusters=2, random_state=0).fit(X)
    assert adjusted_rand_score(y[shapes], without.labels_[shapes]) < 0.6


def test_overlapping_blobs_do_not_take_the_shape_route():
    X, _ = make_blobs(600, centers=3, cluster_std=2.5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RecursiveAutoencoderClustering(n_clusters=3, random_state=0).fit(X)
    assert model.merge_cost_ == "whitened_means"
    assert model.separation_["denoised_separation"] < 2.0


def test_denoised_separation_leaves_the_sparse_samples_out():
    X, y = bridged_moons(0)
    model = RecursiveAutoencoderClustering(
        n_clusters=2, merge_cost="genie", max_iter=0
    ).fit(X)
    separation, share = denoised_separation(X, model.labels_, 0.9, 5, 2.0)
    assert separation >= 2.0
    # About the bridge's share is left out, not the shapes.
    assert 1 - share == pytest.approx((y == 0).mean(), abs=0.03)
    # Everything repeated: no density to compare.
    assert (
        denoised_separation(np.zeros((20, 2)), np.r_[[0] * 10, [1] * 10], 0.9, 5, 2)[0]
        == 0.0
    )
