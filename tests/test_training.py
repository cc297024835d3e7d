"""Convergence-based stopping of the learned metric's training."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._cut import cut_linkage
from sklearn_rae.criteria.embedded import (
    PATIENCE,
    ConvergenceCheck,
    learned_metric_objective,
    partition_objective,
    same_partition,
)
from sklearn_rae.criteria.learned_metric import LearnedMetricCriterion


def _adaptive(*args, **kwargs):
    """The estimator with the stability selection these tests exercise."""
    kwargs.setdefault("merge_cost", "adaptive")
    return RecursiveAutoencoderClustering(*args, **kwargs)


def _ward_tree(X, kernel_embed):
    """The learned metric's tree: fastcluster's Ward of ``X @ L``."""
    return LearnedMetricCriterion().build_tree({"kernel_embed": kernel_embed}, X)


def _weights(kernel_embed):
    """The weights a step's tree was built with."""
    return {"kernel_embed": kernel_embed}


def _blobs(n, seed=0):
    X, _ = make_blobs(n_samples=n, centers=3, n_features=3, random_state=seed)
    return StandardScaler().fit_transform(X)


@pytest.mark.parametrize("shrinkage", [0.0, 0.3, 1.0])
def test_partition_objective_is_the_tree_objective(shrinkage):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(60, 3))
    L = rng.normal(size=(3, 3))
    tree = _ward_tree(X, L)
    n_below = len(X) - 5
    below = (np.arange(len(X) - 1) < n_below).astype(float)
    labels = cut_linkage(tree.linkage, n_clusters=5)
    assert partition_objective(X, labels, L, shrinkage) == pytest.approx(
        learned_metric_objective(X, tree.linkage, L, below, shrinkage), rel=1e-10
    )


def test_same_partition_up_to_renaming():
    assert same_partition(np.array([0, 0, 1, 2]), np.array([2, 2, 0, 1]))
    assert not same_partition(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]))
    assert not same_partition(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 0]))
    assert same_partition(np.array([], int), np.array([], int))


def test_check_waits_for_patience_and_resets_on_a_new_partition():
    X = _blobs(30)
    tree = _ward_tree(X, np.eye(3))
    below = (np.arange(29) < 27).astype(float)
    check = ConvergenceCheck(X, 0.3)
    results = [
        check.update(None, tree.linkage, below, _weights(np.eye(3))) for _ in range(6)
    ]
    # The first step has nothing to compare with.
    assert results == [False] * PATIENCE + [True]
    # Another partition (four clusters instead of three) starts over.
    other = (np.arange(29) < 26).astype(float)
    assert not check.update(None, tree.linkage, other, _weights(np.eye(3)))
    assert check.quiet_steps == 0
    # So does an embedding that changes the objective.
    check.update(None, tree.linkage, other, _weights(np.eye(3)))
    assert check.quiet_steps == 1
    check.update(None, tree.linkage, other, _weights(np.diag([1.0, 2.0, 1.0])))
    assert check.quiet_steps == 0


def test_mini_batches_compare_the_shared_samples():
    rng = np.random.RandomState(0)
    X = np.repeat(10 * np.eye(3), [14, 13, 13], axis=0)[rng.permutation(40)]
    X += 0.1 * rng.normal(size=X.shape)
    check = ConvergenceCheck(X, 0.3)
    L = np.eye(3)
    first, second = np.arange(0, 30), np.arange(10, 40)
    trees = [_ward_tree(X[rows], L) for rows in (first, second)]
    below = (np.arange(29) < 27).astype(float)
    check.update(first, trees[0].linkage, below, _weights(L))
    # Separated blobs: the shared samples 10..29 are split alike.
    check.update(second, trees[1].linkage, below, _weights(L))
    assert check.quiet_steps == 1
    # Disjoint batches share nothing, so their partitions cannot differ.
    disjoint = np.arange(30, 40)
    tree = _ward_tree(X[disjoint], L)
    check.update(disjoint, tree.linkage, (np.arange(9) < 7).astype(float), _weights(L))
    assert check.quiet_steps == 2


@pytest.mark.parametrize("n_samples, batch_size", [(150, "auto"), (300, 150)])
def test_training_stops_once_converged(n_samples, batch_size):
    X = _blobs(n_samples)
    model = _adaptive(
        n_clusters=3, max_iter=300, batch_size=batch_size, random_state=0
    ).fit(X)
    assert PATIENCE < model.n_iter_ < 300
    assert len(model.loss_curve_) == model.n_iter_
    if batch_size == "auto":
        # Full batch: the last steps' objectives agree to the tolerance.
        assert np.ptp(model.loss_curve_[-PATIENCE:]) < PATIENCE * 1e-4


def test_cumulative_takes_every_step():
    X = _blobs(20)
    model = _adaptive(merge_cost="cumulative", max_iter=12, random_state=0).fit(X)
    assert model.n_iter_ == 12


@pytest.mark.parametrize("merge_cost", ["auto", "whitened_means", "learned_metric"])
def test_as_many_clusters_as_samples_is_no_batch_size_problem(merge_cost):
    # Two samples in two clusters: no batch could leave a merge below the
    # cut, so advice to raise batch_size would be wrong.
    X = np.random.RandomState(0).rand(2, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = RecursiveAutoencoderClustering(
            n_clusters=2, merge_cost=merge_cost, random_state=0
        ).fit(X)
    np.testing.assert_array_equal(model.labels_, [0, 1])
