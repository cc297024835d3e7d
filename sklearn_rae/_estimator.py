"""RecursiveAutoencoderClustering: validate, train, build, cut."""

from __future__ import annotations

import os
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._criteria import CRITERIA, concat_states, leaf_state
from ._tree import cut_linkage, estimate_linkage_memory, greedy_linkage

__all__ = ["RecursiveAutoencoderClustering"]

DEFAULT_MERGE_COST = "weighted"


def _available_memory() -> int | None:
    """Bytes of memory available to a new allocation, or None if unknown."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _format_bytes(n_bytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n_bytes < 1024 or unit == "TiB":
            return (
                f"{n_bytes:.1f} {unit}" if unit != "bytes" else f"{n_bytes:.0f} bytes"
            )
        n_bytes /= 1024
    raise AssertionError("unreachable")


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


def init_average_copy_weights(
    n_features: int, random_state: np.random.RandomState
) -> dict[str, np.ndarray]:
    """Encoder as the sum of its two inputs, decoder as a copy, zero biases.

    For the size-weighted criteria, whose inputs are the children's codes
    scaled by their share of the leaves, the code starts as the merged leaf
    mean and the cost as Ward's. Deterministic; ``random_state`` is unused.
    """
    identity = np.eye(n_features)
    return {
        "kernel_encode": np.vstack([identity, identity]),
        "bias_encode": np.zeros(n_features),
        "kernel_decode": np.hstack([identity, identity]),
        "bias_decode": np.zeros(2 * n_features),
    }


# Initial merge encoder weights of each criterion.
MERGER_INITS = {
    "cumulative": init_merger_weights,
    "weighted": init_average_copy_weights,
    "weighted_ordered": init_average_copy_weights,
}

# Training stops once the largest gradient component falls below this
# fraction of the tree objective: the weights are a stationary point.
_STATIONARY_TOL = 1e-10


class RecursiveAutoencoderClustering(ClusterMixin, BaseEstimator):
    """Hierarchical clustering whose merge criterion is a recursive autoencoder.

    A merge encoder concatenates two node vectors, encodes them into one hidden
    vector of the same width and decodes that back to both. Greedy merging
    repeatedly joins the pair of nodes with the lowest merge cost until one node
    is left; training minimises the tree's total cost with TensorFlow's
    ``GradientTape`` and Adam. The tree is exported as a SciPy linkage matrix
    and cut into flat clusters like
    :class:`~sklearn.cluster.AgglomerativeClustering`.

    Parameters
    ----------
    n_clusters : int or None, default=2
        The number of clusters to find. It must be ``None`` if
        ``distance_threshold`` is not ``None``.
    distance_threshold : float or None, default=None
        The linkage height at and above which clusters are not merged. If not
        ``None``, ``n_clusters`` must be ``None``.
    merge_cost : {"weighted", "weighted_ordered", "cumulative"}, \
            default="weighted"
        The merge criterion.

        - ``"weighted"``: the merge encoder reads the two children's codes
          scaled by their share of the merged leaves, ``n_a / (n_a + n_b)`` and
          ``n_b / (n_a + n_b)``, and reconstructs the children's *leaf means*;
          each half of the squared error counts ``n_a`` (or ``n_b``) times.
          Both children go through the same weights (the two blocks of each
          kernel are averaged), so the cost does not depend on the pair's
          order. The encoder starts as the average of its inputs and the
          decoder as a copy: the code is then the merged leaf mean and the cost
          Ward's, ``n_a n_b / (n_a + n_b) |m_a - m_b|^2 / 2``. These weights
          minimise the tree objective of every tree, so training stops after
          its first step and the tree is Ward's (heights never decrease).
        - ``"weighted_ordered"``: the same with separate weights for the first
          and the second child. Training can then reconstruct the dominant
          differences between merged children, which makes merges across
          clusters cheaper; on standardised data it clusters worse than
          ``"weighted"`` (see ``docs/quality.md``).
        - ``"cumulative"``: the seed's criterion, exactly. A merged node's score
          is the reconstruction error ``||o - c||^2 / 2`` of its children plus
          both children's scores; leaves score 0 and are embedded as the sample
          itself. It grows size-balanced trees that ignore the geometry.
    max_iter : int, default=100
        Maximum number of gradient steps. ``0`` builds the tree with the
        untrained merge encoder. Training stops earlier once the gradient
        vanishes (its largest component below ``1e-10`` times one plus the
        tree objective): the weights are then a stationary point.
    learning_rate : float, default=1e-3
        Adam's step size.
    batch_size : int or "auto", default="auto"
        Samples per gradient step: each step builds the greedy tree on a random
        subset of this size. ``"auto"`` uses ``min(n_samples, 256)``, full
        batch on small data.
    memory_limit : int, float, "auto" or None, default="auto"
        Bytes that tree building may allocate for its ``O(n_samples**2)`` pair
        cost cache. ``"auto"`` is the memory the operating system reports as
        available; ``None`` disables the check. A fit that would exceed it
        raises a ``MemoryError`` before allocating.
    random_state : int, RandomState instance or None, default=None
        Seeds the merge encoder's initial weights and the mini-batches. Pass an
        int for reproducible results. NumPy's and TensorFlow's global random
        states are left untouched.
    verbose : int, default=0
        ``0`` prints nothing; ``1`` or more shows a progress bar over the
        training steps with the tree objective.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster label of each sample, consecutive integers from 0.
    n_clusters_ : int
        The number of flat clusters.
    n_leaves_ : int
        Number of leaves in the tree, ``n_samples``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit; only when ``X`` has string column
        names.
    children_ : ndarray of shape (n_samples - 1, 2)
        The children of each non-leaf node, as in
        :class:`~sklearn.cluster.AgglomerativeClustering`: values below
        ``n_samples`` are samples, a value ``i >= n_samples`` is the node made
        by merge ``i - n_samples``. The first child is the merge encoder's first
        input.
    distances_ : ndarray of shape (n_samples - 1,)
        Height of each merge, ``linkage_matrix_[:, 2]``.
    linkage_matrix_ : ndarray of shape (n_samples - 1, 4)
        The tree in SciPy's linkage format (float64): row ``i`` creates node
        ``n_samples + i`` from the nodes in its first two columns, at the height
        in the third, with the leaf count in the fourth. Heights never decrease
        (:func:`scipy.cluster.hierarchy.is_monotonic` holds).
    merger_ : keras.Model
        The trained merge encoder: inputs ``[a, b]``, outputs ``[h, c, o]``
        (hidden vector, concatenation, reconstruction). Built from the fitted
        weights on first access.
    loss_curve_ : list of float
        The tree objective (for ``"cumulative"``, the root's score) of each
        gradient step's tree, before the step.
    n_iter_ : int
        Gradient steps taken; fewer than ``max_iter`` if the gradient
        vanished or training diverged.

    See Also
    --------
    sklearn.cluster.AgglomerativeClustering : Classical agglomerative clustering.
    scipy.cluster.hierarchy.linkage : Classical linkages as linkage matrices.

    Notes
    -----
    Pair costs are cached and every node keeps a nearest-neighbour candidate,
    so a tree over ``n`` samples costs about ``n**2`` pair-cost evaluations,
    batched into NumPy array operations, and ``4 * n**2`` bytes for the cache.
    Each gradient step builds a tree on at most ``batch_size`` samples and
    evaluates it level by level in one compiled TensorFlow function.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_rae import RecursiveAutoencoderClustering
    >>> X = np.array([[0.0, 0.1], [0.1, 0.0], [5.0, 5.1], [5.1, 5.0]])
    >>> model = RecursiveAutoencoderClustering(n_clusters=2, max_iter=0,
    ...                                        random_state=0).fit(X)
    >>> model.linkage_matrix_.shape
    (3, 4)
    """

    _parameter_constraints: dict = {
        "n_clusters": [Interval(Integral, 1, None, closed="left"), None],
        "distance_threshold": [Interval(Real, 0, None, closed="left"), None],
        "merge_cost": [StrOptions(set(CRITERIA))],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [
            Interval(Integral, 2, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "memory_limit": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
            None,
        ],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_clusters=2,
        *,
        distance_threshold=None,
        merge_cost=DEFAULT_MERGE_COST,
        max_iter=100,
        learning_rate=1e-3,
        batch_size="auto",
        memory_limit="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.distance_threshold = distance_threshold
        self.merge_cost = merge_cost
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.memory_limit = memory_limit
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ fit

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the merge encoder, build the greedy tree on ``X`` and cut it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples. Sparse matrices are refused with a ``TypeError``:
            merge encoders work on dense vectors.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if (self.n_clusters is None) == (self.distance_threshold is None):
            raise ValueError(
                "Exactly one of n_clusters and distance_threshold has to be set, "
                "and the other needs to be None; got "
                f"n_clusters={self.n_clusters!r} and "
                f"distance_threshold={self.distance_threshold!r}."
            )
        X = validate_data(
            self, X, dtype=[np.float64, np.float32], ensure_min_samples=2
        ).astype(np.float64, copy=False)
        n_samples = X.shape[0]
        if self.n_clusters is not None and self.n_clusters > n_samples:
            raise ValueError(
                f"Cannot find n_clusters={self.n_clusters} clusters in "
                f"{n_samples} samples: n_clusters must be at most n_samples."
            )
        self._check_memory(n_samples)
        random_state = check_random_state(self.random_state)

        weights, loss_curve = self._train(X, random_state)
        criterion_class = CRITERIA[self.merge_cost]
        tree = self._build_tree(weights, X)
        labels = cut_linkage(
            tree.linkage,
            n_clusters=self.n_clusters,
            distance_threshold=self.distance_threshold,
        )
        n_clusters = int(labels.max()) + 1
        node_state, node_labels = _forest_nodes(
            criterion_class(weights, leaf_state(X)),
            tree.linkage,
            tree.costs,
            n_samples - n_clusters,
            labels,
        )

        # Replace the fitted state only once everything has succeeded.
        self._merger_weights = weights
        self._merger = None
        self._node_state = node_state
        self._node_labels = node_labels
        self.loss_curve_ = loss_curve
        self.n_iter_ = len(loss_curve)
        self.linkage_matrix_ = tree.linkage
        self.children_ = tree.linkage[:, :2].astype(np.intp)
        self.distances_ = tree.linkage[:, 2].copy()
        self.n_leaves_ = n_samples
        self.labels_ = labels
        self.n_clusters_ = n_clusters
        return self

    def _check_memory(self, n_samples: int) -> None:
        """Refuse a tree whose pair-cost cache would not fit in memory."""
        if self.memory_limit is None:
            return
        limit = (
            _available_memory() if self.memory_limit == "auto" else self.memory_limit
        )
        if limit is None:
            return
        needed = estimate_linkage_memory(n_samples)
        if needed > limit:
            raise MemoryError(
                f"Building the tree over {n_samples} samples needs about "
                f"{_format_bytes(needed)} for its pair-cost cache, more than the "
                f"memory limit of {_format_bytes(limit)}. Fit on a subsample, "
                "free memory, or raise memory_limit (None disables this check)."
            )

    def _effective_batch_size(self, n_samples: int) -> int:
        if self.batch_size == "auto":
            return min(n_samples, 256)
        return min(n_samples, self.batch_size)

    def _train(self, X, random_state):
        """Initialise and train the merge encoder; return weights and losses."""
        n_samples, n_features = X.shape
        weights = last_finite = MERGER_INITS[self.merge_cost](n_features, random_state)
        loss_curve: list[float] = []
        if self.max_iter == 0:
            return weights, loss_curve

        from ._merger import TreeTrainer

        criterion_class = CRITERIA[self.merge_cost]
        batch_size = self._effective_batch_size(n_samples)
        trainer = TreeTrainer(self.merge_cost, weights, self.learning_rate)
        progress = None
        if self.verbose:
            import tensorflow as tf

            progress = tf.keras.utils.Progbar(self.max_iter, stateful_metrics=["loss"])
        for step in range(self.max_iter):
            if batch_size < n_samples:
                rows = np.sort(
                    random_state.choice(n_samples, batch_size, replace=False)
                )
                batch = X[rows]
            else:
                batch = X
            tree = greedy_linkage(
                criterion_class(weights, leaf_state(batch)), len(batch)
            )
            loss = trainer.step(batch, tree.linkage) if _finite(tree.costs) else np.nan
            new_weights = trainer.weights()
            if not (np.isfinite(loss) and all(map(_finite, new_weights.values()))):
                warnings.warn(
                    f"Training diverged at step {step + 1} of {self.max_iter} "
                    f"(tree objective {loss}); keeping the last weights whose "
                    "objective was finite. Lower learning_rate or standardise "
                    "the data.",
                    RuntimeWarning,
                    stacklevel=3,
                )
                return last_finite, loss_curve
            last_finite, weights = weights, new_weights
            loss_curve.append(loss)
            if progress is not None:
                progress.update(step + 1, values=[("loss", loss)])
            if trainer.last_gradient_max <= _STATIONARY_TOL * (1.0 + abs(loss)):
                break
        return weights, loss_curve

    def _build_tree(self, weights, X):
        """The greedy tree over ``X``; refuses data whose costs overflow."""
        tree = greedy_linkage(CRITERIA[self.merge_cost](weights, leaf_state(X)), len(X))
        if not _finite(tree.costs):
            raise ValueError(
                "The merge costs of this data are not finite in float64 (largest "
                f"absolute value {np.max(np.abs(X)):.3g}); scale the data, for "
                "example with StandardScaler."
            )
        return tree

    # ------------------------------------------------------------- inference

    def predict(self, X):
        """Assign samples to the fitted flat clusters by merge cost.

        Each sample is treated as a new leaf appended after the training
        samples. It is compared, by the pair cost of the fitted merge criterion
        (the tree's node first, the new leaf second), with every node of the
        fitted flat clusters: every training sample and every merged node
        below the cut, the clusters' roots included. The sample gets the label
        of the node it would merge with at the lowest cost, the merge the
        greedy algorithm would make first if the sample joined that forest.
        Ties go to the earliest node (training samples in order, then merged
        nodes in merge order). Samples are assigned independently of each
        other. A training sample's own leaf is among the nodes; with the
        ``"weighted"`` criteria merging a sample with an identical leaf costs
        nothing, so on the training data ``predict`` returns ``labels_``
        except for duplicates that the tree put in different clusters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Index of the cluster each sample belongs to.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        X = X.astype(np.float64, copy=False)
        n_nodes = self._node_labels.shape[0]
        # About four million pair costs at a time.
        chunk = max(1, (1 << 22) // n_nodes)
        labels = np.empty(X.shape[0], dtype=np.intp)
        for start in range(0, X.shape[0], chunk):
            stop = min(start + chunk, X.shape[0])
            state = concat_states(self._node_state, leaf_state(X[start:stop]))
            criterion = CRITERIA[self.merge_cost](self._merger_weights, state)
            costs = criterion.pair_costs(
                np.arange(n_nodes), np.arange(n_nodes, n_nodes + stop - start)
            )
            labels[start:stop] = self._node_labels[np.argmin(costs, axis=0)]
        return labels

    def score(self, X, y=None):
        """Minus the mean merge loss of the greedy tree built on ``X``.

        The tree objective that training minimises, per merge, for a tree
        built on ``X`` with the fitted merge encoder (for ``"cumulative"``, the
        mean reconstruction error per merge). Higher is better and needs no
        labels, so :class:`~sklearn.model_selection.GridSearchCV` can rank
        merge encoders without ``scoring``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            At least two samples.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, dtype=[np.float64, np.float32], ensure_min_samples=2, reset=False
        ).astype(np.float64, copy=False)
        self._check_memory(X.shape[0])
        return -float(np.mean(self._build_tree(self._merger_weights, X).losses))

    @property
    def merger_(self):
        """The trained merge encoder as a Keras model (built on first access)."""
        check_is_fitted(self)
        if self._merger is None:
            from ._merger import build_merger

            self._merger = build_merger(self._merger_weights)
        return self._merger

    def __getstate__(self):
        # The Keras model is rebuilt from the NumPy weights on demand, so a
        # pickle holds arrays only and loads without TensorFlow.
        state = super().__getstate__()
        if state.get("_merger") is not None:
            state["_merger"] = None
        return state


def _forest_nodes(criterion, linkage, costs, n_merges, labels):
    """States and labels of every node below a cut of a fitted tree.

    Replays the first ``n_merges`` merges of ``linkage`` on ``criterion``
    (built on the leaves) and returns the state of the leaves followed by
    the state of each merged node as it was made, with the flat label of
    each.
    """
    n = linkage.shape[0] + 1
    leaves = {key: value.copy() for key, value in criterion.state.items()}
    merged = {
        key: np.empty((n_merges,) + value.shape[1:])
        for key, value in criterion.state.items()
    }
    slot = np.arange(2 * n - 1)
    for step in range(n_merges):
        first = int(slot[int(linkage[step, 0])])
        second = int(slot[int(linkage[step, 1])])
        criterion.merge(first, second, float(costs[step]))
        slot[n + step] = first
        for key, value in criterion.state.items():
            merged[key][step] = value[first]
    node_labels = np.concatenate([labels, labels[slot[n : n + n_merges]]])
    return concat_states(leaves, merged), node_labels


def _finite(values) -> bool:
    return bool(np.isfinite(values).all())
