"""Choosing the number of clusters from a fitted tree and the data.

A tree holds every partition of the data into ``k`` clusters: the cut into
``k`` clusters undoes its last ``k - 1`` merges. :func:`choose_n_clusters`
reads off how long each of these partitions lives in the tree and, where no
partition stands out, falls back on the Gaussian mixture the cuts define.

The rule
--------
``n`` samples with ``n_distinct`` distinct rows in ``d`` features; ``h`` the
merge heights, non-decreasing (a running maximum is taken if they are not).

1. A cluster must hold at least ``m = max(2, ceil(log2(n_distinct)))``
   distinct rows, the depth of a balanced binary tree of ``n_distinct``
   leaves. Copies of one row count once, so data with ties or few distinct
   values never yield one cluster per value.
2. The search runs over ``k_min .. k_max_used``, where ``k_max_used`` is the
   smallest of ``k_max``, ``n_distinct // m`` (room for clusters of ``m``
   distinct rows) and ``(n_distinct - 1) // (d + 1)`` (fewer mixture
   weights and means than distinct rows).
3. A ``k >= 2`` is a candidate if every cluster of the cut holds at least
   ``m`` distinct rows; ``k = 1`` is a candidate when ``k_min = 1``.
4. The *persistence* of the cut into ``k`` clusters is ``log h[n-k] - log
   h[n-j-1]``: the log ratio between the merge that ends the partition (it
   joins two of its clusters) and the highest merge below it that splits
   one of its clusters into two of at least ``m`` distinct rows, or leaves
   one with fewer (where the partition begins). The cuts into ``k + 1 ..
   j`` clusters still hold the same ``k`` clusters of at least ``m``
   distinct rows and fragments shed from them: as in HDBSCAN's condensed
   tree, a cluster that loses fewer than ``m`` rows lives on. Where the next
   cut sheds no fragment, ``j = k`` and the persistence is ``log h[n-k] -
   log h[n-k-1]``. Raising all heights to a power and scaling them (``c
   h**p``) scales every persistence by ``p`` and leaves the choice
   unchanged, so the heights' units do not matter.
5. The pick is ``k = 1`` if the BIC of the tied Gaussian mixture each cut
   defines (complete-data likelihood, see
   :func:`sklearn_rae._likelihood.cut_path`) is lowest at ``k = 1`` among
   all cuts into ``1 .. k_max_used`` clusters, admissible or not: the
   mixture finds no two pieces anywhere (``criterion="bic"``).
6. Otherwise the *persistent levels* are the candidates ``k >= 2`` whose
   persistence is at least ``1 / PERSISTENT_LEVEL_FACTOR`` (a half) of the
   largest. One persistent level is the pick (``criterion="persistence"``);
   among several, the one of lowest BIC (``criterion="bic among persistent
   levels"``): the tree says which partitions are levels, the mixture which
   of them is best read as Gaussian pieces.

What it assumes: the tree's heights grow with how separated the two merged
groups are, so that a partition into separated groups is followed by one
merge much higher than any merge inside them. Ward-type costs, the boundary
criterion's gaps weighted by size and single linkage's distances do; so do
the learned metric's costs. Single linkage merges outliers last, so its cuts
with clusters of ``m`` distinct rows may not exist below the outliers' level.

This module works on NumPy arrays; it knows nothing of TensorFlow nor of the
estimator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._likelihood import cut_path

__all__ = [
    "PERSISTENT_LEVEL_FACTOR",
    "MAX_CANDIDATE_CLUSTERS",
    "NClustersChoice",
    "choose_n_clusters",
    "cut_persistence",
    "distinct_row_ids",
    "min_cluster_size",
]

#: Where no cut into 2 or more has clusters of the minimum size only, whether
#: a cut whose new large clusters sit beside fragments (clusters below the
#: minimum size, fewer than it in all) is a candidate: the fragments are
#: outlying samples shed from the clusters, not clusters.
SHED_FRAGMENTS = True

#: Largest number of clusters searched unless ``k_max`` is given.
MAX_CANDIDATE_CLUSTERS = 30

#: A partition is a persistent level when its persistence is at least the
#: largest divided by this (in height ratios: at least the square root).
PERSISTENT_LEVEL_FACTOR = 2.0


@dataclass(frozen=True, eq=False)
class NClustersChoice:
    """The number of clusters chosen from a tree, and the evidence.

    Attributes
    ----------
    n_clusters : int
        The pick.
    candidates : ndarray of shape (n_candidates,)
        The numbers of clusters considered, increasing: ``1`` when
        ``k_min = 1`` and every ``k`` of the range whose clusters all hold at
        least ``min_cluster_size`` distinct rows.
    scores : ndarray of shape (n_candidates,)
        The deciding criterion's value at each candidate: ``persistence``,
        ``bic``, or for ``"bic among persistent levels"`` the BIC of the
        persistent levels and ``inf`` elsewhere.
    criterion : {"persistence", "bic", "bic among persistent levels"}
        The criterion that decided: one persistent level; the BIC when the
        mixture is best as one piece; the BIC among several persistent
        levels.
    greater_is_better : bool
        Whether the pick maximises ``scores`` (persistence) or minimises it
        (BIC).
    persistence : ndarray of shape (n_candidates,)
        ``log h[n-k] - log h[n-j-1]`` of each candidate, where the cuts into
        ``k .. j`` clusters all hold the same ``k`` clusters of at least
        ``min_cluster_size`` distinct rows (and fragments shed from them);
        ``nan`` at ``k = 1``.
    persistent : ndarray of shape (n_candidates,), dtype=bool
        The tree's persistent levels: the ``k >= 2`` whose persistence is at
        least ``1 / PERSISTENT_LEVEL_FACTOR`` of the largest (all ``False`` when
        the pick is ``1`` by the BIC).
    bic : ndarray of shape (n_candidates,)
        The BIC of the tied Gaussian mixture of each candidate's cut.
    k_min, k_max : int
        The search range actually used.
    k_max_requested : int
        The upper end asked for (``MAX_CANDIDATE_CLUSTERS`` by default).
    range_limit : str or None
        What cut the range short: ``"distinct rows"`` (room for clusters of
        ``min_cluster_size`` distinct rows; ``"n_samples"`` when every row is
        distinct) or ``"parameters"`` (as many mixture weights and means as
        distinct rows); ``None`` when it was not cut.
    min_cluster_size : int
        ``max(2, ceil(log2(n_distinct)))``, in distinct rows.
    n_distinct : int
        The number of distinct rows of ``X``.
    at_lower_bound, at_upper_bound, range_cut_short : bool
        Whether the pick is ``k_min`` or ``k_max``, and whether ``k_max <
        k_max_requested``.
    message : str or None
        A sentence to warn with when one of the three flags is set.
    """

    n_clusters: int
    candidates: np.ndarray
    scores: np.ndarray
    criterion: str
    greater_is_better: bool
    persistence: np.ndarray
    persistent: np.ndarray
    bic: np.ndarray
    k_min: int
    k_max: int
    k_max_requested: int
    range_limit: str | None
    min_cluster_size: int
    n_distinct: int
    at_lower_bound: bool
    at_upper_bound: bool
    range_cut_short: bool
    message: str | None


def min_cluster_size(n_distinct: int) -> int:
    """``max(2, ceil(log2(n_distinct)))``: the smallest cluster considered."""
    return max(2, math.ceil(math.log2(max(n_distinct, 1))))


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}.")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}.")
    return int(value)


def _check_inputs(X, linkage):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(
            f"X must be a non-empty 2-D array of samples, got shape {X.shape}."
        )
    if not np.isfinite(X).all():
        raise ValueError("X must not contain NaN or infinity.")
    n = X.shape[0]
    linkage = np.asarray(linkage)
    if linkage.ndim != 2 or linkage.shape != (n - 1, 4):
        raise ValueError(
            f"linkage must be a SciPy linkage matrix of shape ({n - 1}, 4) for "
            f"{n} samples, got shape {linkage.shape}."
        )
    linkage = linkage.astype(np.float64)
    if not np.isfinite(linkage).all() or (linkage[:, 2] < 0).any():
        raise ValueError("linkage heights must be finite and non-negative.")
    children = linkage[:, :2]
    ids = np.arange(n - 1) + n
    if (
        (children != np.round(children)).any()
        or (children < 0).any()
        or (children >= ids[:, None]).any()
        or len(np.unique(children)) != 2 * (n - 1)
    ):
        raise ValueError(
            "linkage must merge each sample and each earlier node exactly once "
            "(SciPy's format: row i creates node n_samples + i)."
        )
    return X, linkage


def _node_extents(linkage, n):
    """Node sizes and a leaf order in which every node's samples are contiguous.

    Node ``c``'s samples are ``order[start[c] : start[c] + size[c]]``.
    """
    left = linkage[:, 0].astype(np.intp)
    right = linkage[:, 1].astype(np.intp)
    size = np.ones(2 * n - 1, dtype=np.intp)
    for step in range(n - 1):
        size[n + step] = size[left[step]] + size[right[step]]
    start = np.zeros(2 * n - 1, dtype=np.intp)
    for step in range(n - 2, -1, -1):
        node = n + step
        start[left[step]] = start[node]
        start[right[step]] = start[node] + size[left[step]]
    order = np.empty(n, dtype=np.intp)
    order[start[:n]] = np.arange(n)
    return size, start, order


def _cut_statistics(linkage, n, row_ids, k_max, m, with_shed=False):
    """The smallest clusters of the cuts into 1..k_max, and how long each lasts.

    Returns ``smallest``, the fewest distinct rows in a cluster of the cut
    into ``k`` clusters (``smallest[k - 1]``), and ``last``: for every ``k``
    whose clusters all hold at least ``m`` distinct rows, the largest ``j >=
    k`` such that every cut into ``k .. j`` clusters still has exactly ``k``
    clusters of at least ``m`` distinct rows (the others are fragments shed
    from them); ``last[k - 1] = 0`` for the other ``k``. Past ``k_max`` the
    cuts are followed only while such a partition lasts.
    """
    size, start, order = _node_extents(linkage, n)
    all_distinct = int(row_ids.max()) + 1 == n
    cache = {}

    def distinct(node):
        if all_distinct:
            return int(size[node])
        if node not in cache:
            members = order[start[node] : start[node] + size[node]]
            cache[node] = len(np.unique(row_ids[members]))
        return cache[node]

    def large_child(child, sibling, parent_distinct):
        # A lower bound of its distinct rows spares counting them, mostly.
        if size[child] < m:
            return False
        return parent_distinct - size[sibling] >= m or distinct(child) >= m

    smallest = np.zeros(k_max, dtype=np.intp)
    last = np.zeros(k_max, dtype=np.intp)
    shed = np.zeros(k_max, dtype=bool)
    root = 2 * n - 2
    smallest[0] = distinct(root)
    large = {root: smallest[0] >= m}  # the cut's clusters: at least m rows?
    n_large = int(large[root])
    fragment_rows = 0 if large[root] else int(size[root])
    open_levels = []  # (k, number of large clusters) of partitions that last
    k = 1
    while k < n and (k < k_max or open_levels):
        k += 1
        step = n - k  # the merge this cut undoes, last first
        node = n + step
        left, right = int(linkage[step, 0]), int(linkage[step, 1])
        before = n_large
        if large.pop(node):
            whole = distinct(node)
            large[left] = large_child(left, right, whole)
            large[right] = large_child(right, left, whole)
            n_large += int(large[left]) + int(large[right]) - 1
            fragment_rows += sum(
                int(size[child]) for child in (left, right) if not large[child]
            )
        else:  # no part of a small cluster is large
            large[left] = large[right] = False
        if k <= k_max:
            smallest[k - 1] = min(distinct(cluster) for cluster in large)
        for level in [level for level in open_levels if n_large != level[1]]:
            last[level[0] - 1] = k - 1
            open_levels.remove(level)
        if k <= k_max and n_large == k:
            open_levels.append((k, k))
        elif k <= k_max and n_large > before and n_large >= 2 and fragment_rows < m:
            # Its large clusters are new, beside fragments of fewer than m
            # samples in all, shed from the clusters above.
            shed[k - 1] = True
            open_levels.append((k, n_large))
    if with_shed:
        return smallest, last, shed
    return smallest, last


def _persistence(heights, n, ks, last):
    """``log h[n-k] - log h[n-j-1]`` for each ``k >= 2`` of ``ks``, ``j = last[k-1]``.

    From the merge that ends the partition into ``k`` clusters down to the
    highest merge below it that splits one of its clusters into two of at
    least ``m`` distinct rows (or leaves one with fewer than ``m``).
    """
    above = heights[n - ks]
    below = heights[n - last[ks - 1] - 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.log(above) - np.log(below)
    values[above == below] = 0.0  # equal heights, zero included
    return values


def distinct_row_ids(X: np.ndarray) -> np.ndarray:
    """The index of each sample's distinct row (equal rows, equal index)."""
    return np.unique(X, axis=0, return_inverse=True)[1].reshape(-1)


