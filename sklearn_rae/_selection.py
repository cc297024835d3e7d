"""Choosing between criteria: by a gap in the data, or by stability.

A selection is a ``merge_cost`` that fits candidate criteria and keeps one.
Two are defined. ``"auto"`` (the default) keeps the boundary criterion where
its flat clusters are separated by gaps and fits the whitened means
otherwise; ``"adaptive"`` fits the learned metric and the boundary criterion
and keeps the more stable. A selection answers the same call as a single
criterion, ``fit(X, context) -> FitResult`` (:mod:`sklearn_rae._fitting`):
it fits its candidates with :func:`~sklearn_rae._fitting.fit_criterion`,
asks them what it needs through the criterion interface (their spanning-tree
edges, how they refined their clusters) and keeps one.

Stability

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

This module knows nothing of the estimator or of TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

from ._choose_k import cut_persistence, distinct_row_ids
from ._fitting import FitContext, FitResult, fit_criterion, refit_tree
from .criteria.base import Refinement
from .engines.interruptible import kneighbors_interruptibly
from .engines.spanning import EXACT_SPANNING_TREE_MAX_SAMPLES, spanning_edges
from .engines.tree import cut_linkage

__all__ = [
    "GapSelection",
    "StabilitySelection",
    "StabilityComparison",
    "boundary_separation",
    "compare_stability",
    "denoised_separation",
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


def subsample_stability(criterion, weights, X, labels, n_clusters, kept):
    """Adjusted Rand index of the fitted labels and a subsample's.

    Parameters
    ----------
    criterion : Criterion
        A criterion with an embedding (:meth:`Criterion.embed`).
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
    tree = criterion.build_tree(weights, X[kept])
    kept_labels = cut_linkage(tree.linkage, n_clusters=n_clusters)
    left_out = np.ones(X.shape[0], dtype=bool)
    left_out[kept] = False
    subsample_labels = np.empty(X.shape[0], dtype=np.intp)
    subsample_labels[kept] = kept_labels
    if left_out.any():
        embedded = criterion.embed(weights, X, center=0.0)
        neighbours = NearestNeighbors(n_neighbors=1).fit(embedded[kept])
        _, nearest = kneighbors_interruptibly(neighbours, embedded[left_out], 1)
        subsample_labels[left_out] = kept_labels[nearest[:, 0]]
    return adjusted_rand_score(labels, subsample_labels)


def compare_stability(candidates, X, random_state, progress=None):
    """Which of two fitted criteria gives the more stable flat clusters.

    Parameters
    ----------
    candidates : sequence of two tuples
        ``(criterion, weights, labels, n_clusters)`` of each full fit;
        the first is kept unless the second is the more stable.
    X : ndarray of shape (n_samples, n_features)
        The samples both were fitted on.
    random_state : numpy.random.RandomState
        Draws the subsamples.
    progress : StepProgress or None
        Told of every subsample compared (``progress.update(count,
        postfix)``), with the mean difference so far after each round.

    Returns
    -------
    StabilityComparison
    """
    n_samples = X.shape[0]
    n_kept = int(round(SUBSAMPLE_FRACTION * n_samples))
    scores = [[], []]
    summary = ""
    while True:
        for _ in range(ROUND_SIZE):
            kept = np.sort(random_state.choice(n_samples, n_kept, replace=False))
            for scored, (criterion, weights, labels, n_clusters) in zip(
                scores, candidates, strict=True
            ):
                scored.append(
                    subsample_stability(criterion, weights, X, labels, n_clusters, kept)
                )
            if progress is not None:
                progress.update(len(scores[0]), summary)
        differences = np.subtract(scores[1], scores[0])
        mean = differences.mean()
        count = differences.shape[0]
        standard_error = differences.std(ddof=1) / np.sqrt(count)
        summary = f"difference={mean:+.3f}, SE={standard_error:.3f}"
        if progress is not None:
            progress.update(count, summary)
        decided = abs(mean) >= STOP_STANDARD_ERRORS * standard_error
        if count >= MAX_SUBSAMPLES or (count >= MIN_SUBSAMPLES and decided):
            break
    return StabilityComparison(
        chosen=int(mean > 0),
        stability=np.array([np.mean(scored) for scored in scores]),
        differences=differences,
    )


def _can_compare(n_samples: int, n_clusters: int) -> bool:
    """Whether subsamples of ``n_samples`` can show a partition's stability.

    A subsample needs at least :data:`MIN_SUBSAMPLE_SIZE` samples and more
    samples than clusters; a single cluster is stable under any criterion.
    """
    n_kept = int(round(SUBSAMPLE_FRACTION * n_samples))
    return n_clusters > 1 and n_kept >= max(MIN_SUBSAMPLE_SIZE, n_clusters + 1)


