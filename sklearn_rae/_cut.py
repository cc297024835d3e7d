"""Where a tree is cut into flat clusters: one object that everyone asks.

``n_clusters`` (a number or ``"auto"``) or ``distance_threshold`` says where
the estimator's tree is cut. :class:`CutRule` turns that into the flat labels of
a tree, the marks of the merges below the cut that training minimises, and
the height that separates the clusters in a dendrogram.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._choose_k import NClustersChoice, choose_n_clusters
from .engines.tree import cut_linkage

__all__ = ["CutRule", "FlatClusters", "cut_height", "cut_linkage"]


@dataclass(frozen=True)
class FlatClusters:
    """The flat clusters of one tree.

    Attributes
    ----------
    labels : ndarray of shape (n_samples,)
        Consecutive integers from 0, numbered by first appearance.
    n_clusters : int
        How many clusters there are.
    n_clusters_choice : NClustersChoice or None
        With ``n_clusters="auto"``, how the number was chosen: every
        candidate's persistence and BIC, the range searched and the warning
        to issue, if any.
    """

    labels: np.ndarray
    n_clusters: int
    n_clusters_choice: NClustersChoice | None = None

    @property
    def n_merges_below(self) -> int:
        """How many merges of the tree lie below the cut."""
        return self.labels.shape[0] - self.n_clusters


@dataclass(frozen=True)
class CutRule:
    """A cut of a tree by ``n_clusters`` (an int or ``"auto"``) or a threshold.

    Exactly one of the two is set; the estimator validates that.
    """

    n_clusters: int | str | None = None
    distance_threshold: float | None = None

    @property
    def is_auto(self) -> bool:
        """Whether the number of clusters is chosen from the tree."""
        return isinstance(self.n_clusters, str)

    @property
    def fixed_n_clusters(self) -> int | None:
        """The number of clusters when it is given as a number, else None."""
        if self.n_clusters is None or self.is_auto:
            return None
        return int(self.n_clusters)

    def apply(self, linkage: np.ndarray, X: np.ndarray) -> FlatClusters:
        """The flat clusters of the tree ``linkage`` over ``X``."""
        choice = None
        n_clusters = self.n_clusters
        if self.is_auto:
            choice = choose_n_clusters(X, linkage)
            n_clusters = choice.n_clusters
        labels = cut_linkage(
            linkage, n_clusters=n_clusters, distance_threshold=self.distance_threshold
        )
        return FlatClusters(labels, int(labels.max()) + 1, choice)

    def refined(self, linkage: np.ndarray, flat: FlatClusters) -> FlatClusters:
        """The cut of a refined tree into ``flat``'s number of clusters.

        The refined tree's cut into that many clusters is the refined
        partition; with ``"auto"`` the candidate cuts of the tree before the
        refinement are kept.
        """
        labels = cut_linkage(linkage, n_clusters=flat.n_clusters)
        return FlatClusters(labels, int(labels.max()) + 1, flat.n_clusters_choice)

    def in_costs(self, criterion) -> CutRule:
        """This cut with its ``distance_threshold`` in ``criterion``'s costs.

        A threshold is given in the heights of the exported linkage matrix
        (SciPy's units for the embedded criteria); the trees are built and
        cut in merge costs.
        """
        if self.distance_threshold is None:
            return self
        return CutRule(
            distance_threshold=criterion.cost_of_height(self.distance_threshold)
        )

    def fixed_on(
        self, X: np.ndarray, linkage: np.ndarray, finite: bool = True
    ) -> CutRule:
        """This cut with ``"auto"`` replaced by the number chosen on one tree.

        Training cuts every step's tree at the number chosen on its first; a
        tree whose costs are not finite gives one cluster (training then stops
        on it anyway).
        """
        if not self.is_auto:
            return self
        return CutRule(
            n_clusters=choose_n_clusters(X, linkage).n_clusters if finite else 1
        )

    def below_cut(self, linkage: np.ndarray, n_samples: int) -> np.ndarray:
        """1.0 for the merges of ``linkage`` below the cut, 0.0 above.

        ``linkage`` may be the tree of a training batch of ``n_samples``
        samples: a number of clusters is at most the batch's samples, and
        since Ward-type costs grow with the number of samples merged, a
        threshold is scaled by the batch's share of the ``n_samples``. A cut
        with no merge below it (every sample its own cluster) counts the
        whole tree. ``"auto"`` must have been fixed first (:meth:`fixed_on`).
        """
        below = self.merges_below(linkage, n_samples)
        if not below.any():
            below[:] = True
        return below.astype(np.float64)

    def merges_below(self, linkage: np.ndarray, n_samples: int) -> np.ndarray:
        """Which merges of ``linkage`` lie below the cut, as in :meth:`below_cut`.

        Without its fallback: a cut with no merge below it gives no merge.
        """
        n_merges = linkage.shape[0]
        if self.n_clusters is not None:
            n_below = n_merges + 1 - min(int(self.n_clusters), n_merges + 1)
            return np.arange(n_merges) < n_below
        threshold = self.distance_threshold * (n_merges + 1) / n_samples
        return linkage[:, 2] < threshold


def cut_height(
    linkage: np.ndarray,
    n_clusters: int | None = None,
    distance_threshold: float | None = None,
) -> float | None:
    """A height that separates the flat clusters, if one does.

    The threshold itself, or with ``n_clusters`` the middle between the last
    merge below the cut and the first above it; None when they are tied (the
    colours of a dendrogram could not match the labels) or there is no cut.
    """
    if distance_threshold is not None:
        return float(distance_threshold)
    n_samples = linkage.shape[0] + 1
    if n_clusters is None or not 1 < n_clusters <= n_samples:
        return None
    heights = linkage[:, 2]
    kept = n_samples - n_clusters  # merges below the cut
    below = heights[kept - 1] if kept > 0 else -np.inf
    above = heights[kept]
    if not below < above:
        return None
    return float(above) if kept == 0 else float((below + above) / 2)
