"""Merge criteria: how much it costs to merge two nodes, in NumPy.

A criterion holds one state row per slot (see :mod:`sklearn_rae._tree`) and
evaluates pair costs in batches from the merge encoder's weights. Every
criterion here has a twin in :mod:`sklearn_rae._merger` that computes the same
tree objective in TensorFlow for training; the tests check that the two agree.

The merge encoder's weights are a dict of NumPy arrays:

``kernel_encode`` (2d, d), ``bias_encode`` (d,)
    The encoder: ``h = concat(a, b) @ kernel_encode + bias_encode``.
``kernel_decode`` (d, 2d), ``bias_decode`` (2d,)
    The decoder: ``o = h @ kernel_decode + bias_decode``.
``kernel_embed`` (d, d), ``merge_cost="learned_metric"`` only
    A linear embedding applied to both inputs before they are concatenated.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CRITERIA",
    "BoundaryCriterion",
    "CumulativeCriterion",
    "LearnedMetricCriterion",
    "center_of",
    "concat_states",
    "embedded_pairs_objective",
    "init_learned_metric_training_weights",
    "init_learned_metric_weights",
    "init_merger_weights",
    "leaf_state",
    "learned_metric_objective",
    "merge_code_differences",
    "node_sizes_and_means",
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


def init_merger_weights(
    n_features: int, random_state: np.random.RandomState
) -> dict[str, np.ndarray]:
    """Keras' default initialisation of the seed's merge encoder, in NumPy.

    Glorot-uniform kernels and zero biases, as ``Dense`` layers start; drawn
    from ``random_state`` so that a fit is reproducible without touching
    TensorFlow's global random state.
    """
    d = n_features
    limit = np.sqrt(6.0 / (2 * d + d))
    return {
        "kernel_encode": random_state.uniform(-limit, limit, size=(2 * d, d)),
        "bias_encode": np.zeros(d),
        "kernel_decode": random_state.uniform(-limit, limit, size=(d, 2 * d)),
        "bias_decode": np.zeros(2 * d),
    }


def init_learned_metric_weights(
    n_features: int, random_state: np.random.RandomState
) -> dict[str, np.ndarray]:
    """Identity embedding, encoder as the average, decoder as a copy, zero biases.

    The code of two merged leaves is then their embedded average and the
    reconstruction error of the pair, ``|o - c|^2 / 2``, is their merge cost
    (Ward's in the embedding); the criterion extends this to nodes of any
    size by weighting the average and the errors by the children's sizes.
    Deterministic; ``random_state`` is unused.
    """
    identity = np.eye(n_features)
    return {
        "kernel_embed": identity.copy(),
        "kernel_encode": np.vstack([identity, identity]) / 2,
        "bias_encode": np.zeros(n_features),
        "kernel_decode": np.hstack([identity, identity]),
        "bias_decode": np.zeros(2 * n_features),
    }


def init_learned_metric_training_weights(
    n_features: int, random_state: np.random.RandomState
) -> dict[str, np.ndarray]:
    """What ``"learned_metric"`` trains and reads: the identity embedding.

    The encoder (average) and decoder (copy) kernels of
    :func:`init_learned_metric_weights` are fixed and never read by the
    criterion or its trainer; at ``2 d x d`` each they would be most of the
    memory of a fit on wide data, so only :attr:`merger_` builds them (see
    :func:`_keras_merger_weights`). The zero biases are kept: they are small
    and give the merge encoder's width.
    """
    return {
        "kernel_embed": np.eye(n_features),
        "bias_encode": np.zeros(n_features),
        "bias_decode": np.zeros(2 * n_features),
    }


class _SlotSnapshots:
    """Save and restore a criterion's per-slot arrays (``_slot_arrays``).

    The graph engine merges a batch of pairs at once and undoes the tail of
    the batch when a later pair turns out to be overtaken.
    """

    # predict compares new samples with every node below the cut, so fit
    # replays the merges below it to record their states.
    replays_merges = True
    # Whether training minimises the embedded-pairs objective of the merges
    # below the flat cut (a logarithm, scale-free) rather than the whole
    # tree's reconstruction error.
    trains_below_cut = False

    @classmethod
    def build_tree(cls, weights, X, adjacency=None):
        """The greedy tree of this criterion over ``X``, by the cheapest engine.

        Without ``adjacency``, fastcluster's Ward of the embedded samples for
        a reducible criterion, else the cached engine
        (:func:`sklearn_rae._large.build_tree`); with it, merging along the
        graph's edges (:func:`sklearn_rae._graph_tree.graph_linkage`).
        Non-finite costs are returned as they are, for the caller to refuse.

        Returns
        -------
        tree : GreedyTree
        codes : tuple
            What the trainer needs of the tree besides its merges: nothing
            here (the boundary criterion returns its boundary samples).
        """
        if adjacency is None:
            from ._large import build_tree

            return build_tree(cls, weights, X), ()
        from ._graph_tree import graph_linkage

        return graph_linkage(cls(weights, leaf_state(X)), len(X), adjacency), ()

    def _slot_arrays(self) -> list[np.ndarray]:
        raise NotImplementedError

    def save_slots(self, slots) -> list[np.ndarray]:
        """Copies of everything held for ``slots``, for :meth:`restore_slots`."""
        return [array[slots].copy() for array in self._slot_arrays()]

    def restore_slots(self, slots, saved: list[np.ndarray]) -> None:
        """Put back what :meth:`save_slots` returned for the same ``slots``."""
        for array, rows in zip(self._slot_arrays(), saved, strict=True):
            array[slots] = rows


class CumulativeCriterion(_SlotSnapshots):
    """The seed's criterion: reconstruction error plus both children's scores.

    With the linear merge encoder the reconstruction residual of a pair is
    ``o - c = concat(a, b) @ A + e`` where ``A = kernel_encode @ kernel_decode - I``
    and ``e = bias_encode @ kernel_decode + bias_decode``. Splitting ``A`` into
    the rows for ``a`` and for ``b`` gives ``o - c = u(a) + v(b)`` with
    ``u(a) = a @ A[:d] + e`` and ``v(b) = b @ A[d:]``, so

        cost(a, b) = (|u(a)|^2 / 2 + score_a) + (|v(b)|^2 / 2 + score_b) + u(a) . v(b)

    per-node terms plus one dot product: a batch of pairs is one matrix product.

    The cost is not reducible in general (a merged node's code is a learned map
    of its children's codes, and its cost to a third node is not bounded below
    by its children's costs to it), nor any linkage of fixed points, so its
    tree needs the cached engine of :func:`sklearn_rae._tree.greedy_linkage`.

    Parameters
    ----------
    weights : dict of ndarray
        The merge encoder's weights (see the module docstring).
    state : dict of ndarray
        ``embedding`` (n, d), ``score`` (n,), ``size`` (n,); copied.
    """

    #: Whether the cost is Ward's in a linear embedding (see
    #: :mod:`sklearn_rae._large`): no.
    reducible = False

    #: Keras' default initialisation of the seed's merge encoder.
    initial_weights = staticmethod(init_merger_weights)
    #: learning_rate="auto" and batch_size="auto": the seed's step size; small
    #: batches, since every step builds an O(n**2) tree.
    auto_learning_rate = 1e-3
    auto_batch_size = 256
    #: Peak memory of the weights in d x d float64 matrices, measured as
    #: resident memory on wide data (3 samples, 1,000 to 5,000 features) and
    #: rounded up: 2d x d kernels, a 2d x 2d residual, their gradients, Adam's
    #: moments and TensorFlow's copies when training.
    weight_memory_factors = {"train": 50, "build": 14}

    def __init__(self, weights: dict[str, np.ndarray], state: dict[str, np.ndarray]):
        self.kernel_encode = np.asarray(weights["kernel_encode"], dtype=np.float64)
        self.bias_encode = np.asarray(weights["bias_encode"], dtype=np.float64)
        kernel_decode = np.asarray(weights["kernel_decode"], dtype=np.float64)
        bias_decode = np.asarray(weights["bias_decode"], dtype=np.float64)
        d = self.kernel_encode.shape[1]
        residual = self.kernel_encode @ kernel_decode - np.eye(2 * d)
        self._residual_first = residual[:d]
        self._residual_second = residual[d:]
        self._residual_bias = self.bias_encode @ kernel_decode + bias_decode
        self.state = {
            key: np.array(value, dtype=np.float64) for key, value in state.items()
        }
        embedding, score = self.state["embedding"], self.state["score"]
        self._first_terms = embedding @ self._residual_first + self._residual_bias
        self._second_terms = embedding @ self._residual_second
        self._first_const = (
            0.5 * np.einsum("ij,ij->i", *[self._first_terms] * 2) + score
        )
        self._second_const = (
            0.5 * np.einsum("ij,ij->i", *[self._second_terms] * 2) + score
        )

    def pair_costs(self, first, second) -> np.ndarray:
        first_terms = self._first_terms[first]
        second_terms = self._second_terms[second]
        if first_terms.shape[0] == 1:
            cross = (second_terms @ first_terms[0])[None, :]
        elif second_terms.shape[0] == 1:
            cross = (first_terms @ second_terms[0])[:, None]
        else:
            cross = first_terms @ second_terms.T
        cross += self._first_const[first][:, None]
        cross += self._second_const[second][None, :]
        return cross

    def pair_costs_paired(self, first, second) -> np.ndarray:
        """Costs of merging ``first[i]`` with ``second[i]``, element-wise."""
        cross = np.einsum(
            "ij,ij->i", self._first_terms[first], self._second_terms[second]
        )
        cross += self._first_const[first]
        cross += self._second_const[second]
        return cross

    def merge_paired(self, first, second, costs) -> np.ndarray:
        """Merge ``second[i]`` into ``first[i]`` for every ``i``; return the losses.

        The slots must all be distinct, so that the merges are independent.
        """
        first = np.asarray(first, dtype=np.intp)
        second = np.asarray(second, dtype=np.intp)
        costs = np.asarray(costs, dtype=np.float64)
        state = self.state
        residual = self._first_terms[first] + self._second_terms[second]
        losses = 0.5 * np.einsum("ij,ij->i", residual, residual)
        embedding = state["embedding"]
        merged = (
            np.concatenate([embedding[first], embedding[second]], axis=1)
            @ self.kernel_encode
            + self.bias_encode
        )
        embedding[first] = merged
        state["score"][first] = costs
        state["size"][first] += state["size"][second]
        first_terms = merged @ self._residual_first + self._residual_bias
        second_terms = merged @ self._residual_second
        self._first_terms[first] = first_terms
        self._second_terms[first] = second_terms
        self._first_const[first] = (
            0.5 * np.einsum("ij,ij->i", first_terms, first_terms) + costs
        )
        self._second_const[first] = (
            0.5 * np.einsum("ij,ij->i", second_terms, second_terms) + costs
        )
        return losses

    def _slot_arrays(self) -> list[np.ndarray]:
        return [
            *self.state.values(),
            self._first_terms,
            self._second_terms,
            self._first_const,
            self._second_const,
        ]

    def merge(self, first: int, second: int, cost: float) -> float:
        state = self.state
        residual = self._first_terms[first] + self._second_terms[second]
        loss = 0.5 * float(residual @ residual)
        embedding = state["embedding"]
        merged = (
            np.concatenate([embedding[first], embedding[second]]) @ self.kernel_encode
            + self.bias_encode
        )
        embedding[first] = merged
        state["score"][first] = cost
        state["size"][first] += state["size"][second]
        first_terms = merged @ self._residual_first + self._residual_bias
        second_terms = merged @ self._residual_second
        self._first_terms[first] = first_terms
        self._second_terms[first] = second_terms
        self._first_const[first] = 0.5 * (first_terms @ first_terms) + cost
        self._second_const[first] = 0.5 * (second_terms @ second_terms) + cost
        return loss


class LearnedMetricCriterion(_SlotSnapshots):
    """Size-weighted reconstruction of the children in a learned embedding.

    The merge encoder first embeds each input with a shared linear map ``L``
    (``kernel_embed``, d x d), then encodes the pair as the size-weighted
    average of the two embedded children and decodes the code by copying it
    to both halves. Each half of the reconstruction error counts as often as
    its child has leaves, so the cost of merging nodes ``a`` and ``b`` with
    leaf counts ``n_a, n_b`` and leaf means ``m_a, m_b`` is Ward's cost in the
    embedding::

        cost(a, b) = n_a n_b / (n_a + n_b) * |(m_a - m_b) @ L|^2 / 2

    The average encoder and the copy decoder reconstruct the merged children
    as well as any linear encoder and decoder can for every tree (the gradient
    of the objective with respect to them is zero), so training moves the
    embedding ``L``: it learns the metric in which the tree's flat clusters
    are tightest, normalised to unit volume (see
    :func:`learned_metric_objective`). With ``L = I`` the tree is Ward's.

    A node's code is its leaf mean embedded, ``z = m @ L``, so the state keeps
    the leaf mean and the embedding is derived from it (shifted to the
    nodes' average, which no cost depends on). A merge's loss (what
    ``score`` averages) is its cost divided by ``|det L|^(2/d)``: the cost in
    the embedding scaled to unit volume, comparable between trained models.

    Parameters
    ----------
    weights : dict of ndarray
        ``kernel_embed`` (d, d); the encoder and decoder weights are the
        average and the copy (the size weighting is the criterion's) and are
        not read.
    state : dict of ndarray
        ``mean`` (n, d), ``size`` (n,), ``score`` (n,) and ``embedding``
        (n, d, replaced by ``(mean - c) @ L`` with ``c`` the average of the
        given means, which leaves every cost unchanged); copied.
    """

    trains_below_cut = True
    #: Only the identity embedding is trained (see
    #: :func:`init_learned_metric_training_weights`).
    initial_weights = staticmethod(init_learned_metric_training_weights)
    #: learning_rate="auto": the objective is scale-free, and the embedding must
    #: travel a distance of order one within max_iter steps. batch_size="auto":
    #: the flat clusters need a large sample to be stable.
    auto_learning_rate = 1e-2
    auto_batch_size = 2000
    #: The embedding, the step before it, its gradient, Adam's moments and
    #: TensorFlow's copies and LU factors; one d x d matrix for a tree alone.
    weight_memory_factors = {"train": 18, "build": 3}
    #: The cost is Ward's in the embedding, which is reducible: the tree is
    #: Ward's linkage of :meth:`ward_points` (see :mod:`sklearn_rae._large`).
    reducible = True

    @staticmethod
    def ward_points(
        weights: dict[str, np.ndarray], X: np.ndarray, center=None
    ) -> np.ndarray:
        """Points whose Ward tree is this criterion's tree over ``X``.

        The samples embedded, ``(X - c) @ L`` with ``c`` their average (or
        ``center``), which changes no cost and keeps the precision of data far
        from the origin. The cost of merging nodes is Ward's cost of their
        points' means, ``n_a n_b / (n_a + n_b) |z_a - z_b|^2 / 2``.
        """
        X = np.asarray(X, dtype=np.float64)
        if center is None:
            center = center_of(X)
        return (X - center) @ np.asarray(weights["kernel_embed"], np.float64)

    @staticmethod
    def loss_scale(weights: dict[str, np.ndarray]) -> float:
        """Factor from a merge's cost to its loss: ``|det L|^(-2/d)``."""
        kernel_embed = np.asarray(weights["kernel_embed"], dtype=np.float64)
        sign, log_volume = np.linalg.slogdet(kernel_embed)
        d = kernel_embed.shape[0]
        return float(np.exp(-2.0 / d * log_volume)) if sign != 0 else 1.0

    def __init__(self, weights: dict[str, np.ndarray], state: dict[str, np.ndarray]):
        self.kernel_embed = np.asarray(weights["kernel_embed"], dtype=np.float64)
        self.state = {
            key: np.array(value, dtype=np.float64) for key, value in state.items()
        }
        # Codes are taken relative to the nodes' average mean: Ward's cost does
        # not change under a shift, and the factorised cost below would lose
        # every digit to cancellation on data far from the origin.
        mean = self.state["mean"]
        center = center_of(mean)
        self.state["embedding"] = (mean - center) @ self.kernel_embed
        code = self.state["embedding"]
        self._half_norm = 0.5 * np.einsum("ij,ij->i", code, code)
        # Merge losses are costs in the embedding scaled to unit volume, so
        # that trees of differently trained models compare (see ``score``).
        self._loss_scale = self.loss_scale(weights)

    def pair_costs(self, first, second) -> np.ndarray:
        code, size = self.state["embedding"], self.state["size"]
        size_first, size_second = size[first][:, None], size[second][None, :]
        code_first, code_second = code[first], code[second]
        if code_first.shape[0] == 1:
            cross = (code_second @ code_first[0])[None, :]
        elif code_second.shape[0] == 1:
            cross = (code_first @ code_second[0])[:, None]
        else:
            cross = code_first @ code_second.T
        distance = (
            self._half_norm[first][:, None] + self._half_norm[second][None, :] - cross
        )
        np.maximum(distance, 0.0, out=distance)
        return size_first * size_second / (size_first + size_second) * distance

    def pair_costs_paired(self, first, second) -> np.ndarray:
        """Costs of merging ``first[i]`` with ``second[i]``, element-wise."""
        code, size = self.state["embedding"], self.state["size"]
        cross = np.einsum("ij,ij->i", code[first], code[second])
        distance = np.maximum(
            self._half_norm[first] + self._half_norm[second] - cross, 0.0
        )
        size_first, size_second = size[first], size[second]
        return size_first * size_second / (size_first + size_second) * distance

    def merge_paired(self, first, second, costs) -> np.ndarray:
        """Merge ``second[i]`` into ``first[i]`` for every ``i``; return the losses.

        The slots must all be distinct, so that the merges are independent.
        """
        first = np.asarray(first, dtype=np.intp)
        second = np.asarray(second, dtype=np.intp)
        costs = np.asarray(costs, dtype=np.float64)
        state = self.state
        size_first, size_second = state["size"][first], state["size"][second]
        total = size_first + size_second
        share_first = (size_first / total)[:, None]
        share_second = (size_second / total)[:, None]
        for key in ("mean", "embedding"):
            state[key][first] = (
                share_first * state[key][first] + share_second * state[key][second]
            )
        code = state["embedding"][first]
        self._half_norm[first] = 0.5 * np.einsum("ij,ij->i", code, code)
        state["size"][first] = total
        state["score"][first] = costs
        return costs * self._loss_scale

    def merge(self, first: int, second: int, cost: float) -> float:
        return float(
            self.merge_paired(np.array([first]), np.array([second]), np.array([cost]))[
                0
            ]
        )

    def _slot_arrays(self) -> list[np.ndarray]:
        return [*self.state.values(), self._half_norm]


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

    Both the learned metric and the boundary criterion reconstruct a pair of
    codes by their size-weighted average, so a merge's error is
    ``factor * |difference @ L|^2 / 2`` with ``factor = n_a n_b / (n_a + n_b)``.
    The codes are the children's leaf means, or with ``boundary_first`` and
    ``boundary_second`` (the samples at the two ends of each merge's boundary
    edge) the children's boundary points.

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


def embedded_pairs_objective(
    difference: np.ndarray,
    factor: np.ndarray,
    kernel_embed: np.ndarray,
    shrinkage: float,
) -> float:
    """The training objective of the learned metric and boundary criteria.

    With ``W(L) = sum factor |difference @ L|^2 / 2`` the reconstruction error
    of the merges whose ``factor`` is not zero (those below the flat cut) in
    the embedding ``L``, the objective is::

        log((1 - s) W(L) + s W(I) |L|_F^2 / d) - (2 / d) log |det L|

    The second term normalises the embedding to unit volume, so codes cannot
    shrink to make merges cheap (the role of Socher et al.'s normalisation of
    hidden vectors). The minimum over ``L`` is reached where ``L L^T`` is
    proportional to the inverse of ``(1 - s) S + s tr(S) / d I``, ``S`` the
    weighted scatter of the differences: training whitens them, shrunk by
    ``s`` towards the plain metric. The objective is invariant to the scale
    of ``L`` and of the data.
    """
    within_embedded = 0.5 * np.sum(factor * np.sum((difference @ kernel_embed) ** 2, 1))
    within = 0.5 * np.sum(factor * np.sum(difference**2, axis=1))
    d = kernel_embed.shape[0]
    spread = (1 - shrinkage) * within_embedded + shrinkage * within / d * np.sum(
        kernel_embed**2
    )
    return float(np.log(spread) - 2.0 / d * np.linalg.slogdet(kernel_embed)[1])


def learned_metric_objective(
    X: np.ndarray,
    linkage: np.ndarray,
    kernel_embed: np.ndarray,
    below_cut: np.ndarray,
    shrinkage: float,
) -> float:
    """The training objective of ``merge_cost="learned_metric"`` for one tree.

    :func:`embedded_pairs_objective` of the children's leaf means over the
    merges below the cut: ``W(L)`` is then half the within-cluster sum of
    squares of the flat clusters in the embedding, and training whitens the
    clusters' within-cluster scatter matrix, shrunk by ``s`` towards the plain
    metric.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Leaves of the tree.
    linkage : ndarray of shape (n_samples - 1, 4)
        The tree.
    kernel_embed : ndarray of shape (n_features, n_features)
        The embedding ``L``.
    below_cut : ndarray of shape (n_samples - 1,)
        1 for the merges below the cut, 0 for those above.
    shrinkage : float
        ``s`` above, in [0, 1].
    """
    difference, factor = merge_code_differences(X, linkage)
    return embedded_pairs_objective(
        difference, factor * below_cut, kernel_embed, shrinkage
    )


class BoundaryCriterion(LearnedMetricCriterion):
    """Size-weighted reconstruction of the children's boundary points.

    The merge encoder is the learned metric's (a shared embedding ``L``, the
    size-weighted average as encoder, a copy as decoder), given for each child
    its boundary point: the end of the spanning-tree edge between the two
    children (see :mod:`sklearn_rae._boundary`, which builds the tree). The
    cost of merging two nodes joined by the edge ``(p_a, p_b)`` is::

        cost(a, b) = n_a n_b / (n_a + n_b) * |(p_a - p_b) @ L|^2 / 2

    Between two leaves this is the learned metric's cost, so this class, a
    :class:`LearnedMetricCriterion` over leaves, prices a new sample against
    the training samples in ``predict``: a sample merges most cheaply with a
    leaf (its factor, 1/2, is the smallest of any node), the leaf nearest to
    it in the embedding.
    """

    # predict compares new samples with the training samples only.
    replays_merges = False

    @classmethod
    def build_tree(cls, weights, X, adjacency=None):
        """The greedy tree along the spanning tree of ``X @ L`` (or of the graph).

        Returns the tree and ``(boundary_first, boundary_second)``, the samples
        at the two ends of each merge's spanning-tree edge, which training
        reads (see :func:`merge_code_differences`).
        """
        from ._boundary import boundary_tree, spanning_edges

        embedded = X @ weights["kernel_embed"]
        first, second, n_graph_edges = spanning_edges(embedded, adjacency)
        tree, edges = boundary_tree(
            embedded, first, second, n_graph_edges, cls.loss_scale(weights)
        )
        return tree, (first[edges], second[edges])

    #: Its trees are built along a spanning tree (:mod:`sklearn_rae._boundary`),
    #: not by Ward's linkage; they need no pair-cost cache either.
    engine = (
        "greedy merging along the minimum spanning tree of the embedded "
        "samples, O(n d) memory"
    )


from ._adaptive import AdaptiveCriterion  # noqa: E402  (it needs no criterion)

CRITERIA = {
    "adaptive": AdaptiveCriterion,
    "learned_metric": LearnedMetricCriterion,
    "boundary": BoundaryCriterion,
    "cumulative": CumulativeCriterion,
}
