"""Greedy agglomeration restricted to a connectivity graph.

This module knows nothing of TensorFlow. :func:`graph_linkage` has the contract
of :func:`sklearn_rae.engines.greedy.greedy_linkage` (same slots, same ``(earlier,
later)`` pair orientation, same lexicographic tie-break, same running-maximum
heights) except that only pairs of nodes joined by an edge of the graph may
merge. A merged node is joined to the union of its children's neighbours.

Algorithm
---------
Pair costs are evaluated for edges only, element-wise, with the merge state's
``pair_costs_paired``. Candidate edges wait in a binary heap keyed by
``(cost, earlier slot, later slot)``; an entry is discarded when popped if its
edge no longer exists or its cost changed (lazy invalidation). After a merge
the new node's costs to all its neighbours are evaluated in one batched call.
Memory is ``O(n k)`` for ``k`` neighbours per node and time about
``O(n k log n)`` pair costs and heap operations. A chain ``0 - 1 - ... - n-1``
(a sequence) is recognised and merged with a linked list
(:mod:`sklearn_rae.engines.chain`) instead of
per-node neighbour tables.

Disconnected graphs
-------------------
Each connected component is first merged into one root. The roots are then
joined by the ordinary greedy algorithm over all pairs of roots
(:func:`sklearn_rae.engines.greedy.greedy_linkage` on the roots, in sample
order), so the joining merges are the last ``n_components - 1`` rows of the
linkage matrix. A flat cut into at least ``n_components`` clusters therefore
never mixes two components.
"""

from __future__ import annotations

import heapq

import numpy as np
import scipy.sparse as sp

from .._connectivity import is_chain, n_connected_components
from .._numeric import leaf_state
from .chain import chain_merges, chain_merges_batched, ordering_costs
from .greedy import estimate_linkage_memory, greedy_linkage
from .merge_state import MergeState
from .tree import Engine, Tree, slot_linkage

__all__ = ["GRAPH", "estimate_graph_memory", "graph_linkage"]

# Peak bytes of graph_linkage, measured on complete and k-nearest-neighbour
# graphs of 1,000 to 20,000 samples (resident memory, rounded up): the
# neighbour tables are Python dicts, one entry per directed edge, plus the
# edge lists and costs they are built from. A chain is merged with arrays.
GRAPH_BYTES_PER_EDGE = 256
GRAPH_BYTES_PER_SAMPLE = 256


# ----------------------------------------------------------------- engines


def _graph_merges(
    merge_state, n: int, adjacency: sp.csr_matrix, firsts, seconds, costs, losses
) -> int:
    """Greedy merging over a general graph; returns the number of merges made.

    Every node keeps the key ``(cost, earlier, later)`` of its cheapest edge and
    the heap holds these candidates only. When a node's candidate edge
    disappears its old key stays in the heap as a lower bound and the node's
    edges are rescanned when it surfaces (Müllner's generic algorithm).
    """
    upper = sp.triu(adjacency, k=1, format="coo")
    rows = upper.row.astype(np.int64)
    cols = upper.col.astype(np.int64)
    initial = ordering_costs(merge_state.pair_costs_paired(rows, cols)).tolist()
    rows_list, cols_list = rows.tolist(), cols.tolist()
    del rows, cols, upper
    # neighbours[s] maps each neighbour slot of the node in slot s to the cost
    # of their pair; None once the slot is removed.
    neighbours: list[dict | None] = [{} for _ in range(n)]
    for r, c, value in zip(rows_list, cols_list, initial, strict=True):
        neighbours[r][c] = value
        neighbours[c][r] = value
    del rows_list, cols_list, initial

    def cheapest(node: int):
        table = neighbours[node]
        if not table:
            return None
        other = min(table, key=table.__getitem__)
        value = table[other]
        # Among equal costs the smaller neighbour wins for both orientations:
        # (value, node, other) with other > node, or (value, other, node).
        if list(table.values()).count(value) > 1:
            other = min(o for o, v in table.items() if v == value)
        return (value, min(node, other), max(node, other))

    best: list[tuple | None] = [cheapest(node) for node in range(n)]
    heap = [(*key, node) for node, key in enumerate(best) if key is not None]
    heapq.heapify(heap)
    heappop, heappush = heapq.heappop, heapq.heappush
    merge = merge_state.merge
    step = 0
    while heap:
        entry = heappop(heap)
        cost, first, second, node = entry
        key = entry[:3]
        if neighbours[node] is None or best[node] != key:
            continue
        table = neighbours[first]
        if table is None or table.get(second) != cost:
            # The candidate edge is gone: its cost was a lower bound.
            best[node] = key = cheapest(node)
            if key is not None:
                heappush(heap, (*key, node))
            continue
        firsts[step] = first
        seconds[step] = second
        costs[step] = cost
        losses[step] = merge(first, second, cost)
        step += 1
        first_neighbours = neighbours[first]
        second_neighbours = neighbours[second]
        neighbours[second] = None
        best[second] = None
        del first_neighbours[second]
        del second_neighbours[first]
        for other in second_neighbours:
            del neighbours[other][second]
        first_neighbours.update(second_neighbours)
        if not first_neighbours:
            best[first] = None
            continue
        others = np.fromiter(first_neighbours, dtype=np.int64)
        earlier = np.minimum(others, first)
        later = np.maximum(others, first)
        new_costs = ordering_costs(
            merge_state.pair_costs_paired(earlier, later)
        ).tolist()
        others_list = others.tolist()
        neighbours[first] = dict(zip(others_list, new_costs, strict=True))
        best[first] = key = cheapest(first)
        heappush(heap, (*key, first))
        for other, value, lo, hi in zip(
            others_list, new_costs, earlier.tolist(), later.tolist(), strict=True
        ):
            neighbours[other][first] = value
            key = (value, lo, hi)
            if key <= best[other]:
                best[other] = key
                heappush(heap, (value, lo, hi, other))
    return step


