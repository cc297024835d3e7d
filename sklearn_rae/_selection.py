"""Choosing between criteria: by a gap in the data, or by stability.

A selection is a ``merge_cost`` that fits candidate criteria and keeps one.
Two are defined. ``"auto"`` (the default) keeps the boundary criterion where
its flat clusters are separated by gaps and fits the whitened means
otherwise; ``"adaptive"`` fits the learned metric and the boundary criterion
and keeps the more stable. The estimator hands a selection a
:class:`CandidateFits`-like object that fits a named candidate; the
selection compares the fitted results.

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

This module compares fitted results (weights and labels) with the criteria's
own interface; it knows nothing of the estimator or of TensorFlow. The
estimator fits each candidate, then asks :meth:`Selection.choose`.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.metrics import adjusted_rand_score
from sklearn.neighbors import NearestNeighbors

from ._choose_k import cut_persistence, distinct_row_ids
from ._progress import StepProgress, say
from ._resources import check_memory
from .criteria import MERGE_COST_NAMES, get_criterion
from .engines.interruptible import kneighbors_interruptibly
from .engines.tree import cut_linkage

__all__ = [
    "SELECTIONS",
    "CandidateFits",
    "GapSelection",
    "SelectionResult",
    "StabilitySelection",
    "StabilityComparison",
    "boundary_separation",
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


@dataclass(frozen=True)
class SelectionResult:
    """What a selection kept.

    Attributes
    ----------
    name : str
        The kept criterion's ``merge_cost``.
    training : TrainingResult
    fitted : FittedTree
    attributes : dict
        Fitted attributes that describe the choice (``stability_``,
        ``separation_``), set on the estimator.
    """

    name: str
    training: object
    fitted: object
    attributes: dict


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
    candidates : tuple of str
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
    options = {}
    #: Fitted attributes this selection sets.
    attributes = ("stability_",)

    can_compare = staticmethod(_can_compare)

    def select(self, fits, X, random_state) -> SelectionResult:
        """Fit the candidates with ``fits`` and keep the more stable."""
        names = self.candidates
        if fits.adjacency is not None:
            fits.say(
                f"Fitting {names[0]} alone: stability on subsamples is not "
                "compared along a connectivity graph"
            )
            training, fitted = fits.fit(names[0], X)
            return SelectionResult(names[0], training, fitted, {"stability_": None})
        subset = None
        if X.shape[0] > self.selection_samples:
            # Refuse data too large for either tree before training.
            for name in names:
                fits.check_memory(name, X)
            subset = np.sort(
                random_state.choice(X.shape[0], self.selection_samples, replace=False)
            )
        X_compared = X if subset is None else X[subset]
        results = [fits.fit(name, X_compared) for name in names]
        chosen, comparison = self.choose(
            [
                (
                    fits.criterion(name),
                    fitted.weights,
                    fitted.cut.labels,
                    fitted.cut.n_clusters,
                )
                for name, (_, fitted) in zip(names, results, strict=True)
            ],
            X_compared,
            fits.comparison_random_state(),
            fits.progress,
        )
        stability = None
        if comparison is None:
            same = all(
                np.array_equal(results[0][1].cut.labels, fitted.cut.labels)
                for _, fitted in results[1:]
            )
            fits.say(
                f"Keeping {names[0]}: "
                + (
                    "the criteria give the same flat clusters"
                    if same
                    else "too few samples or clusters to compare stability"
                )
            )
        else:
            stability = dict(zip(names, comparison.stability.tolist(), strict=True))
            fits.say(
                f"Stability over {comparison.n_subsamples} subsamples: "
                + ", ".join(f"{name} {value:.3f}" for name, value in stability.items())
                + f"; keeping {names[chosen]}"
            )
        training, fitted = results[chosen]
        if subset is not None:
            # Training draws batches of at most 2,000 samples: the subset's
            # weights serve; only the tree is built over all the samples.
            training, fitted = fits.rebuild(names[chosen], training, X)
        return SelectionResult(
            names[chosen], training, fitted, {"stability_": stability}
        )

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
    means' cut is too small to have one). The rules and their constants
    were fixed before the benchmark battery was run (see
    ``docs/default_experiments.md``, the first and fifth rounds).

    Attributes
    ----------
    name : str
    candidates : tuple of str
        The gap candidate, then the fallback.
    description : str
    min_cluster_share, min_separation, quantile : float
        The rule's constants.
    """

    name: str
    candidates: tuple
    description: str
    min_cluster_share: float = 0.2
    min_separation: float = 2.0
    quantile: float = 0.9
    #: Criterion options of the candidates: the boundary tree is built from
    #: the unit-free start, so that its gaps do not depend on the columns'
    #: units.
    options = {"boundary": {"start": "unit_free"}}
    attributes = ("separation_",)

    def select(self, fits, X, random_state) -> SelectionResult:
        gap_name, fallback = self.candidates
        training, fitted = fits.fit(gap_name, X, untrained=True)
        labels = fitted.cut.labels
        n_clusters = fitted.cut.n_clusters
        smallest = float(np.bincount(labels).min()) / labels.shape[0]
        first, second = fitted.tree.codes
        embedded = fits.criterion(gap_name).embed(fitted.weights, X, center=0.0)
        separation = boundary_separation(embedded, first, second, labels, self.quantile)
        report = {
            "separation": separation,
            "smallest_cluster": smallest,
            "persistence": None,
            "kept": gap_name,
        }
        large = n_clusters > 1 and smallest * n_clusters >= self.min_cluster_share
        gaps = large and separation >= self.min_separation
        fits.say(
            f"Boundary clusters: separation {separation:.2f}, smallest "
            f"{smallest:.1%} of the samples" + (f"; keeping {gap_name}" if gaps else "")
        )
        if gaps:
            return SelectionResult(gap_name, training, fitted, {"separation_": report})
        means = fits.fit(fallback, X)
        kept = means
        if (
            large
            and fits.cut.fixed_n_clusters is not None
            and fits.adjacency is None
            and means[1].cut.n_clusters == n_clusters
            and means[1].refinement != "isotropic"
        ):
            row_ids = distinct_row_ids(X)
            persistence = {
                name: cut_persistence(
                    X,
                    fits.criterion(name).scipy_linkage(tree.tree),
                    n_clusters,
                    row_ids,
                )
                for name, tree in ((gap_name, fitted), (fallback, means[1]))
            }
            report["persistence"] = persistence
            outlived = persistence[fallback]
            if persistence[gap_name] > (0.0 if np.isnan(outlived) else outlived):
                kept = (training, fitted)
            report["kept"] = gap_name if kept is not means else fallback
            fits.say(
                f"Persistence of the cut into {n_clusters}: "
                + ", ".join(f"{name} {p:.2f}" for name, p in persistence.items())
                + f"; keeping {report['kept']}"
            )
        report["kept"] = gap_name if kept is not means else fallback
        return SelectionResult(report["kept"], *kept, {"separation_": report})


