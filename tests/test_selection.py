"""The default criterion, "adaptive": the more stable of two codes."""

import dataclasses
import warnings

import numpy as np
import pytest
from scipy import sparse
from scipy.cluster import hierarchy
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, make_blobs, make_circles, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

import sklearn_rae._fitting as fitting_module
from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._registry import MERGE_COSTS, get_criterion
from sklearn_rae._selection import (
    MAX_SUBSAMPLES,
    MIN_SUBSAMPLES,
    ROUND_SIZE,
    compare_stability,
    subsample_stability,
)


def _adaptive(*args, **kwargs):
    """The estimator with the stability selection these tests exercise."""
    kwargs.setdefault("merge_cost", "adaptive")
    return RecursiveAutoencoderClustering(*args, **kwargs)


AdaptiveCriterion = MERGE_COSTS["adaptive"]
CANDIDATES = [candidate.name for candidate in AdaptiveCriterion.candidates]


def _fewer_selection_samples(monkeypatch, selection_samples):
    """Make "adaptive" compare on a subset above ``selection_samples``."""
    monkeypatch.setitem(
        MERGE_COSTS,
        "adaptive",
        dataclasses.replace(AdaptiveCriterion, selection_samples=selection_samples),
    )


def test_default_follows_shapes_by_keeping_boundary_points(shape):
    X, y = shape
    model = _adaptive(2, random_state=0).fit(X)
    assert adjusted_rand_score(y, model.labels_) > 0.99
    assert model.merge_cost_ == "boundary"
    # Clearly more stable, not by a hair.
    assert model.stability_["boundary"] > model.stability_["learned_metric"] + 0.05
    # The learned metric alone cuts these shapes into convex pieces.
    means = _adaptive(2, merge_cost="learned_metric", random_state=0).fit(X)
    assert adjusted_rand_score(y, means.labels_) < 0.7
    assert np.array_equal(model.predict(X), model.labels_)


def test_default_keeps_means_where_classes_overlap():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = _adaptive(2, random_state=0).fit(X)
    # Ward's tree scores 0.575; the boundary criterion 0.472.
    assert adjusted_rand_score(y, model.labels_) > 0.7
    assert model.merge_cost_ == "learned_metric"
    assert model.stability_["learned_metric"] > model.stability_["boundary"] + 0.3


def test_kept_fit_is_the_named_criterions_fit():
    X, _ = make_moons(300, noise=0.06, random_state=1)
    model = _adaptive(2, max_iter=10, random_state=3).fit(X)
    named = _adaptive(2, merge_cost=model.merge_cost_, max_iter=10, random_state=3).fit(
        X
    )
    np.testing.assert_array_equal(model.linkage_matrix_, named.linkage_matrix_)
    np.testing.assert_array_equal(model.labels_, named.labels_)
    assert model.loss_curve_ == named.loss_curve_
    assert model.merge_cost == "adaptive"
    # The same seed gives the same comparison.
    again = clone(model).fit(X)
    assert again.stability_ == model.stability_


def test_subsample_of_every_sample_reproduces_the_fit():
    X, _ = make_moons(200, noise=0.06, random_state=1)
    for name in CANDIDATES:
        model = _adaptive(2, merge_cost=name, max_iter=3, random_state=0).fit(X)
        stability = subsample_stability(
            get_criterion(name),
            model.merger_weights_,
            X,
            model.labels_,
            2,
            np.arange(len(X)),
        )
        assert stability == 1.0


def test_comparison_is_sequential_and_paired():
    X, _ = make_blobs(300, centers=3, cluster_std=0.5, random_state=0)
    fitted = _adaptive(3, merge_cost="learned_metric", max_iter=0).fit(X)
    candidate = (
        get_criterion("learned_metric"),
        fitted.merger_weights_,
        fitted.labels_,
        3,
    )
    # The same criterion twice: every paired difference is 0, a tie kept by
    # the first candidate after the fewest subsamples.
    tie = compare_stability([candidate, candidate], X, np.random.RandomState(0))
    assert tie.chosen == 0 and tie.n_subsamples == MIN_SUBSAMPLES
    assert np.all(tie.differences == 0)
    # Against labels the tree never finds (random ones), the fitted
    # partition wins clearly and early.
    noise = np.random.RandomState(1).randint(3, size=len(X))
    rival = (*candidate[:2], noise, 3)
    clear = compare_stability([rival, candidate], X, np.random.RandomState(0))
    assert clear.chosen == 1
    assert MIN_SUBSAMPLES <= clear.n_subsamples <= MAX_SUBSAMPLES
    assert clear.n_subsamples % ROUND_SIZE == 0
    assert clear.stability[1] > 0.9 > 0.1 > clear.stability[0]


def test_too_few_samples_keep_the_first_candidate_without_comparing():
    X = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0], [9.0, 0.0]])
    model = _adaptive(2, max_iter=2, random_state=0).fit(X)
    assert model.merge_cost_ == "learned_metric" and model.stability_ is None
    # Subsamples keep 80%, at least 10 samples: 9 of 11, 10 of 12.
    assert not AdaptiveCriterion.can_compare(11, 2)
    assert AdaptiveCriterion.can_compare(12, 2)
    assert not AdaptiveCriterion.can_compare(1000, 1)


