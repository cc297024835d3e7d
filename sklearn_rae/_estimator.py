"""RecursiveAutoencoderClustering: validate, check resources, train, build, cut.

The estimator is thin: the criteria (:mod:`sklearn_rae.criteria`) know their
costs, engines, trainers and predictors; :mod:`sklearn_rae._training` trains,
:mod:`sklearn_rae._fitted_tree` builds and cuts, :mod:`sklearn_rae._selection`
chooses between candidates, :mod:`sklearn_rae._resources` budgets memory.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._connectivity import connectivity_graph
from ._cut import CutRule
from ._dask import is_dask_collection, predict_dask
from ._fitting import FitContext, FitResult
from ._likelihood import mixture_log_likelihood, mixture_n_parameters
from ._numeric import check_finite_differences, overflow_error
from ._persistence import FittedMergerMixin
from ._registry import MERGE_COSTS
from ._training import prepare_worker_process

__all__ = ["RecursiveAutoencoderClustering"]

DEFAULT_MERGE_COST = "auto"


class RecursiveAutoencoderClustering(FittedMergerMixin, ClusterMixin, BaseEstimator):
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
        The number of clusters to find; ``None`` if ``distance_threshold`` is
        set. ``"auto"`` chooses it from the fitted tree: among the cuts that
        persist longest, the one with the lowest :meth:`bic` (see the user
        guide, "Choosing the number of clusters").
    distance_threshold : float or None, default=None
        The linkage height (``linkage_matrix_[:, 2]``, in SciPy's units) at
        and above which clusters are not merged. If not ``None``,
        ``n_clusters`` must be ``None``.
    merge_cost : {"auto", "whitened_means", "learned_metric", "boundary", \
            "adaptive", "cumulative"}, default="auto"
        The merge criterion (the user guide defines each, ``docs/design.md``
        gives the default's rules):

        - ``"auto"``: the untrained boundary tree where its flat clusters are
          separated by gaps (``separation_``), else ``"whitened_means"``.
        - ``"whitened_means"``: Ward's cost in a metric that whitens the flat
          clusters, fitted by exact steps; no TensorFlow.
        - ``"learned_metric"``: Ward's cost in an embedding trained by Adam.
        - ``"boundary"``: the merge encoder given each child's boundary point
          along the minimum spanning tree; merges follow the data's shape.
        - ``"adaptive"``: the more stable under subsampling of the two above
          (``stability_``); the default of version 0.1.
        - ``"cumulative"``: the original blog post's criterion, exactly.

    max_iter : int, default=100
        Most training steps of each trained criterion; ``0`` builds the tree
        with the untrained merge encoder. ``"whitened_means"`` takes at most 3
        exact steps; Adam's training also stops when it converges or diverges
        (the user guide gives the rules).
    learning_rate : float or "auto", default="auto"
        Adam's step size: ``"auto"`` is ``1e-3`` for ``"cumulative"`` (the
        original loop's) and ``1e-2`` for the scale-free embedded criteria.
        Exact steps ignore it.
    shrinkage : float, default=0.3
        How strongly a metric trained by Adam is held towards the plain
        Euclidean one, from 0 (whiten completely) to 1 (the untrained tree).
        ``"whitened_means"`` estimates its own from the data.
    batch_size : int or "auto", default="auto"
        Samples per training step (a random subset; ``"whitened_means"`` one
        subset for every step). ``"auto"``: at most 4,000 for
        ``"whitened_means"``, 2,000 for the other embedded criteria, 256 for
        ``"cumulative"``.
    memory_limit : int, float, "auto" or None, default="auto"
        Bytes a fit may allocate for its tree and weights; a fit that would
        need more raises a ``MemoryError`` before allocating. ``"auto"`` is the
        memory the system has available (the user guide says how it is
        found); ``None`` disables the check.
    connectivity : array-like, sparse matrix, callable or None, default=None
        Which samples may merge, as in
        :class:`~sklearn.cluster.AgglomerativeClustering`: an adjacency matrix
        of shape ``(n_samples, n_samples)`` or a callable ``connectivity(X)``
        returning one, such as :func:`~sklearn.neighbors.kneighbors_graph`.
        The graph is made symmetric and its diagonal ignored; a graph of
        several components is joined by the last merges, with a warning.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights and the batches; an int gives reproducible
        fits. A fit never changes NumPy's or TensorFlow's global state.
    verbose : int, default=0
        ``1`` or more prints a line per stage of the fit (training, tree
        building, a selection's choice), as progress bars on a terminal or in
        a notebook.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Cluster label of each sample, consecutive integers from 0.
    n_clusters_ : int
        The number of flat clusters (with ``n_clusters="auto"``, the chosen
        one).
    merge_cost_ : str
        The criterion whose tree this is: ``merge_cost``, or the one a
        selection (``"auto"``, ``"adaptive"``) kept.
    separation_ : dict
        With ``merge_cost="auto"`` only: the figures of its rule
        (``separation``, ``smallest_cluster``, ``persistence``, ``kept``).
    stability_ : dict or None
        With ``merge_cost="adaptive"`` only: each compared criterion's mean
        adjusted Rand index on subsamples (None when not compared).
    cut_n_clusters_, cut_persistence_, cut_bic_ : ndarray of shape (n_candidates,)
        With ``n_clusters="auto"`` only: the candidate numbers of clusters,
        how long each candidate partition persists in the tree, and its BIC
        on the training data (the user guide defines both).
    n_leaves_ : int
        Number of leaves in the tree, ``n_samples``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit; only when ``X`` has string column
        names.
    children_ : ndarray of shape (n_samples - 1, 2)
        The children of each merge, as in
        :class:`~sklearn.cluster.AgglomerativeClustering` (the smaller node id
        first, except for ``"cumulative"``, whose first child is the merge
        encoder's first input).
    distances_ : ndarray of shape (n_samples - 1,)
        Height of each merge, ``linkage_matrix_[:, 2]``.
    linkage_matrix_ : ndarray of shape (n_samples - 1, 4)
        The tree in SciPy's linkage format (float64, monotonic heights in
        SciPy's units: Ward's distance in the learned embedding for the
        embedded criteria).
    merger_weights_ : dict of ndarray
        The fitted merge encoder's weights as NumPy arrays (for the embedded
        criteria, ``kernel_embed`` is the embedding ``L``).
    merger_ : keras.Model
        The trained merge encoder, inputs ``[a, b]`` and outputs ``[h, c, o]``
        (hidden vector, concatenation, reconstruction), built on first access.
    loss_curve_ : list of float
        The tree objective of each training step's tree, before the step.
    n_iter_ : int
        Training steps taken, and at least 1 where ``max_iter`` allows any: a
        fit that keeps its starting weights (the default's boundary tree,
        flat clusters of single samples) built and judged one tree with them.
        0 with ``max_iter=0``.
    start_check_ : StartCheck or None
        Adam's training compared with its start on held-out (or training)
        samples; where training ended above its start, the fit kept the
        initial weights. None where nothing was checked.

    See Also
    --------
    sklearn.cluster.AgglomerativeClustering : Classical agglomerative clustering.
    scipy.cluster.hierarchy.linkage : Classical linkages as linkage matrices.

    Notes
    -----
    The user guide gives each criterion's definition, the training loop and
    its stopping rules, the engines and their complexity (the embedded
    criteria's trees take ``O(n d)`` memory, ``"cumulative"``'s ``4 n**2``
    bytes), and what ``predict`` and ``score`` compute. A fit that raises or
    is interrupted (Ctrl-C) leaves the estimator as it was.

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
        # The registry's own keys: a registered criterion is accepted.
        "merge_cost": [StrOptions(MERGE_COSTS.keys())],
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
        cut = CutRule(self.n_clusters, self.distance_threshold)
        X = self._validate_samples(X, reset=True, ensure_min_samples=2)
        n_samples = X.shape[0]
        if cut.fixed_n_clusters is not None and cut.fixed_n_clusters > n_samples:
            raise ValueError(
                f"Cannot find n_clusters={self.n_clusters} clusters in "
                f"{n_samples} samples: n_clusters must be at most n_samples."
            )
        check_finite_differences(X)
        random_state = self._fit_random_state()
        context = FitContext(
            cut=cut,
            adjacency=connectivity_graph(self.connectivity, X, self.memory_limit),
            random_state=random_state,
            integer_seed=(
                self.random_state if isinstance(self.random_state, Integral) else None
            ),
            max_iter=self.max_iter,
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            shrinkage=self.shrinkage,
            memory_limit=self.memory_limit,
            verbose=self.verbose,
        )
        result = MERGE_COSTS[self.merge_cost].fit(X, context)
        # _issue_warnings, _fit, fit, _fit_context's wrapper, then the caller.
        result.training.issue_warnings(stacklevel=4)
        self._store(result)
        return self

    def _store(self, result: FitResult) -> None:
        """Replace the fitted state (only once everything has succeeded)."""
        criterion, training, fitted = result.criterion, result.training, result.fitted
        flat = fitted.cut
        self._criterion = criterion
        self.merger_weights_ = fitted.weights
        self._merger = None
        self._node_state = fitted.node_state
        self._node_labels = fitted.node_labels
        self._mixture = fitted.mixture
        self._predictor = None
        if flat.n_clusters_choice is None:
            for attribute in ("cut_n_clusters_", "cut_persistence_", "cut_bic_"):
                self.__dict__.pop(attribute, None)
        else:
            self.cut_n_clusters_ = flat.n_clusters_choice.candidates
            self.cut_persistence_ = flat.n_clusters_choice.persistence
            self.cut_bic_ = flat.n_clusters_choice.bic
        self.merge_cost_ = criterion.name
        for merge_cost in MERGE_COSTS.values():
            for attribute in merge_cost.attributes:
                self.__dict__.pop(attribute, None)
        self.__dict__.update(result.attributes)
        self.loss_curve_ = training.loss_curve
        # At least one iteration where max_iter allows it: a fit that kept
        # its starting weights built and judged one tree with them.
        self.n_iter_ = max(len(training.loss_curve), min(1, self.max_iter))
        self.start_check_ = training.start_check
        # The engines work in merge costs; SciPy's units for the user.
        linkage = criterion.scipy_linkage(fitted.tree)
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

    # ------------------------------------------------------------- inference

    def predict(self, X):
        """Assign samples to the fitted flat clusters by merge cost.

        Each sample gets the label of the node below the cut (a training
        sample or a merged node) it would merge with at the lowest cost, the
        earliest on ties; on the training data that is ``labels_`` (the user
        guide gives the exceptions and how each criterion finds the node). A
        Dask array or DataFrame is predicted lazily, block by block.

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
        """Fit the tree on ``X`` and return ``labels_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        **kwargs : dict
            Passed to :meth:`fit`.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return super().fit_predict(X, y, **kwargs)

    def _fitted_predictor(self):
        """The fitted criterion's predictor, built on first use.

        Pickles leave it out (a KD-tree, which skops cannot store); it is
        rebuilt from the node states.
        """
        predictor = self.__dict__.get("_predictor")
        if predictor is None:
            predictor = self._criterion.predictor(
                self.merger_weights_,
                self._node_state,
                self._node_labels,
                self.n_leaves_,
            )
            self._predictor = predictor
        return predictor

    def score(self, X, y=None):
        """Mean log-likelihood per sample of ``X`` under the fitted clustering.

        The flat clusters define a Gaussian mixture with one shared covariance
        (the pooled within-cluster covariance plus a ridge of ``1e-6`` times
        each feature's variance); each sample is scored with the cluster that
        explains it best, ``max_c log(w_c N(x | m_c, S))``. The score depends
        on the tree only through its flat clusters, so it compares across
        parameters (higher is better) and
        :class:`~sklearn.model_selection.GridSearchCV` can use it without
        ``scoring`` (the user guide, "Choosing the number of clusters").

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
        :meth:`sklearn.mixture.GaussianMixture.bic`, with
        ``(k - 1) + k d + d (d + 1) / 2`` free parameters for ``k`` clusters
        in ``d`` features: the ICL criterion with hard assignments. Lower is
        better; on the training data of ``n_clusters="auto"`` it is
        ``cut_bic_`` at the chosen cut.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples to evaluate.

        Returns
        -------
        bic : float
        """
        check_is_fitted(self)
        X = self._validate_samples(X, reset=False)
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
        check_is_fitted(self)
        X = self._validate_samples(X, reset=False)
        n_parameters = mixture_n_parameters(self._mixture)
        return -2 * X.shape[0] * self.score(X) + 2 * n_parameters