@dataclass(frozen=True)
class StabilitySelection:
    """Fit every candidate; keep the one whose flat clusters are the more stable.

    Attributes
    ----------
    name : str
        The ``merge_cost`` that names it.
    candidates : tuple of SingleCriterion
        The criteria compared; the first is kept on a tie, and alone with a
        connectivity graph (a subsample of a user's graph is not the graph of
        the subsample).
    description : str
        One sentence for the documentation's list of criteria.
    selection_samples : int
        Above this many samples, the candidates are trained and compared on a
        random subset of this size, and the kept one's tree is built over all
        the samples with the weights trained on the subset.
    """

    name: str
    candidates: tuple
    description: str
    selection_samples: int = 4000
    #: Fitted attributes this selection sets.
    attributes = ("stability_",)

    can_compare = staticmethod(_can_compare)

    def fit(self, X, context: FitContext) -> FitResult:
        """Fit the candidates and keep the more stable (``stability_``)."""
        seed = context.candidate_seed()
        criteria = [candidate.make(context.shrinkage) for candidate in self.candidates]
        names = [criterion.name for criterion in criteria]
        if context.adjacency is not None:
            context.say(
                f"Fitting {names[0]} alone: stability on subsamples is not "
                "compared along a connectivity graph"
            )
            result = fit_criterion(criteria[0], X, context, np.random.RandomState(seed))
            result.attributes = {"stability_": None}
            return result
        subset = None
        if X.shape[0] > self.selection_samples:
            # Refuse data too large for either tree before training.
            for criterion in criteria:
                context.check_tree_memory(criterion, X)
            subset = np.sort(
                context.random_state.choice(
                    X.shape[0], self.selection_samples, replace=False
                )
            )
        X_compared = X if subset is None else X[subset]
        results = [
            fit_criterion(criterion, X_compared, context, np.random.RandomState(seed))
            for criterion in criteria
        ]
        chosen, comparison = self.choose(
            [
                (
                    result.criterion,
                    result.fitted.weights,
                    result.fitted.cut.labels,
                    result.fitted.cut.n_clusters,
                )
                for result in results
            ],
            X_compared,
            np.random.RandomState(seed),
            context.progress,
        )
        stability = None
        if comparison is None:
            same = all(
                np.array_equal(results[0].fitted.cut.labels, result.fitted.cut.labels)
                for result in results[1:]
            )
            context.say(
                f"Keeping {names[0]}: "
                + (
                    "the criteria give the same flat clusters"
                    if same
                    else "too few samples or clusters to compare stability"
                )
            )
        else:
            stability = dict(zip(names, comparison.stability.tolist(), strict=True))
            context.say(
                f"Stability over {comparison.n_subsamples} subsamples: "
                + ", ".join(f"{name} {value:.3f}" for name, value in stability.items())
                + f"; keeping {names[chosen]}"
            )
        kept = results[chosen]
        if subset is not None:
            # Training draws batches of at most 2,000 samples: the subset's
            # weights serve; only the tree is built over all the samples.
            kept = refit_tree(kept, X, context)
        kept.attributes = {"stability_": stability}
        return kept

    def choose(
        self, fits, X, random_state, progress=None
    ) -> tuple[int, StabilityComparison | None]:
        """Which of the fitted candidates to keep, and the comparison if any.

        Parameters
        ----------
        fits : sequence of (criterion, weights, labels, n_clusters)
            Each candidate's fit on ``X``, in the order of :attr:`candidates`.
        X : ndarray of shape (n_samples, n_features)
        random_state : numpy.random.RandomState
            Draws the subsamples.
        progress : callable or None
            ``progress(description, total, unit)`` gives the
            :class:`~sklearn_rae._progress.StepProgress` of a comparison.

        Returns
        -------
        chosen : int
            Index of the kept candidate: the first when the partitions are
            equal or cannot be compared.
        comparison : StabilityComparison or None
        """
        comparable = all(
            self.can_compare(X.shape[0], n_clusters) for *_, n_clusters in fits
        )
        # Labels are numbered by first appearance: equal partitions are equal
        # arrays.
        if not comparable or all(
            np.array_equal(fits[0][2], labels) for _, _, labels, _ in fits[1:]
        ):
            return 0, None
        steps = None
        if progress is not None:
            steps = progress(
                f"Comparing up to {MAX_SUBSAMPLES} subsamples",
                MAX_SUBSAMPLES,
                "subsample",
            )
        try:
            comparison = compare_stability(fits, X, random_state, steps)
        except BaseException:
            if steps is not None:
                steps.close()
            raise
        if steps is not None:
            # The comparison stops once it is decided: it is complete.
            steps.close(complete=True)
        return comparison.chosen, comparison


