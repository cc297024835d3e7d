"""What the tests read of a fitted model's state beyond its public attributes."""

from __future__ import annotations

from sklearn_rae._prediction import CostPredictor


def node_costs(model, X):
    """Pair costs ``(n_nodes, n_samples)`` of the fitted nodes below the cut."""
    return CostPredictor(
        model._criterion, model.merger_weights_, model._node_state, model._node_labels
    ).node_costs(X)


def build_tree(model, X):
    """The fitted criterion's tree over ``X`` with the fitted weights."""
    return model._criterion.build_tree(model.merger_weights_, X)
