"""Candidate merge criteria on neighbourhood graphs, as plain NumPy prototypes.

These are the experiments behind the criterion table of ``docs/quality.md``:
greedy agglomeration restricted to a graph built from the data, with a merge
cost computed from each node's code. They are prototypes for measuring, not
part of the package: no training, a Python heap loop (a few seconds on 4,000
points). ``benchmarks/battery.py --candidates`` runs them on the battery, and
``python benchmarks/criterion_candidates.py`` on iris, wine, breast_cancer
and digits.

Each candidate is a recursive autoencoder's reconstruction error in the sense
of the package's criteria: the merge encoder pools two children's codes into
one and decodes it back to both; the cost is the size-weighted error.

``boundary``
    A child's code, as presented for a pair, is its *boundary point*: the end
    of the shortest graph edge between the two children. The encoder is the
    size-weighted average of the two boundary points, the decoder a copy, so
    the error is ``n_a n_b / (n_a + n_b) |p_a - p_b|^2`` (Ward's form with the
    gap between the children in place of the distance between their means).
``gaussian``
    A node's code is its sufficient statistics ``(n, sum, sum of squares)``;
    the encoder adds them (a linear map of the concatenated codes) and the
    error is the extra description length of the children's points under the
    merged Gaussian: ``log p(a) + log p(b) - log p(a + b)`` with ``p`` the
    marginal likelihood of a normal / inverse-Wishart model (flat prior on the
    mean, prior scatter ``nu0 s^2 I`` with ``s^2`` the mean squared
    nearest-neighbour distance per feature and ``nu0 = d + 2``).
``ward``
    Ward's cost of the nodes' means, for reference.

Graphs: ``mst`` (Euclidean minimum spanning tree), ``mr5`` (minimum spanning
tree of HDBSCAN's mutual reachability distance with ``min_samples=5``) and
``knn10`` (symmetrised 10-nearest-neighbour graph). Nodes left in different
components are joined last, cheapest root pair first, by Ward's cost.
"""

from __future__ import annotations

import heapq

import numpy as np
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial.distance import pdist, squareform
from scipy.special import multigammaln
from sklearn.neighbors import NearestNeighbors

__all__ = ["CANDIDATES", "candidate_labels"]


def mst_edges(X, min_samples=1):
    """Edges ``(i, j, length)`` of the minimum spanning tree of ``X``.

    With ``min_samples > 1`` the lengths are HDBSCAN's mutual reachability
    distances: ``max(d(i, j), core(i), core(j))``.
    """
    distances = squareform(pdist(X))
    if min_samples > 1:
        core = np.sort(distances, axis=1)[:, min_samples]
        distances = np.maximum(distances, np.maximum.outer(core, core))
    # Duplicate points have distance 0, which the sparse MST reads as "no edge".
    distances[distances == 0] = 1e-300
    np.fill_diagonal(distances, 0)
    tree = minimum_spanning_tree(distances).tocoo()
    return list(
        zip(tree.row.tolist(), tree.col.tolist(), tree.data.tolist(), strict=True)
    )


def knn_edges(X, n_neighbors=10):
    """Edges of the symmetrised ``n_neighbors``-nearest-neighbour graph."""
    # kneighbors() without X leaves each point out of its own neighbours.
    distance, index = NearestNeighbors(n_neighbors=n_neighbors).fit(X).kneighbors()
    edges = {}
    for i in range(len(X)):
        for j, length in zip(index[i].tolist(), distance[i].tolist(), strict=True):
            edges[min(i, j), max(i, j)] = length
    return [(i, j, length) for (i, j), length in edges.items()]


def ward_cost(first, second, gap):
    n_a, sum_a, _ = first
    n_b, sum_b, _ = second
    difference = sum_a / n_a - sum_b / n_b
    return n_a * n_b / (n_a + n_b) * float(difference @ difference)


def boundary_cost(first, second, gap):
    n_a, n_b = first[0], second[0]
    return n_a * n_b / (n_a + n_b) * gap * gap


def gaussian_cost_factory(X):
    """The ``gaussian`` candidate's cost, with its prior set from ``X``."""
    d = X.shape[1]
    distance, _ = NearestNeighbors(n_neighbors=1).fit(X).kneighbors()
    nu0 = d + 2.0
    prior = nu0 * np.mean(distance[:, 0] ** 2) / d * np.eye(d)
    log_det_prior = np.linalg.slogdet(prior)[1]

    def log_evidence(node):
        n, total, squares = node
        scatter = squares - np.outer(total, total) / n
        nu = nu0 + n - 1
        return (
            -0.5 * d * np.log(n)
            + multigammaln(nu / 2, d)
            - multigammaln(nu0 / 2, d)
            + 0.5 * nu0 * log_det_prior
            - 0.5 * nu * np.linalg.slogdet(prior + scatter)[1]
            - 0.5 * (n - 1) * d * np.log(np.pi)
        )

    def cost(first, second, gap):
        merged = tuple(a + b for a, b in zip(first, second, strict=True))
        return log_evidence(first) + log_evidence(second) - log_evidence(merged)

    return cost


