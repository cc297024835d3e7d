"""The boundary criterion: spanning trees, its greedy tree, training, shapes."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.cluster import hierarchy
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import pdist, squareform
from sklearn.datasets import make_blobs, make_moons
from sklearn.metrics import adjusted_rand_score

import sklearn_rae.engines.spanning as boundary_module
from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._cut import cut_linkage
from sklearn_rae.criteria.embedded import (
    embedded_pairs_objective,
    merge_code_differences,
)
from sklearn_rae.criteria.embedded_tf import EmbeddingTrainer
from sklearn_rae.engines.spanning import boundary_tree, spanning_edges


def _tree_weight(Z, first, second):
    return np.linalg.norm(Z[first] - Z[second], axis=1).sum()


@pytest.mark.parametrize("n_features", [2, 7])
def test_spanning_tree_is_the_minimum_one(n_features):
    Z = np.random.RandomState(n_features).randn(150, n_features)
    expected = minimum_spanning_tree(squareform(pdist(Z))).sum()
    first, second, n_graph_edges = spanning_edges(Z)
    assert n_graph_edges == len(first) == 149
    np.testing.assert_allclose(_tree_weight(Z, first, second), expected)


def test_nearest_neighbour_spanning_tree_above_the_exact_limit(monkeypatch):
    monkeypatch.setattr(boundary_module, "EXACT_SPANNING_TREE_MAX_SAMPLES", 10)
    Z, _ = make_blobs(400, centers=3, cluster_std=0.3, random_state=0)
    expected = minimum_spanning_tree(squareform(pdist(Z))).sum()
    first, second, _ = spanning_edges(Z)
    # The 15-nearest-neighbour graph splits the three blobs; Borůvka's joins
    # by the nearest samples restore the exact tree.
    np.testing.assert_allclose(_tree_weight(Z, first, second), expected)


def test_disconnected_graph_is_joined_after_its_edges():
    chain = sp.diags([1, 1], [-1, 1], shape=(6, 6), dtype=np.int8)
    graph = sp.block_diag([chain, chain]).tocsr()
    Z = np.r_[np.arange(6.0), np.arange(6.0) + 0.5][:, None]
    first, second, n_graph_edges = spanning_edges(Z, graph)
    assert n_graph_edges == 10 and len(first) == 11
    tree, edges = boundary_tree(Z, first, second, n_graph_edges)
    # The joining edge (0.5 apart, shorter than the chains' unit steps) is
    # merged across last all the same.
    assert edges[-1] == 10
    labels = cut_linkage(tree.linkage, n_clusters=2)
    assert len(set(labels[:6])) == 1 and set(labels[:6]).isdisjoint(labels[6:])


def _naive_boundary_merges(Z, first, second):
    """Merge costs of the greedy tree by scanning every edge at every step."""
    n = len(Z)
    cluster = list(range(n))
    costs = []
    for _ in range(n - 1):
        best = None
        for a, b in zip(first, second, strict=True):
            ca, cb = cluster[a], cluster[b]
            if ca == cb:
                continue
            na, nb = cluster.count(ca), cluster.count(cb)
            gap = Z[a] - Z[b]
            cost = na * nb / (na + nb) * (gap @ gap) / 2
            if best is None or cost < best[0]:
                best = (cost, ca, cb)
        cost, ca, cb = best
        cluster = [ca if c == cb else c for c in cluster]
        costs.append(cost)
    return np.array(costs)


@pytest.mark.parametrize("seed", range(5))
def test_boundary_tree_is_the_greedy_tree(seed):
    Z = np.random.RandomState(seed).randn(25, 2)
    first, second, n_graph_edges = spanning_edges(Z)
    tree, edges = boundary_tree(Z, first, second, n_graph_edges)
    np.testing.assert_allclose(tree.costs, _naive_boundary_merges(Z, first, second))
    assert hierarchy.is_valid_linkage(tree.linkage)
    assert hierarchy.is_monotonic(tree.linkage)
    # Column 0 holds the child with the smaller sample index.
    members = {i: [i] for i in range(25)}
    for step, (left, right) in enumerate(tree.linkage[:, :2].astype(int)):
        assert min(members[left]) < min(members[right])
        members[25 + step] = members[left] + members[right]


def test_training_gradient_matches_the_objective():
    X, _ = make_blobs(80, centers=3, n_features=3, random_state=0)
    L = np.array([[1.0, 0.2, 0.0], [0.1, 0.9, 0.3], [0.0, -0.2, 1.2]])
    first, second, n_graph_edges = spanning_edges(X @ L)
    tree, edges = boundary_tree(X @ L, first, second, n_graph_edges)
    codes = (first[edges], second[edges])
    below = (np.arange(79) < 76).astype(float)
    trainer = EmbeddingTrainer({"kernel_embed": L}, 1e-2, shrinkage=0.3)
    loss, gradient = trainer.loss_and_gradients(X, tree.linkage, below, *codes)

    def objective(kernel):
        difference, factor = merge_code_differences(X, tree.linkage, *codes)
        return embedded_pairs_objective(difference, factor * below, kernel, 0.3)

    assert loss == pytest.approx(objective(L))
    numeric = np.zeros_like(L)
    for index in np.ndindex(*L.shape):
        step = np.zeros_like(L)
        step[index] = 1e-6
        numeric[index] = (objective(L + step) - objective(L - step)) / 2e-6
    np.testing.assert_allclose(gradient["kernel_embed"], numeric, atol=1e-6)


def test_boundary_separates_shapes_that_ward_cannot(shape):
    X, y = shape
    boundary = RecursiveAutoencoderClustering(
        2, merge_cost="boundary", max_iter=20, random_state=0
    ).fit(X)
    assert adjusted_rand_score(y, boundary.labels_) > 0.99
    ward_like = RecursiveAutoencoderClustering(
        2, merge_cost="learned_metric", max_iter=0
    ).fit(X)
    assert adjusted_rand_score(y, ward_like.labels_) < 0.6
    # A new sample joins the cluster of its nearest training sample.
    assert np.array_equal(boundary.predict(X), boundary.labels_)


def test_predict_assigns_the_nearest_training_sample_in_the_embedding():
    X, _ = make_moons(200, noise=0.06, random_state=1)
    model = RecursiveAutoencoderClustering(
        2, merge_cost="boundary", max_iter=5, random_state=0
    ).fit(X)
    new = np.random.RandomState(2).uniform(-1.5, 2.5, size=(300, 2))
    L = model.merger_weights_["kernel_embed"]
    distance = squareform(pdist(np.r_[new, X] @ L))[:300, 300:]
    expected = model.labels_[np.argmin(distance, axis=1)]
    np.testing.assert_array_equal(model.predict(new), expected)


def test_boundary_on_a_sequence_keeps_clusters_contiguous():
    rng = np.random.RandomState(0)
    X = np.r_[rng.randn(60, 2), rng.randn(60, 2) + 6, rng.randn(60, 2)]
    chain = sp.diags([1, 1], [-1, 1], shape=(180, 180), dtype=np.int8)
    model = RecursiveAutoencoderClustering(
        3, merge_cost="boundary", connectivity=chain, max_iter=5, random_state=0
    ).fit(X)
    changes = np.flatnonzero(np.diff(model.labels_))
    assert len(changes) == 2
    assert adjusted_rand_score(np.repeat([0, 1, 2], 60), model.labels_) > 0.9


def test_graph_with_many_components_is_joined_into_one_tree():
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import kneighbors_graph

    rng = np.random.RandomState(0)
    X = rng.randn(2000, 3) * rng.uniform(0.01, 3, size=(2000, 1))
    graph = kneighbors_graph(X, 2)
    graph = graph + graph.T
    n_components = connected_components(graph, directed=False)[0]
    assert n_components > 10
    first, second, n_graph_edges = spanning_edges(X, graph)
    assert len(first) == 1999 and n_graph_edges == 2000 - n_components
    tree = sp.coo_matrix((np.ones(1999), (first, second)), shape=(2000, 2000))
    assert connected_components(tree, directed=False)[0] == 1


@pytest.mark.parametrize("merge_cost", ["boundary", "auto"])
def test_a_far_translation_changes_neither_tree_nor_labels(merge_cost):
    # Coordinates such as map positions in metres or timestamps sit far from
    # the origin: the spanning tree's lengths must not lose the digits of
    # short edges there (at 1e8 they did, and moons were cut at random).
    X, y = make_moons(500, noise=0.05, random_state=0)
    near = RecursiveAutoencoderClustering(
        n_clusters=2, merge_cost=merge_cost, random_state=0
    ).fit(X)
    for offset in (1e6, 1e8):
        far = RecursiveAutoencoderClustering(
            n_clusters=2, merge_cost=merge_cost, random_state=0
        ).fit(X + offset)
        np.testing.assert_array_equal(far.labels_, near.labels_)
        # At 1e8 the samples themselves are known to 1.5e-8 (float64's
        # spacing there): heights agree to that, not to their own digits.
        heights = near.linkage_matrix_[:, 2]
        np.testing.assert_allclose(
            far.linkage_matrix_[:, 2], heights, rtol=1e-6, atol=1e-6 * heights.max()
        )
    assert adjusted_rand_score(y, near.labels_) > 0.99


def test_spanning_edges_are_those_of_the_centred_samples():
    Z = np.random.RandomState(3).randn(300, 4)
    for offset in (0.0, 1e9):
        first, second, _ = spanning_edges(Z + offset)
        np.testing.assert_allclose(
            _tree_weight(Z, first, second),
            minimum_spanning_tree(squareform(pdist(Z))).sum(),
            rtol=1e-9,
        )
