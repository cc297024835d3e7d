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
from ._boundary import SPANNING_NEIGHBOURS
from ._convergence import ConvergenceCheck
from ._criteria import (
    CRITERIA,
    concat_states,
    leaf_state,
)
from ._dask import is_dask_collection, predict_dask
from ._graph_tree import (
    connected_batch,
    estimate_graph_memory,
    n_connected_components,
    symmetric_adjacency,
)
from ._large import (
    describe_engine,
    node_index,
    uses_pair_cache,
)
from ._likelihood import (
    cut_path,
    mixture_log_likelihood,
    mixture_n_parameters,
    tied_mixture,
)
from ._tree import (
    cut_linkage,
    estimate_linkage_memory,
    replay_forest,
)

__all__ = ["RecursiveAutoencoderClustering"]

DEFAULT_MERGE_COST = "adaptive"


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


def _prepare_loky_worker() -> None:
    """In a joblib (loky) worker process, import TensorFlow at the first fit.

    loky measures a worker's memory after its first task and replaces a worker
    whose memory then grows by more than 300 MB, taking it for a leak, with
    the warning "A worker stopped while some jobs were given to the
    executor". Importing TensorFlow takes about that much. A worker whose
    first task did not train (``max_iter=0`` in a grid, a fit refused by
    validation) and whose next one did was therefore replaced, and the new
    worker imported TensorFlow again: seconds of CPU each time. Importing it
    in the first fit of every worker makes it part of the reference. Outside
    loky workers nothing is imported: a fit that does not train stays quick.
    """
    if "tensorflow" in sys.modules:
        return
    import multiprocessing

    if type(multiprocessing.current_process()).__name__ != "LokyProcess":
        return
    from . import _merger  # noqa: F401 - imports TensorFlow, sizes its pools


