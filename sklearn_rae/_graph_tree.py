"""Greedy agglomeration restricted to a connectivity graph.

This module knows nothing of TensorFlow. :func:`graph_linkage` has the contract
of :func:`sklearn_rae._tree.greedy_linkage` (same slots, same ``(earlier,
later)`` pair orientation, same lexicographic tie-break, same running-maximum
heights) except that only pairs of nodes joined by an edge of the graph may
merge. A merged node is joined to the union of its children's neighbours.

Algorithm
---------
Pair costs are evaluated for edges only, element-wise, with the criterion's
``pair_costs_paired``. Candidate edges wait in a binary heap keyed by
``(cost, earlier slot, later slot)``; an entry is discarded when popped if its
edge no longer exists or its cost changed (lazy invalidation). After a merge
the new node's costs to all its neighbours are evaluated in one batched call.
Memory is ``O(n k)`` for ``k`` neighbours per node and time about
``O(n k log n)`` pair costs and heap operations. A chain ``0 - 1 - ... - n-1``
(a sequence) is recognised and merged with a linked list instead of
per-node neighbour tables.

Disconnected graphs
-------------------
Each connected component is first merged into one root. The roots are then
joined by the ordinary greedy algorithm over all pairs of roots
(:func:`sklearn_rae._tree.greedy_linkage` on the roots, in sample order), so the
joining merges are the last ``n_components - 1`` rows of the linkage matrix. A
flat cut into at least ``n_components`` clusters therefore never mixes two
components.
"""

from __future__ import annotations

import heapq
from collections import deque

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ._tree import GreedyTree, greedy_linkage

__all__ = [
    "graph_linkage",
    "symmetric_adjacency",
    "is_chain",
    "chain_adjacency",
    "connected_batch",
    "pair_costs_paired",
]

# Pairs evaluated per outer-product call when a criterion has no element-wise
# ``pair_costs_paired``: the waste is a factor of this size.
_FALLBACK_CHUNK = 64

# What a criterion needs for merging a chain many merges per round.
_BATCH_METHODS = ("pair_costs_paired", "merge_paired", "save_slots", "restore_slots")


