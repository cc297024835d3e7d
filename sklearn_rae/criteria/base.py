"""The criterion interface: everything the package asks of a merge criterion.

A merge criterion says what merging two nodes costs and how its merge encoder
is trained. One :class:`Criterion` subclass carries all of it, as
scikit-learn's ``BaseLoss`` carries a loss: the node state and pair costs
(:meth:`Criterion.merge_state`, or an embedding for the engines that need no
pair costs), the engine that builds its trees and that engine's memory, the
initial weights and automatic hyper-parameters, the TensorFlow objective and
its trainer, and how ``predict`` compares new samples with the fitted nodes.
The estimator holds an instance and calls this interface; it never branches
on a criterion's name.

Adding a criterion is one module with one subclass, plus one line in
:mod:`sklearn_rae.criteria` (or :func:`sklearn_rae.criteria.register_criterion`).
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from .._training import step_through_trees
from ..engines.merge_state import MergeState
from ..engines.tree import Engine, Tree

__all__ = ["Criterion", "Refinement", "Trainer"]


class Refinement(Enum):
    """How a criterion refined its final flat clusters (:meth:`Criterion.refine`)."""

    #: Lloyd's algorithm in the unit-free metric: the clusters were found
    #: spherical there, as k-means assumes.
    ISOTROPIC = "isotropic"
    #: The classification EM of a mixture with one shared covariance.
    SHARED_COVARIANCE = "shared covariance"


class Trainer:
    """One gradient step at a time on a criterion's merge encoder.

    A trainer holds the weights and the optimiser's state. Training builds a
    tree with the current weights, then calls :meth:`step` with it; the
    criterion's :attr:`Criterion.trains_on_cut` says whether the step also
    takes the marks of the merges below the flat cut.
    """

    #: The last sentence of a divergence warning: what the user can change.
    divergence_advice = "Lower learning_rate or standardise the data."

    def weights(self) -> dict[str, np.ndarray]:
        """The current weights (not copies: a step replaces the arrays)."""
        raise NotImplementedError

    def step(self, X: np.ndarray, tree: Tree, below_cut=None) -> float:
        """One step on ``tree`` over ``X``; returns the objective before it."""
        raise NotImplementedError


class Criterion:
    """Base class of the merge criteria.

    Parameters
    ----------
    shrinkage : float, default=0.3
        For criteria whose objective learns a metric: how strongly it is held
        towards the plain Euclidean one, from 0 to 1. Others ignore it.
    start : {"identity", "unit_free"}, default="identity"
        For criteria with an embedding: the identity, or ``diag(1 / std)``
        of the training samples, so that the first tree does not depend on
        the unit in which each column is measured. Others ignore it.

    Attributes
    ----------
    name : str
        The ``merge_cost`` that names the criterion.
    engine : Engine
        What builds the criterion's trees without a connectivity graph.
    graph_engine : Engine
        What builds them along a connectivity graph.
    auto_learning_rate : float
        Adam's step size for ``learning_rate="auto"``.
    auto_batch_size : int
        Samples per training step for ``batch_size="auto"`` (at most all).
    weight_memory_factors : dict
        Peak memory of the weights in ``d x d`` float64 matrices, ``"train"``
        when training and ``"build"`` for a tree alone.
    trains_on_cut : bool
        Whether training minimises the reconstruction error of the merges
        below the flat cut of each step's tree (a logarithm, scale-free),
        rather than the whole tree's. Such training cuts every step's tree,
        stops when the flat clusters are points, and can converge.
    log_objective : bool
        Whether the tree objective is a logarithm: a blow-up is then a rise
        by ``log(1000)`` rather than a thousandfold.
    replays_merges : bool
        Whether ``predict`` compares a new sample with the merged nodes below
        the cut as well as with the training samples, so that fit records
        those nodes' states.
    ordered_children : bool
        Whether a merge's cost depends on which child is the merge encoder's
        first input: the exported linkage matrix then keeps that order;
        otherwise its rows list the smaller node id first, as SciPy's do.
    """

    name = ""
    engine: Engine
    graph_engine: Engine
    auto_learning_rate = 1e-3
    auto_batch_size = 256
    weight_memory_factors = {"train": 50, "build": 14}
    trains_on_cut = False
    log_objective = False
    replays_merges = True
    ordered_children = False

    def __init__(self, shrinkage: float = 0.3, start: str = "identity"):
        self.shrinkage = float(shrinkage)
        self.start = start

    def __eq__(self, other):
        # Criteria are values: the same class with the same options.
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self), tuple(sorted(vars(self).items()))))

    def __repr__(self):
        options = ", ".join(f"{name}={value!r}" for name, value in vars(self).items())
        return f"{type(self).__name__}({options})"

    def initial_weights(
        self, X: np.ndarray, random_state: np.random.RandomState
    ) -> dict[str, np.ndarray]:
        """The merge encoder's weights before training on ``X``, as arrays."""
        raise NotImplementedError

    def n_steps(self, max_iter: int) -> int:
        """The most steps :meth:`fit_weights` takes: ``max_iter`` by default."""
        return max_iter

    def fit_weights(self, X: np.ndarray, weights, settings, progress=None):
        """Fit the weights on ``X`` from ``weights``: Adam's steps by default.

        The step of :func:`sklearn_rae._training.train` that a criterion
        fills in. By default, :meth:`gradient_steps`; a criterion with exact
        steps, or one that checks its training, overrides it.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        weights : dict of ndarray
            The initial weights.
        settings : TrainingSettings
            At most :meth:`n_steps` steps, the cut, batches, random state.
        progress : TrainingProgress or None

        Returns
        -------
        TrainingResult
        """
        return self.gradient_steps(X, weights, settings, progress)

    def gradient_steps(self, X: np.ndarray, weights, settings, progress=None):
        """Adam's steps from ``weights`` with :meth:`make_trainer`'s trainer.

        Each step on a new batch's tree
        (:func:`sklearn_rae._training.step_through_trees`).
        """
        trainer = self.make_trainer(weights, settings.learning_rate)
        if progress is not None:
            # Counted from here, after the trainer (which may import
            # TensorFlow) is made.
            progress.started()
        return step_through_trees(self, X, trainer, weights, settings, progress)

    def merge_edges(self, tree: Tree) -> tuple[np.ndarray, np.ndarray] | None:
        """The two samples at the ends of each merge's spanning-tree edge.

        For a criterion whose trees follow a spanning tree (the boundary
        criterion's); None for the others.
        """
        return tree.boundary_edges or None

    def merge_state(
        self, weights: dict[str, np.ndarray], state: dict[str, np.ndarray]
    ) -> MergeState:
        """The node state and pair costs of nodes ``state`` under ``weights``.

        The greedy and graph engines merge with it, fit replays the merges
        below the cut on it, and ``predict`` prices new samples with it.
        """
        raise NotImplementedError

    def embed(
        self, weights: dict[str, np.ndarray], X: np.ndarray, center=None
    ) -> np.ndarray:
        """The samples in the criterion's embedding, relative to ``center``.

        Only for criteria whose cost is a distance in a linear embedding (the
        Ward and spanning-tree engines and the nearest-node index ask for
        it); ``center=None`` takes the samples' mean.
        """
        raise NotImplementedError

    def loss_scale(self, weights: dict[str, np.ndarray]) -> float:
        """Factor from a merge's cost to its loss (what ``score`` averages)."""
        return 1.0

    def heights(self, costs: np.ndarray) -> np.ndarray:
        """The heights of the exported linkage matrix for merge ``costs``.

        The engines build trees in cost units; ``linkage_matrix_``,
        ``distances_`` and ``distance_threshold`` are in height units. By
        default they are the costs themselves. A conversion must be strictly
        increasing, so that both order the merges alike.
        """
        return np.asarray(costs, dtype=np.float64)

    def cost_of_height(self, height: float) -> float:
        """The merge cost at ``height`` (the inverse of :meth:`heights`)."""
        return float(height)

    def scipy_linkage(self, tree: Tree) -> np.ndarray:
        """``tree``'s linkage matrix in SciPy's conventions (a new array).

        Heights in the criterion's units (:meth:`heights`); in each row the
        smaller node id first, unless :attr:`ordered_children`.
        """
        linkage = np.array(tree.linkage, dtype=np.float64)
        linkage[:, 2] = self.heights(linkage[:, 2])
        if not self.ordered_children:
            linkage[:, :2].sort(axis=1)
        return linkage

    def tree_objective(
        self,
        weights: dict[str, np.ndarray],
        X: np.ndarray,
        tree: Tree,
        below_cut: np.ndarray | None = None,
    ) -> float:
        """The objective training minimises, for ``tree`` over ``X``.

        ``below_cut`` marks the merges below the flat cut (1.0) for a
        criterion that :attr:`trains_on_cut`. What the start check compares
        (:mod:`sklearn_rae._start_check`).
        """
        raise NotImplementedError

    def build_tree(
        self, weights: dict[str, np.ndarray], X: np.ndarray, adjacency=None
    ) -> Tree:
        """The greedy tree over ``X``, by :attr:`engine` or :attr:`graph_engine`.

        Non-finite costs are returned as they are, for the caller to refuse.
        """
        engine = self.engine if adjacency is None else self.graph_engine
        return engine.build_tree(self, weights, X, adjacency)

    def describe_engine(self, graph: bool = False) -> str:
        """How a tree is built, in words for progress lines."""
        return (self.graph_engine if graph else self.engine).description

    def memory_needs(
        self, n_samples: int, n_features: int, adjacency=None, *, training: bool
    ) -> list[tuple[int, str, str]]:
        """The large allocations of a fit (or, without ``training``, a tree).

        A list of ``(bytes, what, advice)``: the engine's, then the weights',
        which grow with ``n_features**2``.
        """
        engine = self.engine if adjacency is None else self.graph_engine
        needs = list(engine.memory_needs(n_samples, n_features, adjacency))
        factor = self.weight_memory_factors["train" if training else "build"]
        needs.append(
            (
                factor * 8 * int(n_features) ** 2,
                f"the merge encoder's weights over {n_features} features"
                + (" and their training" if training else ""),
                "Reduce the number of features (for example with PCA)",
            )
        )
        return needs

    def wide_data_warning(self, n_features: int, max_iter: int) -> str | None:
        """A warning for training whose steps take seconds on this many features.

        None (the default) when the steps do not grow faster than the data.
        """
        return None

    def make_trainer(
        self, weights: dict[str, np.ndarray], learning_rate: float
    ) -> Trainer:
        """A trainer started at ``weights`` (imports TensorFlow)."""
        raise NotImplementedError

    def convergence_check(self, X: np.ndarray):
        """A monitor that tells when training has converged, or None.

        See :class:`sklearn_rae.criteria.embedded.ConvergenceCheck`.
        """
        return None

    def predictor(
        self,
        weights: dict[str, np.ndarray],
        node_state: dict[str, np.ndarray],
        node_labels: np.ndarray,
        n_leaves: int,
    ):
        """What ``predict`` asks: ``predictor.predict(X)`` gives the labels.

        By default every node below the cut is priced against every new
        sample with :meth:`merge_state` (see
        :class:`sklearn_rae._prediction.CostPredictor`).
        """
        from .._prediction import CostPredictor

        return CostPredictor(self, weights, node_state, node_labels)

    def refine(
        self, weights, X: np.ndarray, tree: Tree, labels: np.ndarray, adjacency=None
    ):
        """Improve the fitted tree's flat clusters, or None (the default).

        Called once on the final tree cut into a number of clusters; returns
        ``(weights, tree, kind)``: ``tree``'s cut into as many clusters is
        the refined partition, ``kind`` the :class:`Refinement` (kept as
        :attr:`FittedTree.refinement
        <sklearn_rae._fitted_tree.FittedTree.refinement>`).
        """
        return None

    def keras_weights(self, weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The weights of the seed's Keras merge encoder (see ``merger_``)."""
        return weights
