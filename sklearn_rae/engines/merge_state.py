"""What the greedy and graph engines need from a criterion: a merge state.

A criterion's :meth:`~sklearn_rae.criteria.base.Criterion.merge_state` returns
an object of a :class:`MergeState` subclass: one state row per *slot* (the
leaves' slots are the samples, in order; a merged node takes the slot of its
earlier child, see :mod:`sklearn_rae.engines.greedy`), pair costs evaluated
in batches, and merges that update the earlier slot in place. Every method
the engines call is declared here; the batched ones have plain defaults that
a criterion overrides when it can do better.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MergeState"]

# Pairs evaluated per outer-product call by the default ``pair_costs_paired``:
# the waste is a factor of this size.
_PAIRED_CHUNK = 64


class MergeState:
    """The mutable state of a greedy merge: per-slot nodes and their pair costs.

    Each merge updates it in place (the earlier child's slot becomes the
    merged node), so one instance serves one tree build or replay.

    Attributes
    ----------
    state : dict of ndarray
        One row per slot for every key (``size`` and ``mean`` at least, for
        the replay of a tree and for ``predict``); merged nodes' rows are
        updated in place.
    batched : bool
        Whether :meth:`pair_costs_paired` and :meth:`merge_paired` are true
        batch operations, so that the graph engine may merge a chain many
        pairs per round (and undo the tail with :meth:`save_slots` and
        :meth:`restore_slots`).
    """

    state: dict[str, np.ndarray]
    batched = False

    def pair_costs(self, first, second) -> np.ndarray:
        """Costs of merging every ``first[r]`` (earlier) with every ``second[c]``.

        ``first`` and ``second`` are index arrays or slices of slots; returns
        an array of shape ``(len(first), len(second))``.
        """
        raise NotImplementedError

    def merge(self, first: int, second: int, cost: float) -> float:
        """Merge slot ``second`` into slot ``first``; return the merge's loss.

        The loss is the merge's contribution to the tree objective (for the
        seed's criterion, the reconstruction error).
        """
        raise NotImplementedError

    def pair_costs_paired(self, first, second) -> np.ndarray:
        """Costs of merging ``first[i]`` with ``second[i]``, element-wise.

        By default the diagonals of :meth:`pair_costs` on chunks of pairs, so
        no large matrix is allocated.
        """
        first = np.asarray(first, dtype=np.int64)
        second = np.asarray(second, dtype=np.int64)
        out = np.empty(first.shape[0], dtype=np.float64)
        for start in range(0, first.shape[0], _PAIRED_CHUNK):
            stop = min(start + _PAIRED_CHUNK, first.shape[0])
            block = self.pair_costs(first[start:stop], second[start:stop])
            out[start:stop] = np.diagonal(np.asarray(block, dtype=np.float64))
        return out

    def merge_paired(self, first, second, costs) -> np.ndarray:
        """Merge ``second[i]`` into ``first[i]`` for every ``i``; return the losses.

        The slots must all be distinct, so that the merges are independent.
        By default one :meth:`merge` after the other.
        """
        return np.array(
            [
                self.merge(int(a), int(b), float(c))
                for a, b, c in zip(first, second, costs, strict=True)
            ],
            dtype=np.float64,
        )

    def slot_arrays(self) -> list[np.ndarray]:
        """Every array with one row per slot (by default, the state's)."""
        return list(self.state.values())

    def save_slots(self, slots) -> list[np.ndarray]:
        """Copies of everything held for ``slots``, for :meth:`restore_slots`."""
        return [array[slots].copy() for array in self.slot_arrays()]

    def restore_slots(self, slots, saved: list[np.ndarray]) -> None:
        """Put back what :meth:`save_slots` returned for the same ``slots``."""
        for array, rows in zip(self.slot_arrays(), saved, strict=True):
            array[slots] = rows