class _SubsetMergeState(MergeState):
    """Node costs restricted to some of its slots, renumbered from 0."""

    def __init__(self, merge_state, slots: np.ndarray):
        self.merge_state = merge_state
        self.slots = np.asarray(slots, dtype=np.int64)

    def pair_costs(self, first, second) -> np.ndarray:
        return self.merge_state.pair_costs(self.slots[first], self.slots[second])

    def merge(self, first: int, second: int, cost: float) -> float:
        return self.merge_state.merge(
            int(self.slots[first]), int(self.slots[second]), cost
        )


def graph_linkage(merge_state, n_samples: int, adjacency) -> Tree:
    """Build the greedy tree over ``n_samples`` leaves, merging only neighbours.

    Parameters
    ----------
    merge_state : MergeCriterion
        Pair costs and node updates; its slots are the samples, in order. An
        element-wise ``pair_costs_paired(first, second)`` is used when present.
    n_samples : int
        Number of leaves, at least 1.
    adjacency : sparse matrix of shape (n_samples, n_samples)
        The connectivity graph, symmetric, in CSR form, without its diagonal:
        as :func:`sklearn_rae._connectivity.symmetric_adjacency` gives it.

    Returns
    -------
    tree : Tree
        As :func:`sklearn_rae.engines.greedy.greedy_linkage`. When the graph has several
        connected components, the last ``n_components - 1`` merges join the
        components' roots greedily over all pairs of roots.
    """
    n = int(n_samples)
    n_merges = max(n - 1, 0)
    firsts = np.empty(n_merges, dtype=np.int64)
    seconds = np.empty(n_merges, dtype=np.int64)
    costs = np.empty(n_merges, dtype=np.float64)
    losses = np.empty(n_merges, dtype=np.float64)
    if n < 2:
        return Tree(np.empty((0, 4)), costs, losses)
    graph = adjacency
    if is_chain(graph):
        engine = chain_merges_batched if merge_state.batched else chain_merges
        step = engine(merge_state, n, firsts, seconds, costs, losses)
    else:
        step = _graph_merges(merge_state, n, graph, firsts, seconds, costs, losses)
    if step < n_merges:
        # One root per component, each at its smallest sample index.
        is_root = np.ones(n, dtype=bool)
        is_root[seconds[:step]] = False
        roots = np.flatnonzero(is_root)
        joining = greedy_linkage(_SubsetMergeState(merge_state, roots), roots.shape[0])
        # Map the joining tree's node ids back to slots: a node's slot is the
        # slot of its earlier child, as everywhere.
        slot_of = np.concatenate([roots, np.empty(roots.shape[0] - 1, np.int64)])
        for row in range(roots.shape[0] - 1):
            a, b = int(joining.linkage[row, 0]), int(joining.linkage[row, 1])
            firsts[step + row] = slot_of[a]
            seconds[step + row] = slot_of[b]
            slot_of[roots.shape[0] + row] = slot_of[a]
        costs[step:] = joining.costs
        losses[step:] = joining.losses
    return Tree(slot_linkage(firsts, seconds, costs, n), costs, losses)


# ----------------------------------------------------------------- replay


def estimate_graph_memory(adjacency: sp.csr_matrix) -> int:
    """Bytes that :func:`graph_linkage` allocates for the graph ``adjacency``.

    About ``GRAPH_BYTES_PER_EDGE`` per stored (directed) edge, so twice that per
    undirected edge, plus ``GRAPH_BYTES_PER_SAMPLE`` per sample; a chain needs
    the per-sample part only. Joining disconnected components is extra (see
    :func:`sklearn_rae.engines.greedy.estimate_linkage_memory` for the roots).
    """
    n_samples = adjacency.shape[0]
    per_sample = GRAPH_BYTES_PER_SAMPLE * n_samples
    if is_chain(adjacency):
        return per_sample
    return per_sample + GRAPH_BYTES_PER_EDGE * int(adjacency.nnz)


def build_graph_tree(criterion, weights, X, adjacency) -> Tree:
    """The engine's entry point: ``criterion``'s tree along ``adjacency``."""
    return graph_linkage(
        criterion.merge_state(weights, leaf_state(X)), len(X), adjacency
    )


def graph_memory_needs(n_samples, n_features, adjacency):
    """The graph's tables, and the join of its components if it has several."""
    needs = [
        (
            estimate_graph_memory(adjacency),
            f"the {adjacency.nnz // 2} edges of the connectivity graph",
            "Use a sparser graph (for example kneighbors_graph)",
        )
    ]
    n_components = n_connected_components(adjacency)
    if n_components > 1:
        needs.append(
            (
                estimate_linkage_memory(n_components),
                f"joining its {n_components} connected components",
                "Connect the graph",
            )
        )
    return needs


GRAPH = Engine(
    name="graph",
    description="greedy merging along the connectivity graph",
    build_tree=build_graph_tree,
    memory_needs=graph_memory_needs,
)