def boundary_separation(
    Z: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    labels: np.ndarray,
    quantile: float,
) -> float:
    """How clearly the clusters of a spanning-tree partition are separated.

    For every spanning-tree edge ``(first[e], second[e])`` that joins two
    clusters, its length in ``Z`` over the ``quantile`` of the lengths of the
    edges inside those two clusters; the smallest such ratio. Large when every
    cluster is cut off by a gap wider than the spacing of its own samples,
    near one when clusters touch. ``inf`` for one cluster; 0 when two
    clusters have no edge inside. Duplicate samples join at length zero and
    do not count: the spacing is that of the clusters' distinct samples, so
    repeating every row leaves the ratio as it is.
    """
    length = np.sqrt(np.einsum("ij,ij->i", Z[first] - Z[second], Z[first] - Z[second]))
    side_a, side_b = labels[first], labels[second]
    inside = side_a == side_b
    ratios = []
    for edge in np.flatnonzero(~inside).tolist():
        near = inside & np.isin(side_a, (side_a[edge], side_b[edge]))
        if not near.any():
            return 0.0
        spaced = length[near & (length > 0)]
        spacing = float(np.quantile(spaced, quantile)) if spaced.size else 0.0
        ratios.append(length[edge] / max(spacing, 1e-300))
    return float(min(ratios)) if ratios else float("inf")


def denoised_separation(
    Z: np.ndarray,
    labels: np.ndarray,
    quantile: float,
    neighbours: int,
    noise_factor: float,
) -> tuple[float, float]:
    """:func:`boundary_separation` of ``labels`` once the noise is left out.

    A sample is noise when its core distance (to its ``neighbours``-th
    nearest sample in ``Z``, itself counted, as HDBSCAN's ``min_samples``
    counts it) exceeds ``noise_factor`` times the median core distance: it
    lies where the data are several times sparser than at a typical sample.
    The other samples' Euclidean minimum spanning tree is built anew, and
    the separation of ``labels`` on it is returned with the share of samples
    kept. 0 when a cluster is all noise, or when the median core distance is
    0 (most samples repeated: no density to compare).
    """
    n = Z.shape[0]
    if n <= neighbours:
        return 0.0, 1.0
    index = NearestNeighbors(n_neighbors=neighbours - 1).fit(Z)
    distance, _ = kneighbors_interruptibly(index, Z, neighbours - 1, indexed=True)
    core = distance[:, -1]
    median = float(np.median(core))
    if not median > 0:
        return 0.0, 1.0
    kept = core <= noise_factor * median
    share = float(kept.mean())
    kept_labels = labels[kept]
    if np.unique(kept_labels).shape[0] < np.unique(labels).shape[0]:
        return 0.0, share
    first, second, _ = spanning_edges(Z[kept])
    return boundary_separation(Z[kept], first, second, kept_labels, quantile), share