class CandidateFits:
    """What a selection asks of the estimator: fit a named candidate.

    ``estimator`` provides ``_fit_criterion(criterion, X, cut, random_state,
    adjacency, trained=None, max_iter=None) -> (TrainingResult, FittedTree)``,
    ``_adjacency(X)`` and its parameters.

    Every candidate is fitted with the same integer seed, so a kept
    candidate's fit is the one its own name would give with that seed.
    """

    def __init__(self, estimator, X, cut, random_state, options):
        self.estimator = estimator
        self.cut = cut
        self.options = options
        self.adjacency = estimator._adjacency(X)
        if isinstance(estimator.random_state, Integral):
            self.seed = estimator.random_state
        else:
            self.seed = int(random_state.randint(np.iinfo(np.int32).max))
        self._criteria = {}

    def criterion(self, name):
        """The candidate criterion ``name``, with the selection's options."""
        if name not in self._criteria:
            self._criteria[name] = get_criterion(
                name, self.estimator.shrinkage, **self.options.get(name, {})
            )
        return self._criteria[name]

    def fit(self, name, X, untrained=False):
        """Train candidate ``name`` on ``X`` (not with ``untrained``) and fit it."""
        return self.estimator._fit_criterion(
            self.criterion(name),
            X,
            self.cut,
            np.random.RandomState(self.seed),
            self.adjacency,
            max_iter=0 if untrained else None,
        )

    def rebuild(self, name, training, X):
        """Fit the tree of ``name`` over ``X`` with the weights of ``training``."""
        return self.estimator._fit_criterion(
            self.criterion(name), X, self.cut, None, trained=training
        )

    def check_memory(self, name, X):
        """Refuse ``X`` if a tree of ``name`` over it would not fit in memory."""
        check_memory(
            self.criterion(name).memory_needs(*X.shape, training=False),
            self.estimator.memory_limit,
        )

    def comparison_random_state(self):
        """The generator of a comparison's subsamples."""
        return np.random.RandomState(self.seed)

    def say(self, text):
        """Print ``text`` in a verbose fit."""
        if self.estimator.verbose:
            say(text)

    def progress(self, description, total, unit):
        """A stage's :class:`StepProgress` in a verbose fit, otherwise None."""
        if self.estimator.verbose:
            return StepProgress(description, total, unit)
        return None


#: The selections by name.
SELECTIONS = {
    "auto": GapSelection(
        "auto",
        candidates=("boundary", "whitened_means"),
        description=(
            "keeps the boundary criterion's tree where its flat clusters are "
            "separated by gaps or outlive the whitened means' in their trees, "
            "and fits the whitened means otherwise"
        ),
    ),
    "adaptive": StabilitySelection(
        "adaptive",
        candidates=("learned_metric", "boundary"),
        description=(
            "fits the learned metric and the boundary criterion and keeps the "
            "one whose flat clusters are the more stable under subsampling"
        ),
    ),
}
MERGE_COST_NAMES.update(SELECTIONS)
