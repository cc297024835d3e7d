"""Bad input raises a clear error; unusual but valid input gives a valid tree."""

import re

import numpy as np
import pytest
import scipy.sparse
from scipy.cluster.hierarchy import is_monotonic, is_valid_linkage
from sklearn.exceptions import NotFittedError

from sklearn_rae import RecursiveAutoencoderClustering

N_SAMPLES, N_FEATURES = 10, 3


def make_data(seed=0, n_samples=N_SAMPLES, n_features=N_FEATURES):
    return np.random.RandomState(seed).randn(n_samples, n_features)


def with_value(value, X=None):
    """``X`` with one entry replaced by ``value``."""
    X = make_data() if X is None else X.copy()
    X[3, 1] = value
    return X


def param_error(name):
    return f"The '{name}' parameter of RecursiveAutoencoderClustering must be"


# (id, estimator parameters, X, expected exception, regex on the message)
BAD_FIT_INPUT = [
    ("nan", {}, with_value(np.nan), ValueError, "Input X contains NaN"),
    ("inf", {}, with_value(np.inf), ValueError, "Input X contains infinity"),
    ("-inf", {}, with_value(-np.inf), ValueError, "Input X contains infinity"),
    (
        "no samples",
        {},
        np.empty((0, N_FEATURES)),
        ValueError,
        r"Found array with 0 sample\(s\) .* a minimum of 2 is required",
    ),
    (
        "one sample",
        {"n_clusters": 1},
        make_data()[:1],
        ValueError,
        r"Found array with 1 sample\(s\) .* a minimum of 2 is required",
    ),
    (
        "no features",
        {},
        np.empty((N_SAMPLES, 0)),
        ValueError,
        r"Found array with 0 feature\(s\) .* a minimum of 1 is required",
    ),
    (
        "strings",
        {},
        np.array([["a", "b"], ["c", "d"], ["e", "f"]]),
        ValueError,
        r"needs numeric data, but X holds values that are not numbers .*"
        "OneHotEncoder",
    ),
    (
        "numeric strings mixed with words",
        {},
        np.array([["1.5", "2"], ["3", "four"]]),
        ValueError,
        "needs numeric data.*'four'",
    ),
    (
        "object with strings",
        {},
        np.array([[1.0, "x"], [2.0, 3.0], [4.0, 5.0]], dtype=object),
        ValueError,
        "needs numeric data.*'x'",
    ),
    (
        "object with None",
        {},
        np.array([[1.0, None], [2.0, 3.0], [4.0, 5.0]], dtype=object),
        ValueError,
        "Input X contains NaN",
    ),
    (
        "object with dicts",
        {},
        np.array([[1.0, {"a": 1}], [2.0, 3.0]], dtype=object),
        TypeError,
        "argument must be a string or a real number, not 'dict'",
    ),
    ("complex", {}, make_data() + 1j, ValueError, "Complex data not supported"),
    (
        "3-D",
        {},
        make_data().reshape(N_SAMPLES, N_FEATURES, 1),
        ValueError,
        "Found array with dim 3, while dim <= 2 is required",
    ),
    (
        "1-D",
        {},
        make_data()[:, 0],
        ValueError,
        "(?s)Expected 2D array, got 1D array instead.*Reshape your data",
    ),
    (
        "sparse CSR",
        {},
        scipy.sparse.csr_matrix(make_data()),
        TypeError,
        "Sparse data was passed for X, but dense data is required",
    ),
    (
        "sparse COO array",
        {},
        scipy.sparse.coo_array(make_data()),
        TypeError,
        "Sparse data was passed for X, but dense data is required",
    ),
    (
        "values whose merge costs overflow",
        {"max_iter": 0},
        make_data() * 1e300,
        ValueError,
        "merge costs of this data are not finite in float64 .* StandardScaler",
    ),
    (
        # Each difference squares, but a column's n squares sum to overflow:
        # the unit-free start was zero and the labels arbitrary.
        "values whose columns' sums of squares overflow",
        {},
        np.vstack([make_data(), make_data() + 8.0]) * 6e152,
        ValueError,
        "merge costs of this data are not finite in float64 .* StandardScaler",
    ),
    (
        "one column too small to square beside others",
        {},
        np.column_stack([make_data()[:, 0], make_data()[:, 1] * 1e-155]),
        ValueError,
        "samples in column 1 .* too small to square in float64.*StandardScaler",
    ),
    (
        "n_clusters > n_samples",
        {"n_clusters": N_SAMPLES + 1},
        make_data(),
        ValueError,
        f"Cannot find n_clusters={N_SAMPLES + 1} clusters in {N_SAMPLES} samples",
    ),
    (
        "both n_clusters and distance_threshold",
        {"n_clusters": 2, "distance_threshold": 1.0},
        make_data(),
        ValueError,
        "Exactly one of n_clusters and distance_threshold has to be set",
    ),
    (
        "neither n_clusters nor distance_threshold",
        {"n_clusters": None, "distance_threshold": None},
        make_data(),
        ValueError,
        "Exactly one of n_clusters and distance_threshold has to be set",
    ),
]

