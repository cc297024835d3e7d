"""The whitened-means criterion: exact training, refinement, unit-free metric."""

import pickle

import numpy as np
import pytest
from scipy.cluster.hierarchy import is_monotonic, is_valid_linkage
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris, load_wine
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._cut import cut_linkage
from sklearn_rae.criteria import Refinement, whitened_means
from sklearn_rae.criteria.whitened_means import (
    diagonal_shrinkage,
    inverse_square_root,
    isotropic_partition,
    looks_spherical,
    refine_clusters,
    refine_partition,
    shrunk_within_scatter,
    sphericity,
    whitened_objective,
)
from sklearn_rae.engines.ward import partitioned_ward_tree


def _fit(X, k, **kwargs):
    return RecursiveAutoencoderClustering(
        n_clusters=k, merge_cost="whitened_means", random_state=0, **kwargs
    ).fit(X)


def test_shrinkage_matches_the_pairwise_definition():
    rng = np.random.RandomState(0)
    residuals = rng.normal(size=(40, 4)) @ rng.normal(size=(4, 4))
    residuals -= residuals.mean(axis=0)
    scaled = residuals / np.sqrt(np.mean(residuals**2, axis=0))
    n, d = scaled.shape
    correlation = scaled.T @ scaled / n
    variance = off = 0.0
    for j in range(d):
        for m in range(d):
            if j != m:
                products = scaled[:, j] * scaled[:, m]
                variance += np.sum((products - correlation[j, m]) ** 2) / n**2
                off += correlation[j, m] ** 2
    assert diagonal_shrinkage(residuals) == pytest.approx(min(variance / off, 1.0))


def test_shrinkage_grows_as_the_evidence_shrinks():
    rng = np.random.RandomState(1)
    mixing = np.eye(10) + 0.8
    many = rng.normal(size=(5000, 10)) @ mixing
    few = rng.normal(size=(12, 10)) @ mixing
    assert diagonal_shrinkage(many) < 0.01
    assert diagonal_shrinkage(few) > 10 * diagonal_shrinkage(many)
    independent = rng.normal(size=(30, 10))
    assert diagonal_shrinkage(independent) > 0.5


def test_an_exact_step_minimises_the_objective():
    rng = np.random.RandomState(2)
    X = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5))
    labels = (X[:, 0] > 0).astype(np.intp)
    scatter, _ = shrunk_within_scatter(X - X.mean(axis=0), labels)
    best = inverse_square_root(scatter)
    np.testing.assert_allclose(best @ best.T, np.linalg.inv(scatter), rtol=1e-8)
    minimum = whitened_objective(scatter, best)
    assert minimum == pytest.approx(np.log(5) + np.linalg.slogdet(scatter)[1] / 5)
    for _ in range(20):
        other = best + 0.3 * rng.normal(size=best.shape)
        assert whitened_objective(scatter, other) >= minimum - 1e-12


def test_refinement_does_not_lower_the_classification_likelihood():
    from sklearn_rae._likelihood import mixture_log_likelihood, tied_mixture

    rng = np.random.RandomState(3)
    X = np.vstack([rng.normal(0, 1, (150, 3)), rng.normal(1.5, 1, (150, 3))])
    start = (np.arange(300) % 2).astype(np.intp)  # a poor partition
    start[:100] = 0
    refined, _, moves = refine_partition(X - X.mean(axis=0), start)
    assert moves > 0

    def likelihood(labels):
        return np.mean(mixture_log_likelihood(tied_mixture(X, labels), X))

    assert likelihood(refined) > likelihood(start)


def test_partitioned_tree_cuts_into_its_partition():
    rng = np.random.RandomState(4)
    points = rng.normal(size=(60, 3))
    labels = rng.randint(0, 4, size=60)
    tree = partitioned_ward_tree(points, labels)
    assert is_valid_linkage(tree.linkage) and is_monotonic(tree.linkage)
    cut = cut_linkage(tree.linkage, n_clusters=4)
    assert adjusted_rand_score(labels, cut) == 1.0


@pytest.mark.parametrize("loader, k", [(load_iris, 3), (load_wine, 3)])
def test_the_metric_does_not_depend_on_the_columns_units(loader, k):
    X, y = loader(return_X_y=True)
    scales = np.random.RandomState(5).uniform(0.01, 100, X.shape[1])
    standardised = _fit(StandardScaler().fit_transform(X), k)
    rescaled = _fit(X * scales, k)
    np.testing.assert_array_equal(standardised.labels_, rescaled.labels_)
    assert adjusted_rand_score(y, standardised.labels_) > 0.9


