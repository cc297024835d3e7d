"""RecursiveAutoencoderClustering: validate, train, build, cut."""

from __future__ import annotations

import os
import sys
import time
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _progress
from ._convergence import ConvergenceCheck
from ._criteria import CRITERIA, concat_states, leaf_state
from ._dask import is_dask_collection, predict_dask
from ._graph_tree import (
    connected_batch,
    graph_linkage,
    n_connected_components,
    symmetric_adjacency,
)
from ._large import (
    build_tree,
    describe_engine,
    node_index,
    uses_pair_cache,
    ward_tree,
)
from ._tree import (
    GreedyTree,
    cut_linkage,
    estimate_linkage_memory,
    greedy_linkage,
    replay_forest,
)

__all__ = ["RecursiveAutoencoderClustering"]

DEFAULT_MERGE_COST = "learned_metric"


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


# Initial merge encoder weights of each criterion.
MERGER_INITS = {
    "learned_metric": init_learned_metric_weights,
    "cumulative": init_merger_weights,
}

# Adam's step size for learning_rate="auto": the seed's for its criterion; the
# learned metric's objective is scale-free, and its embedding must travel a
# distance of order one within max_iter steps.
AUTO_LEARNING_RATES = {"learned_metric": 1e-2, "cumulative": 1e-3}

# Samples per training step for batch_size="auto".
AUTO_BATCH_SIZES = {"learned_metric": 2000, "cumulative": 256}


