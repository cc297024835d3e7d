"""The start check: training that ends above where it started is caught.

After Adam's training the trees of the initial and of the trained weights are
compared by the objective training minimises, over samples training did not
see (a held-out fifth) or else over the training samples; where the trained
weights' is higher, the fit keeps the initial weights and warns.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_wine, make_blobs, make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering, _start_check
from sklearn_rae._start_check import (
    CHECK_SAMPLES,
    CHECK_TOLERANCE,
    StartCheckOutcome,
    check_rows,
    held_out_rows,
)
from sklearn_rae.criteria import base as criterion_base
from sklearn_rae.criteria.embedded import partition_objective


def _fit(X, **params):
    params.setdefault("merge_cost", "learned_metric")
    params.setdefault("random_state", 0)
    return RecursiveAutoencoderClustering(**params).fit(X)


def _untrained_objective(X, n_clusters, shrinkage=0.3):
    """The initial weights' objective, recomputed: Ward's tree of ``X`` (the
    identity embedding) cut into ``n_clusters``, its clusters' spread."""
    labels = _fit(X, n_clusters=n_clusters, max_iter=0).labels_
    return partition_objective(X, labels, np.eye(X.shape[1]), shrinkage)


@pytest.mark.parametrize("held_out", [True, False])
def test_training_that_ends_above_its_start_keeps_the_initial_weights(
    held_out, monkeypatch
):
    # On two moons the learned metric's trained tree spreads its two clusters
    # more than Ward's tree does, on held-out samples and on the training
    # samples alike: training ended worse by its own measure.
    X, _ = make_moons(500, noise=0.05, random_state=0)
    if not held_out:
        monkeypatch.setattr(_start_check, "HOLDOUT_MIN_SAMPLES", 10**6)
    with pytest.warns(ConvergenceWarning, match="above where it started") as caught:
        model = _fit(X, n_clusters=2)
    message = str(caught[0].message)
    check = model.start_check_
    assert check.kept_initial and check.worsened
    assert check.outcome is StartCheckOutcome.INITIAL_KEPT
    assert check.held_out == held_out
    assert check.trained_objective > check.initial_objective + 10 * CHECK_TOLERANCE
    assert f"{check.trained_objective:.6g}" in message
    assert f"{check.initial_objective:.6g}" in message
    assert ("held-out" in message) == held_out
    # The initial weights' objective, recomputed independently over the
    # check sample: a fifth of the samples, or all of them.
    rows = held_out_rows(len(X)) if held_out else np.arange(len(X))
    assert len(rows) == check.n_samples == (100 if held_out else 500)
    assert check.initial_objective == pytest.approx(
        _untrained_objective(X[rows], 2), rel=1e-9
    )
    untrained = _fit(X, n_clusters=2, max_iter=0)
    np.testing.assert_array_equal(model.labels_, untrained.labels_)
    np.testing.assert_allclose(model.linkage_matrix_, untrained.linkage_matrix_)
    # Training took its steps; only its result was set aside.
    assert model.n_iter_ > 0


