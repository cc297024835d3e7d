"""Choosing a node's code by the stability of the flat clusters.

``merge_cost="adaptive"`` fits two criteria that share one merge encoder (a
learned embedding, the size-weighted average as encoder, a copy as decoder)
and differ in what each child presents to it: its mean
(``"learned_metric"``, Ward's cost in the embedding) or its boundary point
(``"boundary"``, the gap along the spanning tree). It keeps the one whose flat
clusters are the more stable under subsampling, the model-selection principle
of Ben-Hur, Elisseeff and Guyon (2002) and Lange, Roth, Braun and Buhmann
(2004): a partition that reflects structure in the data is found again on
most subsamples of it, one that the criterion imposes is not.

The comparison is paired and sequential. Each subsample keeps 80% of the
samples; both criteria build their trees on it with their fitted weights (no
retraining), cut them into the full fit's number of clusters, and label the
samples left out by their nearest kept sample in the criterion's embedding.
A criterion's stability on the subsample is the adjusted Rand index between
these labels and its full fit's. Subsamples are drawn in rounds of 10; after
at least 20, the comparison stops when the mean paired difference is at
least three standard errors from zero, and otherwise at 100. The second
candidate is kept if the mean difference is positive; the first (the null,
``"learned_metric"``) otherwise.

This module works on arrays and criteria classes; it knows nothing of the
estimator or of TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

from ._tree import cut_linkage

__all__ = [
    "AdaptiveCriterion",
    "StabilityComparison",
    "compare_stability",
    "subsample_stability",
]

#: Share of the samples each subsample keeps.
SUBSAMPLE_FRACTION = 0.8
#: Subsamples are drawn in rounds of this many.
ROUND_SIZE = 10
#: The comparison never stops before this many subsamples ...
MIN_SUBSAMPLES = 20
#: ... and always stops at this many.
MAX_SUBSAMPLES = 100
#: It stops earlier once the mean difference is this many standard errors.
STOP_STANDARD_ERRORS = 3.0
#: Subsamples of fewer samples than this say nothing of a partition.
MIN_SUBSAMPLE_SIZE = 10


@dataclass(frozen=True)
class StabilityComparison:
    """The outcome of :func:`compare_stability`.

    Attributes
    ----------
    chosen : int
        Index of the kept candidate.
    stability : ndarray of shape (n_candidates,)
        Each candidate's mean adjusted Rand index over the subsamples.
    differences : ndarray of shape (n_subsamples,)
        The second candidate's stability minus the first's, per subsample.
    """

    chosen: int
    stability: np.ndarray
    differences: np.ndarray

    @property
    def n_subsamples(self) -> int:
        """How many subsamples were drawn."""
        return int(self.differences.shape[0])


def subsample_stability(criterion_class, weights, X, labels, n_clusters, kept):
    """Adjusted Rand index of the fitted labels and a subsample's.

    Parameters
    ----------
    criterion_class : type
        A criterion of :data:`sklearn_rae._criteria.CRITERIA` with an
        embedding (``weights["kernel_embed"]``).
    weights : dict of ndarray
        Its fitted weights; not retrained.
    X : ndarray of shape (n_samples, n_features)
        The samples of the full fit.
    labels : ndarray of shape (n_samples,)
        The full fit's flat clusters.
    n_clusters : int
        How many clusters to cut the subsample's tree into.
    kept : ndarray of int
        Sorted indices of the subsample's samples.

    Returns
    -------
    float
        The adjusted Rand index between ``labels`` and the subsample's labels
        of every sample: a kept sample's from the subsample's tree, a left-out
        sample's from its nearest kept sample in the embedding ``X @ L``.
    """
    tree, _ = criterion_class.build_tree(weights, X[kept])
    kept_labels = cut_linkage(tree.linkage, n_clusters=n_clusters)
    left_out = np.ones(X.shape[0], dtype=bool)
    left_out[kept] = False
    subsample_labels = np.empty(X.shape[0], dtype=np.intp)
    subsample_labels[kept] = kept_labels
    if left_out.any():
        embedding = np.asarray(weights["kernel_embed"], dtype=np.float64)
        neighbours = NearestNeighbors(n_neighbors=1).fit(X[kept] @ embedding)
        nearest = neighbours.kneighbors(X[left_out] @ embedding, return_distance=False)
        subsample_labels[left_out] = kept_labels[nearest[:, 0]]
    return adjusted_rand_score(labels, subsample_labels)


def compare_stability(candidates, X, random_state):
    """Which of two fitted criteria gives the more stable flat clusters.

    Parameters
    ----------
    candidates : sequence of two tuples
        ``(criterion_class, weights, labels, n_clusters)`` of each full fit;
        the first is kept unless the second is the more stable.
    X : ndarray of shape (n_samples, n_features)
        The samples both were fitted on.
    random_state : numpy.random.RandomState
        Draws the subsamples.

    Returns
    -------
    StabilityComparison
    """
    n_samples = X.shape[0]
    n_kept = int(round(SUBSAMPLE_FRACTION * n_samples))
    scores = [[], []]
    while True:
        for _ in range(ROUND_SIZE):
            kept = np.sort(random_state.choice(n_samples, n_kept, replace=False))
            for scored, (criterion_class, weights, labels, n_clusters) in zip(
                scores, candidates, strict=True
            ):
                scored.append(
                    subsample_stability(
                        criterion_class, weights, X, labels, n_clusters, kept
                    )
                )
        differences = np.subtract(scores[1], scores[0])
        mean = differences.mean()
        count = differences.shape[0]
        standard_error = differences.std(ddof=1) / np.sqrt(count)
        decided = abs(mean) >= STOP_STANDARD_ERRORS * standard_error
        if count >= MAX_SUBSAMPLES or (count >= MIN_SUBSAMPLES and decided):
            break
    return StabilityComparison(
        chosen=int(mean > 0),
        stability=np.array([np.mean(scored) for scored in scores]),
        differences=differences,
    )


class AdaptiveCriterion:
    """The learned metric's merge encoder, given means or boundary points.

    A node presents to the merge encoder either its mean (the criterion
    ``"learned_metric"``) or its boundary point (``"boundary"``). Both are
    fitted and the one whose flat clusters are the more stable under
    subsampling is kept (see :mod:`sklearn_rae._adaptive`): means for classes
    that overlap, boundary points for shapes separated by gaps. With a
    connectivity graph the first candidate is fitted without a comparison: a
    subsample of a user's graph is not the graph of the subsample.
    """

    #: The criteria compared; the first is kept on a tie.
    candidates = ("learned_metric", "boundary")
    #: Above this many samples, both are trained and compared on a random
    #: subset of this size, and the kept one's tree is built over all the
    #: samples with the weights trained on the subset.
    selection_samples = 4000

    @staticmethod
    def can_compare(n_samples: int, n_clusters: int) -> bool:
        """Whether subsamples of ``n_samples`` can show a partition's stability.

        A subsample needs at least :data:`MIN_SUBSAMPLE_SIZE` samples and more
        samples than clusters; a single cluster is stable under any criterion.
        """
        n_kept = int(round(SUBSAMPLE_FRACTION * n_samples))
        return n_clusters > 1 and n_kept >= max(MIN_SUBSAMPLE_SIZE, n_clusters + 1)

    compare = staticmethod(compare_stability)
