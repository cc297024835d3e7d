import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.cluster.hierarchy import is_valid_linkage
from sklearn.neighbors import kneighbors_graph

from sklearn_rae._connectivity import (
    chain_adjacency,
    connected_batch,
    estimate_adjacency_memory,
    is_chain,
    symmetric_adjacency,
)
from sklearn_rae._cut import cut_linkage
from sklearn_rae._numeric import leaf_state
from sklearn_rae.criteria.cumulative import CumulativeMergeState, init_merger_weights
from sklearn_rae.criteria.learned_metric import LearnedMetricMergeState
from sklearn_rae.engines import graph as graph_engine
from sklearn_rae.engines.greedy import greedy_linkage, replay_forest
from sklearn_rae.engines.merge_state import MergeState
from sklearn_rae.engines.tree import slot_linkage


def _graph_linkage(merge_state, n, adjacency):
    """The engine's tree along ``adjacency``, made symmetric as a fit makes it."""
    return graph_engine.graph_linkage(merge_state, n, symmetric_adjacency(adjacency, n))


def _criterion(X, seed=0):
    weights = init_merger_weights(X.shape[1], np.random.RandomState(seed))
    return CumulativeMergeState(weights, leaf_state(X))


class _OuterOnly(MergeState):
    """Node costs without the element-wise or batched methods (the defaults)."""

    def __init__(self, criterion):
        self.criterion = criterion
        self.state = getattr(criterion, "state", {})

    def pair_costs(self, first, second):
        return self.criterion.pair_costs(first, second)

    def merge(self, first, second, cost):
        return self.criterion.merge(first, second, cost)


def _naive_restricted(criterion, n, adjacency):
    """Greedy merging over connected pairs by evaluating all of them each step."""
    connected = symmetric_adjacency(adjacency, n).toarray().astype(bool)
    active = np.ones(n, dtype=bool)
    firsts, seconds, costs = [], [], []
    for _ in range(n - 1):
        allowed = np.triu(connected, 1) & active[:, None] & active[None, :]
        lo, hi = np.nonzero(allowed)
        if lo.size == 0:
            break
        values = criterion.pair_costs_paired(lo, hi)
        best = np.lexsort((hi, lo, values))[0]
        first, second = int(lo[best]), int(hi[best])
        criterion.merge(first, second, float(values[best]))
        firsts.append(first)
        seconds.append(second)
        costs.append(float(values[best]))
        connected[first] |= connected[second]
        connected[:, first] |= connected[:, second]
        connected[first, first] = False
        connected[second] = connected[:, second] = False
        active[second] = False
    return np.array(firsts), np.array(seconds), np.array(costs)


