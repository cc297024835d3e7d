"""The spanning-tree engine: greedy merging along a minimum spanning tree.

This module knows nothing of TensorFlow. The merge encoder of
``merge_cost="boundary"`` is the learned metric's (a shared linear embedding
``L``, the size-weighted average as encoder, a copy as decoder, each half of
the reconstruction error counted as often as its child has samples), but the
code it is given for a child is the child's *boundary point*: the end of the
shortest edge of the neighbourhood graph between the two children. The
reconstruction error of merging nodes ``a`` and ``b`` with ``n_a`` and
``n_b`` samples, joined by the edge ``(p_a, p_b)``, is therefore::

    cost(a, b) = n_a n_b / (n_a + n_b) * |(p_a - p_b) @ L|^2 / 2

Ward's form with the gap between the children in place of the distance
between their means. Merges follow the edges of the minimum spanning tree of
the embedded samples ``X @ L`` (Euclidean, or of the ``connectivity`` graph):
between two subtrees of a spanning tree there is at most one edge, so every
pair of adjacent nodes has one boundary. Small nodes merge first (the size
factor), and two large groups merge only across a small gap: the tree follows
the shape of the data, as single linkage and Genie's do, without their
chaining of outliers.

Greedy merging on a tree of ``n - 1`` edges takes ``O(n log n)``: a merge
only raises the costs of its nodes' edges (the size factor grows with either
size), so a heap whose entries are re-checked when popped gives the exact
greedy order.
"""

from __future__ import annotations

import heapq

import numpy as np
import scipy.sparse as sp
from scipy.cluster.hierarchy import DisjointSet
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree
from sklearn.neighbors import NearestNeighbors

from .._numeric import center_of
from .interruptible import kneighbors_interruptibly
from .tree import Engine, Tree

__all__ = [
    "EXACT_SPANNING_TREE_MAX_SAMPLES",
    "SPANNING",
    "boundary_tree",
    "spanning_edges",
]

# Above this many samples (without connectivity) the spanning tree is taken
# from a k-nearest-neighbour graph instead of all pairs, an O(n^2) loop.
EXACT_SPANNING_TREE_MAX_SAMPLES = 5_000
SPANNING_NEIGHBOURS = 15
# Neighbours searched for the nearest sample of another component.
JOIN_NEIGHBOURS = 32