def cut_persistence(X, linkage, n_clusters: int, row_ids=None) -> float:
    """The persistence of a tree's cut into ``n_clusters`` clusters.

    The statistic of step 4 of the rule (see the module): ``log h[n-k] - log
    h[n-j-1]`` for ``k = n_clusters``, with ``m`` and the running maximum of
    the heights as :func:`choose_n_clusters` takes them. Unchanged when the
    heights are scaled, so two trees can be compared in their own units if
    their heights are the same power of a distance.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data the tree was built on (only its distinct rows matter).
    linkage : ndarray of shape (n_samples - 1, 4)
        SciPy's linkage matrix of the tree.
    n_clusters : int
        The cut, at least 2.
    row_ids : ndarray of shape (n_samples,) or None
        :func:`distinct_row_ids` of ``X``, if already computed (several
        trees of one data set share it).

    Returns
    -------
    float
        The persistence, ``nan`` when a cluster of the cut holds fewer than
        ``max(2, ceil(log2(n_distinct)))`` distinct rows.
    """
    X, linkage = _check_inputs(X, linkage)
    n = X.shape[0]
    n_clusters = _check_int(n_clusters, "n_clusters", 2)
    if n_clusters > n:
        raise ValueError(
            f"n_clusters={n_clusters} must not exceed the {n} samples of the tree."
        )
    if row_ids is None:
        row_ids = distinct_row_ids(X)
    m = min_cluster_size(int(row_ids.max()) + 1)
    smallest, last = _cut_statistics(linkage, n, row_ids, n_clusters, m)
    if smallest[n_clusters - 1] < m:
        return float("nan")
    heights = np.maximum.accumulate(linkage[:, 2])
    return float(_persistence(heights, n, np.array([n_clusters]), last)[0])