def graph_agglomeration(X, edges, cost, n_clusters):
    """Flat labels of the greedy tree restricted to ``edges``, cut at ``n_clusters``.

    ``cost(node_a, node_b, gap)`` takes two codes ``(n, sum, sum of squares)``
    and the length of the shortest edge between them (``None`` when joining
    disconnected components). Costs of a node's pairs are recomputed when it
    merges; stale heap entries are skipped by a version count.
    """
    n = X.shape[0]
    code = {i: (1.0, X[i].copy(), np.outer(X[i], X[i])) for i in range(n)}
    neighbours = {i: {} for i in range(n)}
    for i, j, length in edges:
        if i != j:
            neighbours[i][j] = neighbours[j][i] = min(
                length, neighbours[i].get(j, np.inf)
            )
    version = dict.fromkeys(range(n), 0)
    heap = [
        (cost(code[i], code[j], gap), i, j, 0, 0)
        for i in range(n)
        for j, gap in neighbours[i].items()
        if i < j
    ]
    heapq.heapify(heap)
    merges = []
    while heap:
        _, i, j, version_i, version_j = heapq.heappop(heap)
        if i not in code or j not in code:
            continue
        if (version[i], version[j]) != (version_i, version_j):
            continue
        code[i] = tuple(a + b for a, b in zip(code.pop(j), code[i], strict=True))
        for other, gap in neighbours.pop(j).items():
            if other != i:
                neighbours[i][other] = min(gap, neighbours[i].get(other, np.inf))
                neighbours[other].pop(j)
                neighbours[other][i] = neighbours[i][other]
        neighbours[i].pop(j, None)
        version[i] += 1
        merges.append((i, j))
        for other, gap in neighbours[i].items():
            first, second = min(i, other), max(i, other)
            heapq.heappush(
                heap,
                (
                    cost(code[first], code[second], gap),
                    first,
                    second,
                    version[first],
                    version[second],
                ),
            )
    roots = sorted(code)
    while len(roots) > 1:
        _, i, j = min(
            (ward_cost(code[a], code[b], None), a, b)
            for k, a in enumerate(roots)
            for b in roots[k + 1 :]
        )
        code[i] = tuple(a + b for a, b in zip(code.pop(j), code[i], strict=True))
        roots.remove(j)
        merges.append((i, j))
    root = np.arange(n)

    def find(i):
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for i, j in merges[: n - n_clusters]:
        root[find(j)] = find(i)
    return np.unique([find(i) for i in range(n)], return_inverse=True)[1]


def gaussian_prior(X):
    """Prior ``(nu0, scatter)``: ``nu0 = d + 2``, scatter ``nu0 s^2 I``."""
    d = X.shape[1]
    distance, _ = NearestNeighbors(n_neighbors=1).fit(X).kneighbors()
    nu0 = d + 2.0
    return nu0, nu0 * np.mean(distance[:, 0] ** 2) / d * np.eye(d)


def map_gaussian_cost_factory(X):
    """``(n + nu0) / 2 log det(S + prior)`` summed over nodes, its increase."""
    nu0, prior = gaussian_prior(X)

    def term(node):
        n, total, squares = node
        scatter = squares - np.outer(total, total) / n
        return 0.5 * (n + nu0) * np.linalg.slogdet(scatter + prior)[1]

    def cost(first, second, gap):
        merged = tuple(a + b for a, b in zip(first, second, strict=True))
        return term(merged) - term(first) - term(second)

    return cost


def nll_gaussian_cost_factory(X):
    """Increase of the points' negative log-likelihood under the MAP Gaussians."""
    nu0, prior = gaussian_prior(X)

    def nll(node, model):
        n, total, squares = node
        n_model, total_model, squares_model = model
        mean = total_model / n_model
        covariance = (
            squares_model - np.outer(total_model, total_model) / n_model + prior
        ) / (n_model + nu0)
        scatter = squares - np.outer(total, mean) - np.outer(mean, total)
        scatter += n * np.outer(mean, mean)
        return 0.5 * (
            n * np.linalg.slogdet(covariance)[1]
            + np.trace(np.linalg.solve(covariance, scatter))
        )

    def cost(first, second, gap):
        merged = tuple(a + b for a, b in zip(first, second, strict=True))
        return (
            nll(first, merged)
            + nll(second, merged)
            - nll(first, first)
            - nll(second, second)
        )

    return cost


GRAPHS = {
    "mst": mst_edges,
    "mr5": lambda X: mst_edges(X, min_samples=5),
    "knn10": knn_edges,
}
COSTS = {
    "ward": lambda X: ward_cost,
    "boundary": lambda X: boundary_cost,
    "gaussian": gaussian_cost_factory,
    "gaussmap": map_gaussian_cost_factory,
    "gaussnll": nll_gaussian_cost_factory,
}
CANDIDATES = [
    "ward-mst",
    "boundary-mst",
    "boundary-mr5",
    "boundary-knn10",
    "gaussian-mst",
    "gaussian-knn10",
    "gaussmap-knn10",
    "gaussnll-knn10",
    "gaussnll-mst",
]


def candidate_labels(name, X, n_clusters):
    """Flat labels of candidate ``name`` (``"<cost>-<graph>"``) on ``X``."""
    cost_name, graph_name = name.split("-")
    return graph_agglomeration(
        X, GRAPHS[graph_name](X), COSTS[cost_name](X), n_clusters
    )


def main():
    import sys

    from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    names = sys.argv[1:] or CANDIDATES
    print("| data | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for loader in (load_iris, load_wine, load_breast_cancer, load_digits):
        X, y = loader(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        k = len(np.unique(y))
        scores = [
            adjusted_rand_score(y, candidate_labels(name, X, k)) for name in names
        ]
        name = loader.__name__.removeprefix("load_")
        print(f"| {name} | " + " | ".join(f"{s:.3f}" for s in scores) + " |")


if __name__ == "__main__":
    main()