def _prim_edges(Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Euclidean minimum spanning tree of ``Z`` by Prim's algorithm.

    ``O(n^2 d)`` time, ``O(n d)`` memory. The samples not yet in the tree are
    kept packed at the front of a copy of ``Z``, so step ``t`` touches only the
    ``n - t`` of them. Each step is a few NumPy calls writing into buffers
    made once, so that the loop's overhead stays small next to its
    arithmetic at a few hundred samples.
    """
    n = Z.shape[0]
    outside = np.arange(1, n)  # samples not in the tree, packed
    points = Z[outside].copy()
    squared_norms = np.einsum("ij,ij->i", points, points)
    difference = points - Z[0]
    best = np.einsum("ij,ij->i", difference, difference)  # to the tree
    parent = np.zeros(n - 1, dtype=np.intp)
    first = np.empty(n - 1, dtype=np.intp)
    second = np.empty(n - 1, dtype=np.intp)
    distance_buffer = np.empty(n - 1)
    closer_buffer = np.empty(n - 1, dtype=bool)
    point = np.empty(Z.shape[1])
    for step in range(n - 1):
        m = n - 1 - step
        j = int(best[:m].argmin())
        added = int(outside[j])
        first[step], second[step] = parent[j], added
        point[:] = points[j]
        norm = squared_norms[j]
        # Move the last packed sample into the freed place.
        last = m - 1
        outside[j] = outside[last]
        points[j] = points[last]
        squared_norms[j] = squared_norms[last]
        best[j] = best[last]
        parent[j] = parent[last]
        m = last
        # distance = squared_norms - 2 (points . point) + norm, in this order.
        distance = np.matmul(points[:m], point, out=distance_buffer[:m])
        distance *= 2.0
        np.subtract(squared_norms[:m], distance, out=distance)
        distance += norm
        closer = np.less(distance, best[:m], out=closer_buffer[:m])
        np.copyto(best[:m], distance, where=closer)
        np.copyto(parent[:m], added, where=closer)
    return first, second


def _forest_edges(Z: np.ndarray, graph: sp.csr_matrix):
    """Minimum spanning forest of ``graph`` with edge lengths measured in ``Z``."""
    graph = sp.triu(graph, k=1).tocoo()
    difference = Z[graph.row] - Z[graph.col]
    # Zero-length edges (duplicates) would vanish from a sparse matrix.
    length = np.sqrt(np.einsum("ij,ij->i", difference, difference)) + 1e-300
    weighted = sp.csr_matrix((length, (graph.row, graph.col)), shape=graph.shape)
    forest = minimum_spanning_tree(weighted).tocoo()
    return forest.row.astype(np.intp), forest.col.astype(np.intp)


def _joining_edges(Z: np.ndarray, first: np.ndarray, second: np.ndarray):
    """Edges that join the components of a spanning forest into one tree.

    Borůvka's rounds: each component is joined to its nearest sample in
    another component, until one component is left. The nearest outside
    sample is looked up among each sample's ``JOIN_NEIGHBOURS`` nearest
    neighbours (one index for all); a component none of whose samples has an
    outside sample among them gets an index of the outside samples of its own.
    """
    n = Z.shape[0]
    joins_first, joins_second = [], []
    neighbour = neighbour_distance = None
    while True:
        graph = sp.coo_matrix(
            (
                np.ones(len(first) + len(joins_first)),
                (np.r_[first, joins_first], np.r_[second, joins_second]),
            ),
            shape=(n, n),
        )
        n_components, component = connected_components(graph, directed=False)
        if n_components == 1:
            break
        if neighbour is None:
            # Only a forest of several components needs the index.
            n_neighbors = min(JOIN_NEIGHBOURS, n - 1)
            index = NearestNeighbors(n_neighbors=n_neighbors).fit(Z)
            neighbour_distance, neighbour = kneighbors_interruptibly(
                index, Z, n_neighbors, indexed=True
            )
        outside = component[neighbour] != component[:, None]
        distance = np.where(outside, neighbour_distance, np.inf)
        column = np.argmin(distance, axis=1)
        rows = np.arange(n)
        best_distance = distance[rows, column]
        best_neighbour = neighbour[rows, column]
        nearest = set()
        for label in range(n_components):
            inside = np.flatnonzero(component == label)
            j = int(np.argmin(best_distance[inside]))
            if np.isfinite(best_distance[inside[j]]):
                pair = (int(inside[j]), int(best_neighbour[inside[j]]))
                length = float(best_distance[inside[j]])
            else:
                others = np.flatnonzero(component != label)
                own = NearestNeighbors(n_neighbors=1).fit(Z[others])
                far_distance, far = kneighbors_interruptibly(own, Z[inside], 1)
                j = int(np.argmin(far_distance[:, 0]))
                pair = (int(inside[j]), int(others[far[j, 0]]))
                length = float(far_distance[j, 0])
            nearest.add((length, min(pair), max(pair)))
        # Ties can give two components two different joins: keep the joins
        # that connect components not yet connected this round.
        merged = DisjointSet(range(n_components))
        for _, a, b in sorted(nearest):
            if merged.merge(int(component[a]), int(component[b])):
                joins_first.append(a)
                joins_second.append(b)
    return np.asarray(joins_first, dtype=np.intp), np.asarray(
        joins_second, dtype=np.intp
    )


def spanning_edges(Z: np.ndarray, adjacency=None):
    """Edges of the spanning tree that ``merge_cost="boundary"`` merges along.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)
        The embedded samples.
    adjacency : sparse matrix of shape (n_samples, n_samples) or None
        The connectivity graph. ``None`` takes the Euclidean minimum spanning
        tree of ``Z`` (exact up to ``EXACT_SPANNING_TREE_MAX_SAMPLES``
        samples, of the ``SPANNING_NEIGHBOURS``-nearest-neighbour graph above).

    Returns
    -------
    first, second : ndarray of shape (n_samples - 1,)
        The two samples of each edge.
    n_graph_edges : int
        The first ``n_graph_edges`` edges belong to the graph; the rest join its
        connected components, nearest samples first (Borůvka's rule), and are
        merged along only after every graph edge.
    """
    n = Z.shape[0]
    if n < 2:
        empty = np.empty(0, dtype=np.intp)
        return empty, empty, 0
    # Lengths are computed as |a|^2 - 2 a.b + |b|^2 (Prim's loop, and the
    # neighbour search in many dimensions), which loses the digits of short
    # edges far from the origin: a translation changes no edge, so centre.
    Z = Z - center_of(Z)
    if adjacency is None and n <= EXACT_SPANNING_TREE_MAX_SAMPLES:
        first, second = _prim_edges(Z)
        return first, second, n - 1
    own_graph = adjacency is None
    if own_graph:
        neighbours = min(SPANNING_NEIGHBOURS, n - 1)
        index = NearestNeighbors(n_neighbors=neighbours).fit(Z)
        _, nearest = kneighbors_interruptibly(index, Z, neighbours, indexed=True)
        # The k-nearest-neighbour graph (kneighbors_graph's), made symmetric.
        adjacency = sp.csr_matrix(
            (
                np.ones(nearest.size),
                nearest.ravel(),
                np.arange(0, nearest.size + 1, neighbours),
            ),
            shape=(n, n),
        )
        adjacency = adjacency + adjacency.T
    first, second = _forest_edges(Z, adjacency)
    joins = _joining_edges(Z, first, second)
    # The parts of a k-nearest-neighbour graph are joined as the spanning tree
    # would join them, by their nearest samples: all its edges count as the
    # graph's. A user's graph is merged along before its joins.
    n_graph_edges = n - 1 if own_graph else len(first)
    return np.r_[first, joins[0]], np.r_[second, joins[1]], n_graph_edges


def boundary_tree(
    Z: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    n_graph_edges: int,
    loss_scale: float = 1.0,
) -> tuple[Tree, np.ndarray]:
    """The greedy tree of the boundary cost along a spanning tree.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)
        The embedded samples.
    first, second : ndarray of shape (n_samples - 1,)
        The spanning tree's edges (see :func:`spanning_edges`).
    n_graph_edges : int
        Edges from this index on are merged along only after all others.
    loss_scale : float, default=1.0
        Each merge's loss is its cost times this (the scaling of the embedding
        to unit volume, as for the learned metric).

    Returns
    -------
    tree : Tree
        SciPy's linkage matrix (column 0 holds the child with the smaller
        sample index; heights are the running maximum of the costs), the
        costs and the losses.
    edges : ndarray of shape (n_samples - 1,)
        The index of the spanning-tree edge each merge joined across.
    """
    n = Z.shape[0]
    difference = Z[first] - Z[second]
    half_squared_array = 0.5 * np.einsum("ij,ij->i", difference, difference)
    # The loop reads single values: Python lists and floats are much faster
    # to index than arrays, with the same float64 arithmetic.
    half_squared = half_squared_array.tolist()
    first_list, second_list = first.tolist(), second.tolist()
    # A disjoint-set forest with path halving; indexed by each component's
    # root: its size, the linkage id of its node and its smallest sample.
    root_of = list(range(n))
    size = [1.0] * n
    node = list(range(n))
    smallest = list(range(n))

    def find(sample: int) -> int:
        while root_of[sample] != sample:
            root_of[sample] = root_of[root_of[sample]]
            sample = root_of[sample]
        return sample

    n_merges = max(n - 1, 0)
    rows = []
    costs_list = []
    edges_list = []
    for start, stop in ((0, n_graph_edges), (n_graph_edges, len(first_list))):
        # Leaves have one sample each: the first costs are half the squared
        # lengths, halved by the size factor.
        heap = [(0.5 * half_squared[e], e) for e in range(start, stop)]
        heapq.heapify(heap)
        while heap:
            cost, e = heapq.heappop(heap)
            a, b = find(first_list[e]), find(second_list[e])
            size_a, size_b = size[a], size[b]
            current = size_a * size_b / (size_a + size_b) * half_squared[e]
            if current > cost:
                # Stale: a node of this edge grew since the entry was pushed.
                heapq.heappush(heap, (current, e))
                continue
            if smallest[b] < smallest[a]:
                a, b = b, a
            rows.append((node[a], node[b], 0.0, size_a + size_b))
            costs_list.append(current)
            edges_list.append(e)
            # The merged component's root is ``a``.
            root_of[b] = a
            size[a] = size_a + size_b
            node[a] = n + len(rows) - 1
    linkage = np.array(rows, dtype=np.float64).reshape(n_merges, 4)
    costs = np.array(costs_list, dtype=np.float64)
    edges = np.array(edges_list, dtype=np.intp)
    if n_merges:
        linkage[:, 2] = np.maximum.accumulate(np.maximum(costs, 0.0))
    return Tree(linkage, costs, costs * loss_scale), edges


def build_spanning_tree(criterion, weights, X, adjacency=None) -> Tree:
    """The engine's entry point: ``criterion``'s tree along the spanning tree.

    The spanning tree is that of ``criterion.embed(weights, X, center=0)``
    (or of ``adjacency``, with the edges measured there); the tree's
    ``boundary_edges`` are the samples at the two ends of each merge's edge.
    """
    embedded = criterion.embed(weights, X, center=0.0)
    first, second, n_graph_edges = spanning_edges(embedded, adjacency)
    tree, edges = boundary_tree(
        embedded, first, second, n_graph_edges, criterion.loss_scale(weights)
    )
    return tree._replace(boundary_edges=(first[edges], second[edges]))


# Bytes per stored edge of a user's graph: its COO copy, the weighted CSR
# matrix and the spanning forest.
_BYTES_PER_GRAPH_EDGE = 48


def spanning_memory_needs(n_samples, n_features, adjacency=None):
    """The embedded samples, the edges and their lengths: ``O(n d)``."""
    needs = [
        (
            8 * n_samples * (n_features + SPANNING_NEIGHBOURS + 16),
            f"the spanning tree of {n_samples} samples",
            "Fit on a subsample",
        )
    ]
    if adjacency is not None:
        needs.append(
            (
                _BYTES_PER_GRAPH_EDGE * int(adjacency.nnz),
                f"the {adjacency.nnz // 2} edges of the connectivity graph",
                "Use a sparser graph (for example kneighbors_graph)",
            )
        )
    return needs


SPANNING = Engine(
    name="spanning",
    description=(
        "greedy merging along the minimum spanning tree of the embedded "
        "samples, O(n d) memory"
    ),
    build_tree=build_spanning_tree,
    memory_needs=spanning_memory_needs,
)
