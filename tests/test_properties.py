"""Property-based test: any 2-D float input gives a clear error or a valid tree."""

import re
import warnings

import numpy as np
import pytest
from scipy.cluster.hierarchy import is_monotonic, is_valid_linkage

from sklearn_rae import RecursiveAutoencoderClustering

hypothesis = pytest.importorskip("hypothesis")
# TensorFlow raises the recursion limit on import; import it before Hypothesis
# runs the test so that Hypothesis does not warn about the change.
pytest.importorskip("sklearn_rae._merger")
st = hypothesis.strategies
hypothesis_numpy = pytest.importorskip("hypothesis.extra.numpy")

EXTREMES = [
    0.0,
    -0.0,
    1.0,
    5e-324,
    1e-30,
    -1e-30,
    1e30,
    -1e30,
    1e150,
    1e300,
    -1.7e308,
    np.nan,
    np.inf,
    -np.inf,
]

# The errors a user may see for a 2-D float array, each a sentence that says
# what is wrong and what to do.
CLEAR_ERRORS = [
    "Input X contains NaN",
    "Input X contains infinity",
    r"The merge costs of this data are not finite in float64 .* scale the data",
    r"too small to square in float64.* Scale the data",
]

values = st.one_of(
    st.floats(-10, 10, allow_subnormal=False),
    st.floats(-1e6, 1e6, allow_subnormal=False),
    st.sampled_from(EXTREMES),
)


@st.composite
def datasets(draw):
    """Float arrays of 2 to 40 samples and 1 to 6 features, with extreme
    values, repeated rows and constant columns."""
    n_samples = draw(st.integers(2, 40))
    n_features = draw(st.integers(1, 6))
    X = draw(
        hypothesis_numpy.arrays(np.float64, (n_samples, n_features), elements=values)
    )
    n_copies = draw(st.integers(0, n_samples - 1))
    if n_copies:
        # Repeat some rows over others.
        sources = draw(
            st.lists(
                st.integers(0, n_samples - 1), min_size=n_copies, max_size=n_copies
            )
        )
        X[-n_copies:] = X[sources]
    for column in draw(st.sets(st.integers(0, n_features - 1), max_size=n_features)):
        X[:, column] = draw(values)
    return X


# scikit-learn's finiteness check sums X first: +inf and -inf make NumPy warn.
@pytest.mark.filterwarnings("ignore:invalid value encountered in reduce")
@hypothesis.settings(max_examples=30, deadline=None, database=None, print_blob=True)
@hypothesis.given(
    X=datasets(),
    max_iter=st.integers(0, 3),
    n_clusters_share=st.floats(0, 1),
    random_state=st.integers(0, 2**32 - 1),
    merge_cost=st.sampled_from(["learned_metric", "boundary"]),
)
def test_fit_gives_clear_error_or_valid_finite_tree(
    X, max_iter, n_clusters_share, random_state, merge_cost
):
    n_samples = X.shape[0]
    n_clusters = 1 + int(n_clusters_share * (n_samples - 1))
    model = RecursiveAutoencoderClustering(
        n_clusters=n_clusters,
        merge_cost=merge_cost,
        max_iter=max_iter,
        random_state=random_state,
    )
    try:
        with warnings.catch_warnings():
            # Divergence on extreme values is allowed; it warns and keeps
            # finite weights, which the tree checks below confirm.
            warnings.filterwarnings("ignore", "Training diverged", RuntimeWarning)
            model.fit(X)
    except (ValueError, TypeError) as error:
        message = str(error)
        assert any(re.search(pattern, message) for pattern in CLEAR_ERRORS), message
        # Only data that is not finite, whose merge costs overflow, or whose
        # differences underflow when squared, fails.
        assert (
            not np.isfinite(X).all()
            or np.abs(X).max() > 1e100
            or np.ptp(X, axis=0).max() < 1e-150
        )
        return

    assert np.isfinite(X).all()
    linkage = model.linkage_matrix_
    assert linkage.shape == (n_samples - 1, 4)
    assert np.isfinite(linkage).all()
    assert is_valid_linkage(linkage)
    assert is_monotonic(linkage)
    assert model.n_clusters_ == n_clusters
    assert model.labels_.shape == (n_samples,)
    assert set(model.labels_) == set(range(n_clusters))
    assert model.n_iter_ <= max_iter
    assert np.isfinite(model.loss_curve_).all()
    predicted = model.predict(X)
    assert set(predicted) <= set(range(n_clusters))


@pytest.mark.parametrize("merge_cost", ["learned_metric", "boundary"])
@pytest.mark.parametrize(
    "X",
    [np.full((9, 1), 1e300), np.full((2, 1), -1.7e308)],
    ids=["nine rows at 1e300", "two rows at -1.7e308"],
)
def test_equal_rows_near_the_largest_float_predict_and_score(X, merge_cost):
    # Found by the property test above: the plain mean of such rows overflows,
    # and merged nodes' means re-embedded from the raw values lost their
    # differences to rounding whose square overflows.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = RecursiveAutoencoderClustering(
            n_clusters=1, merge_cost=merge_cost, max_iter=0
        ).fit(X)
        np.testing.assert_array_equal(model.predict(X), 0)
        assert np.isfinite(model.score(X))
