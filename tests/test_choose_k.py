"""Choosing the number of clusters from a tree: shapes, blobs, ties, warnings."""

import warnings

import numpy as np
import pytest
from scipy.cluster.hierarchy import cut_tree, linkage
from sklearn.datasets import load_digits, make_blobs, make_circles, make_moons
from sklearn.metrics import adjusted_rand_score
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._choose_k import (
    MAX_CANDIDATE_CLUSTERS,
    choose_n_clusters,
    cut_persistence,
    min_cluster_size,
)


def cut(tree, k):
    return cut_tree(tree, n_clusters=[k]).ravel()


def boundary_tree(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RecursiveAutoencoderClustering(
            merge_cost="boundary", max_iter=5, random_state=0
        ).fit(X)
    return model.linkage_matrix_


@pytest.mark.parametrize(
    "make",
    [
        lambda: make_circles(400, factor=0.5, noise=0.05, random_state=0),
        lambda: make_moons(400, noise=0.05, random_state=0),
    ],
    ids=["circles", "moons"],
)
def test_shapes_give_two_clusters_on_the_boundary_tree(make):
    X, y = make()
    X = StandardScaler().fit_transform(X)
    tree = boundary_tree(X)
    choice = choose_n_clusters(X, tree)
    assert choice.n_clusters == 2
    assert choice.criterion == "persistence"
    assert adjusted_rand_score(y, cut(tree, 2)) > 0.99
    # The two shapes' partition outlives every other by far.
    second = np.sort(choice.persistence[choice.candidates >= 2])[-2]
    assert choice.persistence[choice.candidates == 2][0] > 2 * second


@pytest.mark.parametrize("n_centers", [3, 5, 7])
def test_separated_blobs_give_their_number_on_ward_trees(n_centers):
    X, y = make_blobs(
        400, centers=n_centers, cluster_std=0.5, center_box=(-20, 20), random_state=0
    )
    X = StandardScaler().fit_transform(X)
    tree = linkage(X, "ward")
    choice = choose_n_clusters(X, tree)
    assert choice.n_clusters == n_centers
    assert adjusted_rand_score(y, cut(tree, n_centers)) == pytest.approx(1.0)
    assert not (choice.at_lower_bound or choice.at_upper_bound)
    assert choice.message is None


def linkage_of(n, merges):
    """SciPy's linkage matrix of ``merges``: (name, left, right, height).

    Children are sample indices or names of earlier merges; rows are sorted
    by height.
    """
    merges = sorted(merges, key=lambda merge: merge[3])
    ids, sizes, rows = {}, {}, []
    for step, (name, left, right, height) in enumerate(merges):
        left, right = (ids.get(child, child) for child in (left, right))
        size = sizes.get(left, 1) + sizes.get(right, 1)
        ids[name], sizes[n + step] = n + step, size
        rows.append([left, right, height, size])
    return np.array(rows, dtype=float)


def _shedding_tree():
    """16 samples whose cut into 2 sheds one sample from each group.

    With clusters of at least m = 4: group A (samples 0..8) is two clusters
    of 4 joined at 1.0, then sample 8 at 3.0; group B (9..15) a chain, then
    sample 15 at 2.5. Undoing the merges at 3.0 and 2.5 sheds one sample
    from A and B: the partition into A and B lives on down to A's split at
    1.0. Returns ``(X, linkage)``.
    """
    X = np.r_[np.arange(9.0), 100 + np.arange(7.0)][:, None]
    tree = linkage_of(
        16,
        [
            ("a", 0, 1, 0.1),
            ("b", 2, 3, 0.1),
            ("A1", "a", "b", 0.2),
            ("c", 4, 5, 0.1),
            ("d", 6, 7, 0.1),
            ("A2", "c", "d", 0.2),
            ("e", 9, 10, 0.1),
            ("f", "e", 11, 0.2),
            ("g", "f", 12, 0.3),
            ("h", "g", 13, 0.4),
            ("B'", "h", 14, 0.5),
            ("A'", "A1", "A2", 1.0),
            ("B", "B'", 15, 2.5),
            ("A", "A'", 8, 3.0),
            ("root", "A", "B", 10.0),
        ],
    )
    return X, tree


def test_persistence_lives_on_through_shed_fragments():
    X, tree = _shedding_tree()
    choice = choose_n_clusters(X, tree)
    assert choice.min_cluster_size == 4
    # Every cut into 3 or more clusters holds a fragment of one sample.
    assert choice.candidates.tolist() == [1, 2]
    # From 10.0 down to 1.0, not down to 3.0, the highest merge inside.
    np.testing.assert_allclose(choice.persistence[1], np.log(10.0 / 1.0))
    assert choice.n_clusters == 2
    assert choice.criterion == "persistence"


def test_cut_persistence_of_a_given_cut():
    # Its cut into 2 lives from 10.0 down to 1.0.
    X, tree = _shedding_tree()
    assert cut_persistence(X, tree, 2) == pytest.approx(np.log(10.0))
    scaled = tree.copy()
    scaled[:, 2] *= 7.0  # a tree's own height unit does not matter
    assert cut_persistence(X, scaled, 2) == pytest.approx(np.log(10.0))
    # The cut into 3 holds a cluster of one sample (fewer than m = 4 rows).
    assert np.isnan(cut_persistence(X, tree, 3))
    with pytest.raises(ValueError, match="at least 2"):
        cut_persistence(X, tree, 1)


def test_standardised_digits_give_about_ten_clusters():
    digits = load_digits()
    X = StandardScaler().fit_transform(digits.data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = RecursiveAutoencoderClustering(n_clusters="auto", random_state=0).fit(X)
    assert 8 <= model.n_clusters_ <= 12
    assert adjusted_rand_score(digits.target, model.labels_) > 0.5


def test_the_pick_does_not_depend_on_the_heights_units():
    X, _ = make_blobs(300, centers=4, cluster_std=0.6, random_state=3)
    tree = linkage(X, "ward")
    squared = tree.copy()
    squared[:, 2] = 7.0 * tree[:, 2] ** 2
    first, second = choose_n_clusters(X, tree), choose_n_clusters(X, squared)
    assert first.n_clusters == second.n_clusters == 4
    np.testing.assert_allclose(
        second.persistence[1:], 2 * first.persistence[1:], rtol=1e-9
    )


@pytest.mark.parametrize("unit", [1e-4, 1e6])
@pytest.mark.parametrize("merge_cost", ["auto", "whitened_means"])
def test_the_pick_does_not_depend_on_a_column_s_unit(merge_cost, unit):
    # The likelihood's ridge is relative to each column's variance: one
    # column in small units once drowned in a ridge set by the other's.
    X, _ = make_blobs(200, centers=3, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the range's own note
        as_given, rescaled = (
            RecursiveAutoencoderClustering(
                n_clusters="auto", merge_cost=merge_cost, random_state=0
            ).fit(data)
            for data in (X, X * [1.0, unit])
        )
    assert as_given.n_clusters_ == rescaled.n_clusters_ == 3
    np.testing.assert_array_equal(as_given.labels_, rescaled.labels_)
    np.testing.assert_allclose(
        np.diff(rescaled.cut_bic_), np.diff(as_given.cut_bic_), rtol=1e-6, atol=1e-6
    )


def test_few_distinct_rows_do_not_give_one_cluster_per_row():
    X, _ = make_blobs(300, centers=2, random_state=0)
    X = np.round(StandardScaler().fit_transform(X))
    assert len(np.unique(X, axis=0)) == 25
    for tree in (linkage(X, "ward"), linkage(X, "single"), boundary_tree(X)):
        choice = choose_n_clusters(X, tree)
        assert choice.n_distinct == 25
        assert choice.min_cluster_size == min_cluster_size(25) == 5
        assert choice.k_max == 25 // 5
        assert choice.n_clusters <= 5
        labels = cut(tree, choice.n_clusters)
        for cluster in np.unique(labels):
            assert len(np.unique(X[labels == cluster], axis=0)) >= 5


def test_a_value_repeated_many_times_counts_once():
    # Six values, 50 copies each: at most 6 // 3 = 2 clusters of 3 values.
    X = np.repeat(np.array([0.0, 1.0, 2.0, 10.0, 11.0, 12.0]), 50)[:, None]
    choice = choose_n_clusters(X, linkage(X, "ward"))
    assert choice.n_distinct == 6
    assert choice.k_max == 2
    assert choice.range_limit == "distinct rows"
    assert choice.n_clusters == 2


def test_pick_at_the_upper_bound_warns_with_the_range():
    # Eight evenly spaced groups on a line: no level below 8 stands out.
    rng = np.random.default_rng(0)
    X = (np.repeat(np.arange(8) * 10.0, 60) + rng.normal(size=480))[:, None]
    choice = choose_n_clusters(X, linkage(X, "ward"), k_max=5)
    assert choice.n_clusters == 5
    assert choice.criterion == "bic among persistent levels"
    assert choice.persistent[choice.candidates == 5][0]
    assert choice.at_upper_bound and not choice.at_lower_bound
    assert not choice.range_cut_short
    assert "searched in 1..5" in choice.message
    assert "upper bound" in choice.message
    assert "n_clusters explicitly" in choice.message


def test_pick_at_the_lower_bound_warns():
    X = np.random.default_rng(0).normal(size=(500, 2))
    choice = choose_n_clusters(X, linkage(X, "ward"))
    assert choice.n_clusters == 1
    assert choice.criterion == "bic"
    assert choice.at_lower_bound and not choice.at_upper_bound
    assert "lower bound" in choice.message


def test_range_cut_short_by_few_samples():
    X, _ = make_blobs(20, centers=2, cluster_std=0.2, random_state=0)
    choice = choose_n_clusters(X, linkage(X, "ward"))
    assert choice.min_cluster_size == 5
    assert choice.k_max == 4 < MAX_CANDIDATE_CLUSTERS == choice.k_max_requested
    assert choice.range_cut_short
    assert choice.range_limit == "n_samples"
    assert "stops at 4 instead of 30" in choice.message
    assert "pass n_clusters explicitly if you expect more than 4" in choice.message
    assert choice.n_clusters == 2


def test_range_cut_short_by_parameters():
    X = np.random.default_rng(0).normal(size=(40, 10))
    choice = choose_n_clusters(X, linkage(X, "ward"))
    # 40 // 6 = 6 by size, 39 // 11 = 3 by parameters.
    assert choice.k_max == 3
    assert choice.range_limit == "parameters"
    assert "mixture weights and means" in choice.message
    assert "pass n_clusters explicitly" in choice.message


def test_scores_are_the_deciding_criterion():
    X, _ = make_blobs(300, centers=3, random_state=0)
    choice = choose_n_clusters(X, linkage(X, "ward"), k_min=2, k_max=10)
    assert choice.candidates[0] >= 2 and choice.candidates[-1] <= 10
    assert np.all(np.diff(choice.candidates) > 0)
    expected = {
        "persistence": choice.persistence,
        "bic": choice.bic,
        "bic among persistent levels": np.where(choice.persistent, choice.bic, np.inf),
    }[choice.criterion]
    np.testing.assert_array_equal(choice.scores, expected)
    top = np.max(choice.persistence[choice.candidates >= 2])
    np.testing.assert_array_equal(
        choice.persistent, np.nan_to_num(choice.persistence, nan=-1) >= top / 2
    )
    best = np.argmax if choice.greater_is_better else np.argmin
    assert choice.candidates[best(choice.scores)] == choice.n_clusters


def test_invalid_input():
    X = np.random.default_rng(0).normal(size=(30, 2))
    tree = linkage(X, "ward")
    with pytest.raises(ValueError, match="shape"):
        choose_n_clusters(X[:-1], tree)
    with pytest.raises(ValueError, match="NaN"):
        choose_n_clusters(np.where(X > 1, np.nan, X), tree)
    with pytest.raises(ValueError, match="k_min must be at least 1"):
        choose_n_clusters(X, tree, k_min=0)
    with pytest.raises(TypeError, match="k_max must be an int"):
        choose_n_clusters(X, tree, k_max=4.0)
    with pytest.raises(ValueError, match="must not exceed"):
        choose_n_clusters(X, tree, k_min=5, k_max=3)
    with pytest.raises(ValueError, match="No partition"):
        choose_n_clusters(X, tree, k_min=20)
    negative = tree.copy()
    negative[0, 2] = -1.0
    with pytest.raises(ValueError, match="non-negative"):
        choose_n_clusters(X, negative)
    repeated = tree.copy()
    repeated[1, :2] = repeated[0, :2]
    with pytest.raises(ValueError, match="exactly once"):
        choose_n_clusters(X, repeated)


def test_a_pair_of_outlying_rows_does_not_decide_the_number_of_clusters():
    # Standardised breast_cancer: the tree's top merge joins two outlying
    # rows to the rest, so every cut into 2 or more holds a cluster below
    # the minimum size. The cuts whose large clusters stand beside such
    # fragments are candidates, so "auto" no longer gives one cluster.
    from sklearn.datasets import load_breast_cancer
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer()
    X = StandardScaler().fit_transform(data.data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = RecursiveAutoencoderClustering(n_clusters="auto", random_state=0)
        model.fit(X)
    sizes = np.sort(np.bincount(model.labels_))
    assert model.n_clusters_ >= 2
    assert sizes[-2] > 100  # two large clusters, beside fragments
    assert adjusted_rand_score(data.target, model.labels_) > 0.7