def _range_text(k_min, k_max):
    return f"{k_min}..{k_max}" if k_max > k_min else f"{k_min}"


def _message(choice_k, k_min, k_max, k_max_requested, limit, m, n_distinct, d):
    parts = []
    if choice_k == k_max and k_max > k_min:
        parts.append(
            f"the pick, {choice_k}, is at the upper bound of the search: pass "
            "n_clusters explicitly, or look at the criterion of every "
            "candidate; the data may hold more clusters than the range allows"
        )
    elif choice_k == k_min:
        parts.append(
            f"the pick, {choice_k}, is at the lower bound of the search: the "
            "tree shows no clearer partition into more clusters; pass "
            "n_clusters explicitly if you expect some"
        )
    if k_max < k_max_requested:
        if limit == "parameters":
            why = (
                f"fewer mixture weights and means (k * {d + 1} - 1) than the "
                f"{n_distinct} distinct rows"
            )
        else:
            why = (
                f"clusters of at least {m} distinct rows among {n_distinct} "
                f"distinct rows"
            )
        parts.append(f"the range stops at {k_max} instead of {k_max_requested}: {why}")
        if not (choice_k == k_max and k_max > k_min):  # else already said
            parts.append(
                f"pass n_clusters explicitly if you expect more than {k_max} clusters"
            )
    if not parts:
        return None
    return (
        f"The number of clusters was searched in {_range_text(k_min, k_max)}; "
        + "; ".join(parts)
        + "."
    )