def test_two_overlapping_gaussians_in_64_dimensions_as_well_as_kmeans():
    rng = np.random.RandomState(6)
    d, n = 64, 1000
    shift = np.zeros(d)
    shift[:8] = 1.0  # the means are 2.8 standard deviations apart
    y = np.repeat([0, 1], n // 2)
    X = rng.normal(size=(n, d)) + np.outer(y, shift)
    model = _fit(X, 2)
    kmeans = KMeans(2, n_init=10, random_state=0).fit(X)
    ours = adjusted_rand_score(y, model.labels_)
    theirs = adjusted_rand_score(y, kmeans.labels_)
    assert ours >= theirs - 0.05
    assert ours > 0.6


def test_fit_is_a_tree_whose_cut_is_the_labels_and_predict_agrees(blobs):
    X, _ = blobs
    model = _fit(X, 3)
    assert is_valid_linkage(model.linkage_matrix_)
    assert is_monotonic(model.linkage_matrix_)
    np.testing.assert_array_equal(
        cut_linkage(model.linkage_matrix_, n_clusters=3), model.labels_
    )
    np.testing.assert_array_equal(model.predict(X), model.labels_)
    assert 1 <= model.n_iter_ <= 3
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.labels_)


def _overlapping_spheres(seed=0, n=2000, d=4, distance=1.6):
    """Two spherical Gaussian clusters ``distance`` standard deviations apart."""
    rng = np.random.RandomState(seed)
    y = np.repeat([0, 1], n // 2)
    X = rng.normal(size=(n, d)) + np.outer(y, np.full(d, distance / np.sqrt(d)))
    return X, y


def test_sphericity_accepts_spherical_clusters_and_rejects_stretched_ones():
    X, y = _overlapping_spheres(n=1000, d=6)
    report = sphericity(X, y)
    assert report["p"] == 5 and report["n"] == 998
    assert 1.0 < report["largest"] < 1.3 and 0.7 < report["smallest"] < 1.0
    assert looks_spherical(X, y)
    stretched = X * np.array([1, 1, 1, 1, 1, 2.0])  # one column twice as spread
    assert sphericity(stretched, y)["largest"] > 1.8  # the bound is 1.72 here
    assert not looks_spherical(stretched, y)


def test_sphericity_needs_two_dimensions_off_the_means():
    X, y = _overlapping_spheres(n=400, d=2)
    assert sphericity(X, y)["p"] == 1
    assert not looks_spherical(X, y)


@pytest.mark.parametrize("loader", [load_iris, load_wine])
def test_correlated_classes_keep_the_shared_covariance(loader):
    X, y = loader(return_X_y=True)
    centred = X - X.mean(axis=0)
    _, kernel_embed, _ = isotropic_partition(centred, y)
    assert not looks_spherical(centred @ kernel_embed, y)
    refined, _, _, kind = refine_clusters(centred, y)
    assert kind is Refinement.SHARED_COVARIANCE
    np.testing.assert_array_equal(refined, refine_partition(centred, y)[0])


def test_isotropic_refinement_is_kmeans_in_the_unit_free_metric():
    X, y = _overlapping_spheres(seed=1, n=600, d=3, distance=3.0)
    X = X * np.array([0.01, 1.0, 100.0])  # units do not matter
    centred = X - X.mean(axis=0)
    start = np.zeros(600, dtype=np.intp)
    start[::2] = 1
    labels, kernel_embed, moves = isotropic_partition(centred, start)
    assert moves > 0
    np.testing.assert_allclose(np.diag(kernel_embed), 1 / centred.std(axis=0))
    Z = centred @ kernel_embed
    means = np.array([Z[labels == c].mean(axis=0) for c in (0, 1)])
    nearest = np.argmin(((Z[:, None, :] - means[None]) ** 2).sum(axis=2), axis=1)
    np.testing.assert_array_equal(nearest, labels)  # a fixed point of Lloyd
    kmeans = KMeans(2, n_init=10, random_state=0).fit(StandardScaler().fit_transform(X))
    assert adjusted_rand_score(kmeans.labels_, labels) > 0.98
    assert adjusted_rand_score(y, labels) > 0.7  # 3 standard deviations apart


def test_overlapping_spherical_clusters_score_as_kmeans(monkeypatch):
    # Two clusters 1.6 standard deviations apart in 4 dimensions: the shared
    # covariance of a hard partition is too narrow across the boundary, and
    # the classification EM settles on a tilted partition.
    X, y = _overlapping_spheres()
    ours = adjusted_rand_score(y, _fit(X, 2).labels_)
    kmeans = KMeans(2, n_init=10, random_state=0).fit(X)
    assert ours >= adjusted_rand_score(y, kmeans.labels_) - 0.01
    monkeypatch.setattr(
        whitened_means,
        "refine_clusters",
        lambda X, labels: (*refine_partition(X, labels), Refinement.SHARED_COVARIANCE),
    )
    shared_covariance = adjusted_rand_score(y, _fit(X, 2).labels_)
    assert ours > shared_covariance + 0.03


def test_isotropic_path_does_not_depend_on_the_columns_units():
    X, _ = _overlapping_spheres(seed=2, n=800, d=5, distance=3.0)
    scales = np.random.RandomState(5).uniform(0.01, 100, X.shape[1])
    np.testing.assert_array_equal(_fit(X, 2).labels_, _fit(X * scales, 2).labels_)


@pytest.fixture
def blobs():
    rng = np.random.RandomState(7)
    centres = np.array([[0, 0], [4, 0], [0, 4]])
    X = np.vstack([rng.normal(c, 0.8, size=(60, 2)) for c in centres])
    return X, np.repeat([0, 1, 2], 60)
