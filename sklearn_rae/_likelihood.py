"""The Gaussian mixture that a tree and its cut define, and the choice of cut.

A fitted tree cut into ``k`` flat clusters defines a mixture of ``k``
Gaussians on the data's own space: the weights are the clusters' shares of
the samples, the means their sample means, and all components share one
covariance, the pooled within-cluster covariance (the maximum likelihood
estimate given the partition) plus a small ridge for stability.

A clustering says which cluster each sample belongs to, so a sample is
scored with its cluster: by the *complete-data* (classification)
log-likelihood ``log(w_c N(x | m_c, S))`` of the component ``c`` that
explains it best, which is the mixture's log density ``log p(x)`` plus the
log of the largest posterior ``log p(c | x)``. It is lower than the
mixture's density where components overlap, so it does not reward splitting
one cluster into overlapping parts, which the density alone hardly notices.
With ``n log n`` times half the number of free parameters this is the
integrated completed likelihood criterion of Biernacki, Celeux and Govaert
(2000) with hard assignments, which chooses the cut. NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._numeric import center_of, cluster_sums

# Largest number of clusters that ``n_clusters="auto"`` considers.
MAX_AUTO_CLUSTERS = 30

# Ridge added to the pooled covariance, relative to each feature's variance:
# keeps the covariance invertible for clusters that are points, for constant
# features and for more features than samples.
COVARIANCE_RIDGE = 1e-6


def mixture_n_parameters(mixture: dict[str, np.ndarray]) -> int:
    """Free parameters: ``k - 1`` weights, ``k d`` means, one covariance."""
    return _n_parameters(*mixture["means"].shape)


def mixture_log_likelihood(mixture: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    """Complete-data log-likelihood of each row of ``X``, best component."""
    # Means are kept relative to the training data's centre (see tied_mixture).
    X = X - mixture.get("center", 0.0)
    return _tied_log_likelihood(
        X, mixture["weights"], mixture["means"], mixture["covariance"]
    )


def _n_parameters(n_components: int, n_features: int) -> int:
    k, d = n_components, n_features
    return (k - 1) + k * d + d * (d + 1) // 2


def _ridge(X: np.ndarray) -> np.ndarray:
    """The covariance ridge for data ``X``, one per feature.

    Relative to each feature's variance, so that a feature's unit changes no
    likelihood ratio; a constant feature takes the mean variance of the
    others (1 if none varies).
    """
    variance = np.var(X, axis=0) if len(X) else np.zeros(X.shape[1])
    varies = np.isfinite(variance) & (variance > 0)
    fill = float(np.mean(variance[varies])) if varies.any() else 1.0
    return COVARIANCE_RIDGE * np.where(varies, variance, fill)


def _tied_log_likelihood(X, weights, means, covariance) -> np.ndarray:
    """``max_c log(weights[c] N(x | means[c], covariance))`` for each row."""
    d = X.shape[1]
    chol = np.linalg.cholesky(covariance)
    log_det = 2.0 * float(np.sum(np.log(np.diag(chol))))
    # Whiten once, then squared distances to the whitened means. The d x d
    # inverse and a matrix product are much faster than a triangular solve
    # with n right-hand sides.
    whiten = np.linalg.inv(chol).T
    Xw = X @ whiten
    Mw = means @ whiten
    sq = (
        np.sum(Xw**2, axis=1)[:, None]
        - 2.0 * Xw @ Mw.T
        + np.sum(Mw**2, axis=1)[None, :]
    )
    np.maximum(sq, 0.0, out=sq)
    log_components = np.log(weights)[None, :] - 0.5 * (
        d * np.log(2 * np.pi) + log_det + sq
    )
    return np.max(log_components, axis=1)


def tied_mixture(X: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """The mixture defined by the flat clusters ``labels`` (0..k-1) of ``X``.

    A dict of arrays: ``weights`` (k,), ``means`` (k, d) and the shared
    ``covariance`` (d, d), the means relative to ``center`` (d,), the centre
    of ``X``: sums of values near the largest float64 would overflow.
    """
    center = center_of(X)
    X = X - center
    n, d = X.shape
    k = int(labels.max()) + 1
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    means = cluster_sums(X, labels, k)
    means /= counts[:, None]
    centred = X - means[labels]
    covariance = centred.T @ centred / n
    covariance[np.diag_indices(d)] += _ridge(X)
    return {
        "weights": counts / n,
        "means": means,
        "covariance": covariance,
        "center": center,
    }


def max_auto_clusters(n_samples: int, n_features: int) -> int:
    """Largest cut that ``n_clusters="auto"`` considers.

    At most :data:`MAX_AUTO_CLUSTERS` and ``n_samples``, and only cuts whose
    mixture has fewer free parameters than there are samples (beyond that
    the information criterion has nothing to weigh); at least 1.
    """
    k = min(MAX_AUTO_CLUSTERS, n_samples)
    while k > 1 and _n_parameters(k, n_features) >= n_samples:
        k -= 1
    return k


@dataclass(eq=False)
class CutPath:
    """The information criteria of the cuts of one tree into 1..k_max clusters."""

    n_clusters: np.ndarray  # (k_max,) 1..k_max
    log_likelihood: np.ndarray  # (k_max,) complete-data, total over the samples
    bic: np.ndarray  # (k_max,)

    @property
    def best(self) -> int:
        """The number of clusters of lowest BIC (the fewest on ties)."""
        return int(self.n_clusters[int(np.argmin(self.bic))])


def cut_path(X: np.ndarray, linkage: np.ndarray, k_max: int | None = None) -> CutPath:
    """BIC (complete-data) of the mixture of every cut of ``linkage``, 1..k_max.

    The cut into ``k`` clusters undoes the last ``k - 1`` merges, as
    :func:`sklearn_rae._cut.cut_linkage` does. Going from ``k`` to ``k + 1``
    clusters splits one node into its children ``a`` and ``b``, which lowers
    the within-cluster scatter by ``n_a n_b / (n_a + n_b) (m_a - m_b)(m_a -
    m_b)^T``; so the statistics of all cuts cost one pass up the tree and the
    likelihood of each cut one ``n x k`` distance computation.
    """
    # The criterion does not change under a shift; centred sums do not
    # overflow on data near the largest float64.
    X = X - center_of(X)
    n, d = X.shape
    if k_max is None:
        k_max = max_auto_clusters(n, d)
    k_max = max(1, min(k_max, n))
    n_merges = n - 1
    # Sizes and sums of the nodes that some cut into at most k_max clusters
    # contains: the children of the last k_max - 1 merges, from the leaves up.
    counts = np.ones(2 * n - 1)
    sums = np.empty((2 * n - 1, d))
    sums[:n] = X
    for step in range(n_merges):
        left, right = int(linkage[step, 0]), int(linkage[step, 1])
        counts[n + step] = counts[left] + counts[right]
        sums[n + step] = sums[left] + sums[right]
    means = sums / counts[:, None]

    ridge = _ridge(X)
    centred = X - X.mean(axis=0)
    scatter = centred.T @ centred
    active = [2 * n - 2] if n > 1 else [0]
    log_likelihood = np.empty(k_max)
    for k in range(1, k_max + 1):
        if k > 1:
            node = n + n_merges - (k - 1)
            left, right = int(linkage[node - n, 0]), int(linkage[node - n, 1])
            n_a, n_b = counts[left], counts[right]
            diff = means[left] - means[right]
            scatter = scatter - (n_a * n_b / (n_a + n_b)) * np.outer(diff, diff)
            active.remove(node)
            active.extend((left, right))
        covariance = scatter / n
        covariance = (covariance + covariance.T) / 2
        covariance[np.diag_indices(d)] += ridge
        nodes = np.asarray(active)
        log_likelihood[k - 1] = np.sum(
            _tied_log_likelihood(X, counts[nodes] / n, means[nodes], covariance)
        )
    ks = np.arange(1, k_max + 1)
    penalty = np.array([_n_parameters(k, d) for k in ks]) * np.log(n)
    return CutPath(ks, log_likelihood, -2.0 * log_likelihood + penalty)