def choose_n_clusters(
    X,
    linkage,
    *,
    k_min: int = 1,
    k_max: int | None = None,
) -> NClustersChoice:
    """Choose the number of clusters of a tree's cut.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data the tree was built on (in the space whose Gaussian mixture
        the BIC fallback should weigh).
    linkage : ndarray of shape (n_samples - 1, 4)
        SciPy's linkage matrix of the tree. Heights must be non-negative;
        they are made non-decreasing by a running maximum.
    k_min : int, default=1
        Smallest number of clusters considered.
    k_max : int, default=None
        Largest number of clusters considered,
        :data:`MAX_CANDIDATE_CLUSTERS` when ``None``. The data may cut it
        short (see :class:`NClustersChoice`).

    Returns
    -------
    choice : NClustersChoice
        The pick, every candidate's persistence and BIC, the range used and
        what to warn about.

    Raises
    ------
    ValueError
        If the shapes do not match, the heights are negative or not finite,
        ``linkage`` is not a tree, ``k_min > k_max``, or no ``k >= k_min``
        has clusters of at least ``min_cluster_size`` distinct rows.
    TypeError
        If ``k_min`` or ``k_max`` is not an int.
    """
    X, linkage = _check_inputs(X, linkage)
    k_min = _check_int(k_min, "k_min", 1)
    k_max_requested = (
        MAX_CANDIDATE_CLUSTERS if k_max is None else _check_int(k_max, "k_max", 1)
    )
    if k_min > k_max_requested:
        raise ValueError(f"k_min={k_min} must not exceed k_max={k_max_requested}.")
    n, d = X.shape
    row_ids = np.unique(X, axis=0, return_inverse=True)[1].reshape(-1)
    n_distinct = int(row_ids.max()) + 1
    m = min_cluster_size(n_distinct)

    by_size = n_distinct // m
    by_parameters = (n_distinct - 1) // (d + 1)
    k_max_used = min(k_max_requested, max(by_size, 1), max(by_parameters, 1))
    limit = None
    if k_max_used < k_max_requested:
        if by_parameters < by_size:
            limit = "parameters"
        else:
            limit = "n_samples" if n_distinct == n else "distinct rows"
    if k_max_used < k_min:
        raise ValueError(
            f"No partition into k_min={k_min} or more clusters of at least {m} "
            f"distinct rows each: the data have {n_distinct} distinct rows in "
            f"{d} features, room for at most {k_max_used}."
        )

    ks = np.arange(1, k_max_used + 1)
    smallest, last, shed = _cut_statistics(
        linkage, n, row_ids, k_max_used, m, with_shed=True
    )
    admissible = smallest >= m
    if SHED_FRAGMENTS and not (admissible & (ks >= max(k_min, 2))).any():
        # Every cut into 2 or more holds a cluster of fewer than m rows
        # (outlying samples merged last): the cuts whose large clusters
        # stand beside fragments shed from them are the candidates.
        admissible = admissible | shed
    keep = (ks >= k_min) & ((ks == 1) | admissible)
    candidates = ks[keep]
    if len(candidates) == 0:
        raise ValueError(
            f"No cut into {_range_text(k_min, k_max_used)} clusters has clusters of "
            f"at least {m} distinct rows each; pass n_clusters explicitly."
        )
    heights = np.maximum.accumulate(linkage[:, 2]) if n > 1 else linkage[:, 2]
    persistence = np.full(len(candidates), np.nan)
    split = candidates >= 2
    persistence[split] = _persistence(heights, n, candidates[split], last)

    full_bic = cut_path(X, linkage, k_max_used).bic
    bic = full_bic[candidates - 1]
    persistent = np.zeros(len(candidates), dtype=bool)
    if (k_min == 1 and int(np.argmin(full_bic)) == 0) or not split.any():
        # The mixture of every cut, admissible or not, is best as one piece.
        criterion, scores = "bic", bic
        pick = int(candidates[int(np.argmin(bic))])
    else:
        best = float(np.max(persistence[split]))
        persistent[split] = persistence[split] >= best / PERSISTENT_LEVEL_FACTOR
        if np.count_nonzero(persistent) == 1:
            criterion, scores = "persistence", persistence
            pick = int(candidates[persistent][0])
        else:
            criterion = "bic among persistent levels"
            scores = np.where(persistent, bic, np.inf)
            pick = int(candidates[int(np.argmin(scores))])

    k_low = int(candidates[0])
    at_lower = pick == k_low
    at_upper = pick == k_max_used and k_max_used > k_low
    return NClustersChoice(
        n_clusters=pick,
        candidates=candidates,
        scores=scores,
        criterion=criterion,
        greater_is_better=criterion == "persistence",
        persistence=persistence,
        persistent=persistent,
        bic=bic,
        k_min=k_low,
        k_max=k_max_used,
        k_max_requested=k_max_requested,
        range_limit=limit,
        min_cluster_size=m,
        n_distinct=n_distinct,
        at_lower_bound=at_lower,
        at_upper_bound=at_upper,
        range_cut_short=k_max_used < k_max_requested,
        message=_message(
            pick, k_low, k_max_used, k_max_requested, limit, m, n_distinct, d
        ),
    )
