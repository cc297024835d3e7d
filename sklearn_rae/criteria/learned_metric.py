"""The learned metric: Ward's cost in an embedding that training learns.

``merge_cost="learned_metric"`` presents each child's leaf mean to the shared
merge encoder of :mod:`sklearn_rae.criteria.embedded`, so the cost of a merge
is Ward's in the embedding ``L`` and its trees are Ward's linkage of the
embedded samples (the Ward engine, ``O(n d)`` memory).
"""

from __future__ import annotations

import numpy as np

from .._numeric import center_of
from ..engines.graph import GRAPH
from ..engines.merge_state import MergeState
from ..engines.ward import WARD
from .embedded import EmbeddedCriterion, embedding_loss_scale

__all__ = ["LearnedMetricCriterion", "LearnedMetricMergeState"]


class LearnedMetricMergeState(MergeState):
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
    :func:`~sklearn_rae.criteria.embedded.learned_metric_objective`). With
    ``L = I`` the tree is Ward's.

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

    batched = True

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
        self._loss_scale = embedding_loss_scale(weights)

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

    def slot_arrays(self) -> list[np.ndarray]:
        return [*self.state.values(), self._half_norm]


class LearnedMetricCriterion(EmbeddedCriterion):
    """Ward's cost in a learned linear embedding (see the module docstring).

    Training minimises the reconstruction error of the merges below the flat
    cut, whose sum is half the within-cluster sum of squares of the flat
    clusters in the embedding: it learns the metric in which they are
    tightest. ``predict`` compares a new sample with every node below the
    cut, by a KD-tree over their embedded means.
    """

    name = "learned_metric"
    engine = WARD
    graph_engine = GRAPH

    def merge_state(self, weights, state):
        return LearnedMetricMergeState(weights, state)
