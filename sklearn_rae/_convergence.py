"""When training the learned metric has converged.

Each training step builds the tree of a batch, cuts it into flat clusters and
moves the embedding ``L`` to tighten them. Training has converged when a step
no longer changes either:

- the flat partition: the partition of the samples that the batch shares with
  the previous step's batch is the same up to renaming of the clusters (with
  full batches, the whole partition);
- the objective: on the batch and its partition, the objective with the
  current ``L`` differs from the one with the previous step's ``L`` by less
  than a tolerance. The objective is a logarithm of the clusters' spread, so
  this is a relative change of the spread; comparing on the same samples and
  partition keeps the sampling noise of mini-batches out of it.

Both must hold for several consecutive steps.
"""

from __future__ import annotations

import numpy as np

from ._tree import cut_linkage

__all__ = ["TOLERANCE", "PATIENCE", "ConvergenceCheck", "partition_objective"]

# Largest change of the objective (a relative change of the clusters' spread)
# that counts as no change, and how many consecutive steps must see no change.
TOLERANCE = 1e-4
PATIENCE = 5


def partition_objective(
    X: np.ndarray, labels: np.ndarray, kernel_embed: np.ndarray, shrinkage: float
) -> float:
    """The learned metric's objective for the flat partition ``labels`` of ``X``.

    :func:`sklearn_rae._criteria.learned_metric_objective` of a tree whose
    merges below the cut form the clusters ``labels``: Ward's costs of the
    merges inside a cluster add up to half its sum of squares, whatever the
    order of the merges.
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels).astype(np.float64)
    sums = np.zeros((counts.shape[0], X.shape[1]))
    np.add.at(sums, labels, X)
    centred = X - (sums / np.maximum(counts, 1)[:, None])[labels]
    scatter = centred.T @ centred
    within = 0.5 * np.trace(scatter)
    within_embedded = 0.5 * np.sum(scatter * (kernel_embed @ kernel_embed.T))
    d = X.shape[1]
    spread = (1 - shrinkage) * within_embedded + shrinkage * within / d * np.sum(
        kernel_embed**2
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.log(spread) - 2.0 / d * np.linalg.slogdet(kernel_embed)[1])


def same_partition(first: np.ndarray, second: np.ndarray) -> bool:
    """Whether two labelings of the same samples agree up to renaming."""
    if first.shape[0] == 0:
        return True
    pairs = np.unique(np.stack([first, second]), axis=1).shape[1]
    return pairs == np.unique(first).shape[0] == np.unique(second).shape[0]


class ConvergenceCheck:
    """Follows the training steps and tells when they stopped changing anything.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        All training samples.
    shrinkage : float
        The objective's shrinkage.
    tolerance, patience : float, int
        See the module docstring.
    """

    def __init__(
        self,
        X: np.ndarray,
        shrinkage: float,
        tolerance: float = TOLERANCE,
        patience: int = PATIENCE,
    ):
        self.X = X
        self.shrinkage = float(shrinkage)
        self.tolerance = tolerance
        self.patience = patience
        self.quiet_steps = 0
        self._rows = None
        self._labels = None
        self._kernel = None

    def update(self, rows, linkage, below_cut, kernel_embed) -> bool:
        """Record one step; True once ``patience`` steps in a row changed nothing.

        ``rows`` are the batch's sample indices, sorted (None for all samples),
        ``linkage`` and ``below_cut`` its tree and cut, ``kernel_embed`` the
        ``L`` the tree was built with (before the step's update).
        """
        n_batch = linkage.shape[0] + 1
        rows = np.arange(n_batch) if rows is None else np.asarray(rows)
        labels = cut_linkage(linkage, n_clusters=n_batch - int(np.sum(below_cut)))
        quiet = False
        if self._rows is not None:
            _, previous_index, index = np.intersect1d(
                self._rows, rows, assume_unique=True, return_indices=True
            )
            if same_partition(self._labels[previous_index], labels[index]):
                batch = self.X[rows]
                now, before = (
                    partition_objective(batch, labels, kernel, self.shrinkage)
                    for kernel in (kernel_embed, self._kernel)
                )
                quiet = bool(abs(now - before) <= self.tolerance)
        self.quiet_steps = self.quiet_steps + 1 if quiet else 0
        self._rows, self._labels = rows, labels
        self._kernel = np.array(kernel_embed, dtype=np.float64)
        return self.quiet_steps >= self.patience
