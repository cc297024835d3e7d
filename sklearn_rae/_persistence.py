"""The fitted merge encoder on demand, and pickles that hold arrays only.

A fitted estimator keeps its merge encoder as NumPy weights
(``merger_weights_``). The Keras model ``merger_`` is built from them on
first access, and neither it nor the prediction index (a KD-tree, which
skops cannot store) is pickled: a pickle holds arrays only and loads without
TensorFlow. :class:`FittedMergerMixin` gives the estimator these habits.
"""

from __future__ import annotations

import sys
import warnings

from sklearn.utils.validation import check_is_fitted

from ._registry import MERGE_COSTS

__all__ = ["FittedMergerMixin"]


class FittedMergerMixin:
    """``merger_`` built on demand; pickling without the transient parts."""

    @property
    def merger_(self):
        """The trained merge encoder as a Keras model (built on first access).

        Building it imports TensorFlow; ``repr``, ``get_params`` and the HTML
        representation of the estimator do not (``dir`` lists ``merger_`` once
        it is built or TensorFlow is loaded).
        """
        check_is_fitted(self)
        if self._merger is None:
            from ._merger import build_merger

            self._merger = build_merger(
                self._criterion.keras_weights(self.merger_weights_)
            )
        return self._merger

    def __dir__(self):
        # scikit-learn's __dir__ evaluates every attribute, and its HTML
        # representation reads every fitted one: listing merger_ would build
        # the Keras model, importing TensorFlow (seconds) whenever a notebook
        # displays an unpickled model or completes a name. It is listed once
        # built, or when TensorFlow is loaded already and building is quick.
        # As BaseEstimator.__dir__: hide what hasattr refuses (available_if).
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            names = [
                name
                for name in object.__dir__(self)
                if name != "merger_" and hasattr(self, name)
            ]
        fitted = "merger_weights_" in self.__dict__
        if fitted and (self._merger is not None or "tensorflow" in sys.modules):
            names.append("merger_")
        return names

    #: What a fitted model's state must hold to predict and score.
    _FITTED_STATE = (
        "merger_weights_",
        "_criterion",
        "_node_state",
        "_node_labels",
        "_mixture",
        "merge_cost_",
        "n_leaves_",
        "labels_",
        "linkage_matrix_",
    )

    def __setstate__(self, state):
        # Models saved by version 0.2 keep their weights privately and name
        # their criterion; earlier ones name no kept criterion.
        if "_merger_weights" in state:
            state["merger_weights_"] = state.pop("_merger_weights")
        if "merger_weights_" in state:
            state.setdefault("merge_cost_", state.get("merge_cost"))
            state.setdefault(
                "_criterion",
                {
                    "name": state["merge_cost_"],
                    "options": {"shrinkage": state.get("shrinkage", 0.3)},
                },
            )
        if "merger_weights_" in state:
            missing = [name for name in self._FITTED_STATE if name not in state]
            if missing:
                raise ValueError(
                    f"This {type(self).__name__} was saved by an incompatible "
                    f"version of sklearn-rae: its state lacks {', '.join(missing)}. "
                    "Fit it again with this version."
                )
            if isinstance(state["_criterion"], dict):
                state["_criterion"] = _criterion_of(state["_criterion"])
        super().__setstate__(state)

    def __getstate__(self):
        # The Keras model is rebuilt from the NumPy weights on demand, so a
        # pickle holds arrays only and loads without TensorFlow; likewise the
        # predictor (a KD-tree, which skops could not store). The criterion
        # is saved as its name and options, so that skops needs to trust no
        # criterion class.
        state = dict(super().__getstate__())
        for transient in ("_merger", "_predictor", "_node_index"):
            if state.get(transient) is not None:
                state[transient] = None
        criterion = state.get("_criterion")
        if criterion is not None and not isinstance(criterion, dict):
            state["_criterion"] = {"name": criterion.name, "options": vars(criterion)}
        return state


def _criterion_of(saved: dict):
    """The criterion of a saved ``{"name", "options"}``, from the registry.

    A criterion's options are its constructor's keyword arguments, kept as
    attributes of the same names.
    """
    name = saved["name"]
    if name not in MERGE_COSTS or not hasattr(MERGE_COSTS[name], "criterion_class"):
        raise ValueError(
            f"This model was fitted with merge_cost={name!r}, which is not "
            "registered: register its criterion (sklearn_rae.register_criterion) "
            "before loading it."
        )
    return MERGE_COSTS[name].criterion_class(**saved["options"])
