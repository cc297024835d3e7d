import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.cluster import hierarchy
from sklearn.neighbors import kneighbors_graph

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._connectivity import chain_adjacency


def _adaptive(*args, **kwargs):
    """The estimator with the stability selection these tests exercise."""
    kwargs.setdefault("merge_cost", "adaptive")
    return RecursiveAutoencoderClustering(*args, **kwargs)


def _regimes(n_per_regime=30, n_features=3, seed=0):
    rng = np.random.RandomState(seed)
    means = np.array([[0.0] * n_features, [6.0] * n_features, [-6.0] * n_features])
    labels = np.repeat(np.arange(3), n_per_regime)
    return means[labels] + rng.normal(size=(labels.size, n_features)), labels


def _is_runs(labels):
    return set(np.diff(labels).tolist()) <= {0, 1}


def test_chain_fit_gives_contiguous_clusters():
    X, _ = _regimes()
    model = _adaptive(
        n_clusters=4, connectivity=chain_adjacency(len(X)), max_iter=3, random_state=0
    ).fit(X)
    assert model.n_clusters_ == 4
    assert _is_runs(model.labels_)
    assert model.predict(X[:5]).shape == (5,)


def test_complete_graph_gives_the_unrestricted_tree():
    X, _ = _regimes(n_per_regime=10)
    kwargs = dict(n_clusters=3, max_iter=0, random_state=0)
    plain = _adaptive(**kwargs).fit(X)
    connected = _adaptive(connectivity=np.ones((len(X), len(X))), **kwargs).fit(X)
    np.testing.assert_array_equal(plain.children_, connected.children_)
    np.testing.assert_array_equal(plain.labels_, connected.labels_)
    np.testing.assert_allclose(plain.distances_, connected.distances_, rtol=1e-12)
    np.testing.assert_array_equal(plain.predict(X), connected.predict(X))


def test_callable_connectivity_is_called_with_X():
    X, _ = _regimes(n_per_regime=15)
    seen = []

    def graph(data):
        seen.append(data.shape)
        return kneighbors_graph(data, 5, include_self=False)

    model = _adaptive(n_clusters=3, connectivity=graph, max_iter=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model.fit(X)
    assert seen == [X.shape]
    # The score is a density of the fitted clusters: it builds no graph.
    assert np.isfinite(model.score(X))
    assert seen == [X.shape]


def test_connectivity_shape_is_checked():
    X, _ = _regimes(n_per_regime=5)
    model = _adaptive(connectivity=chain_adjacency(len(X) + 1), max_iter=0)
    with pytest.raises(ValueError, match="connectivity must be a square adjacency"):
        model.fit(X)
    with pytest.raises(ValueError, match="2-d"):
        _adaptive(connectivity=lambda X: np.ones(len(X)), max_iter=0).fit(X)


def test_connectivity_of_wrong_type_is_refused():
    X, _ = _regimes(n_per_regime=5)
    with pytest.raises((TypeError, ValueError), match="connectivity"):
        _adaptive(connectivity="chain", max_iter=0).fit(X)


def test_disconnected_graph_warns_and_never_mixes_components():
    X, _ = _regimes(n_per_regime=10)
    n = len(X)
    adjacency = chain_adjacency(n).tolil()
    for cut in (9, 19):
        adjacency[cut, cut + 1] = adjacency[cut + 1, cut] = 0
    model = _adaptive(
        n_clusters=5, connectivity=adjacency.tocsr(), max_iter=0, random_state=0
    )
    with pytest.warns(UserWarning, match="3 connected components") as record:
        model.fit(X)
    components = np.repeat([0, 1, 2], 10)
    for label in range(model.n_clusters_):
        assert np.unique(components[model.labels_ == label]).size == 1
    assert np.all(np.isfinite(model.distances_))
    assert hierarchy.is_monotonic(model.linkage_matrix_)
    # The warning points at the caller's line, not at the package.
    assert record[0].filename == __file__


def test_symmetrised_and_self_loops_ignored():
    X, _ = _regimes(n_per_regime=8)
    n = len(X)
    upper_with_loops = sp.diags(
        [np.ones(n), np.ones(n - 1)], [0, 1], shape=(n, n), format="csr"
    )
    kwargs = dict(n_clusters=3, max_iter=0, random_state=0)
    a = _adaptive(connectivity=upper_with_loops, **kwargs).fit(X)
    b = _adaptive(connectivity=chain_adjacency(n), **kwargs)
    np.testing.assert_array_equal(a.children_, b.fit(X).children_)


def test_training_uses_connected_windows(monkeypatch):
    import sklearn_rae._training as training

    windows = []
    original = training.connected_batch

    def recording(adjacency, batch_size, random_state):
        rows = original(adjacency, batch_size, random_state)
        windows.append(rows)
        return rows

    monkeypatch.setattr(training, "connected_batch", recording)
    X, _ = _regimes(n_per_regime=40)
    _adaptive(
        n_clusters=3,
        connectivity=chain_adjacency(len(X)),
        batch_size=16,
        max_iter=3,
        random_state=0,
    ).fit(X)
    assert len(windows) == 3
    for rows in windows:
        assert rows.shape == (16,)
        np.testing.assert_array_equal(np.diff(rows), 1)


def test_fit_with_connectivity_skips_the_quadratic_memory_check():
    X, _ = _regimes(n_per_regime=100)
    # 300 samples need ~350 KiB for the dense cache; a chain, ~75 KiB.
    model = _adaptive(
        connectivity=chain_adjacency(len(X)), memory_limit=150_000, max_iter=0
    )
    assert model.fit(X).n_clusters_ == 2
    with pytest.raises(MemoryError, match="pair-cost cache"):
        _adaptive(merge_cost="cumulative", memory_limit=150_000, max_iter=0).fit(X)


def test_memory_limit_counts_the_edges_of_the_connectivity_graph():
    X, _ = _regimes(n_per_regime=100)
    complete = np.ones((len(X), len(X)))
    model = _adaptive(connectivity=complete, memory_limit=3e6, max_iter=0)
    with pytest.raises(
        MemoryError, match=r"for the 44850 edges of the connectivity graph.*sparser"
    ):
        model.fit(X)
    assert not hasattr(model, "labels_")
    sparse = kneighbors_graph(X, 10, include_self=False)
    model.set_params(connectivity=sparse).fit(X)
    assert model.n_clusters_ == 2


def test_dense_connectivity_beyond_the_limit_is_refused_before_converting():
    # A complete graph as a dense array: converting it is what would exceed
    # the limit, so the fit refuses after counting its entries (one pass, no
    # copy), naming the conversion, and allocates nothing of its size.
    n = 3000
    X = np.random.RandomState(0).normal(size=(n, 3))
    complete = np.ones((n, n), dtype=np.int8)
    model = RecursiveAutoencoderClustering(
        connectivity=complete, memory_limit=20 * 2**20, max_iter=0
    )
    tracemalloc.start()
    try:
        with pytest.raises(
            MemoryError,
            match=r"converting the dense 3000 x 3000 connectivity matrix "
            r"\(8997000 non-zero entries off the diagonal\).*sparse",
        ):
            model.fit(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    assert not hasattr(model, "labels_")
