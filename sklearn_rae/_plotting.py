"""Looking at a fitted tree: a dendrogram plot and a table of merges.

matplotlib (a dependency of the package) and pandas (optional) are imported
only when these functions are called.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.cluster.hierarchy import dendrogram, is_valid_linkage
from sklearn.utils.validation import check_is_fitted

from ._cut import cut_height

__all__ = ["plot_dendrogram", "linkage_to_frame"]

#: Trees with more leaves than this are truncated by default.
MAX_FULL_LEAVES = 50
#: Number of leaves shown in a truncated dendrogram.
TRUNCATED_LEAVES = 30


def _as_linkage(estimator_or_linkage) -> tuple[np.ndarray, object | None]:
    """The linkage matrix, and the fitted estimator if one was given.

    Accepts a fitted estimator with a ``linkage_matrix_`` attribute (also as
    the last step of a :class:`~sklearn.pipeline.Pipeline`) or a SciPy linkage
    matrix.
    """
    obj = estimator_or_linkage
    if hasattr(obj, "steps") and hasattr(obj, "fit"):  # a Pipeline
        obj = obj[-1]
    if hasattr(obj, "fit") and hasattr(obj, "get_params"):
        if not hasattr(obj, "linkage_matrix_"):
            check_is_fitted(obj)
            raise TypeError(
                f"{type(obj).__name__} has no linkage_matrix_ attribute; pass a "
                "fitted RecursiveAutoencoderClustering or a SciPy linkage matrix."
            )
        return np.asarray(obj.linkage_matrix_, dtype=np.float64), obj
    try:
        linkage = np.asarray(obj, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "Expected a fitted RecursiveAutoencoderClustering or a SciPy linkage "
            f"matrix of shape (n_samples - 1, 4); got {type(obj).__name__}."
        ) from exc
    if linkage.ndim != 2 or linkage.shape[1] != 4 or linkage.shape[0] < 1:
        raise ValueError(
            "A linkage matrix has shape (n_samples - 1, 4) with at least one row; "
            f"got an array of shape {linkage.shape}."
        )
    try:
        is_valid_linkage(linkage, throw=True, name="linkage")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"Not a valid SciPy linkage matrix: {exc}") from exc
    _check_tree(linkage)
    return linkage, None


def _check_tree(linkage: np.ndarray) -> None:
    """What SciPy's check leaves out: each row's children and leaf count.

    Row ``i`` must merge two distinct nodes made before it (a leaf, or a node
    ``n + j`` with ``j < i``), each used once, at a finite height that is not
    negative, and its count must be the sum of its children's.
    """
    n = linkage.shape[0] + 1
    counts = np.ones(2 * n - 1)
    used = np.zeros(2 * n - 1, dtype=bool)
    for row, (left, right, height, count) in enumerate(linkage.tolist()):
        children = (left, right)
        if not all(float(c).is_integer() and 0 <= c < n + row for c in children):
            raise ValueError(
                f"Not a valid SciPy linkage matrix: row {row} merges nodes "
                f"{left:g} and {right:g}; they must be leaves (0..{n - 1}) or "
                "nodes made by earlier rows."
            )
        a, b = int(left), int(right)
        if a == b or used[a] or used[b]:
            raise ValueError(
                f"Not a valid SciPy linkage matrix: row {row} merges node "
                f"{a if a == b or used[a] else b} again."
            )
        if not (np.isfinite(height) and height >= 0):
            raise ValueError(
                f"Not a valid SciPy linkage matrix: row {row} has height {height}."
            )
        if count != counts[a] + counts[b]:
            raise ValueError(
                f"Not a valid SciPy linkage matrix: row {row} counts {count:g} "
                f"leaves, its children hold {counts[a] + counts[b]:g}."
            )
        used[a] = used[b] = True
        counts[n + row] = count


def _cut_height(linkage: np.ndarray, estimator) -> float | None:
    """A height that separates the estimator's flat clusters, if it has one."""
    if estimator is None:
        return None
    return cut_height(
        linkage,
        n_clusters=getattr(estimator, "n_clusters_", None),
        distance_threshold=getattr(estimator, "distance_threshold", None),
    )


