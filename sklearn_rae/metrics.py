"""Scores of a hierarchical clustering tree against reference labels."""

from __future__ import annotations

import numpy as np
from scipy.cluster.hierarchy import is_valid_linkage

__all__ = ["dendrogram_purity"]


def dendrogram_purity(linkage, labels, *, ignore_label=None) -> float:
    """Dendrogram purity of a tree against reference labels.

    The dendrogram purity of Heller and Ghahramani (2005) is the mean, over
    all unordered pairs of distinct samples that share a reference label, of
    the fraction of the leaves below the pair's lowest common ancestor that
    carry that label. It is 1.0 exactly when every class is a subtree, and it
    scores the whole tree, not one flat cut of it.

    Parameters
    ----------
    linkage : array-like of shape (n_samples - 1, 4)
        The tree in SciPy's linkage format, as returned by
        :func:`scipy.cluster.hierarchy.linkage` or held in
        ``RecursiveAutoencoderClustering.linkage_matrix_``. It must pass
        :func:`scipy.cluster.hierarchy.is_valid_linkage`. Only its first two
        columns (which nodes each row merges) are used; heights and the
        recorded leaf counts do not change the score.
    labels : array-like of shape (n_samples,)
        Reference label of each sample (leaf ``i`` is sample ``i``). Any
        values that :func:`numpy.unique` can sort (integers, strings); only
        equality between labels matters.
    ignore_label : scalar, default=None
        Samples with this label (for example ``0`` for the noise points of
        Gagolewski's clustering benchmark suite) are left out: they form no
        pair and are not counted among the leaves of any node. The score is
        therefore the dendrogram purity of the tree restricted to the other
        samples (the subtree they induce, with nodes that keep only one child
        removed), which has the same lowest common ancestors. ``None`` keeps
        every sample.

    Returns
    -------
    purity : float
        The dendrogram purity, in ``(0, 1]``.

    Raises
    ------
    TypeError
        If ``linkage`` is not numeric.
    ValueError
        If ``linkage`` is not a valid linkage matrix, if ``labels`` is not
        one-dimensional with one label per leaf, or if no two (kept) samples
        share a label, so that there is no pair to average over.

    See Also
    --------
    scipy.cluster.hierarchy.linkage : Classical linkages as linkage matrices.
    sklearn.metrics.adjusted_rand_score : Agreement of one flat partition.

    Notes
    -----
    Write ``C`` for the set of pairs of distinct samples with the same label
    ``y``, ``lca(i, j)`` for the lowest common ancestor of leaves ``i`` and
    ``j``, and ``leaves(v)`` for the (kept) leaves below node ``v``. Then

    .. math::

        \\mathrm{purity} = \\frac{1}{|C|} \\sum_{(i, j) \\in C}
        \\frac{|\\{l \\in \\mathrm{leaves}(\\mathrm{lca}(i, j)) :
        y_l = y_i\\}|}{|\\mathrm{leaves}(\\mathrm{lca}(i, j))|}.

    The score is exact and takes ``O(n k)`` time and memory for ``n`` samples
    and ``k`` distinct labels, without visiting pairs: the class counts of
    each node are the sums of its children's, and a merge of children with
    ``a_c`` and ``b_c`` leaves of class ``c`` is the lowest common ancestor of
    exactly ``a_c * b_c`` pairs of that class, each of purity
    ``(a_c + b_c) / size`` where ``size`` is the node's leaf count. The class
    counts are read from prefix sums over the leaves in depth-first order,
    where every node's leaves are one contiguous range.

    References
    ----------
    K. A. Heller and Z. Ghahramani, "Bayesian hierarchical clustering",
    Proceedings of the 22nd International Conference on Machine Learning
    (ICML), 2005, pp. 297-304.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.cluster.hierarchy import linkage
    >>> from sklearn_rae import dendrogram_purity
    >>> X = np.array([[0.0], [0.1], [5.0], [5.2]])
    >>> Z = linkage(X, method="average")
    >>> dendrogram_purity(Z, [1, 1, 2, 2])
    1.0
    >>> round(dendrogram_purity(Z, [1, 2, 1, 2]), 3)
    0.5
    """
    Z = np.asarray(linkage)
    if not (np.issubdtype(Z.dtype, np.integer) or np.issubdtype(Z.dtype, np.floating)):
        raise TypeError(
            f"linkage must be a numeric array, got an array of dtype {Z.dtype}."
        )
    Z = Z.astype(np.float64, copy=False)
    if Z.ndim != 2 or Z.shape[1] != 4 or Z.shape[0] < 1:
        raise ValueError(
            "linkage must be a linkage matrix of shape (n_samples - 1, 4) with "
            f"at least one row, got shape {Z.shape}."
        )
    try:
        is_valid_linkage(Z, throw=True, name="linkage")
    except (TypeError, ValueError) as error:
        raise ValueError(f"linkage is not a valid linkage matrix: {error}") from error

    labels = np.asarray(labels)
    n_samples = Z.shape[0] + 1
    if labels.ndim != 1:
        raise ValueError(
            f"labels must be one-dimensional, got an array of shape {labels.shape}."
        )
    if labels.shape[0] != n_samples:
        raise ValueError(
            f"labels has {labels.shape[0]} entries but the linkage has "
            f"{n_samples} leaves."
        )
    kept = np.ones(n_samples, dtype=bool)
    if ignore_label is not None:
        kept = labels != ignore_label
    try:
        classes, codes = np.unique(labels[kept], return_inverse=True)
    except TypeError as error:
        raise TypeError(f"labels could not be sorted: {error}") from error
    class_sizes = np.bincount(codes, minlength=len(classes))
    n_pairs = int(np.sum(class_sizes * (class_sizes - 1) // 2))
    if n_pairs == 0:
        raise ValueError(
            "No two samples share a label"
            + ("" if ignore_label is None else f" other than {ignore_label!r}")
            + ": the dendrogram purity is not defined."
        )

    # Lay the leaves out in depth-first order, where every node's leaves are
    # one contiguous range: node v holds positions first[v] .. first[v] +
    # size[v] - 1. Sizes go bottom-up, first positions top-down (scalar loops
    # over Python ints; the linkage's own count column is not trusted).
    children = Z[:, :2].astype(np.intp).tolist()
    size = [1] * n_samples + [0] * (n_samples - 1)
    for row, (left, right) in enumerate(children):
        size[n_samples + row] = size[left] + size[right]
    first = [0] * (2 * n_samples - 1)
    for row in range(n_samples - 2, -1, -1):
        left, right = children[row]
        first[left] = first[n_samples + row]
        first[right] = first[left] + size[left]
    first = np.asarray(first)
    size = np.asarray(size)

    # cumulative[p, c]: kept leaves of class c among the first p positions;
    # counts[v, c]: kept leaves of class c below node v.
    one_hot = np.zeros((n_samples, len(classes)), dtype=np.int64)
    one_hot[first[:n_samples][kept], codes] = 1
    cumulative = np.zeros((n_samples + 1, len(classes)), dtype=np.int64)
    np.cumsum(one_hot, axis=0, out=cumulative[1:])
    counts = cumulative[first + size] - cumulative[first]

    # Merge i is the lowest common ancestor of a_c * b_c pairs of class c,
    # each of purity (a_c + b_c) / (kept leaves below it).
    children = np.asarray(children)
    a = counts[children[:, 0]]
    b = counts[children[:, 1]]
    node = counts[n_samples:]
    node_size = node.sum(axis=1)
    share = np.einsum("ij,ij->i", a * b, node)
    merged = node_size > 0
    return float(np.sum(share[merged] / node_size[merged])) / n_pairs
