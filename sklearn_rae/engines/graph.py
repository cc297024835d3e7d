"""Greedy agglomeration restricted to a connectivity graph.

This module knows nothing of TensorFlow. :func:`graph_linkage` has the contract
of :func:`sklearn_rae.engines.greedy.greedy_linkage` (same slots, same ``(earlier,
later)`` pair orientation, same lexicographic tie-break, same running-maximum
heights) except that only pairs of nodes joined by an edge of the graph may
merge. A merged node is joined to the union of its children's neighbours.

Algorithm
---------
Pair costs are evaluated for edges only, element-wise, with the node costs'
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
(:func:`sklearn_rae.engines.greedy.greedy_linkage` on the roots, in sample
order), so the joining merges are the last ``n_components - 1`` rows of the
linkage matrix. A flat cut into at least ``n_components`` clusters therefore
never mixes two components.
"""

from __future__ import annotations

import heapq
from collections import deque

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .._numeric import leaf_state
from .greedy import estimate_linkage_memory, greedy_linkage
from .node_costs import NodeCosts
from .tree import Engine, Tree, slot_linkage

__all__ = [
    "GRAPH",
    "graph_linkage",
    "symmetric_adjacency",
    "is_chain",
    "chain_adjacency",
    "component_warnings",
    "connected_batch",
    "estimate_adjacency_memory",
    "estimate_graph_memory",
]

# Peak bytes of graph_linkage, measured on complete and k-nearest-neighbour
# graphs of 1,000 to 20,000 samples (resident memory, rounded up): the
# neighbour tables are Python dicts, one entry per directed edge, plus the
# edge lists and costs they are built from. A chain is merged with arrays.
GRAPH_BYTES_PER_EDGE = 256
GRAPH_BYTES_PER_SAMPLE = 256


def _ordering_costs(costs: np.ndarray) -> np.ndarray:
    # NaN breaks heap ordering; an infinite cost keeps the order well defined
    # and is reported as not finite by the callers.
    costs = np.asarray(costs, dtype=np.float64)
    if np.isnan(costs).any():
        costs = np.where(np.isnan(costs), np.inf, costs)
    return costs


# ----------------------------------------------------------------- graphs


#: Entries of a dense connectivity matrix read at once when converting it:
#: its row block and column block, and their masks, take a few MiB.
_DENSE_BLOCK_ENTRIES = 1 << 21
# Peak bytes of converting a sparse connectivity matrix, per stored entry:
# 28 measured with tracemalloc on random CSR, CSC and COO matrices of 2 x 10^5
# to 9 x 10^6 entries (its COO form, the symmetrised int32 index arrays and
# the CSR result), rounded up.
_SPARSE_CONVERSION_BYTES_PER_ENTRY = 32


def _check_shape(connectivity, n_samples: int):
    """``connectivity`` as a sparse matrix or an ndarray of the right shape."""
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
    return connectivity


def _non_finite_error() -> ValueError:
    return ValueError(
        "connectivity contains NaN or infinite entries; use non-zero values "
        "for edges and 0 (or no entry) for missing edges."
    )


def _index_dtype(n_samples: int):
    return np.int32 if n_samples < 2**31 else np.int64