def test_large_data_compare_on_a_subset_and_build_the_kept_tree(monkeypatch):
    _fewer_selection_samples(monkeypatch, 150)
    X, y = make_circles(400, factor=0.4, noise=0.05, random_state=0)
    model = _adaptive(2, max_iter=5, random_state=0).fit(X)
    assert model.merge_cost_ == "boundary" and model.stability_ is not None
    assert model.n_leaves_ == 400 and model.labels_.shape == (400,)
    # Weights trained on the subset of 150; the tree over all 400 samples.
    assert 1 <= model.n_iter_ == len(model.loss_curve_) <= 5
    boundary = get_criterion("boundary")
    tree = boundary.build_tree(model.merger_weights_, X)
    np.testing.assert_array_equal(model.linkage_matrix_, boundary.scipy_linkage(tree))
    assert adjusted_rand_score(y, model.labels_) > 0.99


def test_connectivity_keeps_the_learned_metric():
    n = 60
    X = np.r_[np.zeros((30, 1)), np.ones((30, 1))] + 0.01 * np.arange(n)[:, None]
    chain = sparse.diags([1, 1], [-1, 1], shape=(n, n), dtype=np.int8)
    model = _adaptive(2, connectivity=chain, max_iter=2, random_state=0).fit(X)
    assert model.merge_cost_ == "learned_metric" and model.stability_ is None
    assert np.array_equal(model.labels_, np.r_[np.zeros(30), np.ones(30)])


@pytest.mark.parametrize(
    "cut",
    [{"n_clusters": "auto"}, {"n_clusters": None, "distance_threshold": 1.0}],
    ids=["auto", "threshold"],
)
def test_other_cuts_compare_the_partitions_each_criterion_returns(cut):
    X, _ = make_moons(400, noise=0.06, random_state=0)
    model = _adaptive(max_iter=3, random_state=0, **cut).fit(X)
    labels = hierarchy.fcluster(model.linkage_matrix_, model.n_clusters_, "maxclust")
    assert adjusted_rand_score(labels, model.labels_) == 1.0
    named = _adaptive(
        merge_cost=model.merge_cost_, max_iter=3, random_state=0, **cut
    ).fit(X)
    np.testing.assert_array_equal(model.labels_, named.labels_)
    # What was compared is the labels each criterion returns with this cut.
    assert model.stability_ is None or set(model.stability_) == set(CANDIDATES)


def test_refits_drop_what_the_new_fit_lacks():
    X, _ = make_blobs(200, centers=3, random_state=0)
    model = _adaptive(n_clusters="auto", max_iter=2, random_state=0)
    model.fit(X)
    assert hasattr(model, "cut_bic_") and hasattr(model, "stability_")
    model.set_params(n_clusters=3).fit(X)
    assert not hasattr(model, "cut_bic_")
    model.set_params(merge_cost="learned_metric").fit(X)
    assert not hasattr(model, "stability_") and model.merge_cost_ == "learned_metric"


def test_models_saved_before_the_adaptive_default_still_predict():
    X, _ = make_blobs(60, centers=2, random_state=0)
    model = _adaptive(2, merge_cost="learned_metric", max_iter=2, random_state=0).fit(X)
    state = model.__getstate__()
    del state["merge_cost_"]
    old = RecursiveAutoencoderClustering.__new__(RecursiveAutoencoderClustering)
    old.__setstate__(state)
    np.testing.assert_array_equal(old.predict(X), model.labels_)


def test_data_too_large_is_refused_before_the_subset_fits(monkeypatch):
    _fewer_selection_samples(monkeypatch, 100)
    X = np.random.RandomState(0).randn(300, 3000)
    model = _adaptive(2, memory_limit=1e6)
    calls = []
    monkeypatch.setattr(
        fitting_module,
        "train",
        lambda criterion, *args, **kwargs: calls.append(criterion.name),
    )
    with pytest.raises(MemoryError):
        model.fit(X)
    assert calls == [] and not hasattr(model, "labels_")


def test_training_warnings_survive_the_large_data_path(monkeypatch):
    _fewer_selection_samples(monkeypatch, 150)
    X, _ = make_blobs(400, centers=3, random_state=0)
    with pytest.warns(UserWarning, match="raise batch_size above n_clusters"):
        _adaptive(3, max_iter=2, batch_size=3, random_state=0).fit(X)


def test_warnings_of_the_kept_fit_point_at_the_caller():
    X = np.random.RandomState(0).randn(40, 2)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        _adaptive(2, max_iter=2, batch_size=2, random_state=0).fit(X)
    messages = [str(w.message) for w in record if "batch_size" in str(w.message)]
    assert len(messages) == 1
    assert [w.filename for w in record if "batch_size" in str(w.message)] == [__file__]


def test_verbose_names_each_candidate_and_the_comparison(capsys):
    X, _ = make_moons(200, noise=0.06, random_state=1)
    _adaptive(2, max_iter=2, random_state=0, verbose=1).fit(X)
    out = capsys.readouterr().out
    assert out.index("Training learned_metric: ") < out.index("Training boundary: ")
    assert "subsamples: learned_metric 0." in out and "; keeping boundary" in out
    # The comparison is one line in a log, complete at the subsamples it took.
    n_subsamples = int(out.split("Stability over ")[1].split()[0])
    comparing = [line for line in out.splitlines() if line.startswith("Comparing")]
    assert len(comparing) == 1
    assert comparing[0].startswith(
        f"Comparing up to {MAX_SUBSAMPLES} subsamples: 100%|##########| "
        f"{n_subsamples}/{n_subsamples} ["
    )
    assert "subsample/s, difference=+0." in comparing[0]


def test_verbose_says_why_no_comparison_was_made(capsys):
    # A single cluster is stable under either criterion.
    X, _ = make_moons(60, noise=0.06, random_state=1)
    _adaptive(1, max_iter=2, random_state=0, verbose=1).fit(X)
    out = capsys.readouterr().out
    assert "Comparing" not in out
    assert out.splitlines()[-1] == (
        "Keeping learned_metric: the criteria give the same flat clusters"
    )