def _format_bytes(n_bytes: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n_bytes < 1024 or unit == "TiB":
            return (
                f"{n_bytes:.1f} {unit}" if unit != "bytes" else f"{n_bytes:.0f} bytes"
            )
        n_bytes /= 1024
    raise AssertionError("unreachable")


def _keras_merger_weights(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``weights`` completed with the fixed average encoder and copy decoder."""
    if "kernel_encode" in weights:
        return weights
    identity = np.eye(weights["kernel_embed"].shape[0])
    return {
        **weights,
        "kernel_encode": np.vstack([identity, identity]) / 2,
        "kernel_decode": np.hstack([identity, identity]),
    }


def estimate_weight_memory(merge_cost: str, n_features: int, training: bool) -> int:
    """Bytes a fit (or, without ``training``, a tree) holds for the weights.

    Each criterion's ``weight_memory_factors`` count them in ``d x d`` float64
    matrices.
    """
    factors = CRITERIA[merge_cost].weight_memory_factors
    factor = factors["train" if training else "build"]
    return factor * 8 * int(n_features) ** 2


# Above this many features a learned-metric training step (LU factors and
# inverse of the d x d embedding) takes a second or more: fit warns. Measured:
# 3.6 s per step at 3,000 features on 2 cores.
WIDE_DATA_FEATURES = 2000
SECONDS_PER_STEP_AT_3000 = 3.6


def _format_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} minutes"
    return f"{seconds / 3600:.1f} hours"


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
    n_clusters : int, "auto" or None, default=2
        The number of clusters to find. It must be ``None`` if
        ``distance_threshold`` is not ``None``. ``"auto"`` chooses it from the
        fitted tree: of the cuts into 1 to ``k_max`` clusters, the one whose
        Gaussian mixture (see :meth:`score`) has the lowest :meth:`bic` on the
        training data, where ``k_max`` is 30, or less if the mixture would have
        as many free parameters as there are samples. For
        ``"learned_metric"``, training cuts every step's tree at the number
        chosen in the same way on the first step's tree (Ward's tree of the
        first batch), and the final tree is cut afresh.
    distance_threshold : float or None, default=None
        The linkage height at and above which clusters are not merged. If not
        ``None``, ``n_clusters`` must be ``None``.
    merge_cost : {"adaptive", "learned_metric", "boundary", "cumulative"}, \
            default="adaptive"
        The merge criterion.

        - ``"adaptive"``: fits both ``"learned_metric"`` and ``"boundary"``
          (the same merge encoder, given each child's mean or its boundary
          point) and keeps the one whose flat clusters are the more stable
          under subsampling (Ben-Hur et al., 2002; Lange et al., 2004):
          means where classes overlap, boundary points for shapes separated
          by gaps. Each subsample keeps 80% of the samples; both criteria
          build their trees on it with their fitted weights, cut them into
          as many clusters as their full fit's flat clusters (with
          ``n_clusters="auto"`` or ``distance_threshold``, each its own) and
          label the samples left out by their nearest kept sample; a
          criterion's stability is the adjusted Rand index of these labels
          against its full fit's ``labels_``.
          Subsamples are drawn, the same for both, in rounds of 10 until the
          mean difference is three standard errors from zero (at least 20,
          at most 100), and ``"boundary"`` is kept if it is the more stable
          on average. ``merge_cost_`` names the kept criterion and
          ``stability_`` holds both stabilities; every other fitted attribute
          is the kept criterion's fit, the same as that criterion's own with
          ``random_state`` set to the same integer. Above 4,000 samples both
          are trained and compared on a random subset of 4,000, and the kept
          one's tree is built over all the samples with the weights trained
          on the subset. With ``connectivity``,
          ``"learned_metric"`` is fitted without a comparison (a subsample of
          a graph is not the graph of a subsample), as it is when the two
          partitions are the same, when there is one cluster, or when a
          subsample would hold fewer than 10 samples. A fit takes about the
          two criteria's time plus 20 to 100 tree builds on 80% of the
          samples.
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
        - ``"boundary"``: the same merge encoder (shared embedding ``L``,
          size-weighted average, copy), given for each child its boundary
          point instead of its mean: the end of the edge of the minimum
          spanning tree of ``X @ L`` (or of ``connectivity``) that joins the two
          children. Merges follow that tree's edges, at the cost
          ``n_a n_b / (n_a + n_b) |(p_a - p_b) @ L|^2 / 2`` of the gap
          ``p_a - p_b`` between the children: small clusters merge first and
          large ones only across a small gap, so the tree follows rings,
          moons, lines and other non-convex shapes where Ward's cost cuts them.
          Training minimises the same objective over the boundary gaps below
          the cut. ``predict`` gives a new sample the cluster of its nearest
          training sample in the embedding. Time ``O(n_samples**2)`` and
          memory ``O(n_samples * n_features)`` for the exact spanning tree up to
          5,000 samples; above, the spanning tree of the 15-nearest-neighbour
          graph.
        - ``"cumulative"``: the seed's criterion, exactly. A merged node's score
          is the reconstruction error ``||o - c||^2 / 2`` of its children plus
          both children's scores; leaves score 0 and are embedded as the sample
          itself. It grows size-balanced trees that ignore the geometry, and is
          there to reproduce the original algorithm.
    max_iter : int, default=100
        Maximum number of gradient steps (for ``"adaptive"``, of each of its
        two criteria). ``0`` builds the tree with the untrained merge encoder.
        Training stops earlier if it diverges (see ``n_iter_``) or, for
        ``"learned_metric"`` and ``"boundary"``, when the flat clusters of a
        step's tree have no spread to learn from (constant data), or when
        training has converged: for 5 consecutive steps the flat partition of
        the step's tree is the same as the previous step's (on the samples that
        the two batches share) and the step moved the embedding so little that
        the logarithm of the partition's within-cluster spread in it changed by
        at most ``1e-4`` (a relative change of ``1e-4``).
        ``"cumulative"`` takes all ``max_iter`` steps unless it diverges.
    learning_rate : float or "auto", default="auto"
        Adam's step size. ``"auto"`` is ``1e-3`` for ``"cumulative"``, as in
        the original training loop, and ``1e-2`` for ``"learned_metric"`` and
        ``"boundary"`` (and so ``"adaptive"``), whose objective does not depend
        on the data's scale.
    shrinkage : float, default=0.3
        For ``"learned_metric"`` and ``"boundary"`` (both criteria of
        ``"adaptive"``): how strongly the learned metric is held towards the
        plain Euclidean one, from 0 (whiten the flat clusters, or their
        boundary gaps, completely) to 1 (the untrained tree: Ward's, or the
        plain spanning tree's).
    batch_size : int or "auto", default="auto"
        Samples per gradient step: each step builds the greedy tree on a random
        subset of this size. ``"auto"`` is ``min(n_samples, 2000)`` for
        ``"learned_metric"``, ``"boundary"`` and ``"adaptive"``, whose flat
        clusters need a large sample to be stable, and ``min(n_samples, 256)`` for
        ``"cumulative"``: full batch on small data.
    memory_limit : int, float, "auto" or None, default="auto"
        Bytes that a fit may allocate for its tree and its weights: the
        ``O(n_samples**2)`` pair-cost cache, or with ``connectivity`` the
        graph engine's tables (about 512 bytes per edge), plus the merge
        encoder's ``O(n_features**2)`` weights, their gradient and Adam's
        moments. ``"auto"`` is the memory the operating system reports as
        available; ``None`` disables the check. A fit that would exceed it
        raises a ``MemoryError`` before allocating. Only ``"cumulative"``
        trees (and the joining of a connectivity graph's components) have the
        pair-cost cache: ``"learned_metric"`` and ``"boundary"`` trees take
        ``O(n_samples * n_features)`` memory.
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
        The number of flat clusters (with ``n_clusters="auto"``, the chosen
        one).
    merge_cost_ : str
        The criterion whose tree this is: ``merge_cost``, or for
        ``"adaptive"`` the one it kept.
    stability_ : dict or None
        With ``merge_cost="adaptive"`` only: each compared criterion's mean
        adjusted Rand index between its fitted partition and its
        subsamples', or ``None`` when no comparison was made.
    cut_n_clusters_ : ndarray of shape (k_max,)
        With ``n_clusters="auto"`` only: the candidate numbers of clusters,
        ``1, ..., k_max``.
    cut_bic_ : ndarray of shape (k_max,)
        With ``n_clusters="auto"`` only: the BIC on the training data of the
        cut into each of ``cut_n_clusters_`` clusters, so that
        ``n_clusters_ = cut_n_clusters_[argmin(cut_bic_)]``. Plot one against
        the other to see how clear the choice is.
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
        weights on first access, in float64 like them, so that
        ``|o - c|**2 / 2`` of two samples is the estimator's merge cost.
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

    Training that diverges stops with a ``RuntimeWarning``: when the tree
    objective or the weights overflow it keeps the last weights whose
    objective was finite; when the objective grows more than a thousandfold
    above the lowest seen (for ``"learned_metric"``, whose objective is a
    logarithm, by more than ``log(1000)``) it keeps the weights of that lowest
    objective. Data whose differences are too small to square in float64
    (below about ``1e-154``) raises a ``ValueError``: every merge cost would
    be 0 and the labels arbitrary. A fit that raises or is interrupted leaves a
    fitted estimator as it was: the fitted attributes are replaced only when
    the fit succeeds.

    With ``merge_cost="adaptive"`` the warnings of the two candidate fits are
    collected with :class:`warnings.catch_warnings` and the kept fit's are
    issued again, once each. That context manager is not thread-safe: while
    such a fit runs, warnings issued by other threads of the process (a
    threading backend of joblib or Dask) may be caught and lost or issued
    with this fit's. Processes, the default of both, are not affected.

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
        "n_clusters": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
            None,
        ],
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
        _prepare_loky_worker()
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

    def _fit(self, X, trained=None):
        """Fit on ``X``; ``trained``, ``(weights, loss_curve)``, skips training."""
        if (self.n_clusters is None) == (self.distance_threshold is None):
            raise ValueError(
                "Exactly one of n_clusters and distance_threshold has to be set, "
                "and the other needs to be None; got "
                f"n_clusters={self.n_clusters!r} and "
                f"distance_threshold={self.distance_threshold!r}."
            )
        X = self._validate_samples(X, reset=True, ensure_min_samples=2)
        n_samples = X.shape[0]
        if _fixed_k(self.n_clusters) and self.n_clusters > n_samples:
            raise ValueError(
                f"Cannot find n_clusters={self.n_clusters} clusters in "
                f"{n_samples} samples: n_clusters must be at most n_samples."
            )
        # Squared distances that overflow float64 make every merge cost
        # infinite: refuse such data before training on it.
        with np.errstate(over="ignore", under="ignore"):
            spread = np.ptp(X, axis=0)
            if not np.isfinite(np.sum(np.square(spread))):
                raise _overflow_error(X)
            # Differences whose squares underflow make every merge cost 0 (or
            # subnormal, without precision): refuse rather than return
            # arbitrary labels.
            if 0 < spread.max() and spread.max() ** 2 < np.finfo(np.float64).tiny:
                raise ValueError(
                    "The differences between the samples (largest "
                    f"{spread.max():.3g}) are too small to square in float64: "
                    "their squares underflow below "
                    f"{np.finfo(np.float64).tiny:.3g}, so the merge costs are 0 "
                    "or without precision. Scale the data, for example with "
                    "StandardScaler."
                )
        criterion_class = CRITERIA[self.merge_cost]
        if hasattr(criterion_class, "candidates"):
            return self._fit_candidates(X, criterion_class)
        adjacency = self._adjacency(X)
        self._check_memory(self._memory_needs(X, adjacency, training=True))
        self._warn_if_wide(X.shape[1])
        if adjacency is not None:
            self._check_components(adjacency)
        random_state = self._fit_random_state()
        if trained is None:
            weights, loss_curve = self._train(X, random_state, adjacency)
        else:
            weights, loss_curve = trained
        engine = describe_engine(criterion_class, graph=adjacency is not None)
        with _progress.report_tree_build(n_samples, engine, self.verbose):
            tree = self._build_tree(weights, X, adjacency)
        path = None
        n_clusters = self.n_clusters
        if n_clusters == "auto":
            path = cut_path(X, tree.linkage)
            n_clusters = path.best
        labels = cut_linkage(
            tree.linkage,
            n_clusters=n_clusters,
            distance_threshold=self.distance_threshold,
        )
        n_clusters = int(labels.max()) + 1
        node_state, node_labels = replay_forest(
            criterion_class(weights, leaf_state(X)),
            tree.linkage,
            tree.costs,
            n_samples - n_clusters if criterion_class.replays_merges else 0,
            labels,
        )

        index = node_index(criterion_class, weights, node_state, node_labels, n_samples)

        # Replace the fitted state only once everything has succeeded.
        self._merger_weights = weights
        self._merger = None
        self._node_state = node_state
        self._node_labels = node_labels
        self._mixture = tied_mixture(X, labels)
        if path is None:
            for name in ("cut_n_clusters_", "cut_bic_"):
                self.__dict__.pop(name, None)
        else:
            self.cut_n_clusters_ = path.n_clusters
            self.cut_bic_ = path.bic
        self._node_index = index
        self.merge_cost_ = self.merge_cost
        self.__dict__.pop("stability_", None)
        self.loss_curve_ = loss_curve
        self.n_iter_ = len(loss_curve)
        self.linkage_matrix_ = tree.linkage
        self.children_ = tree.linkage[:, :2].astype(np.intp)
        self.distances_ = tree.linkage[:, 2].copy()
        self.n_leaves_ = n_samples
        self.labels_ = labels
        self.n_clusters_ = n_clusters
        return self

    def _fit_candidates(self, X, selector):
        """Fit each of ``selector.candidates`` and keep the one it chooses.

        ``X`` is validated. Each candidate is fitted by a copy of this
        estimator with that ``merge_cost`` and one integer seed, so a kept
        candidate's fit is the one its own name would give with that seed.
        Each is compared by the stability of its own flat clusters, the
        labels it would return.
        """
        random_state = self._fit_random_state()
        if isinstance(self.random_state, Integral):
            seed = self.random_state
        else:
            seed = int(random_state.randint(np.iinfo(np.int32).max))
        names = selector.candidates
        stability = None
        if self.connectivity is not None:
            kept, caught = self._fit_candidate(names[0], seed, X)
        else:
            n_samples = X.shape[0]
            subset = None
            if n_samples > selector.selection_samples:
                # Refuse data too large for either tree before training.
                for name in names:
                    candidate = self._candidate(name, seed)
                    candidate._check_memory(
                        candidate._memory_needs(X, None, training=False)
                    )
                subset = np.sort(
                    random_state.choice(
                        n_samples, selector.selection_samples, replace=False
                    )
                )
            X_compared = X if subset is None else X[subset]
            fits = [self._fit_candidate(name, seed, X_compared) for name in names]
            comparable = all(
                selector.can_compare(X_compared.shape[0], fit.n_clusters_)
                for fit, _ in fits
            )
            # Labels are numbered by first appearance: equal partitions are
            # equal arrays.
            chosen = 0
            if comparable and not np.array_equal(*(fit.labels_ for fit, _ in fits)):
                comparison = selector.compare(
                    [
                        (
                            CRITERIA[fit.merge_cost],
                            fit._merger_weights,
                            fit.labels_,
                            fit.n_clusters_,
                        )
                        for fit, _ in fits
                    ],
                    X_compared,
                    np.random.RandomState(seed),
                )
                chosen = comparison.chosen
                stability = dict(zip(names, comparison.stability.tolist(), strict=True))
                if self.verbose:
                    print(
                        f"Stability over {comparison.n_subsamples} subsamples: "
                        + ", ".join(
                            f"{name} {value:.3f}" for name, value in stability.items()
                        )
                        + f"; keeping {names[chosen]}",
                        flush=True,
                    )
            kept, caught = fits[chosen]
            if subset is not None:
                # Training draws batches of at most 2,000 samples: the
                # subset's weights serve; only the tree is built over all.
                kept, caught_building = self._fit_candidate(
                    kept.merge_cost,
                    seed,
                    X,
                    trained=(kept._merger_weights, kept.loss_curve_),
                )
                caught = caught + caught_building
        # The kept fit's warnings, as if this fit had issued them (the other
        # candidate's describe a fit that was discarded).
        issued = set()
        for warning in caught:
            key = (warning.category, str(warning.message))
            if key not in issued:
                issued.add(key)
                warnings.warn(warning.message, stacklevel=5)
        # Replace the fitted state only once everything has succeeded. X was
        # validated here: keep this estimator's n_features_in_ and names.
        parameters = self.get_params(deep=False)
        validated = ("n_features_in_", "feature_names_in_")
        for name in list(self.__dict__):
            # Fitted attributes of an earlier fit that this one lacks (say
            # cut_bic_); private ones are all replaced by the kept fit's.
            if name.endswith("_") and not name.startswith("_"):
                if name not in validated and name not in kept.__dict__:
                    del self.__dict__[name]
        self.__dict__.update(
            {
                name: value
                for name, value in kept.__dict__.items()
                if name not in parameters and name not in validated
            }
        )
        self.stability_ = stability
        return self

    def _fit_candidate(self, merge_cost, seed, X, trained=None):
        """A copy of this estimator fitted with ``merge_cost`` and ``seed``.

        Returns the fitted copy and the warnings its fit issued.
        """
        if self.verbose:
            print(f"Fitting merge_cost={merge_cost!r}", flush=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fitted = self._candidate(merge_cost, seed)._fit(X, trained)
        return fitted, caught

    def _fit_random_state(self):
        """The generator of a fit's random draws.

        ``None`` draws a fresh seed from the OS instead of NumPy's global
        RandomState, so that no fit changes the caller's global random state.
        """
        if self.random_state is None:
            return np.random.RandomState()
        return check_random_state(self.random_state)

    def _candidate(self, merge_cost, seed):
        """An unfitted copy of this estimator with ``merge_cost`` and ``seed``."""
        parameters = self.get_params(deep=False)
        parameters.update(merge_cost=merge_cost, random_state=seed)
        return type(self)(**parameters)

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

    def _memory_needs(self, X, adjacency, training):
        """The large allocations of a fit (or a tree) on ``X``.

        A list of ``(bytes, what, advice)``: the pair-cost cache, or the graph
        engine's tables and the join of disconnected components with
        ``connectivity``; and the merge encoder's weights, which grow with
        ``n_features**2``.
        """
        n_samples, n_features = X.shape
        if adjacency is None and not uses_pair_cache(CRITERIA[self.merge_cost]):
            # fastcluster's Ward, or the spanning tree and its edges' lengths:
            # O(n_samples) rows of a few numbers and the embedded samples.
            needs = [
                (
                    8 * n_samples * (n_features + SPANNING_NEIGHBOURS + 16),
                    f"the tree of {n_samples} samples",
                    "Fit on a subsample",
                )
            ]
        elif adjacency is None:
            needs = [
                (
                    estimate_linkage_memory(n_samples),
                    f"the pair-cost cache of a tree over {n_samples} samples",
                    "Fit on a subsample",
                )
            ]
        else:
            needs = [
                (
                    estimate_graph_memory(adjacency),
                    f"the {adjacency.nnz // 2} edges of the connectivity graph",
                    "Use a sparser graph (for example kneighbors_graph)",
                )
            ]
            n_components = n_connected_components(adjacency)
            if n_components > 1:
                needs.append(
                    (
                        estimate_linkage_memory(n_components),
                        f"joining its {n_components} connected components",
                        "Connect the graph",
                    )
                )
        training = training and self.max_iter > 0
        needs.append(
            (
                estimate_weight_memory(self.merge_cost, n_features, training),
                f"the merge encoder's weights over {n_features} features"
                + (" and their training" if training else ""),
                "Reduce the number of features (for example with PCA)",
            )
        )
        return needs

    def _warn_if_wide(self, n_features: int) -> None:
        """Warn before a learned-metric training whose steps take seconds each."""
        if (
            not CRITERIA[self.merge_cost].trains_below_cut
            or self.max_iter == 0
            or n_features <= WIDE_DATA_FEATURES
        ):
            return
        seconds = SECONDS_PER_STEP_AT_3000 * (n_features / 3000) ** 3
        warnings.warn(
            f"Training the learned metric on {n_features} features factorises "
            f"and inverts a {n_features} x {n_features} embedding at each of the "
            f"{self.max_iter} steps, O(n_features**3): about "
            f"{_format_seconds(seconds)} per step on 2 cores. Reduce the features "
            "first (for example with PCA) or lower max_iter.",
            UserWarning,
            # _warn_if_wide, _fit, fit, _fit_context's wrapper, caller
            stacklevel=5,
        )

    def _check_memory(self, needs) -> None:
        """Refuse a fit or tree whose allocations would not fit in memory."""
        if self.memory_limit is None:
            return
        limit = (
            _available_memory() if self.memory_limit == "auto" else self.memory_limit
        )
        if limit is None:
            return
        needed = sum(n_bytes for n_bytes, _, _ in needs)
        if needed > limit:
            parts = ", ".join(
                f"{_format_bytes(n_bytes)} for {what}" for n_bytes, what, _ in needs
            )
            advice = max(needs)[2]
            raise MemoryError(
                f"This needs about {_format_bytes(needed)} ({parts}), more than "
                f"the memory limit of {_format_bytes(limit)}. {advice}, free "
                "memory, or raise memory_limit (None disables this check)."
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
            return min(n_samples, CRITERIA[self.merge_cost].auto_batch_size)
        return min(n_samples, self.batch_size)

    def _train(self, X, random_state, adjacency=None):
        """Initialise and train the merge encoder; return weights and losses."""
        n_samples, n_features = X.shape
        weights = previous = CRITERIA[self.merge_cost].initial_weights(
            n_features, random_state
        )
        loss_curve: list[float] = []
        if self.max_iter == 0:
            return weights, loss_curve

        from ._merger import make_trainer

        criterion_class = CRITERIA[self.merge_cost]
        batch_size = self._effective_batch_size(n_samples)
        learning_rate = self.learning_rate
        if learning_rate == "auto":
            learning_rate = criterion_class.auto_learning_rate
        trainer = make_trainer(criterion_class, weights, learning_rate, self.shrinkage)
        if (
            criterion_class.trains_below_cut
            and _fixed_k(self.n_clusters)
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
        watch = _BlowUpWatch(log_objective=criterion_class.trains_below_cut)
        train_k = self.n_clusters
        convergence = None
        if criterion_class.trains_below_cut:
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
                tree, codes = criterion_class.build_tree(
                    weights,
                    batch,
                    None if adjacency is None else adjacency[rows][:, rows],
                )
            cut = ()
            if criterion_class.trains_below_cut:
                if train_k == "auto":
                    # Chosen on the first tree, then fixed (see n_clusters). A
                    # tree whose costs overflow ends training below anyway.
                    finite = _finite(tree.costs)
                    train_k = cut_path(batch, tree.linkage).best if finite else 1
                below_cut = self._below_cut(tree.linkage, n_samples, train_k)
                if _finite(tree.costs) and not np.any(tree.costs[below_cut > 0]):
                    break  # the flat clusters are points: nothing to learn
                cut = (below_cut, *codes)
            if _finite(tree.costs):
                loss = trainer.step(batch, tree.linkage, *cut)
                new_weights = trainer.weights()
            else:
                loss, new_weights = np.nan, None
            if not np.isfinite(loss):
                # ``weights`` already overflow: keep the step before them.
                _warn_diverged(step, self.max_iter, f"tree objective {loss}")
                return previous, loss_curve
            if watch.blew_up(loss):
                _warn_diverged(step, self.max_iter, watch.describe(loss), watch.keeping)
                return watch.best_weights, loss_curve
            watch.record(loss, weights)
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

    def _below_cut(self, linkage, n_samples, n_clusters=None):
        """1 for the merges of ``linkage`` below the flat cut, 0 above.

        The cut is ``n_clusters`` (by default the estimator's; at most the
        tree's leaves) or, if both are ``None``, the estimator's
        ``distance_threshold``. Ward-type costs grow
        with the number of samples merged, so for a mini-batch tree the
        threshold is scaled by the batch's share of the ``n_samples`` samples.
        A cut with no merge below it (every sample its own cluster) counts the
        whole tree.
        """
        n_merges = linkage.shape[0]
        if n_clusters is None:
            n_clusters = self.n_clusters
        if n_clusters is not None:
            n_below = n_merges + 1 - min(n_clusters, n_merges + 1)
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
            tree, _ = CRITERIA[self.merge_cost].build_tree(weights, X, adjacency)
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
        index = self._predict_index()
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

    def fit_predict(self, X, y=None, **kwargs):
        """Fit the tree on ``X`` and return the flat cluster of each sample.

        Equivalent to ``fit(X).labels_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : Ignored
            Not used, present for API consistency by convention.
        **kwargs : dict
            Passed to :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster labels, consecutive integers from 0.
        """
        return super().fit_predict(X, y, **kwargs)

    def _node_criterion(self, X):
        """The fitted criterion over the nodes below the cut, then ``X``'s leaves.

        One criterion for both, so the nodes' terms are computed once.
        """
        with np.errstate(over="ignore", invalid="ignore"):
            return CRITERIA[self.merge_cost_](
                self._merger_weights, concat_states(self._node_state, leaf_state(X))
            )

    def _node_costs(self, X):
        """Pair costs (n_nodes, n_samples) of the nodes below the cut, new leaves."""
        n_nodes = self._node_labels.shape[0]
        return self._node_criterion(X).pair_costs(
            slice(0, n_nodes), slice(n_nodes, n_nodes + X.shape[0])
        )

    def score(self, X, y=None):
        """Mean log-likelihood per sample of ``X`` under the fitted clustering.

        The fitted tree and its cut define a Gaussian mixture on the data's
        space: one component per flat cluster, with the cluster's share of the
        training samples as weight, its mean as mean, and one covariance shared
        by all components, the pooled within-cluster covariance of the training
        data plus a ridge of ``1e-6`` times its mean variance per feature. Each
        sample of ``X`` is scored with the cluster that explains it best: the
        score is the mean over ``X`` of the complete-data (classification)
        log-likelihood ``max_c log(w_c N(x | m_c, S))``, that is the
        mixture's log density, as :meth:`sklearn.mixture.GaussianMixture.score`
        gives it, plus the log of the largest posterior probability of a
        cluster. The second term penalises clusters that overlap, so splitting
        one cluster in two lowers the score where the density alone would
        hardly change.

        The score depends on the tree through its flat clusters only, so it is
        in the same units for every ``n_clusters``, ``merge_cost`` and other
        parameter, and higher is better. On held-out data (as
        :class:`~sklearn.model_selection.GridSearchCV` uses it without
        ``scoring``) it rewards the cut whose clusters generalise. It measures
        how well *compact, roughly Gaussian clusters of equal shape* explain
        the data: see "Choosing the number of clusters" in the user guide for
        when to trust it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to score.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        score : float
            Mean complete-data log-likelihood per sample.
        """
        check_is_fitted(self)
        X = self._validate_samples(X, reset=False)
        return float(np.mean(mixture_log_likelihood(self._mixture, X)))

    def bic(self, X):
        """Bayesian information criterion of the fitted clustering on ``X``.

        ``-2 * n_samples * score(X) + n_parameters * log(n_samples)``, as
        :meth:`sklearn.mixture.GaussianMixture.bic`, where the mixture of
        :meth:`score` with ``k`` clusters in ``d`` features has
        ``(k - 1) + k d + d (d + 1) / 2`` free parameters. Lower is better.
        Because the score is the complete-data log-likelihood, this is the
        integrated completed likelihood (ICL) criterion of Biernacki, Celeux
        and Govaert (2000) with hard assignments. On the training data of a
        fit with ``n_clusters="auto"`` it equals ``cut_bic_`` at the chosen
        cut.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to evaluate.

        Returns
        -------
        bic : float
        """
        X = self._checked_for_criterion(X)
        n_samples, n_parameters = X.shape[0], mixture_n_parameters(self._mixture)
        return -2 * n_samples * self.score(X) + n_parameters * np.log(n_samples)

    def aic(self, X):
        """Akaike information criterion of the fitted clustering on ``X``.

        ``-2 * n_samples * score(X) + 2 * n_parameters``, as
        :meth:`sklearn.mixture.GaussianMixture.aic`; the parameters are
        counted as in :meth:`bic`. Lower is better.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to evaluate.

        Returns
        -------
        aic : float
        """
        X = self._checked_for_criterion(X)
        n_parameters = mixture_n_parameters(self._mixture)
        return -2 * X.shape[0] * self.score(X) + 2 * n_parameters

    def _checked_for_criterion(self, X):
        check_is_fitted(self)
        return self._validate_samples(X, reset=False)

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

            self._merger = build_merger(_keras_merger_weights(self._merger_weights))
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
        fitted = "_merger_weights" in self.__dict__
        if fitted and (self._merger is not None or "tensorflow" in sys.modules):
            names.append("merger_")
        return names

    def _predict_index(self):
        """The KD-tree over the nodes below the cut, or None for a criterion
        without one; rebuilt on first use after loading (pickles leave it out).
        """
        index = self.__dict__.get("_node_index")
        if index is None:
            index = node_index(
                CRITERIA[self.merge_cost_],
                self._merger_weights,
                self._node_state,
                self._node_labels,
                self.n_leaves_,
            )
            self._node_index = index
        return index

    def __setstate__(self, state):
        # Models saved before "adaptive" existed name no kept criterion.
        if "_merger_weights" in state:
            state.setdefault("merge_cost_", state.get("merge_cost"))
        super().__setstate__(state)

    def __getstate__(self):
        # The Keras model is rebuilt from the NumPy weights on demand, so a
        # pickle holds arrays only and loads without TensorFlow; likewise the
        # KD-tree of predict, which skops could not store.
        state = super().__getstate__()
        if state.get("_merger") is not None:
            state["_merger"] = None
        if state.get("_node_index") is not None:
            state["_node_index"] = None
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


def _fixed_k(n_clusters) -> bool:
    """Whether ``n_clusters`` is a number (not ``None`` nor ``"auto"``)."""
    return n_clusters is not None and not isinstance(n_clusters, str)


def _overflow_error(X) -> ValueError:
    return ValueError(
        "The merge costs of this data are not finite in float64 (largest "
        f"absolute value {np.max(np.abs(X)):.3g}); scale the data, for "
        "example with StandardScaler."
    )


def _finite(values) -> bool:
    return bool(np.isfinite(values).all())


class _BlowUpWatch:
    """Detects a tree objective that grows by orders of magnitude in training.

    Overflow is caught by the finiteness checks; a learning rate far too large
    can instead throw the objective up by dozens of orders of magnitude and
    leave it there, finite. Training is stopped when the objective exceeds
    the lowest one seen so far by ``GROWTH`` times (for ``"cumulative"``, a
    sum of squared errors) or by ``log(GROWTH)`` (for ``"learned_metric"``,
    whose objective is a logarithm), and the weights of the lowest objective
    are kept. Ordinary training, even with noisy mini-batches, does not move
    the objective by a factor of a thousand.
    """

    GROWTH = 1e3

    def __init__(self, log_objective: bool):
        self.log_objective = log_objective
        self.best_loss = np.inf
        self.best_step = None
        self.best_weights = None
        self.n_recorded = 0

    def blew_up(self, loss: float) -> bool:
        if self.best_weights is None:
            return False
        if self.log_objective:
            return loss - self.best_loss > np.log(self.GROWTH)
        return self.best_loss > 0 and loss > self.GROWTH * self.best_loss

    def record(self, loss: float, weights) -> None:
        if loss < self.best_loss:
            self.best_loss, self.best_weights = loss, weights
            self.best_step = self.n_recorded
        self.n_recorded += 1

    def describe(self, loss: float) -> str:
        if self.log_objective:
            return (
                f"tree objective {loss:.4g}, up from {self.best_loss:.4g}: a "
                "spread more than a thousand times larger"
            )
        return (
            f"tree objective {loss:.3g}, up from {self.best_loss:.3g}: more than "
            "a thousandfold"
        )

    @property
    def keeping(self) -> str:
        return (
            f"the weights before step {self.best_step + 1}, whose tree objective "
            "was the lowest"
        )


def _warn_diverged(
    step: int,
    max_iter: int,
    what: str,
    keeping: str = "the last weights whose tree objective was finite",
) -> None:
    # stacklevel: _warn_diverged, _train, _fit, fit, _fit_context's wrapper,
    # then the caller of fit.
    warnings.warn(
        f"Training diverged at step {step + 1} of {max_iter} ({what}); keeping "
        f"{keeping}. Lower learning_rate or standardise the data.",
        RuntimeWarning,
        stacklevel=6,
    )
