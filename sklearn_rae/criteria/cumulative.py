"""The seed's criterion: reconstruction error plus both children's scores.

``merge_cost="cumulative"`` is the recursive autoencoder of the original blog
post, exactly: the merge encoder concatenates two node vectors, encodes them
into one hidden vector of the same width (``Dense(d)``) and decodes that back
to both (``Dense(2d)``); a merged node's score is the reconstruction error of
its children plus both children's scores. The weights are a dict of arrays:

``kernel_encode`` (2d, d), ``bias_encode`` (d,)
    The encoder: ``h = concat(a, b) @ kernel_encode + bias_encode``.
``kernel_decode`` (d, 2d), ``bias_decode`` (2d,)
    The decoder: ``o = h @ kernel_decode + bias_decode``.

Its cost is not reducible, so its trees are built by the cached greedy engine
(or the graph engine along a connectivity graph).
"""

from __future__ import annotations

import numpy as np

from ..engines.graph import GRAPH
from ..engines.greedy import GREEDY
from ..engines.merge_state import MergeState
from .base import Criterion

__all__ = ["CumulativeCriterion", "CumulativeMergeState", "init_merger_weights"]


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


class CumulativeMergeState(MergeState):
    """The seed's criterion's merge state: reconstruction error plus both
    children's scores.

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
    tree needs the cached engine of
    :func:`sklearn_rae.engines.greedy.greedy_linkage`.

    Parameters
    ----------
    weights : dict of ndarray
        The seed's merge encoder's weights (see :class:`CumulativeCriterion`).
    state : dict of ndarray
        ``embedding`` (n, d), ``score`` (n,), ``size`` (n,); copied.
    """

    batched = True

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

    def slot_arrays(self) -> list[np.ndarray]:
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


class CumulativeCriterion(Criterion):
    """The seed's merge criterion (see the module docstring)."""

    name = "cumulative"
    #: The seed's encoder reads the concatenation [first, second].
    ordered_children = True
    engine = GREEDY
    graph_engine = GRAPH
    #: learning_rate="auto" and batch_size="auto": the seed's step size; small
    #: batches, since every step builds an O(n**2) tree.
    auto_learning_rate = 1e-3
    auto_batch_size = 256
    #: Measured as resident memory on wide data (3 samples, 1,000 to 5,000
    #: features) and rounded up: 2d x d kernels, a 2d x 2d residual, their
    #: gradients, Adam's moments and TensorFlow's copies when training.
    weight_memory_factors = {"train": 50, "build": 14}

    def initial_weights(self, X, random_state):
        """Keras' default initialisation of the seed's merge encoder."""
        return init_merger_weights(X.shape[1], random_state)

    def merge_state(self, weights, state):
        return CumulativeMergeState(weights, state)

    def make_trainer(self, weights, learning_rate):
        from .cumulative_tf import TreeTrainer

        return TreeTrainer(weights, learning_rate)
