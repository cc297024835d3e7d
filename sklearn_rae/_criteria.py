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
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CumulativeCriterion",
    "OrderedWeightedCriterion",
    "WeightedCriterion",
    "CRITERIA",
    "leaf_state",
    "symmetric_weights",
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


def concat_states(*states: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Stack node states row-wise (same keys in each)."""
    return {key: np.concatenate([s[key] for s in states]) for key in states[0]}


def take_state(state: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The state rows ``rows`` as a new state."""
    return {key: value[rows].copy() for key, value in state.items()}


class CumulativeCriterion:
    """The seed's criterion: reconstruction error plus both children's scores.

    With the linear merge encoder the reconstruction residual of a pair is
    ``o - c = concat(a, b) @ A + e`` where ``A = kernel_encode @ kernel_decode - I``
    and ``e = bias_encode @ kernel_decode + bias_decode``. Splitting ``A`` into
    the rows for ``a`` and for ``b`` gives ``o - c = u(a) + v(b)`` with
    ``u(a) = a @ A[:d] + e`` and ``v(b) = b @ A[d:]``, so

        cost(a, b) = (|u(a)|^2 / 2 + score_a) + (|v(b)|^2 / 2 + score_b) + u(a) . v(b)

    per-node terms plus one dot product: a batch of pairs is one matrix product.

    Parameters
    ----------
    weights : dict of ndarray
        The merge encoder's weights (see the module docstring).
    state : dict of ndarray
        ``embedding`` (n, d), ``score`` (n,), ``size`` (n,); copied.
    """

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


class OrderedWeightedCriterion:
    """Size-weighted reconstruction of the children's leaf means.

    The merge encoder's inputs are the children's codes scaled by their share
    of the merged leaves, ``w_a = n_a / (n_a + n_b)`` and ``w_b = n_b / (n_a +
    n_b)``; the decoder reconstructs the *leaf means* ``m_a, m_b`` of the two
    children (fixed targets, so codes cannot shrink to make merges cheap), and
    each half of the error counts as often as its child has leaves::

        h = concat(w_a a, w_b b) @ kernel_encode + bias_encode
        o = h @ kernel_decode + bias_decode
        cost(a, b) = (n_a |o_a - m_a|^2 + n_b |o_b - m_b|^2) / 2

    With the encoder started as ``[I; I]`` (the weighted average, so the code is
    the leaf mean) and the decoder as ``[I, I]`` (a copy), the cost is Ward's
    ``n_a n_b / (n_a + n_b) |m_a - m_b|^2 / 2``.

    The residual is linear in the pair's per-node terms:
    ``o_a - m_a = w_a P1[a] + w_b Q1[b] + R1[a]`` with ``P1 = E1 @ D1``,
    ``Q1 = E2 @ D1``, ``R1 = bias_encode @ D1 + bias_decode[:d] - m``
    (``E1, E2`` the two row blocks of ``kernel_encode``, ``D1, D2`` the two
    column blocks of ``kernel_decode``), and likewise for ``o_b - m_b``. A
    batch of pair costs is therefore four matrix products plus per-node terms
    scaled by the pair's size shares.

    Parameters
    ----------
    weights : dict of ndarray
        The merge encoder's weights (see the module docstring).
    state : dict of ndarray
        ``embedding`` (n, d), ``mean`` (n, d), ``score`` (n,), ``size`` (n,);
        copied.
    """

    def __init__(self, weights: dict[str, np.ndarray], state: dict[str, np.ndarray]):
        kernel_encode = np.asarray(weights["kernel_encode"], dtype=np.float64)
        self.bias_encode = np.asarray(weights["bias_encode"], dtype=np.float64)
        kernel_decode = np.asarray(weights["kernel_decode"], dtype=np.float64)
        bias_decode = np.asarray(weights["bias_decode"], dtype=np.float64)
        d = kernel_encode.shape[1]
        self._encode_first = kernel_encode[:d]
        self._encode_second = kernel_encode[d:]
        self.kernel_decode = kernel_decode
        self.bias_decode = bias_decode
        self._decode_first = kernel_decode[:, :d]
        self._decode_second = kernel_decode[:, d:]
        self._bias_first = self.bias_encode @ self._decode_first + bias_decode[:d]
        self._bias_second = self.bias_encode @ self._decode_second + bias_decode[d:]
        self.state = {
            key: np.array(value, dtype=np.float64) for key, value in state.items()
        }
        self._terms = {}
        self._update_terms(slice(None))

    def _update_terms(self, rows) -> None:
        """Per-node terms of the nodes ``rows`` (an index or a slice)."""
        embedding = self.state["embedding"][rows]
        mean = self.state["mean"][rows]
        encoded_first = embedding @ self._encode_first
        encoded_second = embedding @ self._encode_second
        terms = {
            "P1": encoded_first @ self._decode_first,
            "P2": encoded_first @ self._decode_second,
            "Q1": encoded_second @ self._decode_first,
            "Q2": encoded_second @ self._decode_second,
            "R1": self._bias_first - mean,
            "R2": self._bias_second - mean,
        }
        norms = {
            "P1P1": ("P1", "P1"),
            "P1R1": ("P1", "R1"),
            "R1R1": ("R1", "R1"),
            "Q1Q1": ("Q1", "Q1"),
            "P2P2": ("P2", "P2"),
            "Q2Q2": ("Q2", "Q2"),
            "R2R2": ("R2", "R2"),
            "Q2R2": ("Q2", "R2"),
        }
        if not self._terms:
            self._terms = {key: value.copy() for key, value in terms.items()}
            for key, (left, right) in norms.items():
                self._terms[key] = np.einsum(
                    "...j,...j->...", terms[left], terms[right]
                )
            return
        for key, value in terms.items():
            self._terms[key][rows] = value
        for key, (left, right) in norms.items():
            self._terms[key][rows] = np.einsum(
                "...j,...j->...", terms[left], terms[right]
            )

    def pair_costs(self, first, second) -> np.ndarray:
        t = self._terms
        size_first = self.state["size"][first][:, None]
        size_second = self.state["size"][second][None, :]
        total = size_first + size_second
        share_first = size_first / total
        share_second = size_second / total
        # |o_a - m_a|^2 and |o_b - m_b|^2 for every pair.
        error_first = (
            share_first**2 * t["P1P1"][first][:, None]
            + 2 * share_first * t["P1R1"][first][:, None]
            + t["R1R1"][first][:, None]
            + share_second**2 * t["Q1Q1"][second][None, :]
            + 2
            * share_second
            * (
                share_first * (t["P1"][first] @ t["Q1"][second].T)
                + t["R1"][first] @ t["Q1"][second].T
            )
        )
        error_second = (
            share_first**2 * t["P2P2"][first][:, None]
            + share_second**2 * t["Q2Q2"][second][None, :]
            + 2 * share_second * t["Q2R2"][second][None, :]
            + t["R2R2"][second][None, :]
            + 2
            * share_first
            * (
                share_second * (t["P2"][first] @ t["Q2"][second].T)
                + t["P2"][first] @ t["R2"][second].T
            )
        )
        return 0.5 * (size_first * error_first + size_second * error_second)

    def merge(self, first: int, second: int, cost: float) -> float:
        state = self.state
        size_first, size_second = state["size"][first], state["size"][second]
        total = size_first + size_second
        embedding = state["embedding"]
        merged = (
            size_first / total * embedding[first] @ self._encode_first
            + size_second / total * embedding[second] @ self._encode_second
            + self.bias_encode
        )
        output = merged @ self.kernel_decode + self.bias_decode
        d = merged.shape[0]
        error_first = output[:d] - state["mean"][first]
        error_second = output[d:] - state["mean"][second]
        loss = 0.5 * float(
            size_first * (error_first @ error_first)
            + size_second * (error_second @ error_second)
        )
        state["mean"][first] = (
            size_first * state["mean"][first] + size_second * state["mean"][second]
        ) / total
        embedding[first] = merged
        state["score"][first] = cost
        state["size"][first] = total
        self._update_terms(first)
        return loss


def symmetric_weights(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The merge encoder's weights with the two children's blocks averaged.

    ``kernel_encode``'s row blocks, ``kernel_decode``'s column blocks and
    ``bias_decode``'s halves are replaced by their mean, so that swapping the
    two children swaps the two halves of the reconstruction and changes no
    cost. Weights whose blocks are already equal are returned unchanged.
    """
    kernel_encode = np.asarray(weights["kernel_encode"], dtype=np.float64)
    kernel_decode = np.asarray(weights["kernel_decode"], dtype=np.float64)
    bias_decode = np.asarray(weights["bias_decode"], dtype=np.float64)
    d = kernel_encode.shape[1]
    encode = 0.5 * (kernel_encode[:d] + kernel_encode[d:])
    decode = 0.5 * (kernel_decode[:, :d] + kernel_decode[:, d:])
    bias = 0.5 * (bias_decode[:d] + bias_decode[d:])
    return {
        "kernel_encode": np.vstack([encode, encode]),
        "bias_encode": np.asarray(weights["bias_encode"], dtype=np.float64),
        "kernel_decode": np.hstack([decode, decode]),
        "bias_decode": np.concatenate([bias, bias]),
    }


class WeightedCriterion(OrderedWeightedCriterion):
    """:class:`OrderedWeightedCriterion` treating both children alike.

    The merge encoder's weights enter through :func:`symmetric_weights`: the
    code is ``(w_a a + w_b b) @ E + bias_encode`` and both halves of the
    reconstruction are the same ``h @ D + bias``, so the cost does not depend
    on which child comes first in list order. For any fixed tree the
    reconstruction that minimises ``n_a |o - m_a|^2 + n_b |o - m_b|^2`` is the
    merged leaf mean, which the average encoder and copy decoder produce
    exactly: those weights minimise the tree objective of every tree, and with
    them the cost is Ward's (see :class:`OrderedWeightedCriterion`).

    Parameters
    ----------
    weights : dict of ndarray
        The merge encoder's weights (see the module docstring); only their
        block averages are used.
    state : dict of ndarray
        ``embedding`` (n, d), ``mean`` (n, d), ``score`` (n,), ``size`` (n,);
        copied.
    """

    def __init__(self, weights: dict[str, np.ndarray], state: dict[str, np.ndarray]):
        super().__init__(symmetric_weights(weights), state)


CRITERIA = {
    "cumulative": CumulativeCriterion,
    "weighted": WeightedCriterion,
    "weighted_ordered": OrderedWeightedCriterion,
}