def pair_costs_paired(criterion, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Costs of merging ``first[i]`` (earlier) with ``second[i]`` for every ``i``.

    Uses the criterion's ``pair_costs_paired`` when it has one; otherwise the
    diagonals of outer-product calls on chunks of ``_FALLBACK_CHUNK`` pairs, so
    no large matrix is ever allocated.
    """
    paired = getattr(criterion, "pair_costs_paired", None)
    if paired is not None:
        return np.asarray(paired(first, second), dtype=np.float64)
    first = np.asarray(first, dtype=np.int64)
    second = np.asarray(second, dtype=np.int64)
    out = np.empty(first.shape[0], dtype=np.float64)
    for start in range(0, first.shape[0], _FALLBACK_CHUNK):
        stop = min(start + _FALLBACK_CHUNK, first.shape[0])
        block = criterion.pair_costs(first[start:stop], second[start:stop])
        out[start:stop] = np.diagonal(np.asarray(block, dtype=np.float64))
    return out


def _ordering_costs(costs: np.ndarray) -> np.ndarray:
    # NaN breaks heap ordering; an infinite cost keeps the order well defined
    # and is reported as not finite by the callers.
    costs = np.asarray(costs, dtype=np.float64)
    if np.isnan(costs).any():
        costs = np.where(np.isnan(costs), np.inf, costs)
    return costs


# ----------------------------------------------------------------- graphs


def symmetric_adjacency(connectivity, n_samples: int) -> sp.csr_matrix:
    """The undirected graph of ``connectivity`` without self-loops, as CSR.

    Any non-zero entry ``(i, j)`` or ``(j, i)`` joins ``i`` and ``j``; the
    diagonal is ignored. The result holds ones (int8) with sorted indices.

    Raises
    ------
    ValueError
        If ``connectivity`` is not a 2-d matrix of shape
        ``(n_samples, n_samples)``.
    """
    if not sp.issparse(connectivity):
        connectivity = np.asarray(connectivity)
        if connectivity.ndim != 2:
            raise ValueError(
                "connectivity must be a 2-d (n_samples, n_samples) adjacency "
                f"matrix; got an array with {connectivity.ndim} dimension(s)."
            )
    if connectivity.shape != (n_samples, n_samples):
        raise ValueError(
            "connectivity must be a square adjacency matrix of shape "
            f"(n_samples, n_samples) = ({n_samples}, {n_samples}); got shape "
            f"{tuple(connectivity.shape)}."
        )
    coo = sp.coo_matrix(connectivity)
    keep = (coo.row != coo.col) & (coo.data != 0)
    row = coo.row[keep].astype(np.int64)
    col = coo.col[keep].astype(np.int64)
    rows = np.concatenate([row, col])
    cols = np.concatenate([col, row])
    graph = sp.csr_matrix(
        (np.ones(rows.shape[0], dtype=np.int8), (rows, cols)),
        shape=(n_samples, n_samples),
    )
    graph.sum_duplicates()
    graph.data[:] = 1
    graph.sort_indices()
    return graph


def chain_adjacency(n_samples: int) -> sp.csr_matrix:
    """The chain ``0 - 1 - ... - n_samples-1`` of a sequence, as CSR."""
    ones = np.ones(max(n_samples - 1, 0), dtype=np.int8)
    return sp.diags(
        [ones, ones], [-1, 1], shape=(n_samples, n_samples), format="csr", dtype=np.int8
    )


def is_chain(adjacency: sp.csr_matrix) -> bool:
    """Whether a symmetric adjacency without self-loops is exactly the chain."""
    n = adjacency.shape[0]
    if adjacency.nnz != 2 * (n - 1):
        return False
    coo = adjacency.tocoo()
    return bool(np.all(np.abs(coo.row.astype(np.int64) - coo.col) == 1))


def connected_batch(
    adjacency: sp.csr_matrix, batch_size: int, random_state: np.random.RandomState
) -> np.ndarray:
    """A connected neighbourhood of ``batch_size`` samples, sorted.

    Breadth-first search from a random sample; on a chain this is a contiguous
    window. When the seed's component is smaller than ``batch_size``, the search
    continues from another random sample not yet taken.
    """
    n = adjacency.shape[0]
    batch_size = min(int(batch_size), n)
    indptr, indices = adjacency.indptr, adjacency.indices
    taken = np.zeros(n, dtype=bool)
    rows: list[int] = []
    while len(rows) < batch_size:
        seed = int(random_state.randint(n))
        if taken[seed]:
            seed = int(random_state.choice(np.flatnonzero(~taken)))
        taken[seed] = True
        rows.append(seed)
        queue = deque([seed])
        while queue and len(rows) < batch_size:
            node = queue.popleft()
            for neighbour in indices[indptr[node] : indptr[node + 1]].tolist():
                if not taken[neighbour]:
                    taken[neighbour] = True
                    rows.append(neighbour)
                    queue.append(neighbour)
                    if len(rows) == batch_size:
                        break
    return np.sort(np.asarray(rows, dtype=np.int64))


# ----------------------------------------------------------------- engines


def _chain_merges(criterion, n: int, firsts, seconds, costs, losses) -> int:
    """Greedy merging along the chain; returns the number of merges made."""
    initial = _ordering_costs(
        pair_costs_paired(criterion, np.arange(n - 1), np.arange(1, n))
    )
    # right_cost[s] is the cost of the edge from the node in slot s to its
    # right neighbour; NaN for removed slots so that no entry matches them.
    right_cost = initial.tolist()
    right_cost.append(np.inf)
    right = list(range(1, n + 1))
    left = list(range(-1, n - 1))
    heap = list(zip(right_cost[:-1], range(n - 1), strict=True))
    heapq.heapify(heap)
    heappop, heappush = heapq.heappop, heapq.heappush
    merge = criterion.merge
    paired = getattr(criterion, "pair_costs_paired", None)
    if paired is None:

        def paired(first, second):
            return pair_costs_paired(criterion, first, second)

    nan = float("nan")
    step = 0
    while heap:
        cost, first = heappop(heap)
        if right_cost[first] != cost:
            continue
        second = right[first]
        firsts[step] = first
        seconds[step] = second
        costs[step] = cost
        losses[step] = merge(first, second, cost)
        step += 1
        right_cost[second] = nan
        after = right[second]
        right[first] = after
        before = left[first]
        if after < n:
            left[after] = first
        if before >= 0:
            if after < n:
                new = paired([before, first], [first, after]).tolist()
                if new[1] != new[1]:
                    new[1] = np.inf
                right_cost[first] = new[1]
                heappush(heap, (new[1], first))
            else:
                new = paired([before], [first]).tolist()
                right_cost[first] = np.inf
            if new[0] != new[0]:
                new[0] = np.inf
            right_cost[before] = new[0]
            heappush(heap, (new[0], before))
        elif after < n:
            value = paired([first], [after]).tolist()[0]
            if value != value:
                value = np.inf
            right_cost[first] = value
            heappush(heap, (value, first))
        else:
            right_cost[first] = np.inf
    return step


def _chain_merges_batched(criterion, n: int, firsts, seconds, costs, losses) -> int:
    """:func:`_chain_merges` applying many independent merges per round.

    Each round sorts the cheapest edges by key ``(cost, earlier slot)`` and
    takes the longest prefix of them in which no two edges share a node or are
    joined by an edge. These pairs are merged in one batch and their new edges
    evaluated in one call. The one-merge-at-a-time loop makes the same merges
    in the same order unless a new edge of an earlier pair is cheaper than a
    later pair (ties counted as cheaper); from the first such pair on, the
    merges are undone with the criterion's ``restore_slots``. The result is
    exactly that of :func:`_chain_merges`.

    The cheapest edges are kept in a pool: every live edge whose cost is at
    most ``threshold``. The pool is refilled by one partial sort of all edges
    when it runs out, and new edges below the threshold join it.
    """
    big = np.iinfo(np.int64).max
    # Index n is a sentinel: left[-1] and right[n] stay outside the chain.
    left = np.arange(-1, n, dtype=np.int64)
    left[n] = -1
    right = np.arange(1, n + 2, dtype=np.int64)
    right[n - 1] = right[n] = n
    right_cost = np.full(n + 1, np.inf)
    right_cost[: n - 1] = _ordering_costs(
        criterion.pair_costs_paired(np.arange(n - 1), np.arange(1, n))
    )
    rank = np.full(n + 1, big, dtype=np.int64)
    in_pool = np.zeros(n + 1, dtype=bool)
    pool = np.empty(0, dtype=np.int64)
    threshold = -np.inf
    limit = 64
    step = 0
    while step < n - 1:
        if pool.size:
            pool_costs = right_cost[pool]
            valid = pool_costs <= threshold
            in_pool[pool[~valid]] = False
            pool, pool_costs = pool[valid], pool_costs[valid]
        if not pool.size:
            live = np.flatnonzero(right_cost[:n] < np.inf)
            if not live.size:
                break
            size = min(live.size, max(4096, live.size // 32))
            threshold = np.partition(right_cost[live], size - 1)[size - 1]
            pool = live[right_cost[live] <= threshold]
            in_pool[pool] = True
            pool_costs = right_cost[pool]
        order = np.lexsort((pool, pool_costs))[:limit]
        candidates = pool[order]
        candidate_costs = pool_costs[order]
        # Stop before the first edge within two steps of an earlier one.
        rank[candidates] = np.arange(candidates.size)
        before = left[candidates]
        second = right[candidates]
        after = right[second]
        nearest = np.minimum(
            np.minimum(rank[before], rank[left[before]]),
            np.minimum(rank[second], rank[after]),
        )
        rank[candidates] = big
        clash = np.flatnonzero(nearest < np.arange(candidates.size))
        n_taken = int(clash[0]) if clash.size else candidates.size
        first_slots = candidates[:n_taken]
        second_slots = second[:n_taken]
        batch_costs = candidate_costs[:n_taken]
        before, after = before[:n_taken], after[:n_taken]
        slots = np.concatenate([first_slots, second_slots])
        saved = criterion.save_slots(slots) if n_taken > 1 else None
        batch_losses = np.asarray(
            criterion.merge_paired(first_slots, second_slots, batch_costs),
            dtype=np.float64,
        )
        has_before = before >= 0
        has_after = after < n
        n_before = int(has_before.sum())
        new = _ordering_costs(
            criterion.pair_costs_paired(
                np.concatenate([before[has_before], first_slots[has_after]]),
                np.concatenate([first_slots[has_before], after[has_after]]),
            )
        )
        left_new = np.full(n_taken, np.inf)
        left_new[has_before] = new[:n_before]
        right_new = np.full(n_taken, np.inf)
        right_new[has_after] = new[n_before:]
        keep = n_taken
        if n_taken > 1:
            cheapest_new = np.minimum.accumulate(np.minimum(left_new, right_new))
            overtaken = np.flatnonzero(cheapest_new[:-1] <= batch_costs[1:])
            if overtaken.size:
                keep = int(overtaken[0]) + 1
        if keep < n_taken:
            undo = np.r_[keep:n_taken, n_taken + keep : 2 * n_taken]
            criterion.restore_slots(slots[undo], [rows[undo] for rows in saved])
            limit = max(1, 2 * keep)
        elif n_taken == limit:
            limit = min(2 * limit, 1 << 16)
        first_slots, second_slots = first_slots[:keep], second_slots[:keep]
        before, after = before[:keep], after[:keep]
        left_new, right_new = left_new[:keep], right_new[:keep]
        firsts[step : step + keep] = first_slots
        seconds[step : step + keep] = second_slots
        costs[step : step + keep] = batch_costs[:keep]
        losses[step : step + keep] = batch_losses[:keep]
        step += keep
        # Relink the chain; the pairs are two steps apart, so no write clashes.
        right_cost[second_slots] = np.nan
        in_pool[second_slots] = False
        right[first_slots] = after
        left[after[after < n]] = first_slots[after < n]
        right_cost[first_slots] = right_new
        right_cost[before[before >= 0]] = left_new[before >= 0]
        changed = np.concatenate([first_slots, before[before >= 0]])
        joining = changed[(right_cost[changed] <= threshold) & ~in_pool[changed]]
        in_pool[joining] = True
        pool = np.concatenate([pool, joining])
    return step


def _graph_merges(
    criterion, n: int, adjacency: sp.csr_matrix, firsts, seconds, costs, losses
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
    initial = _ordering_costs(pair_costs_paired(criterion, rows, cols)).tolist()
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
    merge = criterion.merge
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
        new_costs = _ordering_costs(
            pair_costs_paired(criterion, earlier, later)
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


class _SubsetCriterion:
    """A criterion restricted to some of its slots, renumbered from 0."""

    def __init__(self, criterion, slots: np.ndarray):
        self.criterion = criterion
        self.slots = np.asarray(slots, dtype=np.int64)

    def pair_costs(self, first, second) -> np.ndarray:
        return self.criterion.pair_costs(self.slots[first], self.slots[second])

    def merge(self, first: int, second: int, cost: float) -> float:
        return self.criterion.merge(
            int(self.slots[first]), int(self.slots[second]), cost
        )


def graph_linkage(criterion, n_samples: int, adjacency) -> GreedyTree:
    """Build the greedy tree over ``n_samples`` leaves, merging only neighbours.

    Parameters
    ----------
    criterion : MergeCriterion
        Pair costs and node updates; its slots are the samples, in order. An
        element-wise ``pair_costs_paired(first, second)`` is used when present.
    n_samples : int
        Number of leaves, at least 1.
    adjacency : sparse matrix or array-like of shape (n_samples, n_samples)
        The connectivity graph; symmetrised, the diagonal ignored.

    Returns
    -------
    tree : GreedyTree
        As :func:`sklearn_rae._tree.greedy_linkage`. When the graph has several
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
        return GreedyTree(np.empty((0, 4)), costs, losses)
    graph = symmetric_adjacency(adjacency, n)
    if is_chain(graph):
        engine = (
            _chain_merges_batched
            if all(hasattr(criterion, name) for name in _BATCH_METHODS)
            else _chain_merges
        )
        step = engine(criterion, n, firsts, seconds, costs, losses)
    else:
        step = _graph_merges(criterion, n, graph, firsts, seconds, costs, losses)
    if step < n_merges:
        # One root per component, each at its smallest sample index.
        is_root = np.ones(n, dtype=bool)
        is_root[seconds[:step]] = False
        roots = np.flatnonzero(is_root)
        joining = greedy_linkage(_SubsetCriterion(criterion, roots), roots.shape[0])
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
    return GreedyTree(_slot_linkage(firsts, seconds, costs, n), costs, losses)


def _slot_linkage(
    firsts: np.ndarray, seconds: np.ndarray, costs: np.ndarray, n: int
) -> np.ndarray:
    """SciPy linkage matrix from merges given as (earlier slot, later slot)."""
    n_merges = firsts.shape[0]
    node_id = list(range(n))
    size = [1] * n
    left = np.empty(n_merges, dtype=np.float64)
    right = np.empty(n_merges, dtype=np.float64)
    counts = np.empty(n_merges, dtype=np.float64)
    for step, (first, second) in enumerate(
        zip(firsts.tolist(), seconds.tolist(), strict=True)
    ):
        left[step] = node_id[first]
        right[step] = node_id[second]
        node_id[first] = n + step
        size[first] += size[second]
        counts[step] = size[first]
    heights = np.maximum.accumulate(np.maximum(costs, 0.0)) if n_merges else costs
    return np.column_stack([left, right, heights, counts])


# ----------------------------------------------------------------- replay


def n_connected_components(adjacency: sp.csr_matrix) -> int:
    """Number of connected components of an undirected graph."""
    return int(connected_components(adjacency, directed=False)[0])
