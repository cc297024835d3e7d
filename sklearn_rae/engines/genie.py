"""Genie's merging along the minimum spanning tree: the Gini-corrected tree.

Single linkage along a spanning tree merges the shortest edge first, so a
few noise points between two shapes bridge them, and outlying samples stay
apart until the top of the tree. Genie (Gagolewski, Bartoszuk and Cena
2016) corrects it: while the Gini index of the cluster sizes exceeds a
threshold, the next merge joins a cluster of the smallest size to its
nearest neighbour along the tree. :func:`genie_tree` builds that tree from
the same spanning tree as the boundary criterion's engine
(:func:`sklearn_rae.engines.spanning.spanning_edges`); it gives
``genieclust.Genie``'s merges for the same spanning tree.
"""

from __future__ import annotations

import numpy as np

from .spanning import spanning_edges, spanning_memory_needs
from .tree import Engine, Tree

__all__ = ["GENIE_SPANNING", "GINI_THRESHOLD", "genie_tree"]


#: Genie's threshold on the Gini index of the cluster sizes (Gagolewski,
#: Bartoszuk and Cena 2016; genieclust's default).
GINI_THRESHOLD = 0.3


def genie_tree(
    Z: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    n_graph_edges: int,
    threshold: float = GINI_THRESHOLD,
    loss_scale: float = 1.0,
) -> tuple[Tree, np.ndarray]:
    """Genie's tree: single linkage along the spanning tree, Gini-corrected.

    The spanning tree's edges are merged along shortest first (those from
    ``n_graph_edges`` on after all others), except that while the Gini index
    of the cluster sizes exceeds ``threshold`` the next merge is along the
    shortest unused edge that touches a cluster of the smallest size: small
    groups of noise or outlying samples join their nearest cluster instead
    of being left for the top of the tree, and large groups meet last. The
    same merges as ``genieclust.Genie(gini_threshold=threshold, M=1)`` given
    the same spanning tree.

    A merge's cost is the boundary criterion's between two leaves, half the
    squared edge length in ``Z`` halved (its size factor is not applied:
    Genie orders merges by the edge alone); the linkage heights are their
    running maximum. ``O(n)`` per corrected merge (a vectorised scan of the
    unused edges): ``O(n^2)`` in the worst case, a fraction of a second at
    a few thousand samples.

    Returns the tree and the index of the spanning-tree edge of each merge,
    as :func:`boundary_tree` does.
    """
    n = Z.shape[0]
    n_merges = max(n - 1, 0)
    difference = Z[first] - Z[second]
    squared = np.einsum("ij,ij->i", difference, difference)
    # Graph edges first, then the joins, each shortest first.
    late = np.arange(first.shape[0]) >= n_graph_edges
    order = np.lexsort((np.arange(first.shape[0]), squared, late))
    ends_a, ends_b = first[order], second[order]
    label = np.arange(n)  # the cluster (its id) of each sample
    members = [[i] for i in range(n)]
    size = np.ones(n, dtype=np.intp)
    node = list(range(n))
    used = np.zeros(order.shape[0], dtype=bool)
    count = {1: n}  # how many clusters have each size
    # sum over pairs of clusters of |size_i - size_j|: Gini's numerator
    pair_sum = 0
    n_clusters = n
    pointer = 0
    rows, edges_list = [], []

    def spread(c):
        return sum(m * abs(c - s) for s, m in count.items())

    for _ in range(n_merges):
        if n_clusters > 1 and pair_sum > threshold * (n_clusters - 1) * n:
            smallest = min(count)
            touches = size[label[ends_a]] == smallest
            touches |= size[label[ends_b]] == smallest
            touches &= ~used
            e = int(np.argmax(touches))
        else:
            while used[pointer]:
                pointer += 1
            e = pointer
        used[e] = True
        a, b = int(label[ends_a[e]]), int(label[ends_b[e]])
        size_a, size_b = int(size[a]), int(size[b])
        for c in (size_a, size_b):
            count[c] -= 1
            if not count[c]:
                del count[c]
            pair_sum -= spread(c)
        merged = size_a + size_b
        pair_sum += spread(merged)
        count[merged] = count.get(merged, 0) + 1
        n_clusters -= 1
        low, high = min(node[a], node[b]), max(node[a], node[b])
        if len(members[a]) < len(members[b]):
            a, b = b, a
        label[members[b]] = a
        members[a].extend(members[b])
        members[b] = []
        size[a] = merged
        rows.append((low, high, 0.0, merged))
        node[a] = n + len(rows) - 1
        edges_list.append(int(order[e]))
    linkage = np.array(rows, dtype=np.float64).reshape(n_merges, 4)
    edges = np.array(edges_list, dtype=np.intp)
    costs = 0.25 * squared[edges] if n_merges else np.zeros(0)
    if n_merges:
        linkage[:, 2] = np.maximum.accumulate(np.maximum(costs, 0.0))
    return Tree(linkage, costs, costs * loss_scale), edges


def build_genie_tree(criterion, weights, X, adjacency=None) -> Tree:
    """The Genie engine's entry point: :func:`genie_tree` of the embedded samples."""
    embedded = criterion.embed(weights, X, center=0.0)
    first, second, n_graph_edges = spanning_edges(embedded, adjacency)
    tree, edges = genie_tree(
        embedded,
        first,
        second,
        n_graph_edges,
        criterion.gini_threshold,
        criterion.loss_scale(weights),
    )
    return tree._replace(boundary_edges=(first[edges], second[edges]))


GENIE_SPANNING = Engine(
    name="genie",
    description=(
        "Genie's Gini-corrected merging along the minimum spanning tree of "
        "the embedded samples, O(n d) memory"
    ),
    build_tree=build_genie_tree,
    memory_needs=spanning_memory_needs,
)
