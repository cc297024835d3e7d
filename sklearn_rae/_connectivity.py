"""Connectivity graphs: validated, made symmetric and measured, once per fit.

``connectivity`` is given as in :class:`~sklearn.cluster.AgglomerativeClustering`:
an adjacency matrix (dense or sparse) of shape ``(n_samples, n_samples)``, or
a callable returning one. :func:`connectivity_graph` turns it into the one
form every part of the package works with, a symmetric CSR matrix without
its diagonal, after checking that the conversion fits in memory. The rest of
this module asks questions of that form: is it a chain (a sequence), how
many components it has, and which connected neighbourhood a training batch
takes.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ._resources import check_memory

__all__ = [
    "chain_adjacency",
    "component_warnings",
    "connected_batch",
    "connectivity_graph",
    "estimate_adjacency_memory",
    "is_chain",
    "n_connected_components",
    "symmetric_adjacency",
]

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


def connectivity_graph(connectivity, X, memory_limit) -> sp.csr_matrix | None:
    """The symmetric connectivity graph over ``X``, or None without one.

    Parameters
    ----------
    connectivity : array-like, sparse matrix, callable or None
        The estimator's parameter; a callable is called with ``X``.
    X : ndarray of shape (n_samples, n_features)
    memory_limit : int, float, "auto" or None
        The conversion is refused with a ``MemoryError`` beyond it.
    """
    if connectivity is None:
        return None
    if callable(connectivity):
        connectivity = connectivity(X)
    check_memory(estimate_adjacency_memory(connectivity, len(X)), memory_limit)
    return symmetric_adjacency(connectivity, X.shape[0])
