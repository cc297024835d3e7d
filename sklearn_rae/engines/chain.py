"""Greedy merging along a chain: the connectivity graph of a sequence.

Where every sample may merge only with its predecessor and successor
(``connectivity`` the chain ``0 - 1 - ... - n-1``), each node has at most two
neighbours, and the graph engine (:mod:`sklearn_rae.engines.graph`) merges
with a linked list over the samples instead of per-node neighbour tables.
:func:`chain_merges` takes one merge at a time; :func:`chain_merges_batched`
takes every merge whose cost is a local minimum of the chain at once, in
rounds, for merge states that evaluate many pairs in one call. Both give the
greedy tree of :func:`sklearn_rae.engines.greedy.greedy_linkage` restricted
to the chain: the same merges, ties broken alike.
"""

from __future__ import annotations

import heapq

import numpy as np

__all__ = ["chain_merges", "chain_merges_batched", "ordering_costs"]


def ordering_costs(costs: np.ndarray) -> np.ndarray:
    # NaN breaks heap ordering; an infinite cost keeps the order well defined
    # and is reported as not finite by the callers.
    costs = np.asarray(costs, dtype=np.float64)
    if np.isnan(costs).any():
        costs = np.where(np.isnan(costs), np.inf, costs)
    return costs


def chain_merges(merge_state, n: int, firsts, seconds, costs, losses) -> int:
    """Greedy merging along the chain; returns the number of merges made."""
    initial = ordering_costs(
        merge_state.pair_costs_paired(np.arange(n - 1), np.arange(1, n))
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
    merge = merge_state.merge
    paired = merge_state.pair_costs_paired
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


def chain_merges_batched(merge_state, n: int, firsts, seconds, costs, losses) -> int:
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
      undoes the others (the merge state's ``save_slots`` and ``restore_slots``).

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
    right_cost[: n - 1] = ordering_costs(
        merge_state.pair_costs_paired(np.arange(n - 1), np.arange(1, n))
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
                merge_state,
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
            merge_state,
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
    merge_state, n, left, right, right_cost, first_slots, second_slots, merge_costs
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
    saved = merge_state.save_slots(np.concatenate([first_slots, second_slots]))
    merge_losses = np.asarray(
        merge_state.merge_paired(first_slots, second_slots, merge_costs),
        dtype=np.float64,
    )
    n_before = int(has_before.sum())
    new = ordering_costs(
        merge_state.pair_costs_paired(
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
    merge_state,
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
        merge_state.restore_slots(
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
