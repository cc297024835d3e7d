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

__all__ = ["CumulativeCriterion", "CRITERIA", "leaf_state"]


def leaf_state(X: np.ndarray) -> dict[str, np.ndarray]:
    """State of the leaves: embedding = the sample, score 0, size 1."""
    X = np.asarray(X, dtype=np.float64)
    return {
        "embedding": X.copy(),
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

    def save_slots(self, slots) -> list[np.ndarray]:
        """Copies of everything held for ``slots``, for :meth:`restore_slots`."""
        return [array[slots].copy() for array in self._slot_arrays()]

    def restore_slots(self, slots, saved: list[np.ndarray]) -> None:
        """Put back what :meth:`save_slots` returned for the same ``slots``."""
        for array, rows in zip(self._slot_arrays(), saved, strict=True):
            array[slots] = rows

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


CRITERIA = {"cumulative": CumulativeCriterion}
