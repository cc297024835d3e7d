"""Numeric helpers shared by the criteria, the engines and the estimator.

Arrays in, arrays out; this module imports nothing of the package.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "center_of",
    "check_finite_differences",
    "cluster_sums",
    "concat_states",
    "finite",
    "leaf_state",
    "merge_code_differences",
    "node_sizes_and_means",
    "number_by_first_appearance",
    "within_residuals",
    "overflow_error",
]


def leaf_state(X: np.ndarray) -> dict[str, np.ndarray]:
    """State of the leaves: embedding and mean = the sample, score 0, size 1."""
    X = np.asarray(X, dtype=np.float64)
    return {
        "embedding": X.copy(),
        "mean": X.copy(),
        "score": np.zeros(X.shape[0]),
        "size": np.ones(X.shape[0]),
    }


def center_of(X: np.ndarray):
    """The mean row of ``X``, finite whenever the differences of its rows are.

    The plain mean, or where it overflows (values near the largest float64,
    even all equal), the mean taken from the first row,
    ``X[0] + mean(X - X[0])``.
    """
    if len(X) == 0:
        return 0.0
    with np.errstate(over="ignore", invalid="ignore"):
        center = np.mean(X, axis=0)
    if np.isfinite(center).all():
        return center
    return X[0] + np.mean(X - X[0], axis=0)


def concat_states(*states: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Stack node states row-wise (same keys in each)."""
    return {key: np.concatenate([s[key] for s in states]) for key in states[0]}


def node_sizes_and_means(
    X: np.ndarray, linkage: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Leaf count and leaf mean of every node of the tree ``linkage`` over ``X``.

    Returns arrays of ``2 n - 1`` rows: the leaves, then node ``n + t`` made by
    merge ``t``.
    """
    n = X.shape[0]
    sizes = np.ones(2 * n - 1)
    sums = np.empty((2 * n - 1, X.shape[1]))
    sums[:n] = X
    children = linkage[:, :2].astype(np.intp)
    for step, (left, right) in enumerate(children.tolist()):
        sizes[n + step] = sizes[left] + sizes[right]
        sums[n + step] = sums[left] + sums[right]
    return sizes, sums / sizes[:, None]


def merge_code_differences(
    X: np.ndarray,
    linkage: np.ndarray,
    boundary_first: np.ndarray | None = None,
    boundary_second: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The codes' difference and the size factor of every merge of a tree.

    The codes are the children's leaf means, or with ``boundary_first`` and
    ``boundary_second`` (the samples at the two ends of each merge's boundary
    edge) the children's boundary points; a merge's error is then
    ``factor * |difference @ L|^2 / 2`` with ``factor = n_a n_b / (n_a + n_b)``.

    Returns
    -------
    difference : ndarray of shape (n_samples - 1, n_features)
    factor : ndarray of shape (n_samples - 1,)
    """
    children = linkage[:, :2].astype(np.intp)
    if boundary_first is None:
        sizes, means = node_sizes_and_means(X, linkage)
        difference = means[children[:, 0]] - means[children[:, 1]]
    else:
        # The linkage's last column holds the merged nodes' sizes; the
        # boundary codes need no node means.
        sizes = np.concatenate([np.ones(X.shape[0]), linkage[:, 3]])
        difference = X[boundary_first] - X[boundary_second]
    size_first, size_second = sizes[children[:, 0]], sizes[children[:, 1]]
    factor = size_first * size_second / (size_first + size_second)
    return difference, factor


def number_by_first_appearance(labels: np.ndarray) -> np.ndarray:
    """``labels`` renamed ``0, 1, ...`` in order of first appearance."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse].astype(np.intp)


def cluster_sums(X: np.ndarray, labels: np.ndarray, n_clusters: int) -> np.ndarray:
    """The sum of the rows of ``X`` in each cluster of ``labels`` (0 .. k - 1).

    Of shape ``(n_clusters, n_features)``, float64. Every sum adds its rows in
    the order of the samples, as ``np.add.at(sums, labels, X)`` does, with the
    same result to the last bit, but in one ``np.bincount`` over the cells
    ``(label, column)``, several times faster.
    """
    n_features = X.shape[1]
    cells = (np.asarray(labels, dtype=np.intp)[:, None] * n_features) + np.arange(
        n_features
    )
    sums = np.bincount(
        cells.ravel(),
        weights=np.asarray(X, dtype=np.float64).ravel(),
        minlength=n_clusters * n_features,
    )
    return sums.reshape(n_clusters, n_features)


def within_residuals(X: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each sample minus the mean of its cluster (``labels`` from 0)."""
    labels = np.asarray(labels)
    counts = np.bincount(labels).astype(np.float64)
    sums = cluster_sums(X, labels, counts.shape[0])
    return X - (sums / np.maximum(counts, 1)[:, None])[labels]


def finite(values) -> bool:
    """Whether every value is finite."""
    return bool(np.isfinite(values).all())


def overflow_error(X) -> ValueError:
    """The error for data whose merge costs overflow float64."""
    return ValueError(
        "The merge costs of this data are not finite in float64 (largest "
        f"absolute value {np.max(np.abs(X)):.3g}); scale the data, for "
        "example with StandardScaler."
    )


def check_finite_differences(X: np.ndarray) -> None:
    """Refuse data whose squared differences overflow or underflow float64.

    Squared distances, or a column's sum of squares about its mean, that
    overflow make merge costs or the unit-free start infinite; a column's
    differences whose squares underflow make its costs 0 (or subnormal,
    without precision), so the labels would be arbitrary.
    """
    tiny = np.finfo(np.float64).tiny
    with np.errstate(over="ignore", under="ignore"):
        spread = np.ptp(X, axis=0)
        if not np.isfinite(np.sum(np.square(spread))):
            raise overflow_error(X)
        # The scatter, a sum of n squares per column, must be finite too:
        # computed on each column divided by its spread, which cannot overflow.
        varies = spread > 0
        relative = np.std(X[:, varies] / spread[varies], axis=0) * spread[varies]
        if not np.isfinite(X.shape[0] * np.sum(np.square(relative))):
            raise overflow_error(X)
        small = np.flatnonzero(varies & (np.square(spread) < tiny))
        if small.size:
            column = int(small[np.argmax(spread[small])])
            raise ValueError(
                f"The differences between the samples in column {column} "
                f"(largest {spread[column]:.3g}) are too small to square in "
                f"float64: their squares underflow below {tiny:.3g}, so the "
                "merge costs are 0 or without precision. Scale the data, for "
                "example with StandardScaler."
            )