#: Leaf label font sizes, in points: the largest that fits the spacing of the
#: leaves (labels are vertical), at least the smallest.
MAX_LEAF_FONT_SIZE = 10.0
MIN_LEAF_FONT_SIZE = 4.0

HEIGHT_SCALES = ("linear", "sqrt", "log")


def _leaf_font_size(ax, n_shown: int) -> float:
    """The font size at which ``n_shown`` vertical leaf labels do not overlap."""
    width_points = ax.get_position().width * ax.figure.get_figwidth() * 72
    # A vertical label is about one font size wide; leave a fifth as a gap.
    spacing = width_points / max(n_shown, 1)
    return float(np.clip(0.8 * spacing, MIN_LEAF_FONT_SIZE, MAX_LEAF_FONT_SIZE))


def _set_height_scale(ax, height_scale: str, heights: np.ndarray) -> str:
    """Scale the y axis; return the words for the axis label."""
    if height_scale == "sqrt":

        def forward(y):
            return np.sqrt(np.maximum(y, 0))

        def inverse(y):
            return np.square(y)

        ax.set_yscale("function", functions=(forward, inverse))
        return " (square-root scale)"
    if height_scale == "log":
        positive = heights[heights > 0]
        if positive.size:
            # Logarithmic above the lowest merge, linear below it, so that
            # the leaves at height 0 stay on the axis.
            ax.set_yscale("symlog", linthresh=float(positive.min()), linscale=0.5)
            return " (log scale)"
    return ""


def plot_dendrogram(
    estimator_or_linkage, ax=None, *, height_scale="linear", **dendrogram_kwargs
):
    """Plot the tree of a fitted clusterer, or a linkage matrix, as a dendrogram.

    The geometry is computed by :func:`scipy.cluster.hierarchy.dendrogram`;
    this function chooses defaults that suit the fitted estimator and draws on
    a matplotlib Axes.

    Parameters
    ----------
    estimator_or_linkage : estimator or array-like of shape (n_samples - 1, 4)
        A fitted :class:`~sklearn_rae.RecursiveAutoencoderClustering` (or a
        fitted :class:`~sklearn.pipeline.Pipeline` ending in one), or a SciPy
        linkage matrix.
    ax : matplotlib Axes, default=None
        The Axes to draw on. ``None`` creates a new figure with matplotlib's
        constrained layout, so that the axis labels and the leaf labels are
        not cut off at any figure size.
    height_scale : {"linear", "sqrt", "log"}, default="linear"
        The scale of the height axis. The top merges of a tree often dwarf
        the rest, flattening the structure inside the clusters; ``"sqrt"``
        (for Ward-type costs, the scale of distances) or ``"log"``
        (logarithmic above the lowest positive merge, linear below it) show
        it. Tick labels stay merge costs.
    **dendrogram_kwargs
        Passed to :func:`scipy.cluster.hierarchy.dendrogram`, overriding the
        defaults. By default a tree with more than 50 leaves is truncated to
        its last 30 merged nodes (``truncate_mode="lastp", p=30``; leaf labels
        in parentheses are node sizes); pass ``truncate_mode=None`` to draw
        every leaf. For a fitted estimator, ``color_threshold`` defaults to a
        height that colours each of its flat clusters separately. Leaf labels
        are vertical (``leaf_rotation=90``) and sized to the space each leaf
        has (``leaf_font_size``, 4 to 10 points), so that they do not overlap.

    Returns
    -------
    ax : matplotlib Axes
        The Axes the dendrogram was drawn on.

    Raises
    ------
    ImportError
        If matplotlib is not installed.

    See Also
    --------
    linkage_to_frame : The same tree as a table.
    scipy.cluster.hierarchy.dendrogram : The function that lays out the tree.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_rae import RecursiveAutoencoderClustering, plot_dendrogram
    >>> X = np.array([[0.0, 0.1], [0.1, 0.0], [5.0, 5.1], [5.1, 5.0]])
    >>> model = RecursiveAutoencoderClustering(max_iter=0, random_state=0).fit(X)
    >>> ax = plot_dendrogram(model)  # doctest: +SKIP
    """
    linkage, estimator = _as_linkage(estimator_or_linkage)
    if height_scale not in HEIGHT_SCALES:
        raise ValueError(
            f"height_scale must be one of {', '.join(map(repr, HEIGHT_SCALES))}; "
            f"got {height_scale!r}."
        )
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "plot_dendrogram needs matplotlib, a dependency of sklearn-rae that is "
            "missing from this environment. Install it with: pip install matplotlib."
        ) from exc

    n_leaves = linkage.shape[0] + 1
    kwargs = dict(dendrogram_kwargs)
    if "truncate_mode" not in kwargs and n_leaves > MAX_FULL_LEAVES:
        kwargs["truncate_mode"] = "lastp"
        kwargs.setdefault("p", TRUNCATED_LEAVES)
    if "color_threshold" not in kwargs:
        cut = _cut_height(linkage, estimator)
        if cut is not None:
            kwargs["color_threshold"] = cut
    if ax is None:
        _, ax = plt.subplots(layout="constrained")
    truncated = kwargs.get("truncate_mode") is not None
    n_shown = (
        min(kwargs.get("p", TRUNCATED_LEAVES), n_leaves) if truncated else n_leaves
    )
    kwargs.setdefault("leaf_rotation", 90.0)
    kwargs.setdefault("leaf_font_size", _leaf_font_size(ax, n_shown))
    with warnings.catch_warnings():
        # A tree of identical samples has no height; SciPy's attempt to set
        # identical y limits warns, and the limits are set below instead.
        warnings.filterwarnings("ignore", "Attempting to set identical")
        dendrogram(linkage, ax=ax, **kwargs)
    if not np.any(linkage[:, 2] > 0):
        ax.set_ylim(0, 1)
    scale_words = _set_height_scale(ax, height_scale, linkage[:, 2])
    ax.set_ylabel("height" + scale_words)
    if kwargs.get("truncate_mode") is not None:
        ax.set_xlabel("sample index, or (number of samples) of a truncated node")
    else:
        ax.set_xlabel("sample index")
    return ax