# Every constraint in _parameter_constraints, violated.
BAD_PARAMETERS = [
    ("n_clusters", 0),
    ("n_clusters", -2),
    ("n_clusters", 2.5),
    ("n_clusters", "2"),
    ("distance_threshold", -1.0),
    ("distance_threshold", np.nan),
    ("distance_threshold", np.inf),
    ("distance_threshold", "1.0"),
    ("merge_cost", "ward"),
    ("merge_cost", None),
    ("max_iter", -1),
    ("max_iter", 1.5),
    ("max_iter", None),
    ("learning_rate", 0.0),
    ("learning_rate", -1e-3),
    ("learning_rate", np.nan),
    ("learning_rate", np.inf),
    ("learning_rate", "fast"),
    ("batch_size", 1),
    ("batch_size", 0),
    ("batch_size", 2.5),
    ("batch_size", "all"),
    ("memory_limit", 0),
    ("memory_limit", -1.0),
    ("memory_limit", np.nan),
    ("memory_limit", "1GB"),
    ("random_state", -1),
    ("random_state", 2**32),
    ("random_state", "seed"),
    ("random_state", 1.5),
    ("verbose", -1),
    ("verbose", "loud"),
]
for name, value in BAD_PARAMETERS:
    # distance_threshold is only valid without n_clusters.
    params = {"n_clusters": None} if name == "distance_threshold" else {}
    BAD_FIT_INPUT.append(
        (
            f"{name}={value!r}",
            {**params, name: value},
            make_data(),
            ValueError,
            re.escape(param_error(name)) + f".* Got {re.escape(repr(value))} instead",
        )
    )


@pytest.mark.parametrize(
    "params, X, error, message",
    [case[1:] for case in BAD_FIT_INPUT],
    ids=[case[0] for case in BAD_FIT_INPUT],
)
def test_bad_fit_input_raises_clear_error(params, X, error, message):
    model = RecursiveAutoencoderClustering(
        **{"max_iter": 1, "random_state": 0, **params}
    )
    with pytest.raises(error, match=message):
        model.fit(X)
    # A failed first fit leaves no fitted attribute behind.
    assert not [name for name in vars(model) if name.endswith("_")]


@pytest.fixture(scope="module")
def fitted():
    return RecursiveAutoencoderClustering(n_clusters=3, max_iter=2, random_state=0).fit(
        make_data()
    )


BAD_PREDICT_INPUT = [
    ("nan", with_value(np.nan), ValueError, "Input X contains NaN"),
    ("inf", with_value(np.inf), ValueError, "Input X contains infinity"),
    (
        "too many features",
        make_data(n_features=N_FEATURES + 1),
        ValueError,
        f"X has {N_FEATURES + 1} features, but RecursiveAutoencoderClustering "
        f"is expecting {N_FEATURES} features as input",
    ),
    (
        "too few features",
        make_data(n_features=1),
        ValueError,
        f"X has 1 features, but RecursiveAutoencoderClustering is expecting "
        f"{N_FEATURES} features",
    ),
    (
        "no samples",
        np.empty((0, N_FEATURES)),
        ValueError,
        r"Found array with 0 sample\(s\) .* a minimum of 1 is required",
    ),
    (
        "strings",
        np.full((2, N_FEATURES), "a"),
        ValueError,
        "needs numeric data, but X holds values that are not numbers",
    ),
    ("complex", make_data() * 1j, ValueError, "Complex data not supported"),
    (
        "3-D",
        make_data().reshape(N_SAMPLES, N_FEATURES, 1),
        ValueError,
        "Found array with dim 3",
    ),
    (
        "1-D",
        make_data()[0],
        ValueError,
        "Expected 2D array, got 1D array instead",
    ),
    (
        "sparse",
        scipy.sparse.csr_matrix(make_data()),
        TypeError,
        "Sparse data was passed for X, but dense data is required",
    ),
]


@pytest.mark.parametrize(
    "X, error, message",
    [case[1:] for case in BAD_PREDICT_INPUT],
    ids=[case[0] for case in BAD_PREDICT_INPUT],
)
def test_bad_predict_input_raises_clear_error(fitted, X, error, message):
    with pytest.raises(error, match=message):
        fitted.predict(X)


def test_score_of_one_sample(fitted):
    # A log-likelihood needs no second sample.
    assert np.isfinite(fitted.score(make_data()[:1]))


