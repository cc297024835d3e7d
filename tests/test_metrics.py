import doctest
import itertools

import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage, optimal_leaf_ordering

import sklearn_rae.metrics
from sklearn_rae import dendrogram_purity


def brute_force_purity(Z, labels, ignore_label=None):
    """Dendrogram purity by visiting every pair and walking up to its LCA."""
    n = len(labels)
    parent = {}
    for row, (left, right) in enumerate(Z[:, :2].astype(int)):
        parent[left] = parent[right] = n + row
    leaves = {i: [i] for i in range(n)}
    for row, (left, right) in enumerate(Z[:, :2].astype(int)):
        leaves[n + row] = leaves[left] + leaves[right]

    def ancestors(i):
        path = [i]
        while path[-1] in parent:
            path.append(parent[path[-1]])
        return path

    kept = [i for i in range(n) if ignore_label is None or labels[i] != ignore_label]
    purities = []
    for i, j in itertools.combinations(kept, 2):
        if labels[i] != labels[j]:
            continue
        above_i = set(ancestors(i))
        lca = next(v for v in ancestors(j) if v in above_i)
        below = [leaf for leaf in leaves[lca] if leaf in kept]
        same = [leaf for leaf in below if labels[leaf] == labels[i]]
        purities.append(len(same) / len(below))
    return np.mean(purities)


