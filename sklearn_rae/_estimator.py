"""RecursiveAutoencoderClustering: validate, check resources, train, build, cut.

The estimator is thin: the criteria (:mod:`sklearn_rae.criteria`) know their
costs, engines, trainers and predictors; :mod:`sklearn_rae._training` trains,
:mod:`sklearn_rae._fitted_tree` builds and cuts, :mod:`sklearn_rae._selection`
chooses between candidates, :mod:`sklearn_rae._resources` budgets memory.
"""

from __future__ import annotations

import sys
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._cut import Cut
from ._dask import is_dask_collection, predict_dask
from ._fitted_tree import fit_tree
from ._likelihood import mixture_log_likelihood, mixture_n_parameters
from ._numeric import check_finite_differences, overflow_error
from ._resources import check_memory
from ._selection import SELECTIONS, CandidateFits
from ._training import TrainingResult, prepare_worker_process, train
from .criteria import MERGE_COST_NAMES, get_criterion
from .engines.graph import (
    component_warnings,
    estimate_adjacency_memory,
    symmetric_adjacency,
)

__all__ = ["RecursiveAutoencoderClustering"]

DEFAULT_MERGE_COST = "auto"


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
        The linkage height (``linkage_matrix_[:, 2]``, in SciPy's units) at
        and above which clusters are not merged. If not ``None``,
        ``n_clusters`` must be ``None``.
    merge_cost : {"auto", "whitened_means", "learned_metric", "boundary", \
            "adaptive", "cumulative"}, default="auto"
        The merge criterion (the user guide defines each):

        - ``"auto"``: builds the boundary criterion's tree (untrained, in the
          unit-free metric ``diag(1 / std)``) and keeps it when its flat
          clusters are separated by gaps (none holds less than a fifth of an
          equal share of the samples, and every spanning-tree edge between
          two clusters is at least twice the 90th percentile of the edges
          inside them); otherwise fits ``"whitened_means"``, and still keeps
          the boundary tree if its cut into ``n_clusters`` lives longer in
          its tree than the means' cut in theirs (not where the means' clusters
          are spherical). ``merge_cost_`` names the kept criterion,
          ``separation_`` the figures of the rule.
        - ``"whitened_means"``: Ward's cost in an embedding ``L`` trained
          exactly: ``L L^T`` is the inverse of the flat clusters'
          within-cluster scatter, shrunk towards its diagonal by the
          Ledoit-Wolf intensity, from a unit-free start; the final flat
          clusters are refined by moving samples to the nearest cluster mean
          in that metric (in ``diag(1 / std)``, as k-means, where the clusters
          are spherical there), and the tree is rebuilt around them. No
          TensorFlow.
        - ``"learned_metric"``: the same cost, with ``L`` trained by
          GradientTape and Adam from the identity (the tree is then Ward's)
          with a fixed ``shrinkage`` towards the plain metric.
        - ``"boundary"``: the same merge encoder given each child's boundary
          point (the end of the minimum-spanning-tree edge of ``X @ L``, or of
          ``connectivity``, between the two children) instead of its mean:
          merges follow the data's shape, as for rings, moons and lines.
        - ``"adaptive"``: fits ``"learned_metric"`` and ``"boundary"`` and
          keeps the one whose flat clusters are the more stable over 80%
          subsamples (``stability_``); the default of version 0.1.
        - ``"cumulative"``: the seed's criterion, exactly: a merged node's
          score is the reconstruction error ``||o - c||^2 / 2`` of its
          children plus both children's scores. It is there to reproduce the
          original algorithm.

    max_iter : int, default=100
        Maximum number of training steps (for a selection, of each criterion
        it trains). ``0`` builds the tree with the untrained merge encoder.
        ``"whitened_means"`` takes at most 3 exact steps, and stops when the
        flat partition repeats. Gradient training stops earlier if it
        diverges, or for ``"learned_metric"`` and ``"boundary"`` when the flat
        clusters have no spread to learn from or training has converged (five
        steps without a change of the flat partition, and of the objective by
        more than ``1e-4``).
    learning_rate : float or "auto", default="auto"
        Adam's step size. ``"auto"`` is ``1e-3`` for ``"cumulative"``, as in
        the original training loop, and ``1e-2`` for ``"learned_metric"`` and
        ``"boundary"``, whose objective does not depend on the data's scale.
        ``"whitened_means"`` takes exact steps and ignores it.
    shrinkage : float, default=0.3
        For ``"learned_metric"`` and ``"boundary"`` when trained: how strongly
        the learned metric is held towards the plain Euclidean one, from 0
        (whiten the flat clusters, or their boundary gaps, completely) to 1
        (the untrained tree: Ward's, or the plain spanning tree's).
        ``"whitened_means"`` estimates its shrinkage from the data.
    batch_size : int or "auto", default="auto"
        Samples per gradient step: each step builds the greedy tree on a random
        subset of this size (``"whitened_means"``: the same subset at every
        step). ``"auto"`` is ``min(n_samples, 2000)`` for the criteria with an
        embedding, whose flat clusters need a large sample to be stable, and
        ``min(n_samples, 256)`` for ``"cumulative"``: full batch on small data.
    memory_limit : int, float, "auto" or None, default="auto"
        Bytes that a fit may allocate for its tree (the engine's tables: the
        ``O(n_samples**2)`` pair-cost cache of ``"cumulative"``, the graph's
        edges with ``connectivity``, ``O(n_samples * n_features)`` otherwise)
        and the merge encoder's ``O(n_features**2)`` weights and their
        training. ``"auto"`` is the least of the memory the operating system
        reports as available, the cgroup's remaining limit, the remaining
        address space (``ulimit -v``) and, under strict overcommit, the
        remaining commit limit, less what TensorFlow's runtime takes when a
        fit trains before TensorFlow is imported; ``None`` disables the check.
        A fit that would exceed it raises a ``MemoryError`` before allocating.
    connectivity : array-like, sparse matrix, callable or None, default=None
        Which samples may merge, as in
        :class:`~sklearn.cluster.AgglomerativeClustering`: an adjacency matrix
        of shape ``(n_samples, n_samples)``, or a callable ``connectivity(X)``
        returning one, such as
        :func:`~sklearn.neighbors.kneighbors_graph`. Non-zero entries are edges;
        the graph is made symmetric and its diagonal ignored. Only clusters
        joined by an edge merge. For a sequence pass the chain
        ``scipy.sparse.diags([1, 1], [-1, 1], shape=(n, n))``: every flat
        cluster is then a contiguous run of samples. Each training step uses a
        connected neighbourhood of ``batch_size`` samples. A graph of several
        connected components is joined by the last ``n_components - 1``
        merges, with a ``UserWarning``.
    random_state : int, RandomState instance or None, default=None
        Seeds the merge encoder's initial weights and the mini-batches. Pass an
        int for reproducible results. ``None`` seeds from the operating system's
        entropy rather than NumPy's global ``RandomState``: a fit never changes
        NumPy's or TensorFlow's global random state.
    verbose : int, default=0
        ``0`` prints nothing; ``1`` or more prints a line per stage of the fit:
        training a criterion (with the tree objective as ``loss``), building
        a tree (with its engine), comparing subsamples, and a selection's
        choice; training that stops at ``max_iter`` before converging says
        so. On a terminal or in a notebook the stages with steps are tqdm
        bars with the rate and the time left; in a log or a pipe a stage
        prints its line when it ends, and one every 5 seconds while it runs.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster label of each sample, consecutive integers from 0.
    n_clusters_ : int
        The number of flat clusters (with ``n_clusters="auto"``, the chosen
        one).
    merge_cost_ : str
        The criterion whose tree this is: ``merge_cost``, or for a selection
        (``"auto"``, ``"adaptive"``) the one it kept.
    separation_ : dict
        With ``merge_cost="auto"`` only: ``separation`` (the smallest ratio
        of a between-cluster spanning-tree edge to the spacing inside its
        clusters), ``smallest_cluster`` (the smallest boundary cluster's
        share of the samples), ``persistence`` (each tree's persistence of
        its cut, or ``None`` when not compared) and ``kept``.
    stability_ : dict or None
        With ``merge_cost="adaptive"`` only: each compared criterion's mean
        adjusted Rand index between its fitted partition and its
        subsamples', or ``None`` when no comparison was made.
    cut_n_clusters_ : ndarray of shape (n_candidates,)
        With ``n_clusters="auto"`` only: the candidate numbers of clusters,
        ``1`` and every ``k`` up to the search's end whose clusters all hold
        at least ``max(2, ceil(log2(n_distinct_rows)))`` distinct rows.
    cut_persistence_ : ndarray of shape (n_candidates,)
        With ``n_clusters="auto"`` only: how long each candidate partition
        lives in the tree, the log ratio of the merge that ends it and the
        highest merge below that splits one of its clusters (merges that shed
        smaller fragments do not end it); ``nan`` at ``k = 1``.
    cut_bic_ : ndarray of shape (n_candidates,)
        With ``n_clusters="auto"`` only: the BIC on the training data of the
        cut into each of ``cut_n_clusters_`` clusters, which decides among the
        partitions that persist at least half as long as the longest. Plot
        both against ``cut_n_clusters_`` to see how clear the choice is.
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
        by merge ``i - n_samples``. The smaller node id comes first, as in
        SciPy, except for ``"cumulative"``, whose first child is the merge
        encoder's first input.
    distances_ : ndarray of shape (n_samples - 1,)
        Height of each merge, ``linkage_matrix_[:, 2]``.
    linkage_matrix_ : ndarray of shape (n_samples - 1, 4)
        The tree in SciPy's linkage format (float64): row ``i`` creates node
        ``n_samples + i`` from the nodes in its first two columns, at the height
        in the third, with the leaf count in the fourth. Heights never decrease
        (:func:`scipy.cluster.hierarchy.is_monotonic` holds) and are in SciPy's
        units: Ward's distance in the learned embedding for the embedded
        criteria (untrained, ``"learned_metric"`` gives
        :func:`scipy.cluster.hierarchy.ward`'s matrix), the seed's
        reconstruction error for ``"cumulative"`` (the user guide has the
        table).
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
    start_check_ : StartCheck or None
        After Adam's steps, the initial and trained weights' objectives on
        held-out (or training) samples (None if nothing was checked); where
        training ended above its start, fit keeps the initial weights.

    See Also
    --------
    sklearn.cluster.AgglomerativeClustering : Classical agglomerative clustering.
    scipy.cluster.hierarchy.linkage : Classical linkages as linkage matrices.

    Notes
    -----
    The user guide gives each criterion's definition, the training loop and
    its stopping rules, the engines and their complexity, and what
    ``predict`` and ``score`` compute. In short: ``"learned_metric"`` trees
    are Ward's linkage of the embedded samples (fastcluster, ``O(n d)``
    memory), ``"boundary"`` trees follow a spanning tree (``O(n d)`` memory),
    ``"cumulative"`` trees cache every pair cost (``4 n**2`` bytes). Training
    that diverges stops with a ``RuntimeWarning`` and keeps the best finite
    weights. A fit that raises or is interrupted leaves a fitted estimator as
    it was; Ctrl-C interrupts even a long tree build at once (its compiled
    calls run in a worker thread, which finishes the interrupted one in the
    background: ``docs/performance.md``). TensorFlow's thread pools follow
    ``OMP_NUM_THREADS`` when it is set, so parallel grid searches do not
    oversubscribe the cores (see ``docs/parallel.md``).

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
        # The registry's own set: a registered criterion is accepted.
        "merge_cost": [StrOptions(MERGE_COST_NAMES)],
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
        prepare_worker_process()
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
        for name in ("n_clusters", "max_iter", "batch_size"):
            if isinstance(getattr(self, name), bool | np.bool_):
                raise TypeError(
                    f"{name} must be an int, not a bool: got {name}="
                    f"{getattr(self, name)!r}."
                )
        cut = Cut(self.n_clusters, self.distance_threshold)
        X = self._validate_samples(X, reset=True, ensure_min_samples=2)
        n_samples = X.shape[0]
        if cut.fixed_n_clusters is not None and cut.fixed_n_clusters > n_samples:
            raise ValueError(
                f"Cannot find n_clusters={self.n_clusters} clusters in "
                f"{n_samples} samples: n_clusters must be at most n_samples."
            )
        check_finite_differences(X)
        random_state = self._fit_random_state()
        described = {}
        if self.merge_cost in SELECTIONS:
            selection = SELECTIONS[self.merge_cost]
            fits = CandidateFits(self, X, cut, random_state, selection.options)
            result = selection.select(fits, X, random_state)
            name, training, fitted = result.name, result.training, result.fitted
            described = result.attributes
        else:
            name = self.merge_cost
            training, fitted = self._fit_criterion(
                get_criterion(name, self.shrinkage),
                X,
                cut,
                random_state,
                self._adjacency(X),
            )
        # _issue_warnings, _fit, fit, _fit_context's wrapper, then the caller.
        training.issue_warnings(stacklevel=4)
        self._store(name, training, fitted, described)
        return self

    def _fit_criterion(
        self,
        criterion,
        X,
        cut,
        random_state,
        adjacency=None,
        trained=None,
        max_iter=None,
    ):
        """Train ``criterion`` on ``X`` (unless ``trained`` is given) and fit its tree.

        Returns the :class:`TrainingResult`, whose warnings also hold this
        fit's own (wide data, a disconnected graph), and the fitted tree.
        """
        n_samples, n_features = X.shape
        cut = cut.in_costs(criterion)
        max_iter = self.max_iter if max_iter is None else max_iter
        trains = max_iter > 0 and trained is None
        check_memory(
            criterion.memory_needs(n_samples, n_features, adjacency, training=trains),
            self.memory_limit,
            training=trains,
        )
        caught = []
        if trains:
            wide = criterion.wide_data_warning(n_features, max_iter)
            if wide is not None:
                caught.append((UserWarning, wide))
        if adjacency is not None:
            caught.extend(component_warnings(adjacency))
        if trained is None:
            learning_rate = self.learning_rate
            if learning_rate == "auto":
                learning_rate = criterion.auto_learning_rate
            batch_size = self.batch_size
            if batch_size == "auto":
                batch_size = criterion.auto_batch_size
            trained = train(
                criterion,
                X,
                cut=cut,
                max_iter=max_iter,
                learning_rate=learning_rate,
                batch_size=min(n_samples, batch_size),
                random_state=random_state,
                adjacency=adjacency,
                verbose=self.verbose,
            )
        trained.warnings[:0] = caught
        fitted = fit_tree(
            criterion,
            trained.weights,
            X,
            cut=cut,
            adjacency=adjacency,
            verbose=self.verbose,
        )
        choice = fitted.cut.path
        if choice is not None and choice.message is not None:
            trained.warnings.append((UserWarning, choice.message))
        return trained, fitted

    def _store(self, name, training: TrainingResult, fitted, described) -> None:
        """Replace the fitted state (only once everything has succeeded)."""
        tree, flat = fitted.tree, fitted.cut
        self._merger_weights = fitted.weights
        self._merger = None
        self._node_state = fitted.node_state
        self._node_labels = fitted.node_labels
        self._mixture = fitted.mixture
        self._predictor = None
        if flat.path is None:
            for attribute in ("cut_n_clusters_", "cut_persistence_", "cut_bic_"):
                self.__dict__.pop(attribute, None)
        else:
            self.cut_n_clusters_ = flat.path.candidates
            self.cut_persistence_ = flat.path.persistence
            self.cut_bic_ = flat.path.bic
        self.merge_cost_ = name
        for selection in SELECTIONS.values():
            for attribute in selection.attributes:
                self.__dict__.pop(attribute, None)
        self.__dict__.update(described)
        self.loss_curve_ = training.loss_curve
        self.n_iter_ = len(training.loss_curve)
        self.start_check_ = training.start_check
        # The engines work in merge costs; SciPy's units for the user.
        linkage = get_criterion(name, self.shrinkage).scipy_linkage(tree)
        self.linkage_matrix_ = linkage
        self.children_ = linkage[:, :2].astype(np.intp)
        self.distances_ = linkage[:, 2].copy()
        self.n_leaves_ = linkage.shape[0] + 1
        self.labels_ = flat.labels
        self.n_clusters_ = flat.n_clusters
        # Built now so that predict does not change the estimator; rebuilt
        # on first use after loading (pickles leave it out).
        self._fitted_predictor()

    def _fit_random_state(self):
        """The generator of a fit's random draws.

        ``None`` draws a fresh seed from the OS instead of NumPy's global
        RandomState, so that no fit changes the caller's global random state.
        """
        if self.random_state is None:
            return np.random.RandomState()
        return check_random_state(self.random_state)

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

    def _adjacency(self, X):
        """The symmetric connectivity graph over ``X``, or None without one."""
        if self.connectivity is None:
            return None
        connectivity = self.connectivity
        if callable(connectivity):
            connectivity = connectivity(X)
        check_memory(estimate_adjacency_memory(connectivity, len(X)), self.memory_limit)
        return symmetric_adjacency(connectivity, X.shape[0])

    def _criterion(self):
        """The fitted criterion."""
        return get_criterion(self.merge_cost_, self.shrinkage)

    def _build_tree(self, weights, X, adjacency=None):
        """The fitted criterion's tree over ``X``; refuses costs that overflow."""
        with np.errstate(over="ignore", invalid="ignore"):
            tree = self._criterion().build_tree(weights, X, adjacency)
        if not np.isfinite(tree.costs).all():
            raise overflow_error(X)
        return tree

    # ------------------------------------------------------------- inference

    def predict(self, X):
        """Assign samples to the fitted flat clusters by merge cost.

        Each sample is a new leaf appended after the training samples; it gets
        the label of the node below the cut (a training sample or a merged
        node) it would merge with at the lowest cost, the earliest on ties.
        Samples are assigned independently; on the training data ``predict``
        returns ``labels_`` except for duplicates that the tree split, and
        except with ``"cumulative"``, whose cost of merging a sample with its
        own copy is not zero (the user guide says why). The
        user guide says how each criterion finds that node (a KD-tree for
        the embedded criteria, every node for ``"cumulative"``). Data whose
        costs overflow float64 raises a ``ValueError``. A Dask array or
        DataFrame is predicted lazily, block by block (``docs/parallel.md``).

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
        try:
            return self._fitted_predictor().predict(X)
        except FloatingPointError:
            raise overflow_error(X) from None

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

    def _fitted_predictor(self):
        """The fitted criterion's predictor, built on first use.

        Pickles leave it out (a KD-tree, which skops cannot store); it is
        rebuilt from the node states.
        """
        predictor = self.__dict__.get("_predictor")
        if predictor is None:
            predictor = self._criterion().predictor(
                self._merger_weights,
                self._node_state,
                self._node_labels,
                self.n_leaves_,
            )
            self._predictor = predictor
        return predictor

    def _node_costs(self, X):
        """Pair costs (n_nodes, n_samples) of the nodes below the cut, new leaves."""
        from ._prediction import CostPredictor

        return CostPredictor(
            self._criterion(), self._merger_weights, self._node_state, self._node_labels
        ).node_costs(X)

    def score(self, X, y=None):
        """Mean log-likelihood per sample of ``X`` under the fitted clustering.

        The flat clusters define a Gaussian mixture: one component per cluster
        (its share of the training samples, its mean) and one shared
        covariance, the pooled within-cluster covariance plus a ridge of
        ``1e-6`` times each feature's variance. Each sample is scored with the
        cluster that explains it best, ``max_c log(w_c N(x | m_c, S))``: the
        mixture's log density plus the log of the largest posterior, which
        penalises overlapping clusters. The score depends on the tree only
        through its flat clusters, so it compares across ``n_clusters``,
        ``merge_cost`` and other parameters (higher is better), and
        :class:`~sklearn.model_selection.GridSearchCV` can use it without
        ``scoring``; see "Choosing the number of clusters" in the user guide.

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
        with np.errstate(over="ignore", invalid="ignore"):
            score = float(np.mean(mixture_log_likelihood(self._mixture, X)))
        if not np.isfinite(score):
            raise overflow_error(X)
        return score

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

            self._merger = build_merger(
                self._criterion().keras_weights(self._merger_weights)
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
        fitted = "_merger_weights" in self.__dict__
        if fitted and (self._merger is not None or "tensorflow" in sys.modules):
            names.append("merger_")
        return names

    #: What a fitted model's state must hold to predict and score.
    _FITTED_STATE = (
        "_merger_weights",
        "_node_state",
        "_node_labels",
        "_mixture",
        "merge_cost_",
        "n_leaves_",
        "labels_",
        "linkage_matrix_",
    )

    def __setstate__(self, state):
        # Models saved before "adaptive" existed name no kept criterion.
        if "_merger_weights" in state:
            state.setdefault("merge_cost_", state.get("merge_cost"))
            missing = [name for name in self._FITTED_STATE if name not in state]
            if missing:
                raise ValueError(
                    f"This {type(self).__name__} was saved by an incompatible "
                    f"version of sklearn-rae: its state lacks {', '.join(missing)}. "
                    "Fit it again with this version."
                )
        super().__setstate__(state)

    def __getstate__(self):
        # The Keras model is rebuilt from the NumPy weights on demand, so a
        # pickle holds arrays only and loads without TensorFlow; likewise the
        # predictor (a KD-tree, which skops could not store).
        state = super().__getstate__()
        for transient in ("_merger", "_predictor", "_node_index"):
            if state.get(transient) is not None:
                state[transient] = None
        return state