def test_predict_with_other_feature_names():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(make_data(), columns=["a", "b", "c"])
    model = RecursiveAutoencoderClustering(max_iter=0, random_state=0).fit(frame)
    renamed = frame.rename(columns={"c": "d"})
    with pytest.raises(ValueError, match="feature names should match"):
        model.predict(renamed)


@pytest.mark.parametrize("method", ["predict", "score"])
def test_use_before_fit_raises_not_fitted(method):
    model = RecursiveAutoencoderClustering()
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(model, method)(make_data())


def test_merger_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        RecursiveAutoencoderClustering().merger_  # noqa: B018


def check_valid_tree(model, X):
    """A fitted model's tree is a valid, finite, monotone linkage matrix."""
    n_samples = X.shape[0]
    linkage = model.linkage_matrix_
    assert linkage.shape == (n_samples - 1, 4)
    assert linkage.dtype == np.float64
    assert np.isfinite(linkage).all()
    assert is_valid_linkage(linkage)
    assert is_monotonic(linkage)
    assert linkage[-1, 3] == n_samples
    assert model.labels_.shape == (n_samples,)
    assert set(model.labels_) == set(range(model.n_clusters_))
    assert np.isfinite(model.loss_curve_).all()
    predicted = model.predict(X)
    assert predicted.shape == (n_samples,)
    assert set(predicted) <= set(range(model.n_clusters_))


def clustered(n_samples=12, n_features=N_FEATURES, seed=0):
    rng = np.random.RandomState(seed)
    centres = np.repeat([[0.0] * n_features, [6.0] * n_features], n_samples // 2, 0)
    return centres + rng.randn(n_samples, n_features)


GOOD_INPUT = {
    "values around 1e30": clustered() * 1e30,
    "values around 1e-30": clustered() * 1e-30,
    "values around -1e30": -clustered() * 1e30,
    "constant": np.full((8, N_FEATURES), 7.0),
    "zeros": np.zeros((8, N_FEATURES)),
    "duplicated rows": np.repeat(clustered(6), 3, axis=0),
    "one constant column": np.column_stack([clustered(), np.ones(12)]),
    "one feature": clustered(n_features=1),
    "float32": clustered().astype(np.float32),
    "integer": np.round(clustered() * 10).astype(np.int64),
    "small integers": np.round(clustered()).astype(np.int8),
    "two samples": clustered()[[0, 7]],
    "nested list": clustered().tolist(),
    "numeric object array": clustered().astype(object),
    "numeric strings": clustered().astype(str),
}


@pytest.mark.parametrize("max_iter", [0, 3])
@pytest.mark.parametrize("X", GOOD_INPUT.values(), ids=GOOD_INPUT.keys())
def test_unusual_valid_input_gives_valid_tree(X, max_iter):
    X = np.asarray(X)
    model = RecursiveAutoencoderClustering(
        n_clusters=2, max_iter=max_iter, random_state=0
    ).fit(X)
    check_valid_tree(model, X)
    assert model.n_clusters_ == 2
    # Training stops early only when the flat clusters have no spread to learn
    # from (constant data, or two samples cut into two clusters).
    # A fit that keeps its starting weights counts the tree it judged.
    assert model.n_iter_ == max(len(model.loss_curve_), min(max_iter, 1)) <= max_iter
    assert all(np.isfinite(model.loss_curve_))


def test_distance_threshold_on_large_values_gives_valid_tree():
    X = clustered() * 1e30
    model = RecursiveAutoencoderClustering(
        n_clusters=None, distance_threshold=0.0, max_iter=2, random_state=0
    ).fit(X)
    check_valid_tree(model, X)


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_float32_and_integer_input_fit_as_float64(dtype):
    X = np.round(clustered() * 10).astype(dtype)
    params = {"n_clusters": 2, "max_iter": 3, "random_state": 0}
    model = RecursiveAutoencoderClustering(**params).fit(X)
    reference = RecursiveAutoencoderClustering(**params).fit(X.astype(np.float64))
    np.testing.assert_array_equal(model.linkage_matrix_, reference.linkage_matrix_)
    np.testing.assert_array_equal(model.loss_curve_, reference.loss_curve_)
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))


def test_two_well_separated_groups_are_found_at_extreme_scales():
    # Scaling the data scales the untrained tree's costs quadratically but
    # keeps its shape: the same flat clusters at 1e-30, 1 and 1e30.
    X = clustered()
    labels = [
        RecursiveAutoencoderClustering(n_clusters=2, max_iter=0, random_state=0)
        .fit(X * scale)
        .labels_
        for scale in (1e-30, 1.0, 1e30)
    ]
    np.testing.assert_array_equal(labels[0], labels[1])
    np.testing.assert_array_equal(labels[2], labels[1])