def _dense_rows_per_block(n_samples: int) -> int:
    return max(1, _DENSE_BLOCK_ENTRIES // max(n_samples, 1))


def symmetric_adjacency(connectivity, n_samples: int) -> sp.csr_matrix:
    """The undirected graph of ``connectivity`` without self-loops, as CSR.

    Any non-zero entry ``(i, j)`` or ``(j, i)`` joins ``i`` and ``j``; the
    diagonal is ignored. The result holds ones (int8) with sorted indices.

    A dense array is read block by block of rows (each with the matching
    block of columns), so that besides the result only a few MiB are
    allocated; :func:`estimate_adjacency_memory` tells how much before
    converting.

    Raises
    ------
    ValueError
        If ``connectivity`` is not a 2-d matrix of shape
        ``(n_samples, n_samples)``, or holds NaN or infinite entries.
    """
    connectivity = _check_shape(connectivity, n_samples)
    if not sp.issparse(connectivity):
        return _dense_symmetric_adjacency(connectivity)
    coo = sp.coo_matrix(connectivity)
    if not np.all(np.isfinite(coo.data)):
        raise _non_finite_error()
    keep = (coo.row != coo.col) & (coo.data != 0)
    index_dtype = _index_dtype(n_samples)
    row = coo.row[keep].astype(index_dtype, copy=False)
    col = coo.col[keep].astype(index_dtype, copy=False)
    del coo, keep
    rows = np.concatenate([row, col])
    cols = np.concatenate([col, row])
    del row, col
    graph = sp.csr_matrix(
        (np.ones(rows.shape[0], dtype=np.int8), (rows, cols)),
        shape=(n_samples, n_samples),
    )
    graph.sum_duplicates()
    graph.data[:] = 1
    graph.sort_indices()
    return graph


def _dense_symmetric_adjacency(dense: np.ndarray) -> sp.csr_matrix:
    """:func:`symmetric_adjacency` of a dense square array, block by block.

    Row ``i`` of the result is ``dense[i] != 0 or dense[:, i] != 0`` without
    ``i`` itself; a block of rows and the same block of columns give a block
    of result rows, whose column indices come out sorted.
    """
    n = dense.shape[0]
    index_dtype = _index_dtype(n)
    checks_finite = dense.dtype.kind in "fc"
    indptr = np.zeros(n + 1, dtype=np.int64)
    blocks = []
    step = _dense_rows_per_block(n)
    for start in range(0, n, step):
        stop = min(start + step, n)
        rows = dense[start:stop]
        edges = rows != 0
        # NaN and infinity are non-zero: checking the non-zero entries is enough.
        if checks_finite and not np.isfinite(rows[edges]).all():
            raise _non_finite_error()
        edges |= (dense[:, start:stop] != 0).T
        edges[np.arange(stop - start), np.arange(start, stop)] = False
        indptr[start + 1 : stop + 1] = np.count_nonzero(edges, axis=1)
        # Flat positions, row by row, sorted: their remainders are the columns
        # (and far quicker to find than np.nonzero's pairs).
        columns = np.flatnonzero(edges)
        columns %= n
        blocks.append(columns.astype(index_dtype))
        del rows, edges, columns
    np.cumsum(indptr, out=indptr)
    indices = np.concatenate(blocks) if blocks else np.empty(0, index_dtype)
    del blocks
    return sp.csr_matrix(
        (np.ones(indices.shape[0], dtype=np.int8), indices, indptr), shape=(n, n)
    )


def estimate_adjacency_memory(connectivity, n_samples: int) -> list:
    """What :func:`symmetric_adjacency` would allocate, before converting.

    For a dense array, its off-diagonal non-zero entries are counted (one
    pass, no copy) and the result bounded by twice as many stored edges, 8
    bytes each while the result is assembled; for a sparse matrix, a measured
    allowance per stored entry.

    Returns
    -------
    needs : list of (int, str, str)
        ``(bytes, what, advice)``, as a criterion's ``memory_needs``.

    Raises
    ------
    ValueError
        As :func:`symmetric_adjacency`, for a matrix of the wrong shape.
    """
    connectivity = _check_shape(connectivity, n_samples)
    n = int(n_samples)
    if sp.issparse(connectivity):
        n_bytes = _SPARSE_CONVERSION_BYTES_PER_ENTRY * int(connectivity.nnz)
        what = f"converting the {n} x {n} sparse connectivity matrix"
        advice = "Use a sparser graph (for example kneighbors_graph)"
    else:
        off_diagonal = int(np.count_nonzero(connectivity)) - int(
            np.count_nonzero(np.diagonal(connectivity))
        )
        stored = min(2 * off_diagonal, n * (n - 1))
        block = min(_dense_rows_per_block(n), n) * n
        # The int32 index blocks and their join (8 bytes an edge), or while
        # the last block is read, the blocks so far and that block's two
        # masks and its int64 and int32 column indices; the int8 data come
        # after; 1 MiB for the row offsets and the list of blocks.
        n_bytes = max(8 * stored, 4 * stored + 16 * block) + 8 * n + 2**20
        what = (
            f"converting the dense {n} x {n} connectivity matrix "
            f"({off_diagonal} non-zero entries off the diagonal)"
        )
        advice = (
            "Pass a sparse connectivity matrix with fewer edges (for example "
            "kneighbors_graph)"
        )
    return [(n_bytes, what, advice)]


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


def _chain_merges(node_costs, n: int, firsts, seconds, costs, losses) -> int:
    """Greedy merging along the chain; returns the number of merges made."""
    initial = _ordering_costs(
        node_costs.pair_costs_paired(np.arange(n - 1), np.arange(1, n))
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
    merge = node_costs.merge
    paired = node_costs.pair_costs_paired
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


def _chain_merges_batched(node_costs, n: int, firsts, seconds, costs, losses) -> int:
    """:func:`_chain_merges` applying many independent merges per round.

    Each round sorts the cheapest edges by key ``(cost, earlier slot)`` and
    takes the longest prefix ``P`` of them in which no two edges share a node
    or are joined by an edge; ``T`` is the key of its last edge, so every edge
    with a key up to ``T`` is in ``P``. The round then reproduces the
    one-merge-at-a-time loop up to the first time the cheapest edge is above
    ``T``:

    - Each pair of ``P`` is merged; its node starts a *stream*. An edge can only
      fall to ``T`` or below when one of its nodes merges, so every such edge
      touches a stream's node. Each step, every stream merges the cheaper of
      its node's two edges while that edge's key is at most ``T``, absorbing
      the neighbour (all streams at once, one batched call per step).
    - While no two streams' nodes are neighbours, the streams cannot affect
      each other, and the loop interleaves them by their running-maximum key:
      a merge comes after every merge of another stream whose running maximum
      is smaller. A merge that would make two streams neighbours is not made;
      the round keeps the merges ordered before the first such merge and
      undoes the others (the node costs' ``save_slots`` and ``restore_slots``).

    The result is exactly that of :func:`_chain_merges`: same merges in the
    same order with the same costs.

    The cheapest edges are kept in a pool: every live edge whose cost is at
    most ``threshold``. The pool is refilled by one partial sort of all edges
    when it runs out, and changed edges below the threshold join it.
    """
    big = np.iinfo(np.int64).max
    # Index n is a sentinel: left[-1] and right[n] stay outside the chain, and
    # index -1 of the arrays below is the sentinel too.
    left = np.arange(-1, n, dtype=np.int64)
    left[n] = -1
    right = np.arange(1, n + 2, dtype=np.int64)
    right[n - 1] = right[n] = n
    right_cost = np.full(n + 1, np.inf)
    right_cost[: n - 1] = _ordering_costs(
        node_costs.pair_costs_paired(np.arange(n - 1), np.arange(1, n))
    )
    rank = np.full(n + 1, big, dtype=np.int64)
    in_pool = np.zeros(n + 1, dtype=bool)
    # stream_of[s] is the stream whose node is in slot s during a round, or -1.
    stream_of = np.full(n + 1, -1, dtype=np.int64)
    absorbed_mark = np.zeros(n + 1, dtype=bool)
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
        top_cost = candidate_costs[n_taken - 1]
        top_slot = candidates[n_taken - 1]

        # The round's merges, one entry per step: (stream, first slot, second
        # slot, cost, journal); the journal holds what undoes them. A merge's
        # key is (cost, first slot).
        made = []
        # Merges not made because two streams would meet: (stream, cost,
        # first slot, step).
        waiting = []
        first_slots = candidates[:n_taken]
        second_slots = second[:n_taken]
        merge_costs = candidate_costs[:n_taken]
        streams = np.arange(n_taken, dtype=np.int64)
        depth = 0
        while first_slots.size:
            journal = _apply_chain_merges(
                node_costs,
                n,
                left,
                right,
                right_cost,
                first_slots,
                second_slots,
                merge_costs,
            )
            made.append((streams, first_slots, second_slots, merge_costs, journal))
            stream_of[first_slots] = streams
            depth += 1
            # The next merge of every stream: its node's cheaper edge, if at
            # most T.
            node = first_slots
            neighbour_left = left[node]
            neighbour_right = right[node]
            cost_left = right_cost[neighbour_left]
            cost_right = right_cost[node]
            light_left = (cost_left < top_cost) | (
                (cost_left == top_cost) & (neighbour_left <= top_slot)
            )
            light_right = (cost_right < top_cost) | (
                (cost_right == top_cost) & (node <= top_slot)
            )
            # Ties go to the left edge, whose earlier slot is smaller.
            go_left = light_left & (~light_right | (cost_left <= cost_right))
            go_right = light_right & ~go_left
            moving = go_left | go_right
            if not moving.any():
                break
            go_left, node = go_left[moving], node[moving]
            streams = streams[moving]
            neighbour_left = neighbour_left[moving]
            neighbour_right = neighbour_right[moving]
            absorbed = np.where(go_left, neighbour_left, neighbour_right)
            beyond = np.where(go_left, left[absorbed], right[absorbed])
            first_slots = np.where(go_left, neighbour_left, node)
            second_slots = np.where(go_left, node, neighbour_right)
            merge_costs = np.where(go_left, cost_left[moving], cost_right[moving])
            # A merge whose new node would neighbour another stream's node.
            meeting = stream_of[beyond] >= 0
            absorbed_mark[absorbed] = True
            meeting |= absorbed_mark[beyond]
            absorbed_mark[absorbed] = False
            ordered = np.sort(absorbed)
            twice = ordered[1:][ordered[1:] == ordered[:-1]]
            if twice.size:
                meeting |= np.isin(absorbed, twice)
            if meeting.any():
                waiting.append(
                    (
                        streams[meeting],
                        merge_costs[meeting],
                        first_slots[meeting],
                        depth,
                    )
                )
                keep = ~meeting
                streams, first_slots = streams[keep], first_slots[keep]
                second_slots, merge_costs = second_slots[keep], merge_costs[keep]
        step, n_kept_pairs = _commit_chain_round(
            node_costs,
            n,
            left,
            right,
            right_cost,
            made,
            waiting,
            step,
            firsts,
            seconds,
            costs,
            losses,
        )
        # Reset the round's bookkeeping and let changed edges join the pool.
        touched = []
        for _, first_slots, second_slots, _, journal in made:
            stream_of[first_slots] = -1
            touched += [first_slots, second_slots, journal[0]]
        touched = np.concatenate(touched)
        touched = touched[touched >= 0]
        joining = touched[(right_cost[touched] <= threshold) & ~in_pool[touched]]
        joining = np.unique(joining)
        in_pool[joining] = True
        pool = np.concatenate([pool, joining])
        if waiting:
            limit = max(8, 2 * n_kept_pairs)
        elif n_taken == limit:
            limit = min(2 * limit, 1 << 16)
    return step


def _apply_chain_merges(
    node_costs, n, left, right, right_cost, first_slots, second_slots, merge_costs
):
    """Merge independent chain pairs in place; return what undoes them."""
    before = left[first_slots]
    after = right[second_slots]
    has_before = before >= 0
    has_after = after < n
    old_costs = (
        right_cost[first_slots].copy(),
        right_cost[second_slots].copy(),
        right_cost[before].copy(),
    )
    saved = node_costs.save_slots(np.concatenate([first_slots, second_slots]))
    merge_losses = np.asarray(
        node_costs.merge_paired(first_slots, second_slots, merge_costs),
        dtype=np.float64,
    )
    n_before = int(has_before.sum())
    new = _ordering_costs(
        node_costs.pair_costs_paired(
            np.concatenate([before[has_before], first_slots[has_after]]),
            np.concatenate([first_slots[has_before], after[has_after]]),
        )
    )
    right_new = np.full(first_slots.size, np.inf)
    right_new[has_after] = new[n_before:]
    # The pairs are two steps apart, so no write clashes.
    right_cost[second_slots] = np.nan
    right[first_slots] = after
    left[after[has_after]] = first_slots[has_after]
    right_cost[first_slots] = right_new
    right_cost[before[has_before]] = new[:n_before]
    return before, after, old_costs, saved, merge_losses


def _commit_chain_round(
    node_costs,
    n,
    left,
    right,
    right_cost,
    made,
    waiting,
    step,
    firsts,
    seconds,
    costs,
    losses,
):
    """Order a round's merges as the one-at-a-time loop would; undo the rest.

    Returns the new step count and the number of the round's first merges
    (the pairs it started from) that were kept.
    """
    stream = np.concatenate([r[0] for r in made] + [w[0] for w in waiting])
    cost = np.concatenate([r[3] for r in made] + [w[1] for w in waiting])
    slot = np.concatenate([r[1] for r in made] + [w[2] for w in waiting])
    depth = np.concatenate(
        [np.full(r[0].size, d) for d, r in enumerate(made)]
        + [np.full(w[0].size, w[3]) for w in waiting]
    )
    n_made = stream.size - sum(w[0].size for w in waiting)
    # Running maximum of the keys along each stream, as a dense rank.
    by_key = np.lexsort((slot, cost))
    key_rank = np.empty(stream.size, dtype=np.int64)
    ordered_cost, ordered_slot = cost[by_key], slot[by_key]
    new_key = np.ones(stream.size, dtype=np.int64)
    new_key[1:] = (ordered_cost[1:] != ordered_cost[:-1]) | (
        ordered_slot[1:] != ordered_slot[:-1]
    )
    key_rank[by_key] = np.cumsum(new_key)
    by_stream = np.lexsort((depth, stream))
    offset = stream[by_stream] * (stream.size + 1)
    running = np.maximum.accumulate(key_rank[by_stream] + offset) - offset
    running_rank = np.empty_like(running)
    running_rank[by_stream] = running
    order = np.lexsort((depth, stream, running_rank))
    stop = np.flatnonzero(order >= n_made)
    kept = order[: stop[0]] if stop.size else order
    keep = np.zeros(n_made, dtype=bool)
    keep[kept] = True
    # Undo the merges not kept, latest step first.
    bounds = np.cumsum([0] + [r[0].size for r in made])
    for d in range(len(made) - 1, -1, -1):
        undo = np.flatnonzero(~keep[bounds[d] : bounds[d + 1]])
        if not undo.size:
            continue
        _, first_slots, second_slots, _, journal = made[d]
        before, after, old_costs, saved, _ = journal
        size = first_slots.size
        rows = np.concatenate([undo, size + undo])
        node_costs.restore_slots(
            np.concatenate([first_slots[undo], second_slots[undo]]),
            [array[rows] for array in saved],
        )
        a, b = first_slots[undo], second_slots[undo]
        before, after = before[undo], after[undo]
        right[a] = b
        left[after[after < n]] = b[after < n]
        right_cost[a] = old_costs[0][undo]
        right_cost[b] = old_costs[1][undo]
        right_cost[before[before >= 0]] = old_costs[2][undo][before >= 0]
    all_firsts = np.concatenate([r[1] for r in made])
    all_seconds = np.concatenate([r[2] for r in made])
    all_losses = np.concatenate([r[4][4] for r in made])
    count = kept.size
    firsts[step : step + count] = all_firsts[kept]
    seconds[step : step + count] = all_seconds[kept]
    costs[step : step + count] = cost[kept]
    losses[step : step + count] = all_losses[kept]
    return step + count, int(keep[: made[0][0].size].sum())


def _graph_merges(
    node_costs, n: int, adjacency: sp.csr_matrix, firsts, seconds, costs, losses
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
    initial = _ordering_costs(node_costs.pair_costs_paired(rows, cols)).tolist()
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
    merge = node_costs.merge
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
            node_costs.pair_costs_paired(earlier, later)
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


class _SubsetNodeCosts(NodeCosts):
    """Node costs restricted to some of its slots, renumbered from 0."""

    def __init__(self, node_costs, slots: np.ndarray):
        self.node_costs = node_costs
        self.slots = np.asarray(slots, dtype=np.int64)

    def pair_costs(self, first, second) -> np.ndarray:
        return self.node_costs.pair_costs(self.slots[first], self.slots[second])

    def merge(self, first: int, second: int, cost: float) -> float:
        return self.node_costs.merge(
            int(self.slots[first]), int(self.slots[second]), cost
        )


def graph_linkage(node_costs, n_samples: int, adjacency) -> Tree:
    """Build the greedy tree over ``n_samples`` leaves, merging only neighbours.

    Parameters
    ----------
    node_costs : MergeCriterion
        Pair costs and node updates; its slots are the samples, in order. An
        element-wise ``pair_costs_paired(first, second)`` is used when present.
    n_samples : int
        Number of leaves, at least 1.
    adjacency : sparse matrix or array-like of shape (n_samples, n_samples)
        The connectivity graph; symmetrised, the diagonal ignored.

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
    graph = symmetric_adjacency(adjacency, n)
    if is_chain(graph):
        engine = _chain_merges_batched if node_costs.batched else _chain_merges
        step = engine(node_costs, n, firsts, seconds, costs, losses)
    else:
        step = _graph_merges(node_costs, n, graph, firsts, seconds, costs, losses)
    if step < n_merges:
        # One root per component, each at its smallest sample index.
        is_root = np.ones(n, dtype=bool)
        is_root[seconds[:step]] = False
        roots = np.flatnonzero(is_root)
        joining = greedy_linkage(_SubsetNodeCosts(node_costs, roots), roots.shape[0])
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


def component_warnings(adjacency: sp.csr_matrix) -> list:
    """The warning of a graph with several components, as ``(category, message)``."""
    n_components = n_connected_components(adjacency)
    if n_components == 1:
        return []
    return [
        (
            UserWarning,
            f"The connectivity graph has {n_components} connected components. "
            "Each is merged into one cluster first; the last "
            f"{n_components - 1} merges then join the components greedily, "
            f"so a cut into {n_components} or more clusters never mixes "
            "components.",
        )
    ]


def n_connected_components(adjacency: sp.csr_matrix) -> int:
    """Number of connected components of an undirected graph."""
    return int(connected_components(adjacency, directed=False)[0])


def build_graph_tree(criterion, weights, X, adjacency) -> Tree:
    """The engine's entry point: ``criterion``'s tree along ``adjacency``."""
    return graph_linkage(
        criterion.node_costs(weights, leaf_state(X)), len(X), adjacency
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
