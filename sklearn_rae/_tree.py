"""Greedy agglomeration on arrays, and the linkage matrix it produces.

This module knows nothing of TensorFlow. A *merge criterion* (see
:mod:`sklearn_rae._criteria`) owns the per-node state and evaluates pair costs in
batches; :func:`greedy_linkage` runs the greedy loop and returns SciPy's linkage
matrix.

Conventions
-----------
The active nodes form an ordered list, as in the recursive autoencoder of the
original blog post: the leaves start in sample order, a merged node takes the
position of the earlier of its two children and the later child is removed. A
node's position is therefore the smallest sample index among its leaves, and the
engine stores each active node in the *slot* of that index. A pair is always
evaluated as ``(earlier, later)``: the earlier node is the merge encoder's first
input. The greedy step takes the pair of minimum cost; ties go to the first pair
in list order, that is lexicographically by ``(earlier slot, later slot)``.

Algorithm
---------
Pair costs are cached in a condensed upper-triangular matrix and every node
keeps its nearest later neighbour (the candidate of Müllner's generic
algorithm). After a merge only the new node's costs are evaluated, in one
batched call, and only rows whose candidate was one of the merged nodes are
rescanned. A whole tree costs about ``n**2`` pair-cost evaluations (``n**2 / 2``
to fill the cache, as many again for the merged nodes) and ``O(n**2)`` memory
for the cache.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

import numpy as np

__all__ = [
    "GreedyTree",
    "MergeCriterion",
    "greedy_linkage",
    "replay_forest",
    "cut_linkage",
    "estimate_linkage_memory",
]


class MergeCriterion(Protocol):
    """What :func:`greedy_linkage` needs from a merge criterion.

    The criterion holds one state row per slot (``n_samples`` slots, initialised
    from the leaves) and updates slot ``first`` in place when two nodes merge.
    """

    def pair_costs(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Costs of merging every ``first[r]`` (earlier) with every ``second[c]``.

        Returns an array of shape ``(len(first), len(second))``.
        """

    def merge(self, first: int, second: int, cost: float) -> float:
        """Merge slot ``second`` into slot ``first`` and return the merge's loss.

        The loss is the merge's contribution to the tree objective that training
        minimises (for the seed's criterion, the reconstruction error).
        """


class GreedyTree(NamedTuple):
    """The result of :func:`greedy_linkage`.

    Attributes
    ----------
    linkage : ndarray of shape (n_samples - 1, 4), dtype float64
        SciPy's linkage matrix. Row ``t`` merges the nodes in its first two
        columns into node ``n_samples + t``: column 0 holds the earlier node in
        list order, column 1 the later. Column 2 is the merge cost made monotone
        and non-negative, as SciPy requires (the running maximum of ``costs``
        and 0, which changes nothing for criteria whose greedy costs never
        decrease from a non-negative start), column 3 the number of leaves.
    costs : ndarray of shape (n_samples - 1,)
        The cost of each merge as the greedy step compared it.
    losses : ndarray of shape (n_samples - 1,)
        Each merge's contribution to the tree objective that training
        minimises (see :meth:`MergeCriterion.merge`).
    """

    linkage: np.ndarray
    costs: np.ndarray
    losses: np.ndarray


def _row_starts(n: int) -> np.ndarray:
    """Offsets of each row's upper part in a condensed ``n x n`` matrix."""
    rows = np.arange(n, dtype=np.int64)
    return n * rows - rows * (rows + 1) // 2