def test_a_metric_fitted_to_noise_in_64_dimensions_is_caught(monkeypatch):
    # Two Gaussian clusters in 64 dimensions, 2.5 apart along one axis: a
    # 64 x 64 metric fitted to the tree's own clusters finds a partition of
    # noise that is tighter than the true one on the samples it was fitted
    # to (training lowers its objective there), and looser on samples it
    # has not seen. The held-out check keeps Ward's tree.
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1], 500)
    X = rng.normal(size=(1000, 64))
    X[y == 1, 0] += 2.5
    with pytest.warns(ConvergenceWarning, match="1000|200 held-out"):
        model = _fit(X, n_clusters=2)
    assert model.start_check_.held_out and model.start_check_.kept_initial
    untrained = _fit(X, n_clusters=2, max_iter=0)
    np.testing.assert_array_equal(model.labels_, untrained.labels_)
    assert adjusted_rand_score(y, model.labels_) > 0.2
    # Trained on every sample and kept, the metric loses the clusters.
    monkeypatch.setattr(_start_check, "HOLDOUT_MIN_SAMPLES", 10**6)
    monkeypatch.setattr(_start_check, "CHECK_TOLERANCE", np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        trained = _fit(X, n_clusters=2)
    assert adjusted_rand_score(y, trained.labels_) < 0.1


def test_training_that_lowers_its_objective_keeps_its_weights():
    data = load_wine()
    X = StandardScaler().fit_transform(data.data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = _fit(X, n_clusters=3)
    check = model.start_check_
    assert not check.worsened and not check.kept_initial
    # Training lowers the clusters' spread in the unit-volume metric by more
    # than a tenth (the objective is its logarithm) ...
    assert check.trained_objective < check.initial_objective - 0.1
    kernel = model.merger_weights_["kernel_embed"]
    assert check.trained_objective == pytest.approx(
        partition_objective(X, model.labels_, kernel, 0.3), rel=1e-9
    )
    # ... and the tree it keeps is much closer to the wine cultivars.
    untrained = _fit(X, n_clusters=3, max_iter=0)
    assert adjusted_rand_score(data.target, model.labels_) > 0.95
    assert adjusted_rand_score(data.target, untrained.labels_) < 0.8


@pytest.mark.parametrize(
    "params",
    [
        {"merge_cost": "cumulative", "max_iter": 3},  # the seed's loop, unchanged
        {"merge_cost": "whitened_means"},  # exact steps
        {"merge_cost": "learned_metric", "max_iter": 0},  # nothing trained
    ],
)
def test_no_start_check_where_adam_does_not_train(params):
    X, _ = make_moons(60, noise=0.05, random_state=0)
    assert _fit(X, n_clusters=2, **params).start_check_ is None


def test_held_out_share_is_fixed_and_bounded():
    assert held_out_rows(249) is None  # too few samples: no hold-out
    assert held_out_rows(5000, adjacency=object()) is None  # along a graph
    rows = held_out_rows(1000)
    assert len(rows) == 200 == len(np.unique(rows))
    np.testing.assert_array_equal(rows, held_out_rows(1000))
    assert len(held_out_rows(10 * CHECK_SAMPLES)) == CHECK_SAMPLES


def test_check_sample_is_fixed_and_bounded():
    assert check_rows(CHECK_SAMPLES) is None
    rows = check_rows(3 * CHECK_SAMPLES)
    assert len(rows) == CHECK_SAMPLES == len(np.unique(rows))
    assert np.all(np.diff(rows) > 0) and rows[-1] < 3 * CHECK_SAMPLES
    np.testing.assert_array_equal(rows, check_rows(3 * CHECK_SAMPLES))


def test_progress_says_the_initial_weights_were_kept(capsys):
    X, _ = make_moons(500, noise=0.05, random_state=0)
    with pytest.warns(ConvergenceWarning):
        _fit(X, n_clusters=2, verbose=1)
    lines = capsys.readouterr().out.splitlines()
    training = [line for line in lines if line.startswith("Training learned_metric")]
    assert len(training) == 1
    assert "kept the initial weights (see the warning)" in training[0]


@pytest.mark.parametrize(
    "merge_cost, n_clusters, held_out, improved",
    [
        ("learned_metric", 26, True, None),  # 26 clusters of the 52 held out
        ("learned_metric", 27, False, False),  # more than half: no hold-out
        ("learned_metric", 150, False, True),
        ("boundary", 60, False, True),
    ],
)
def test_many_clusters_are_checked_on_the_training_samples(
    merge_cost, n_clusters, held_out, improved, monkeypatch
):
    # With more clusters than half the held-out rows, their cut keeps few or
    # no merges below it, and their objective would be the tree above the
    # cut, which training did not lower: the check is then made on the
    # training samples, as where there is no hold-out.
    X, _ = make_blobs(260, centers=4, n_features=3, random_state=1)
    assert len(held_out_rows(len(X))) == 52
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = _fit(X, merge_cost=merge_cost, n_clusters=n_clusters)
        monkeypatch.setattr(_start_check, "HOLDOUT_MIN_SAMPLES", 10**6)
        unchecked = _fit(X, merge_cost=merge_cost, n_clusters=n_clusters)
    check = model.start_check_
    assert check.held_out == held_out
    assert check.n_samples == (52 if held_out else 260)
    if held_out:
        return
    # The same check, and the same tree, as a fit that holds nothing out.
    assert unchecked.start_check_ == check
    np.testing.assert_array_equal(unchecked.labels_, model.labels_)
    # Where training lowered its objective on the samples it saw, the fit
    # keeps what it learnt (a held-out check of the whole tree reverted it).
    assert (check.trained_objective < check.initial_objective) == improved
    assert check.kept_initial != improved and model.n_iter_ > 0


@pytest.mark.parametrize("threshold, n_trainings", [(0.5, 1), (20.0, 2)])
def test_a_small_threshold_is_checked_on_the_training_samples(
    threshold, n_trainings, monkeypatch
):
    # Decided on the initial weights' held-out tree before training: a
    # threshold that leaves more clusters than half the held-out rows trains
    # once, on every sample; a large one trains without them first.
    X, _ = make_blobs(260, centers=4, n_features=3, random_state=1)
    trainings = []
    step_through_trees = criterion_base.step_through_trees

    def counted(criterion, X_trained, *args, **kwargs):
        trainings.append(X_trained.shape[0])
        return step_through_trees(criterion, X_trained, *args, **kwargs)

    monkeypatch.setattr(criterion_base, "step_through_trees", counted)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = _fit(X, n_clusters=None, distance_threshold=threshold)
    assert trainings == [208, 260][-n_trainings:]
    if n_trainings == 1:
        assert model.n_clusters_ > 130  # more than half the held-out 52
        assert not model.start_check_.held_out
        assert model.start_check_.n_samples == 260
    else:
        assert model.n_clusters_ <= 5


def test_one_far_outlier_does_not_stop_training():
    # A missing-value code beside columns scaled to [0, 1]: the merges inside
    # the clusters cost less than 1e-12 of the outlier's, but they are real
    # merges, not duplicates, and training takes its steps.
    X, _ = make_blobs(400, centers=3, n_features=4, random_state=3)
    X = (X - X.min(axis=0)) / np.ptp(X, axis=0)
    X[0, 0] = 999999.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = _fit(X, n_clusters=4)
    assert model.n_iter_ > 10
    assert model.start_check_ is not None


@pytest.mark.parametrize("merge_cost", ["learned_metric", "boundary"])
def test_exact_duplicates_leave_nothing_to_learn(merge_cost):
    # Five points, sixty copies each: the clusters are points, and the Ward
    # engine's merges of copies cost rounding error (about 1e-15), not zero.
    # Training stops at once, with no step and no warning: one iteration,
    # the tree that showed it.
    X, _ = make_blobs(300, centers=3, n_features=3, random_state=2)
    X = np.repeat(X[:5], 60, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = _fit(X, merge_cost=merge_cost, n_clusters=5)
    assert model.n_iter_ == 1 and model.loss_curve_ == []
    assert model.start_check_ is None
    assert len(np.unique(model.labels_)) == 5
    np.testing.assert_array_equal(model.labels_, np.repeat(np.arange(5), 60))