@dataclass(frozen=True)
class GapSelection:
    """Keep the boundary tree where its clusters are separated by gaps.

    The first candidate (the boundary criterion, untrained, from the
    unit-free start) is fitted; its flat clusters are kept when none is tiny
    (each holds at least ``min_cluster_share / n_clusters`` of the samples)
    and each is cut off by a gap: every spanning-tree edge between two
    clusters is at least ``min_separation`` times the ``quantile`` of the
    edges inside them (:func:`boundary_separation`). Otherwise the second
    candidate (the whitened means) is fitted and kept, unless its cut
    outlives the boundary tree's: with a number of clusters given, no
    connectivity graph, no tiny boundary cluster and clusters the whitened
    means did not find spherical (refined by k-means), the boundary tree is
    kept when the persistence of its cut into ``k`` clusters
    (:func:`~sklearn_rae._choose_k.cut_persistence`, each tree in its own
    height units) is higher than the whitened means' (0 if a cluster of the
    means' cut is too small to have one).

    Between the two, for shapes that touch through noise: with a number of
    clusters given, no connectivity graph and at most
    ``EXACT_SPANNING_TREE_MAX_SAMPLES`` samples, the ``shape_candidate``
    (Genie's Gini-corrected tree along the same spanning tree, untrained,
    unit-free) is fitted and kept when none of its clusters is tiny and
    they are cut off by the same gaps once the noise is left out
    (:func:`denoised_separation`: samples whose distance to their
    ``noise_neighbours``-th neighbour exceeds ``noise_factor`` times the
    median). ``docs/design.md`` gives the rules' reasons and how their
    constants were fixed.

    Attributes
    ----------
    name : str
    gap_candidate : SingleCriterion
        Fitted untrained; its trees must follow a spanning tree
        (:meth:`Criterion.merge_edges`).
    fallback : SingleCriterion
    description : str
    shape_candidate : SingleCriterion or None
        Tried between the two, untrained (None: not tried).
    min_cluster_share, min_separation, quantile : float
        The gap rule's constants.
    noise_neighbours, noise_factor : int, float
        The noise rule's constants.
    """

    name: str
    gap_candidate: object
    fallback: object
    description: str
    shape_candidate: object = None
    min_cluster_share: float = 0.2
    min_separation: float = 2.0
    quantile: float = 0.9
    noise_neighbours: int = 5
    noise_factor: float = 2.0
    attributes = ("separation_",)

    def fit(self, X, context: FitContext) -> FitResult:
        """Fit the gap candidate, and the fallback where it finds no gaps."""
        seed = context.candidate_seed()
        criterion, gap, smallest, large = self._untrained_fit(
            self.gap_candidate, X, context, seed
        )
        labels = gap.fitted.cut.labels
        n_clusters = gap.fitted.cut.n_clusters
        first, second = criterion.merge_edges(gap.fitted.tree)
        embedded = criterion.embed(gap.fitted.weights, X, center=0.0)
        separation = boundary_separation(embedded, first, second, labels, self.quantile)
        report = {
            "separation": separation,
            "smallest_cluster": smallest,
            "persistence": None,
            "kept": criterion.name,
        }
        gaps = large and separation >= self.min_separation
        context.say(
            f"Boundary clusters: separation {separation:.2f}, smallest "
            f"{smallest:.1%} of the samples"
            + (f"; keeping {criterion.name}" if gaps else "")
        )
        if gaps:
            gap.attributes = {"separation_": report}
            return gap
        shape = self._shape_fit(X, context, seed, n_clusters, report)
        if shape is not None:
            shape.attributes = {"separation_": report}
            return shape
        means = fit_criterion(
            self.fallback.make(context.shrinkage),
            X,
            context,
            np.random.RandomState(seed),
        )
        kept = means
        if (
            large
            and context.cut.fixed_n_clusters is not None
            and context.adjacency is None
            and means.fitted.cut.n_clusters == n_clusters
            and means.fitted.refinement is not Refinement.ISOTROPIC
        ):
            row_ids = distinct_row_ids(X)
            persistence = {
                result.criterion.name: cut_persistence(
                    X,
                    result.criterion.scipy_linkage(result.fitted.tree),
                    n_clusters,
                    row_ids,
                )
                for result in (gap, means)
            }
            report["persistence"] = persistence
            outlived = persistence[means.criterion.name]
            if persistence[criterion.name] > (0.0 if np.isnan(outlived) else outlived):
                kept = gap
            context.say(
                f"Persistence of the cut into {n_clusters}: "
                + ", ".join(f"{name} {p:.2f}" for name, p in persistence.items())
                + f"; keeping {kept.criterion.name}"
            )
        report["kept"] = kept.criterion.name
        kept.attributes = {"separation_": report}
        return kept

    def _untrained_fit(self, candidate, X, context, seed):
        """``candidate`` fitted untrained: the criterion, its fit, its smallest
        cluster's share of the samples, and whether none is tiny (several
        clusters, each with ``min_cluster_share / n_clusters`` of them)."""
        criterion = candidate.make(context.shrinkage)
        result = fit_criterion(
            criterion, X, context, np.random.RandomState(seed), max_iter=0
        )
        flat = result.fitted.cut
        smallest = float(np.bincount(flat.labels).min()) / flat.labels.shape[0]
        large = (
            flat.n_clusters > 1 and smallest * flat.n_clusters >= self.min_cluster_share
        )
        return criterion, result, smallest, large

    def _shape_fit(self, X, context, seed, n_clusters, report):
        """The shape candidate's fit where its clusters pass the noise rule."""
        if (
            self.shape_candidate is None
            or context.cut.fixed_n_clusters is None
            or context.adjacency is not None
            or n_clusters < 2
            or X.shape[0] > EXACT_SPANNING_TREE_MAX_SAMPLES
        ):
            return None
        criterion, shape, smallest, large = self._untrained_fit(
            self.shape_candidate, X, context, seed
        )
        labels = shape.fitted.cut.labels
        denoised, share = denoised_separation(
            criterion.embed(shape.fitted.weights, X, center=0.0),
            labels,
            self.quantile,
            self.noise_neighbours,
            self.noise_factor,
        )
        report["denoised_separation"] = denoised
        report["denoised_share"] = share
        report["shape_smallest_cluster"] = smallest
        kept = (
            shape.fitted.cut.n_clusters == n_clusters
            and large
            and denoised >= self.min_separation
        )
        context.say(
            f"{criterion.name} clusters without the noise ({1 - share:.1%} of "
            f"the samples): separation {denoised:.2f}, smallest {smallest:.1%}"
            + (f"; keeping {criterion.name}" if kept else "")
        )
        if not kept:
            return None
        report["kept"] = criterion.name
        return shape