def random_tree_and_labels(seed, n, n_classes, method, ties):
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 2))
    if ties:
        # Duplicated points and rounded coordinates: merges at equal heights.
        X = np.round(X, 1)
        X[: n // 3] = X[n // 3 : 2 * (n // 3)]
    labels = rng.randint(0, n_classes, size=n)
    # A singleton class.
    labels[rng.randint(n)] = n_classes
    return linkage(X, method=method), labels


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("method", ["single", "average", "complete", "ward"])
@pytest.mark.parametrize("ties", [False, True])
def test_matches_brute_force_on_random_trees(seed, method, ties):
    n = 8 + 5 * seed
    Z, labels = random_tree_and_labels(seed, n, 1 + seed % 4, method, ties)
    assert dendrogram_purity(Z, labels) == pytest.approx(
        brute_force_purity(Z, labels), rel=1e-12
    )


@pytest.mark.parametrize("seed", range(6))
def test_ignore_label_matches_brute_force_on_the_kept_samples(seed):
    Z, labels = random_tree_and_labels(seed, 30, 3, "average", ties=seed % 2 == 1)
    expected = brute_force_purity(Z, labels, ignore_label=0)
    assert dendrogram_purity(Z, labels, ignore_label=0) == pytest.approx(
        expected, rel=1e-12
    )
    # Leaving ignored leaves out of the counts is not the same as keeping them.
    kept = labels != 0
    keep_all = brute_force_purity(Z, np.where(kept, labels, -1 - np.arange(30)))
    assert abs(expected - keep_all) > 1e-3


def test_ignore_label_equals_the_restricted_tree():
    # Points 0-3 and 5-6 form two tight groups; point 4 (noise) sits between.
    X = np.array([[0.0], [0.1], [0.2], [0.3], [2.0], [4.0], [4.1]])
    labels = np.array([1, 1, 2, 2, 0, 1, 1])
    kept = labels != 0
    Z_kept = linkage(X[kept], method="single")
    assert dendrogram_purity(
        linkage(X, method="single"), labels, ignore_label=0
    ) == pytest.approx(dendrogram_purity(Z_kept, labels[kept]), rel=1e-12)


def test_perfect_tree_scores_one():
    rng = np.random.RandomState(0)
    centres = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    labels = np.repeat([0, 1, 2], [5, 7, 1])
    X = centres[labels] + rng.uniform(-1, 1, size=(len(labels), 2))
    for method in ["single", "average", "complete", "ward"]:
        assert dendrogram_purity(linkage(X, method=method), labels) == 1.0


def test_hand_computed_example():
    # Tree: node 5 = (0, 1), node 6 = (2, 3), node 7 = (5, 4), root 8 = (7, 6).
    Z = np.array(
        [
            [0, 1, 1.0, 2],
            [2, 3, 1.0, 2],
            [5, 4, 2.0, 3],
            [7, 6, 3.0, 5],
        ]
    )
    labels = np.array(["a", "a", "a", "b", "b"])
    # Class a: (0, 1) at node 5, purity 1; (0, 2) and (1, 2) at the root,
    # 3/5 each. Class b: (3, 4) at the root, 2/5.
    expected = (1 + 3 / 5 + 3 / 5 + 2 / 5) / 4
    assert dendrogram_purity(Z, labels) == pytest.approx(expected, rel=1e-15)
    assert expected == pytest.approx(0.65)
    # The leaf order within a node does not matter.
    assert dendrogram_purity(Z[:, [1, 0, 2, 3]], labels) == pytest.approx(expected)


def test_integer_linkage_and_list_labels_are_accepted():
    Z = [[0, 1, 1, 2], [2, 3, 2, 2], [4, 5, 3, 4]]
    assert dendrogram_purity(Z, [0, 0, 1, 1]) == 1.0
    assert dendrogram_purity(Z, [0, 1, 0, 1]) == 0.5


def test_invariant_to_renaming_labels():
    rng = np.random.RandomState(3)
    X = rng.normal(size=(60, 3))
    Z = linkage(X, method="average")
    labels = rng.randint(0, 4, size=60)
    reference = dendrogram_purity(Z, labels)
    renamed = np.array([7, -2, 30, 5])[labels]
    as_text = np.array(["d", "c", "b", "a"])[labels]
    assert dendrogram_purity(Z, renamed) == pytest.approx(reference, rel=1e-14)
    assert dendrogram_purity(Z, as_text) == pytest.approx(reference, rel=1e-14)
    assert dendrogram_purity(Z, labels.astype(float)) == pytest.approx(
        reference, rel=1e-14
    )


def test_depends_on_the_tree_not_its_heights_or_leaf_order():
    rng = np.random.RandomState(4)
    X = rng.normal(size=(40, 2))
    labels = rng.randint(0, 3, size=40)
    Z = linkage(X, method="complete")
    reference = dendrogram_purity(Z, labels)
    reordered = optimal_leaf_ordering(Z, X)
    rescaled = Z.copy()
    rescaled[:, 2] = np.arange(len(Z))
    assert dendrogram_purity(reordered, labels) == pytest.approx(reference)
    assert dendrogram_purity(rescaled, labels) == pytest.approx(reference)


def test_worse_trees_score_lower():
    # Two well-separated groups: single linkage recovers them, a tree that
    # merges the samples in alternating label order does not.
    X = np.r_[np.zeros((6, 1)), np.full((6, 1), 10.0)] + np.arange(12)[:, None] / 100
    labels = np.repeat([0, 1], 6)
    good = dendrogram_purity(linkage(X, method="single"), labels)
    interleaved = linkage(np.c_[np.r_[np.arange(0, 12, 2), np.arange(1, 12, 2)]])
    bad = dendrogram_purity(interleaved, labels)
    assert good == 1.0
    assert bad < 0.75


def test_docstring_example_runs():
    results = doctest.testmod(sklearn_rae.metrics, verbose=False)
    assert results.attempted > 0
    assert results.failed == 0


@pytest.mark.parametrize(
    "Z, labels, message",
    [
        (np.zeros((3, 3)), [0, 0, 1, 1], "shape"),
        (np.zeros((0, 4)), [0], "shape"),
        (np.zeros(4), [0, 0], "shape"),
        ([[0, 1, 1, 2], [0, 2, 1, 2]], [0, 0, 1], "valid linkage"),
        ([[0, 1, -1, 2], [2, 3, 1, 3]], [0, 0, 1], "valid linkage"),
        ([[0, 5, 1, 2], [2, 3, 1, 3]], [0, 0, 1], "valid linkage"),
        ([[0, 1, 1, 2], [2, 3, 1, 3]], [0, 0], "2 entries but the linkage has 3"),
        ([[0, 1, 1, 2], [2, 3, 1, 3]], [[0, 0, 1]], "one-dimensional"),
        ([[0, 1, 1, 2], [2, 3, 1, 3]], [0, 1, 2], "No two samples share a label"),
    ],
)
def test_bad_input_raises_value_error(Z, labels, message):
    with pytest.raises(ValueError, match=message):
        dendrogram_purity(Z, labels)


def test_only_ignored_pairs_raises_value_error():
    Z = [[0, 1, 1, 2], [2, 3, 1, 3]]
    with pytest.raises(ValueError, match="other than 0"):
        dendrogram_purity(Z, [0, 0, 1], ignore_label=0)


def test_non_numeric_linkage_raises_type_error():
    Z = np.array([["a", "b", "c", "d"]])
    with pytest.raises(TypeError, match="numeric"):
        dendrogram_purity(Z, [0, 0])
    with pytest.raises(TypeError, match="numeric"):
        dendrogram_purity(np.array([[0, 1, 1j, 2]]), [0, 0])


def test_unsortable_labels_raise_type_error():
    with pytest.raises(TypeError, match="sorted"):
        dendrogram_purity([[0, 1, 1, 2], [2, 3, 1, 3]], np.array([1, "a", None]))