class RecursiveAutoencoderClustering(ClusterMixin, BaseEstimator):
    """Hierarchical clustering whose merge criterion is a recursive autoencoder.

    A merge encoder concatenates two node vectors, encodes them into one hidden
    vector of the same width and decodes that back to both. Greedy merging
    repeatedly joins the pair of nodes with the lowest merge cost until one node
    is left; training minimises a reconstruction error of the greedy tree (the
    whole tree's for the original criterion, the flat clusters' for the
    default) with TensorFlow's ``GradientTape`` and Adam. The tree is exported
    as a SciPy linkage matrix and cut into flat clusters like
    :class:`~sklearn.cluster.AgglomerativeClustering`.

    Parameters
    ----------
    n_clusters : int or None, default=2
        The number of clusters to find. It must be ``None`` if
        ``distance_threshold`` is not ``None``.
    distance_threshold : float or None, default=None
        The linkage height at and above which clusters are not merged. If not
        ``None``, ``n_clusters`` must be ``None``.
    merge_cost : {"learned_metric", "cumulative"}, default="learned_metric"
        The merge criterion.

        - ``"learned_metric"``: the merge encoder embeds both children with a
          shared linear map ``L``, encodes the pair as the size-weighted
          average of the embedded children and decodes by copying the code to
          both halves; each half of the reconstruction error counts as often as
          its child has leaves. The cost of merging nodes with leaf counts
          ``n_a, n_b`` and leaf means ``m_a, m_b`` is Ward's in the embedding,
          ``n_a n_b / (n_a + n_b) |(m_a - m_b) @ L|^2 / 2``, so heights never
          decrease. ``L`` starts as the identity (the tree is then Ward's) and
          training minimises the reconstruction error of the merges below the
          flat cut, normalised to an embedding of unit volume and with
          ``shrinkage``: it learns the metric in which the flat clusters are
          tightest.
        - ``"cumulative"``: the seed's criterion, exactly. A merged node's score
          is the reconstruction error ``||o - c||^2 / 2`` of its children plus
          both children's scores; leaves score 0 and are embedded as the sample
          itself. It grows size-balanced trees that ignore the geometry, and is
          there to reproduce the original algorithm.
    max_iter : int, default=100
        Maximum number of gradient steps. ``0`` builds the tree with the
        untrained merge encoder. Training stops earlier if it diverges (see
        ``n_iter_``) or, for ``"learned_metric"``, when the flat clusters of a
        step's tree have no spread to learn from (constant data), or when
        training has converged: for 5 consecutive steps the flat partition of
        the step's tree is the same as the previous step's (on the samples
        that the two batches share) and the objective on the step's batch and
        partition changed by at most ``1e-4`` (the objective is the logarithm
        of the clusters' spread, so this is a relative change of ``1e-4``).
        ``"cumulative"`` takes all ``max_iter`` steps unless it diverges.
    learning_rate : float or "auto", default="auto"
        Adam's step size. ``"auto"`` is ``1e-3`` for ``"cumulative"``, as in
        the original training loop, and ``1e-2`` for ``"learned_metric"``,
        whose objective does not depend on the data's scale.
    shrinkage : float, default=0.3
        For ``"learned_metric"`` only: how strongly the learned metric is held
        towards the plain Euclidean one, from 0 (whiten the flat clusters
        completely) to 1 (Ward's tree, nothing learned).
    batch_size : int or "auto", default="auto"
        Samples per gradient step: each step builds the greedy tree on a random
        subset of this size. ``"auto"`` is ``min(n_samples, 2000)`` for
        ``"learned_metric"``, whose flat clusters need a large sample to be
        stable, and ``min(n_samples, 256)`` for ``"cumulative"``: full batch on
        small data.
    memory_limit : int, float, "auto" or None, default="auto"
        Bytes that tree building may allocate for its ``O(n_samples**2)`` pair
        cost cache. ``"auto"`` is the memory the operating system reports as
        available; ``None`` disables the check. A fit that would exceed it
        raises a ``MemoryError`` before allocating. Only ``"cumulative"``
        trees (and the joining of a connectivity graph's components) have
        such a cache: ``"learned_metric"`` trees take ``O(n_samples *
        n_features)`` memory and are not checked.
    connectivity : array-like, sparse matrix, callable or None, default=None
        Which samples may merge, as in
        :class:`~sklearn.cluster.AgglomerativeClustering`: an adjacency matrix
        of shape ``(n_samples, n_samples)``, or a callable ``connectivity(X)``
        returning one, such as
        :func:`~sklearn.neighbors.kneighbors_graph`. Non-zero entries are edges;
        the graph is made symmetric and its diagonal ignored. Only clusters
        joined by an edge merge, and a merged cluster is joined to the
        neighbours of both its children. For a sequence pass the chain
        ``scipy.sparse.diags([1, 1], [-1, 1], shape=(n, n), dtype=np.int8)``:
        every flat
        cluster is then a contiguous run of samples. Memory and time grow with
        the number of edges instead of ``n_samples**2``, and each training step
        uses a connected neighbourhood of ``batch_size`` samples (a contiguous
        window of a sequence).

        If the graph has several connected components, each component is
        merged into one cluster first and the components are then joined by
        the last ``n_components - 1`` merges, greedily by the cost of merging
        their roots, with a ``UserWarning``. So a cut into at least
        ``n_components`` clusters never mixes components; no edge is added.
    random_state : int, RandomState instance or None, default=None
        Seeds the merge encoder's initial weights and the mini-batches. Pass an
        int for reproducible results. ``None`` seeds from the operating system's
        entropy rather than NumPy's global ``RandomState``: a fit never changes
        NumPy's or TensorFlow's global random state.
    verbose : int, default=0
        ``0`` prints nothing; ``1`` or more shows progress over the training
        steps with the tree objective: Keras' progress bar on a terminal, a
        plain line otherwise at every tenth of the steps and after any step
        that ends 5 seconds or more after the last line. It then reports the
        final tree build: a line when it starts (with the engine), the time
        elapsed every 5 seconds, and its duration.

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
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
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
        Gradient steps taken; fewer than ``max_iter`` if training diverged
        or, for ``"learned_metric"``, converged or found no spread to learn
        from.

    See Also
    --------
    sklearn.cluster.AgglomerativeClustering : Classical agglomerative clustering.
    scipy.cluster.hierarchy.linkage : Classical linkages as linkage matrices.

    Notes
    -----
    The ``"learned_metric"`` cost is Ward's in the embedding, a reducible
    cost, so its tree is Ward's linkage of the embedded samples, built by
    fastcluster's ``linkage_vector`` in ``O(n**2 d)`` time and ``O(n d)``
    memory. For ``"cumulative"`` pair costs are cached and every node keeps a
    nearest-neighbour candidate, so a tree over ``n`` samples costs about
    ``n**2`` pair-cost evaluations, batched into NumPy array operations, and
    ``4 * n**2`` bytes for the cache.
    Each gradient step builds a tree on at most ``batch_size`` samples and
    takes the gradient of its objective in one compiled TensorFlow function
    (level by level for ``"cumulative"``; from the nodes' sizes and means for
    ``"learned_metric"``), then applies Keras' Adam rule to the weights. With
    ``connectivity`` no ``n x n`` cache exists: costs are kept for the graph's
    edges only.

    Training that diverges (a tree objective or weights that overflow) stops
    with a ``RuntimeWarning`` and keeps the last weights whose objective was
    finite. A fit that raises or is interrupted leaves a fitted estimator as it
    was: the fitted attributes are replaced only when the fit succeeds.

    TensorFlow sizes its thread pools to the machine's cores and ignores
    ``OMP_NUM_THREADS``. When that variable is set before TensorFlow starts in
    a process, the pools are sized to it instead (unless they were configured
    with ``tf.config.threading``, ``TF_NUM_INTRAOP_THREADS`` or
    ``TF_NUM_INTEROP_THREADS``). joblib's process workers and Dask's worker
    processes set it to each worker's share of the cores, so
    ``GridSearchCV(n_jobs=...)`` and searches on a Dask cluster do not
    oversubscribe the cores. See ``docs/parallel.md``.

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
        "learning_rate": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
        ],
        "shrinkage": [Interval(Real, 0, 1, closed="both")],
        "batch_size": [
            Interval(Integral, 2, None, closed="left"),
            StrOptions({"auto"}),
        ],
        "memory_limit": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
            None,
        ],
        "connectivity": ["array-like", "sparse matrix", callable, None],
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
        learning_rate="auto",
        shrinkage=0.3,
        batch_size="auto",
        memory_limit="auto",
        connectivity=None,
        random_state=None,
        verbose=0,
    ):
        self.n_clusters = n_clusters
        self.distance_threshold = distance_threshold
        self.merge_cost = merge_cost
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.shrinkage = shrinkage
        self.batch_size = batch_size
        self.memory_limit = memory_limit
        self.connectivity = connectivity
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
        # A fit that fails or is interrupted (an exception, KeyboardInterrupt)
        # leaves the estimator as it was: validation already records
        # n_features_in_ and feature_names_in_, so restore every attribute.
        previous_state = dict(self.__dict__)
        try:
            return self._fit(X)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(previous_state)
            raise

    def _fit(self, X):
        if (self.n_clusters is None) == (self.distance_threshold is None):
            raise ValueError(
                "Exactly one of n_clusters and distance_threshold has to be set, "
                "and the other needs to be None; got "
                f"n_clusters={self.n_clusters!r} and "
                f"distance_threshold={self.distance_threshold!r}."
            )
        X = self._validate_samples(X, reset=True, ensure_min_samples=2)
        n_samples = X.shape[0]
        if self.n_clusters is not None and self.n_clusters > n_samples:
            raise ValueError(
                f"Cannot find n_clusters={self.n_clusters} clusters in "
                f"{n_samples} samples: n_clusters must be at most n_samples."
            )
        # Squared distances that overflow float64 make every merge cost
        # infinite: refuse such data before training on it.
        with np.errstate(over="ignore"):
            if not np.isfinite(np.sum(np.square(np.ptp(X, axis=0)))):
                raise _overflow_error(X)
        adjacency = self._adjacency(X)
        if adjacency is None:
            self._check_tree_memory(n_samples)
        else:
            self._check_components(adjacency)
        # None draws a fresh seed from the OS instead of NumPy's global
        # RandomState, so that no fit changes the caller's global random state.
        if self.random_state is None:
            random_state = np.random.RandomState()
        else:
            random_state = check_random_state(self.random_state)

        weights, loss_curve = self._train(X, random_state, adjacency)
        criterion_class = CRITERIA[self.merge_cost]
        engine = describe_engine(criterion_class, graph=adjacency is not None)
        with _progress.report_tree_build(n_samples, engine, self.verbose):
            tree = self._build_tree(weights, X, adjacency)
        labels = cut_linkage(
            tree.linkage,
            n_clusters=self.n_clusters,
            distance_threshold=self.distance_threshold,
        )
        n_clusters = int(labels.max()) + 1
        node_state, node_labels = replay_forest(
            criterion_class(weights, leaf_state(X)),
            tree.linkage,
            tree.costs,
            n_samples - n_clusters,
            labels,
        )

        index = node_index(criterion_class, weights, node_state, node_labels, n_samples)

        # Replace the fitted state only once everything has succeeded.
        self._merger_weights = weights
        self._merger = None
        self._node_state = node_state
        self._node_labels = node_labels
        self._node_index = index
        self.loss_curve_ = loss_curve
        self.n_iter_ = len(loss_curve)
        self.linkage_matrix_ = tree.linkage
        self.children_ = tree.linkage[:, :2].astype(np.intp)
        self.distances_ = tree.linkage[:, 2].copy()
        self.n_leaves_ = n_samples
        self.labels_ = labels
        self.n_clusters_ = n_clusters
        return self

    def _validate_samples(self, X, *, reset, ensure_min_samples=1):
        """``validate_data`` to float64, naming non-numeric data in plain words."""
        try:
            X = validate_data(
                self,
                X,
                dtype=[np.float64, np.float32],
                ensure_min_samples=ensure_min_samples,
                reset=reset,
            )
        except ValueError as error:
            if "could not convert" not in str(error):
                raise
            raise ValueError(
                f"{type(self).__name__} needs numeric data, but X holds values "
                f"that are not numbers ({error}). Encode them as numbers first, "
                "for example with OneHotEncoder or OrdinalEncoder."
            ) from error
        return X.astype(np.float64, copy=False)

    def _check_tree_memory(self, n_samples: int) -> None:
        """The memory guard, for criteria whose trees cache every pair cost."""
        if uses_pair_cache(CRITERIA[self.merge_cost]):
            self._check_memory(n_samples)

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

    def _adjacency(self, X):
        """The symmetric connectivity graph over ``X``, or None without one."""
        if self.connectivity is None:
            return None
        connectivity = self.connectivity
        if callable(connectivity):
            connectivity = connectivity(X)
        return symmetric_adjacency(connectivity, X.shape[0])

    def _check_components(self, adjacency) -> None:
        """Warn about, and check the memory for, joining disconnected components."""
        n_components = n_connected_components(adjacency)
        if n_components > 1:
            self._check_memory(n_components)
            warnings.warn(
                f"The connectivity graph has {n_components} connected components. "
                "Each is merged into one cluster first; the last "
                f"{n_components - 1} merges then join the components greedily, "
                f"so a cut into {n_components} or more clusters never mixes "
                "components.",
                UserWarning,
                # _check_components, _fit, fit, _fit_context's wrapper, caller
                stacklevel=5,
            )

    def _effective_batch_size(self, n_samples: int) -> int:
        if self.batch_size == "auto":
            return min(n_samples, AUTO_BATCH_SIZES[self.merge_cost])
        return min(n_samples, self.batch_size)

    def _train(self, X, random_state, adjacency=None):
        """Initialise and train the merge encoder; return weights and losses."""
        n_samples, n_features = X.shape
        weights = previous = MERGER_INITS[self.merge_cost](n_features, random_state)
        loss_curve: list[float] = []
        if self.max_iter == 0:
            return weights, loss_curve

        from ._merger import make_trainer

        criterion_class = CRITERIA[self.merge_cost]
        batch_size = self._effective_batch_size(n_samples)
        learning_rate = self.learning_rate
        if learning_rate == "auto":
            learning_rate = AUTO_LEARNING_RATES[self.merge_cost]
        trainer = make_trainer(self.merge_cost, weights, learning_rate, self.shrinkage)
        if (
            self.merge_cost == "learned_metric"
            and self.n_clusters is not None
            and self.n_clusters >= batch_size
        ):
            warnings.warn(
                f"n_clusters={self.n_clusters} leaves no merge below the cut of "
                f"a {batch_size}-sample training batch, so the learned metric is "
                "trained on whole trees; raise batch_size above n_clusters.",
                UserWarning,
                # _train, _fit, fit, _fit_context's wrapper, caller
                stacklevel=5,
            )
        progress = _TrainingProgress(self.max_iter) if self.verbose else None
        convergence = None
        if self.merge_cost == "learned_metric":
            convergence = ConvergenceCheck(X, self.shrinkage)
        for step in range(self.max_iter):
            if adjacency is not None:
                rows = connected_batch(adjacency, batch_size, random_state)
            elif batch_size < n_samples:
                rows = np.sort(
                    random_state.choice(n_samples, batch_size, replace=False)
                )
            else:
                rows = None
            batch = X if rows is None else X[rows]
            # Overflow is detected below; NumPy's warnings about it are noise.
            with np.errstate(over="ignore", invalid="ignore"):
                if adjacency is None and self.merge_cost == "learned_metric":
                    tree = _embedded_ward_tree(batch, weights["kernel_embed"])
                elif adjacency is None:
                    tree = greedy_linkage(
                        criterion_class(weights, leaf_state(batch)), len(batch)
                    )
                else:
                    tree = graph_linkage(
                        criterion_class(weights, leaf_state(batch)),
                        len(batch),
                        adjacency[rows][:, rows],
                    )
            cut = ()
            if self.merge_cost == "learned_metric":
                below_cut = self._below_cut(tree.linkage, n_samples)
                if _finite(tree.costs) and not np.any(tree.costs[below_cut > 0]):
                    break  # the flat clusters are points: nothing to learn
                cut = (below_cut,)
            if _finite(tree.costs):
                loss = trainer.step(batch, tree.linkage, *cut)
                new_weights = trainer.weights()
            else:
                loss, new_weights = np.nan, None
            if not np.isfinite(loss):
                # ``weights`` already overflow: keep the step before them.
                _warn_diverged(step, self.max_iter, f"tree objective {loss}")
                return previous, loss_curve
            loss_curve.append(loss)
            if not all(map(_finite, new_weights.values())):
                # The step from ``weights``, whose objective is finite, overflows.
                _warn_diverged(step, self.max_iter, "weights not finite after it")
                return weights, loss_curve
            previous, weights = weights, new_weights
            if progress is not None:
                progress.update(step + 1, loss)
            if convergence is not None and convergence.update(
                rows, tree.linkage, cut[0], previous["kernel_embed"]
            ):
                if progress is not None:
                    progress.converged(step + 1)
                break
        return weights, loss_curve

    def _below_cut(self, linkage, n_samples):
        """1 for the merges of ``linkage`` below the flat cut, 0 above.

        The cut is the estimator's: ``n_clusters`` (at most the tree's leaves)
        or ``distance_threshold``. Ward-type costs grow with the number of
        samples merged, so for a mini-batch tree the threshold is scaled by the
        batch's share of the ``n_samples`` samples. A cut with no merge below it
        (every sample its own cluster) counts the whole tree.
        """
        n_merges = linkage.shape[0]
        if self.n_clusters is not None:
            n_below = n_merges + 1 - min(self.n_clusters, n_merges + 1)
            below = np.arange(n_merges) < n_below
        else:
            threshold = self.distance_threshold * (n_merges + 1) / n_samples
            below = linkage[:, 2] < threshold
        if not below.any():
            below[:] = True
        return below.astype(np.float64)

    def _build_tree(self, weights, X, adjacency=None):
        """The greedy tree over ``X``; refuses data whose costs overflow."""
        with np.errstate(over="ignore", invalid="ignore"):
            if adjacency is None:
                tree = build_tree(CRITERIA[self.merge_cost], weights, X)
            else:
                criterion = CRITERIA[self.merge_cost](weights, leaf_state(X))
                tree = graph_linkage(criterion, len(X), adjacency)
        if not _finite(tree.costs):
            raise _overflow_error(X)
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
        other. A training sample's own leaf is among the nodes; with
        ``"learned_metric"`` merging a sample with an identical leaf costs
        nothing, so on the training data ``predict`` returns ``labels_``
        except for duplicates that the tree put in different clusters. Data
        whose costs overflow float64 raises a ``ValueError``.

        For ``"learned_metric"`` the cheapest node is found with a KD-tree
        over the nodes' embedded means, built during ``fit``: the result is
        the same as comparing with every node, at a cost that grows about
        logarithmically with the training set in low dimensions instead of
        linearly. For ``"cumulative"`` every node is compared.

        A Dask array or DataFrame is predicted lazily, block by block
        (``map_blocks`` or ``map_partitions``), with the estimator entering
        the task graph once; the result is a Dask array or a Dask Series of
        the same rows. See ``docs/parallel.md`` for predicting on a cluster.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            New samples: an array, a DataFrame, a Dask array or a Dask
            DataFrame. Sparse matrices are refused with a ``TypeError``.

        Returns
        -------
        labels : ndarray of shape (n_samples,), or Dask array or Series
            Index of the cluster each sample belongs to; for a Dask array a
            Dask array, for a Dask DataFrame a Dask Series with its index.
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return predict_dask(self, X)
        X = self._validate_samples(X, reset=False)
        index = getattr(self, "_node_index", None)
        if index is not None:
            try:
                return index.predict(X)
            except FloatingPointError:
                raise _overflow_error(X) from None
        n_nodes = self._node_labels.shape[0]
        # Costs in blocks of about four million.
        criterion = self._node_criterion(X)
        chunk = max(1, (1 << 22) // n_nodes)
        labels = np.empty(X.shape[0], dtype=np.intp)
        for start in range(0, X.shape[0], chunk):
            stop = min(start + chunk, X.shape[0])
            with np.errstate(over="ignore", invalid="ignore"):
                costs = criterion.pair_costs(
                    slice(0, n_nodes), slice(n_nodes + start, n_nodes + stop)
                )
            if not _finite(costs):
                raise _overflow_error(X)
            labels[start:stop] = self._node_labels[np.argmin(costs, axis=0)]
        return labels

    def _node_criterion(self, X):
        """The fitted criterion over the nodes below the cut, then ``X``'s leaves.

        One criterion for both, so the nodes' terms are computed once.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            return CRITERIA[self.merge_cost](
                self._merger_weights, concat_states(self._node_state, leaf_state(X))
            )

    def _node_costs(self, X):
        """Pair costs (n_nodes, n_samples) of the nodes below the cut, new leaves."""
        n_nodes = self._node_labels.shape[0]
        return self._node_criterion(X).pair_costs(
            slice(0, n_nodes), slice(n_nodes, n_nodes + X.shape[0])
        )

    def score(self, X, y=None):
        """Minus the mean merge loss of the greedy tree built on ``X``.

        The mean reconstruction error per merge of a tree built on ``X`` with
        the fitted merge encoder: for ``"cumulative"`` the seed's error
        ``||o - c||^2 / 2``; for ``"learned_metric"`` Ward's cost in the
        learned embedding scaled to unit volume (divided by
        ``|det L|^(2/d)``), so that differently trained embeddings compare.
        Higher is better and needs no labels, so
        :class:`~sklearn.model_selection.GridSearchCV` can rank merge encoders
        without ``scoring``. With ``connectivity`` the tree is
        restricted to ``connectivity(X)`` for a callable, or to the matrix,
        which must then match ``X``.

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
        X = self._validate_samples(X, reset=False, ensure_min_samples=2)
        adjacency = self._adjacency(X)
        if adjacency is None:
            self._check_tree_memory(X.shape[0])
        else:
            self._check_memory(n_connected_components(adjacency))
        return -float(
            np.mean(self._build_tree(self._merger_weights, X, adjacency).losses)
        )

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


class _TrainingProgress:
    """Progress over the training steps with the tree objective.

    On a terminal it is Keras' progress bar; otherwise (a log file, a pipe, a
    notebook's captured output) it prints a plain line at every tenth of the
    steps, and after any step that ends ``PROGRESS_INTERVAL`` seconds or more
    after the last line, since a bar redrawn with control characters is
    unreadable there.
    """

    def __init__(self, n_steps: int):
        self.n_steps = n_steps
        self.bar = None
        if sys.stdout.isatty():
            import tensorflow as tf

            self.bar = tf.keras.utils.Progbar(n_steps, stateful_metrics=["loss"])
        self.every = max(1, n_steps // 10)
        self.last_line = time.monotonic()

    def update(self, step: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(step, values=[("loss", loss)])
            return
        now = time.monotonic()
        if (
            step % self.every == 0
            or step == self.n_steps
            or now - self.last_line >= _progress.PROGRESS_INTERVAL
        ):
            print(f"step {step}/{self.n_steps} - loss: {loss:.4f}", flush=True)
            self.last_line = now

    def converged(self, step: int) -> None:
        """Say that training stopped at ``step`` because it converged."""
        # The bar's line is not ended until it reaches n_steps.
        start = "\n" if self.bar is not None else ""
        print(f"{start}Training converged after {step} steps", flush=True)


def _embedded_ward_tree(X, kernel_embed) -> GreedyTree:
    """The ``"learned_metric"`` tree of ``X`` for training, by fastcluster.

    Its cost is Ward's in the embedding, so Ward's linkage of ``X @ L`` builds
    the same tree (up to the order of tied merges, which does not change the
    training objective) in compiled code and ``O(n d)`` memory; see
    :func:`sklearn_rae._large.ward_tree`. Costs that overflow float64 come back
    infinite, which the training loop treats as divergence.
    """
    weights = {"kernel_embed": kernel_embed}
    return ward_tree(CRITERIA["learned_metric"].ward_points(weights, X))


def _overflow_error(X) -> ValueError:
    return ValueError(
        "The merge costs of this data are not finite in float64 (largest "
        f"absolute value {np.max(np.abs(X)):.3g}); scale the data, for "
        "example with StandardScaler."
    )


def _finite(values) -> bool:
    return bool(np.isfinite(values).all())


def _warn_diverged(step: int, max_iter: int, what: str) -> None:
    # stacklevel: _warn_diverged, _train, _fit, fit, _fit_context's wrapper,
    # then the caller of fit.
    warnings.warn(
        f"Training diverged at step {step + 1} of {max_iter} ({what}); keeping "
        "the last weights whose tree objective was finite. Lower learning_rate "
        "or standardise the data.",
        RuntimeWarning,
        stacklevel=6,
    )