def linkage_to_frame(estimator_or_linkage):
    """The tree as a pandas DataFrame, one row per merge.

    Parameters
    ----------
    estimator_or_linkage : estimator or array-like of shape (n_samples - 1, 4)
        A fitted :class:`~sklearn_rae.RecursiveAutoencoderClustering` (or a
        fitted :class:`~sklearn.pipeline.Pipeline` ending in one), or a SciPy
        linkage matrix.

    Returns
    -------
    frame : pandas.DataFrame of shape (n_samples - 1, 5)
        Columns ``node`` (the id of the node the merge creates,
        ``n_samples + row``), ``left`` and ``right`` (the ids of the merged
        nodes; ids below ``n_samples`` are samples), ``height`` (the linkage
        height) and ``size`` (the number of samples under the node). Rows are
        in merge order.

    Raises
    ------
    ImportError
        If pandas is not installed.

    See Also
    --------
    plot_dendrogram : The same tree as a picture.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_rae import linkage_to_frame
    >>> Z = np.array([[0.0, 1.0, 0.5, 2.0], [2.0, 3.0, 1.5, 3.0]])
    >>> linkage_to_frame(Z)
       node  left  right  height  size
    0     3     0      1     0.5     2
    1     4     2      3     1.5     3
    """
    linkage, _ = _as_linkage(estimator_or_linkage)
    try:
        import pandas as pd
    except ImportError as exc:
        raise ImportError(
            "linkage_to_frame needs pandas, which is not installed. Install it "
            "with: pip install pandas."
        ) from exc
    n_samples = linkage.shape[0] + 1
    return pd.DataFrame(
        {
            "node": np.arange(n_samples, 2 * n_samples - 1, dtype=np.int64),
            "left": linkage[:, 0].astype(np.int64),
            "right": linkage[:, 1].astype(np.int64),
            "height": linkage[:, 2],
            "size": linkage[:, 3].astype(np.int64),
        }
    )
