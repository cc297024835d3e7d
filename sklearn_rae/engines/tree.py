"""The tree every engine returns, and helpers on linkage matrices.

Conventions (SciPy's linkage matrix, as everywhere in the package): float64,
row ``t`` merges the nodes in its first two columns into node
``n_samples + t``, column 2 the height (never decreasing), column 3 the
number of leaves. Column 0 holds the *earlier* child: the one whose smallest
sample index is the smaller, the merge encoder's first input.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._numeric import number_by_first_appearance

__all__ = [
    "Engine",
    "Tree",
    "cut_linkage",
    "infinite_tree",
    "merge_levels",
    "put_earlier_child_first",
    "slot_linkage",
]


class Tree(NamedTuple):
    """A greedy tree as an engine builds it.

    Attributes
    ----------
    linkage : ndarray of shape (n_samples - 1, 4), dtype float64
        SciPy's linkage matrix. Column 2 is the merge cost made monotone and
        non-negative, as SciPy requires (the running maximum of ``costs``
        and 0, which changes nothing for criteria whose greedy costs never
        decrease from a non-negative start).
    costs : ndarray of shape (n_samples - 1,)
        The cost of each merge as the greedy step compared it.
    losses : ndarray of shape (n_samples - 1,)
        Each merge's contribution to the tree objective that training
        minimises.
    boundary_edges : tuple of ndarray
        The spanning-tree engine's ``(first, second)``: the two samples at
        the ends of the edge each merge crossed (each merge's boundary
        points). Empty for the other engines.
    """

    linkage: np.ndarray
    costs: np.ndarray
    losses: np.ndarray
    boundary_edges: tuple = ()


def infinite_tree(n_merges: int) -> Tree:
    """A placeholder tree whose costs overflow, for the caller to refuse."""
    infinite = np.full(n_merges, np.inf)
    return Tree(np.zeros((n_merges, 4)), infinite, infinite.copy())


def put_earlier_child_first(linkage: np.ndarray) -> None:
    """Order each merge's children by their smallest sample index, in place."""
    n = linkage.shape[0] + 1
    left = linkage[:, 0].astype(np.int64)
    right = linkage[:, 1].astype(np.int64)
    lowest = list(range(n))
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        low_a, low_b = lowest[a], lowest[b]
        lowest.append(low_a if low_a < low_b else low_b)
    lowest_array = np.asarray(lowest, dtype=np.int64)
    swap = lowest_array[left] > lowest_array[right]
    linkage[swap, 0], linkage[swap, 1] = right[swap], left[swap]


def slot_linkage(
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


class Engine(NamedTuple):
    """An engine: how a criterion's tree is built, and what that needs.

    Every engine has the same signature, ``build_tree(criterion, weights, X,
    adjacency=None) -> Tree``, and calls on the criterion only the methods
    :class:`~sklearn_rae.criteria.base.Criterion` declares for it.

    Attributes
    ----------
    name : str
        Short name.
    description : str
        How the tree is built, in words for progress lines.
    build_tree : callable
        ``(criterion, weights, X, adjacency=None) -> Tree``. Non-finite costs
        are returned as they are, for the caller to refuse.
    memory_needs : callable
        ``(n_samples, n_features, adjacency=None) -> list of (bytes, what,
        advice)``: the large allocations of one tree.
    """

    name: str
    description: str
    build_tree: object
    memory_needs: object


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
    n_merges = min(max(n_merges, 0), n - 1)
    parent = np.arange(2 * n - 1)
    # Every node is a child of one merge at most: one assignment per column.
    merged = np.arange(n, n + n_merges)
    children = linkage[:n_merges, :2].astype(np.intp)
    parent[children[:, 0]] = merged
    parent[children[:, 1]] = merged
    # Follow parents upwards; nodes above the cut are their own parent.
    root = parent.copy()
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    # Numbered by first appearance so the labels do not depend on node ids.
    return number_by_first_appearance(root[:n])