def estimate_linkage_memory(n_samples: int) -> int:
    """Bytes that :func:`greedy_linkage` allocates for ``n_samples`` leaves.

    The condensed pair-cost cache dominates: ``8 * n * (n - 1) / 2`` bytes, plus
    one row block of the initial evaluation and ``O(n)`` bookkeeping.
    """
    n = int(n_samples)
    condensed = 8 * (n * (n - 1) // 2)
    block = 8 * _block_rows(n) * n * 3
    return condensed + block + 64 * n


def _block_rows(n: int) -> int:
    # Rows evaluated at once when filling the cache: about 4 million costs.
    return max(1, min(n, (1 << 22) // max(n, 1)))


def greedy_linkage(criterion: MergeCriterion, n_samples: int) -> GreedyTree:
    """Build the greedy tree over ``n_samples`` leaves.

    Parameters
    ----------
    criterion : MergeCriterion
        Pair costs and node updates; its slots are the samples, in order.
    n_samples : int
        Number of leaves, at least 1.

    Returns
    -------
    tree : GreedyTree
        The linkage matrix, the merge costs and the merge losses.
    """
    n = int(n_samples)
    linkage = np.empty((max(n - 1, 0), 4), dtype=np.float64)
    merge_costs = np.empty(max(n - 1, 0), dtype=np.float64)
    merge_losses = np.empty(max(n - 1, 0), dtype=np.float64)
    if n < 2:
        return GreedyTree(linkage, merge_costs, merge_losses)

    starts = np.append(_row_starts(n), n * (n - 1) // 2)
    # Condensed index of pair (k, c), k < c, is column_offsets[k] + c.
    column_offsets = starts[:n] - np.arange(n, dtype=np.int64) - 1
    costs = np.empty(n * (n - 1) // 2, dtype=np.float64)
    nearest = np.full(n, -1, dtype=np.int64)
    nearest_cost = np.full(n, np.inf)
    slots = np.arange(n, dtype=np.int64)

    # Fill the cache row block by row block; a row's later neighbours are the
    # contiguous condensed range starts[r] : starts[r] + n - r - 1.
    block = _block_rows(n)
    for r0 in range(0, n - 1, block):
        r1 = min(r0 + block, n - 1)
        rows = slots[r0:r1]
        cols = slots[r0 + 1 :]
        values = np.asarray(criterion.pair_costs(rows, cols), dtype=np.float64)
        upper = cols[None, :] > rows[:, None]
        costs[starts[r0] : starts[r1 - 1] + n - r1] = values[upper]
        values[~upper] = np.inf
        best = np.argmin(values, axis=1)
        nearest[r0:r1] = cols[best]
        nearest_cost[r0:r1] = values[np.arange(r1 - r0), best]

    active = np.ones(n, dtype=bool)
    node_id = np.arange(n, dtype=np.int64)
    size = np.ones(n, dtype=np.int64)
    height = 0.0

    def rescan(row: int) -> None:
        segment = costs[starts[row] : starts[row + 1]]
        if segment.size == 0:
            nearest[row], nearest_cost[row] = -1, np.inf
            return
        best = int(segment.argmin())
        nearest[row] = row + 1 + best
        nearest_cost[row] = segment[best]

    # A stale row's candidate cost is a lower bound of its true minimum (its
    # other costs did not change and the merged node's new cost was compared),
    # so a stale row is rescanned only when it reaches the front: Müllner's
    # generic algorithm. Ties stay lexicographic because argmin takes the first.
    stale = np.zeros(n, dtype=bool)
    for step in range(n - 1):
        while True:
            first = int(nearest_cost.argmin())
            if not stale[first]:
                break
            stale[first] = False
            rescan(first)
        second = int(nearest[first])
        cost = float(nearest_cost[first])
        merge_costs[step] = cost
        merge_losses[step] = criterion.merge(first, second, cost)
        height = max(height, cost)
        linkage[step] = (node_id[first], node_id[second], height, 0)
        size[first] += size[second]
        linkage[step, 3] = size[first]
        node_id[first] = n + step

        # Remove the later node from the cache. Its own row is never read again;
        # the active earlier rows must not see it, so their entries become inf.
        active[second] = False
        nearest_cost[second] = np.inf
        nearest[second] = -1
        before_second = np.flatnonzero(active[:second])
        costs[column_offsets[before_second] + second] = np.inf

        # New costs of the merged node against every other node, evaluated in
        # one batch each; the later ones are a contiguous run of the cache.
        if first + 1 < n:
            row_costs = np.asarray(
                criterion.pair_costs(slots[first : first + 1], slice(first + 1, n)),
                dtype=np.float64,
            )[0]
            row_costs[~active[first + 1 :]] = np.inf
            costs[starts[first] : starts[first + 1]] = row_costs
            best = int(row_costs.argmin())
            nearest[first] = first + 1 + best if np.isfinite(row_costs[best]) else -1
            nearest_cost[first] = row_costs[best]

        earlier = before_second[: np.searchsorted(before_second, first)]
        if earlier.size:
            col_costs = np.asarray(
                criterion.pair_costs(slice(0, first), slots[first : first + 1]),
                dtype=np.float64,
            )[earlier, 0]
            costs[column_offsets[earlier] + first] = col_costs
            old_cost = nearest_cost[earlier]
            old_nearest = nearest[earlier]
            improves = (col_costs < old_cost) | (
                (col_costs == old_cost) & (first < old_nearest)
            )
            pointed = (old_nearest == first) | (old_nearest == second)
            take = improves | (pointed & (col_costs <= old_cost))
            nearest[earlier[take]] = first
            nearest_cost[earlier[take]] = col_costs[take]
            stale[earlier[pointed & ~take]] = True
        # Rows between the two merged nodes may point at the removed one.
        between = nearest[first + 1 : second] == second
        stale[first + 1 : second][between] = True
        stale[first] = stale[second] = False

    return GreedyTree(linkage, merge_costs, merge_losses)


def cut_linkage(
    linkage: np.ndarray,
    *,
    n_clusters: int | None = None,
    distance_threshold: float | None = None,
) -> np.ndarray:
    """Flat clusters from a linkage matrix, as consecutive integers from 0.

    With ``n_clusters`` the last ``n_clusters - 1`` merges are undone, as
    :class:`sklearn.cluster.AgglomerativeClustering` does; this equals
    ``scipy.cluster.hierarchy.fcluster(linkage, n_clusters, "maxclust")`` up to
    renaming whenever the heights at the cut are distinct. With
    ``distance_threshold`` every merge of height below the threshold is kept.
    Labels are numbered in order of first appearance among the samples.
    """
    n = linkage.shape[0] + 1
    if distance_threshold is not None:
        n_merges = int(np.count_nonzero(linkage[:, 2] < distance_threshold))
    else:
        n_merges = n - int(n_clusters)
    parent = np.arange(2 * n - 1)
    for step in range(n_merges):
        left, right = int(linkage[step, 0]), int(linkage[step, 1])
        parent[left] = parent[right] = n + step
    # Follow parents upwards; nodes above the cut are their own parent.
    root = parent.copy()
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    _, labels = np.unique(root[:n], return_inverse=True)
    # Renumber by first appearance so the labels do not depend on node ids.
    _, first_seen = np.unique(labels, return_index=True)
    order = np.argsort(np.argsort(first_seen))
    return order[labels].astype(np.intp)


def merge_levels(linkage: np.ndarray, n_merges: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``n_merges`` merges grouped by depth level.

    Merges of one level have disjoint children whose nodes all exist before the
    level starts, so a level can be applied as one batch.

    Returns
    -------
    order : ndarray of shape (n_merges,)
        Merge indices sorted by level, stable (merge order within a level).
    bounds : ndarray of shape (n_levels + 1,)
        Level ``l`` is ``order[bounds[l]:bounds[l + 1]]``.
    """
    n = linkage.shape[0] + 1
    level = [0] * (n + n_merges)
    children = linkage[:n_merges, :2].astype(np.int64)
    nodes = range(n, n + n_merges)
    lefts, rights = children[:, 0].tolist(), children[:, 1].tolist()
    for node, left, right in zip(nodes, lefts, rights, strict=True):
        left_level, right_level = level[left], level[right]
        level[node] = 1 + (left_level if left_level > right_level else right_level)
    merge_level = np.asarray(level[n:], dtype=np.int64)
    order = np.argsort(merge_level, kind="stable")
    counts = np.bincount(merge_level, minlength=1)[1:]
    return order, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)


def replay_forest(
    criterion: MergeCriterion,
    linkage: np.ndarray,
    costs: np.ndarray,
    n_merges: int,
    labels: np.ndarray,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """States and flat labels of every node below a cut of a tree.

    Replays the first ``n_merges`` merges of ``linkage`` on ``criterion``
    (built on the leaves), one batch per depth level when the criterion has
    ``merge_paired(first, second, costs)``, and records each merged node's
    state as it was made.

    Returns
    -------
    state : dict of ndarray
        The leaves' states followed by the merged nodes' states, in merge
        order: ``n_samples + n_merges`` rows.
    node_labels : ndarray of shape (n_samples + n_merges,)
        The flat cluster of each of those nodes.
    """
    n = linkage.shape[0] + 1
    # The leaves' rows first, then one row per merged node, filled in place.
    state = {}
    for key, value in criterion.state.items():
        state[key] = np.empty((n + n_merges,) + value.shape[1:], dtype=value.dtype)
        state[key][:n] = value
    children = linkage[:n_merges, :2].astype(np.int64)
    # A merged node lives in the slot of its earlier child.
    slot_list = list(range(n))
    for left in children[:, 0].tolist():
        slot_list.append(slot_list[left])
    slot = np.asarray(slot_list, dtype=np.int64)
    del slot_list
    first = slot[children[:, 0]]
    second = slot[children[:, 1]]
    order, bounds = merge_levels(linkage, n_merges)
    merge_paired = getattr(criterion, "merge_paired", None)
    for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        batch = order[start:stop]
        if merge_paired is not None and len(batch) > 1:
            merge_paired(first[batch], second[batch], costs[batch])
        else:
            for step in batch.tolist():
                criterion.merge(int(first[step]), int(second[step]), float(costs[step]))
        for key, value in criterion.state.items():
            state[key][n + batch] = value[first[batch]]
    return state, labels[slot]