def _assert_same_tree(linkage, expected):
    np.testing.assert_array_equal(linkage[:, [0, 1, 3]], expected[:, [0, 1, 3]])
    np.testing.assert_allclose(linkage[:, 2], expected[:, 2], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n", [2, 3, 17, 60])
def test_complete_graph_matches_greedy_linkage(n):
    X = np.random.RandomState(n).normal(size=(n, 3))
    expected = greedy_linkage(_criterion(X), n)
    tree = _graph_linkage(_criterion(X), n, np.ones((n, n)))
    _assert_same_tree(tree.linkage, expected.linkage)
    np.testing.assert_allclose(tree.losses, expected.losses, rtol=1e-10)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("graph", ["chain", "random", "knn"])
@pytest.mark.parametrize("wrap", [False, True])
def test_matches_naive_restricted_loop(seed, graph, wrap):
    rng = np.random.RandomState(seed)
    n = int(rng.randint(2, 45))
    X = rng.normal(size=(n, 3))
    if graph == "chain":
        adjacency = chain_adjacency(n)
    elif graph == "random":
        adjacency = sp.random(n, n, density=0.1, random_state=rng) + chain_adjacency(n)
    else:
        adjacency = kneighbors_graph(X, min(4, n - 1))
    firsts, seconds, costs = _naive_restricted(_criterion(X, seed), n, adjacency)
    criterion = _criterion(X, seed)
    tree = _graph_linkage(_OuterOnly(criterion) if wrap else criterion, n, adjacency)
    n_forest = firsts.shape[0]
    if n_forest == n - 1:
        _assert_same_tree(tree.linkage, slot_linkage(firsts, seconds, costs, n))
    np.testing.assert_allclose(tree.costs[:n_forest], costs, rtol=1e-12, atol=1e-12)
    assert is_valid_linkage(tree.linkage)


def test_batched_chain_matches_one_merge_at_a_time():
    # Large enough for many merges per round and for undone rounds.
    n = 3000
    X = np.random.RandomState(0).normal(size=(n, 4))
    batched = _graph_linkage(_criterion(X), n, chain_adjacency(n))
    sequential = _graph_linkage(_OuterOnly(_criterion(X)), n, chain_adjacency(n))
    _assert_same_tree(batched.linkage, sequential.linkage)


@pytest.mark.parametrize("n_clusters", [1, 2, 5, 13])
def test_chain_clusters_are_contiguous_runs(n_clusters):
    n = 300
    X = np.random.RandomState(3).normal(size=(n, 5))
    tree = _graph_linkage(_criterion(X), n, chain_adjacency(n))
    labels = cut_linkage(tree.linkage, n_clusters=n_clusters)
    assert np.unique(labels).size == n_clusters
    # Labels are numbered by first appearance: a run per label means the
    # label sequence only ever steps up by one.
    assert set(np.diff(labels).tolist()) <= {0, 1}


def test_merged_node_keeps_neighbours_of_both_children():
    # Star around sample 0 plus isolated pairs: merges never cross components
    # until the forest is complete.
    n = 7
    adjacency = np.zeros((n, n))
    adjacency[0, 1:4] = 1
    adjacency[4, 5] = 1
    X = np.random.RandomState(1).normal(size=(n, 2))
    tree = _graph_linkage(_criterion(X), n, adjacency)
    labels = cut_linkage(tree.linkage, n_clusters=3)
    assert len(set(labels[:4])) == 1
    assert labels[4] == labels[5]
    assert len({labels[0], labels[4], labels[6]}) == 3


def test_disconnected_components_join_last():
    n = 40
    rng = np.random.RandomState(2)
    X = rng.normal(size=(n, 3))
    adjacency = chain_adjacency(n).tolil()
    adjacency[9, 10] = adjacency[10, 9] = 0
    adjacency[24, 25] = adjacency[25, 24] = 0
    tree = _graph_linkage(_criterion(X), n, adjacency.tocsr())
    assert is_valid_linkage(tree.linkage)
    assert np.all(np.isfinite(tree.linkage[:, 2]))
    assert np.all(np.diff(tree.linkage[:, 2]) >= 0)
    labels = cut_linkage(tree.linkage, n_clusters=3)
    np.testing.assert_array_equal(labels, np.repeat([0, 1, 2], [10, 15, 15]))
    # The last two merges join the three component roots 0, 10 and 25.
    last_children = tree.linkage[-2:, :2].astype(int)
    forest_roots = set(range(n, 2 * n - 3)) | {0, 10, 25}
    assert set(last_children[0]) <= forest_roots


def test_no_edges_at_all_is_greedy_over_all_pairs():
    n = 12
    X = np.random.RandomState(4).normal(size=(n, 3))
    tree = _graph_linkage(_criterion(X), n, sp.csr_matrix((n, n)))
    _assert_same_tree(tree.linkage, greedy_linkage(_criterion(X), n).linkage)


def test_symmetric_adjacency_symmetrises_and_drops_self_loops():
    matrix = np.array([[5, 1, 0], [0, 1, 0], [0, 2, 0]])
    graph = symmetric_adjacency(matrix, 3)
    np.testing.assert_array_equal(graph.toarray(), [[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    assert is_chain(graph)
    assert not is_chain(symmetric_adjacency(np.ones((3, 3)), 3))


@pytest.mark.parametrize(
    "matrix, message",
    [
        (np.ones((3, 4)), r"shape \(n_samples, n_samples\) = \(3, 3\)"),
        (np.ones(3), "2-d"),
        (sp.eye(4), r"got shape \(4, 4\)"),
    ],
)
def test_symmetric_adjacency_rejects_wrong_shapes(matrix, message):
    with pytest.raises(ValueError, match=message):
        symmetric_adjacency(matrix, 3)


@pytest.mark.parametrize("dtype", [np.float64, np.int8, bool])
def test_dense_and_sparse_connectivity_give_the_same_graph(dtype):
    # Asymmetric, with self-loops, explicit zeros and rows without an edge;
    # more rows than one conversion block holds.
    rng = np.random.RandomState(0)
    n = 1500
    matrix = (rng.random_sample((n, n)) < 0.01).astype(dtype)
    matrix[np.arange(0, n, 7), np.arange(0, n, 7)] = 1
    matrix[:5] = 0
    from_dense = symmetric_adjacency(matrix, n)
    from_sparse = symmetric_adjacency(sp.csr_matrix(matrix), n)
    assert from_dense.has_sorted_indices and from_dense.dtype == np.int8
    expected = (matrix != 0) | (matrix != 0).T
    np.fill_diagonal(expected, False)
    np.testing.assert_array_equal(from_dense.toarray(), expected)
    np.testing.assert_array_equal(from_sparse.toarray(), expected)
    np.testing.assert_array_equal(from_dense.indptr, from_sparse.indptr)
    np.testing.assert_array_equal(from_dense.indices, from_sparse.indices)


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_dense_connectivity_with_non_finite_entries_is_refused(value):
    matrix = np.zeros((2000, 2000))
    matrix[1700, 3] = value  # in a later block of rows than the first
    with pytest.raises(ValueError, match="NaN or infinite"):
        symmetric_adjacency(matrix, 2000)


def test_dense_connectivity_is_converted_without_copies_of_its_size():
    # A complete graph of 3,000 samples: 9 million stored edges. Building it
    # through a COO copy took 93 bytes per edge; block by block, the result's
    # 5 bytes (int32 index, int8 value) and its pieces before they are joined.
    n = 3000
    complete = np.ones((n, n))
    ((needed, what, _),) = estimate_adjacency_memory(complete, n)
    assert "dense 3000 x 3000" in what and f"{n * (n - 1)} non-zero" in what
    tracemalloc.start()
    try:
        graph = symmetric_adjacency(complete, n)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert graph.nnz == n * (n - 1)
    assert peak < 10 * graph.nnz
    assert peak <= needed < 1.5 * peak


def test_sparse_conversion_is_within_its_estimate():
    n = 4000
    matrix = sp.random(n, n, density=0.05, format="csr", random_state=0)
    ((needed, what, _),) = estimate_adjacency_memory(matrix, n)
    assert "sparse" in what
    tracemalloc.start()
    try:
        symmetric_adjacency(matrix, n)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= needed < 1.5 * peak


def test_connected_batch_is_a_window_on_a_chain():
    adjacency = chain_adjacency(1000)
    rng = np.random.RandomState(0)
    for _ in range(20):
        rows = connected_batch(adjacency, 64, rng)
        assert rows.shape == (64,)
        np.testing.assert_array_equal(np.diff(rows), 1)


def test_connected_batch_spans_small_components():
    adjacency = sp.block_diag([chain_adjacency(5)] * 4, format="csr")
    rows = connected_batch(adjacency, 12, np.random.RandomState(0))
    assert rows.shape == (12,)
    assert np.unique(rows).size == 12


@pytest.mark.parametrize("n_merges", [0, 10, 59, 99])
def test_replay_by_level_matches_sequential_merges(n_merges):
    n = 100
    X = np.random.RandomState(5).normal(size=(n, 3))
    tree = _graph_linkage(_criterion(X), n, kneighbors_graph(X, 5))
    labels = cut_linkage(tree.linkage, n_clusters=n - n_merges)
    # One merge at a time, recording each new node's state as it is made.
    sequential = _criterion(X)
    slot = list(range(n))
    expected = []
    for step in range(n_merges):
        left, right = tree.linkage[step, :2].astype(int)
        sequential.merge(slot[left], slot[right], tree.costs[step])
        slot.append(slot[left])
        expected.append({k: v[slot[left]].copy() for k, v in sequential.state.items()})
    state, node_labels = replay_forest(
        _criterion(X), tree.linkage, tree.costs, n_merges, labels
    )
    np.testing.assert_array_equal(node_labels, labels[slot])
    for key in ("embedding", "score", "size"):
        np.testing.assert_array_equal(state[key][:n], _criterion(X).state[key])
        for step, node in enumerate(expected):
            np.testing.assert_allclose(state[key][n + step], node[key], rtol=1e-10)
    fallback_state, _ = replay_forest(
        _OuterOnly(_criterion(X)), tree.linkage, tree.costs, n_merges, labels
    )
    np.testing.assert_allclose(fallback_state["size"], state["size"])


def test_pair_costs_paired_is_the_diagonal_of_pair_costs():
    X = np.random.RandomState(6).normal(size=(30, 4))
    criterion = _criterion(X)
    first = np.array([0, 3, 7, 7, 20])
    second = np.array([1, 9, 8, 29, 21])
    expected = np.diagonal(criterion.pair_costs(first, second))
    np.testing.assert_allclose(criterion.pair_costs_paired(first, second), expected)
    np.testing.assert_allclose(
        _OuterOnly(criterion).pair_costs_paired(first, second), expected
    )


class _MidpointCriterion(MergeState):
    """Squared distance between nodes; a merged node is the midpoint.

    Not monotone: a merged node can be cheaper to merge than pairs that were
    already waiting, which makes batched rounds on a chain undo merges.
    """

    batched = True

    def __init__(self, X):
        self.points = np.array(X, dtype=np.float64)
        self.restored = 0

    def pair_costs(self, first, second):
        diff = self.points[first][:, None, :] - self.points[second][None, :, :]
        return np.einsum("ijk,ijk->ij", diff, diff)

    def pair_costs_paired(self, first, second):
        diff = self.points[first] - self.points[second]
        return np.einsum("ij,ij->i", diff, diff)

    def merge(self, first, second, cost):
        self.points[first] = (self.points[first] + self.points[second]) / 2
        return cost

    def merge_paired(self, first, second, costs):
        self.points[first] = (self.points[first] + self.points[second]) / 2
        return np.asarray(costs, dtype=np.float64)

    def save_slots(self, slots):
        return [self.points[slots].copy()]

    def restore_slots(self, slots, saved):
        self.restored += 1
        self.points[slots] = saved[0]


def test_batched_chain_undoes_overtaken_merges_exactly():
    n = 2000
    X = np.random.RandomState(0).normal(size=(n, 2))
    batched = _MidpointCriterion(X)
    tree = _graph_linkage(batched, n, chain_adjacency(n))
    sequential = _graph_linkage(
        _OuterOnly(_MidpointCriterion(X)), n, chain_adjacency(n)
    )
    assert batched.restored > 0
    np.testing.assert_array_equal(tree.linkage, sequential.linkage)
    np.testing.assert_array_equal(tree.costs, sequential.costs)


class _OneAtATime(MergeState):
    """Node costs with element-wise costs but without the batched methods.

    Graph linkage then merges a chain one pair at a time with the same cost
    arithmetic as the batched rounds.
    """

    def __init__(self, criterion):
        self.criterion = criterion
        self.state = criterion.state

    def pair_costs(self, first, second):
        return self.criterion.pair_costs(first, second)

    def pair_costs_paired(self, first, second):
        return self.criterion.pair_costs_paired(first, second)

    def merge(self, first, second, cost):
        return self.criterion.merge(first, second, cost)


class _CountingLearnedMetric(LearnedMetricMergeState):
    """The learned-metric node costs counting batched calls and undos."""

    def __init__(self, weights, state):
        super().__init__(weights, state)
        self.batches = 0
        self.restored = 0

    def merge_paired(self, first, second, costs):
        self.batches += 1
        return super().merge_paired(first, second, costs)

    def restore_slots(self, slots, saved):
        self.restored += 1
        super().restore_slots(slots, saved)


def _learned_metric_data(seed, n, d, repeats):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, d))
    if repeats:
        # Repeated rows make equal costs, zero costs among them.
        X = np.round(X[rng.randint(0, n // 4, size=n)], 1)
    weights = {"kernel_embed": rng.normal(size=(d, d)) + np.eye(d)}
    return X, weights


@pytest.mark.parametrize("repeats", [False, True])
@pytest.mark.parametrize("seed, n, d", [(0, 300, 2), (1, 1000, 3), (2, 3000, 8)])
def test_batched_chain_matches_one_merge_at_a_time_learned_metric(seed, n, d, repeats):
    # Ward-like costs: a merged node's new edges are often cheaper than pairs
    # already waiting, so rounds continue merges and undo some of them.
    X, weights = _learned_metric_data(seed, n, d, repeats)
    batched = _CountingLearnedMetric(weights, leaf_state(X))
    tree = _graph_linkage(batched, n, chain_adjacency(n))
    sequential = _graph_linkage(
        _OneAtATime(LearnedMetricMergeState(weights, leaf_state(X))),
        n,
        chain_adjacency(n),
    )
    np.testing.assert_array_equal(
        tree.linkage[:, [0, 1, 3]], sequential.linkage[:, [0, 1, 3]]
    )
    np.testing.assert_allclose(tree.costs, sequential.costs, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tree.losses, sequential.losses, rtol=1e-12, atol=1e-12)
    # Many merges per batched call, and some undone.
    assert batched.batches < n / 2
    if n >= 1000:
        assert batched.restored > 0


def test_batched_chain_with_all_costs_tied():
    # Every pair costs 0: the order is by slot alone.
    n = 500
    X = np.ones((n, 3))
    weights = {"kernel_embed": np.eye(3)}
    tree = _graph_linkage(
        LearnedMetricMergeState(weights, leaf_state(X)), n, chain_adjacency(n)
    )
    sequential = _graph_linkage(
        _OneAtATime(LearnedMetricMergeState(weights, leaf_state(X))),
        n,
        chain_adjacency(n),
    )
    np.testing.assert_array_equal(tree.linkage, sequential.linkage)
    assert np.all(tree.costs == 0)
