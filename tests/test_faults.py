"""Numerical faults and failed fits: divergence, interrupted fits, global state."""

import copy
import random
import signal
import time
import warnings

import numpy as np
import pytest
from checkout_env import start_in_checkout
from fitted_state import build_tree
from scipy.cluster.hierarchy import is_monotonic, is_valid_linkage

import sklearn_rae._fitting as fitting_module
from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._numeric import concat_states, leaf_state
from sklearn_rae._prediction import NodeIndex


def _adaptive(*args, **kwargs):
    """The estimator with the stability selection these tests exercise."""
    kwargs.setdefault("merge_cost", "adaptive")
    return RecursiveAutoencoderClustering(*args, **kwargs)


tf = pytest.importorskip("tensorflow")
embedded_tf = pytest.importorskip("sklearn_rae.criteria.embedded_tf")


def clustered(n_samples=12, n_features=3, seed=0):
    rng = np.random.RandomState(seed)
    centres = np.repeat([[0.0] * n_features, [6.0] * n_features], n_samples // 2, 0)
    return centres + rng.randn(n_samples, n_features)


def fit(X, **params):
    return _adaptive(**{"n_clusters": 2, "random_state": 0, **params}).fit(X)


def assert_weights_equal(weights, expected):
    assert weights.keys() == expected.keys()
    for name in expected:
        np.testing.assert_array_equal(weights[name], expected[name])


def assert_valid_finite_tree(model):
    linkage = model.linkage_matrix_
    assert np.isfinite(linkage).all()
    assert is_valid_linkage(linkage)
    assert is_monotonic(linkage)


def test_huge_learning_rate_warns_and_keeps_initial_weights():
    X = clustered()
    with pytest.warns(RuntimeWarning, match="Training diverged at step") as record:
        model = fit(X, max_iter=5, learning_rate=1e200)
    # The warning points at the caller of fit.
    assert [w.filename for w in record] == [__file__]
    # The first step overflows the weights; the initial ones are kept, with
    # the objective of their tree.
    untrained = fit(X, max_iter=0)
    assert_weights_equal(model.merger_weights_, untrained.merger_weights_)
    assert model.n_iter_ == 1
    assert len(model.loss_curve_) == 1
    np.testing.assert_array_equal(model.linkage_matrix_, untrained.linkage_matrix_)
    assert_valid_finite_tree(model)


def test_divergence_keeps_weights_whose_objective_is_the_last_loss():
    X = clustered()
    with pytest.warns(RuntimeWarning, match="Training diverged"):
        model = fit(X, max_iter=30, learning_rate=1e30, merge_cost="cumulative")
    assert 1 <= model.n_iter_ < 30
    assert np.isfinite(model.loss_curve_).all()
    assert_valid_finite_tree(model)
    for weight in model.merger_weights_.values():
        assert np.isfinite(weight).all()
    # Full batch: the final tree is the last training tree, whose objective
    # (the sum of its merge losses) is the last recorded loss.
    total_loss = np.sum(build_tree(model, X).losses)
    np.testing.assert_allclose(total_loss, model.loss_curve_[-1], rtol=1e-9)


def test_no_numpy_overflow_warnings_leak_from_divergence():
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fit(clustered(), max_iter=30, learning_rate=1e30, merge_cost="cumulative")
    messages = [str(w.message) for w in record]
    assert len(messages) == 1
    assert messages[0].startswith("Training diverged at step")


def fail_on_call(monkeypatch, owner, name, call, make_result):
    """Replace ``owner.name`` so that its ``call``-th call returns
    ``make_result(original result)`` (or raises what ``make_result`` raises)."""
    original = getattr(owner, name)
    calls = []

    def patched(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        calls.append(None)
        return make_result(result) if len(calls) == call else result

    monkeypatch.setattr(owner, name, patched)


def test_non_finite_objective_keeps_previous_weights(monkeypatch):
    X = clustered()
    one_step, two_steps = fit(X, max_iter=1), fit(X, max_iter=2)
    # The third step's tree objective is NaN: the weights of that tree are
    # dropped, those after one step are kept.
    fail_on_call(
        monkeypatch, embedded_tf.EmbeddingTrainer, "step", 3, lambda loss: np.nan
    )
    with pytest.warns(RuntimeWarning, match="at step 3 of 5 .*tree objective nan"):
        model = fit(X, max_iter=5)
    assert_weights_equal(model.merger_weights_, one_step.merger_weights_)
    assert model.loss_curve_ == two_steps.loss_curve_
    assert model.n_iter_ == 2
    np.testing.assert_array_equal(model.linkage_matrix_, one_step.linkage_matrix_)


def test_non_finite_weights_keep_the_weights_before_the_step(monkeypatch):
    X = clustered()
    two_steps, three_steps = fit(X, max_iter=2), fit(X, max_iter=3)

    def overflow(weights):
        return {**weights, "bias_encode": np.full_like(weights["bias_encode"], np.inf)}

    fail_on_call(monkeypatch, embedded_tf.EmbeddingTrainer, "weights", 3, overflow)
    with pytest.warns(RuntimeWarning, match="at step 3 of 5 .*weights not finite"):
        model = fit(X, max_iter=5)
    assert_weights_equal(model.merger_weights_, two_steps.merger_weights_)
    assert model.loss_curve_ == three_steps.loss_curve_
    np.testing.assert_array_equal(model.linkage_matrix_, two_steps.linkage_matrix_)


def snapshot(model):
    """The fitted state: every attribute, by identity and by value."""
    state = vars(model)
    return dict(state), copy.deepcopy(
        {k: v for k, v in state.items() if k != "_merger"}
    )


def assert_state_unchanged(model, before):
    identities, values = before
    state = vars(model)
    assert state.keys() == identities.keys()
    for name, value in identities.items():
        assert state[name] is value, name
    for name, value in values.items():
        if isinstance(value, dict):
            for key in value:
                np.testing.assert_array_equal(state[name][key], value[key])
        elif isinstance(value, np.ndarray):
            np.testing.assert_array_equal(state[name], value)
        elif isinstance(value, NodeIndex):
            np.testing.assert_array_equal(state[name].tree.data, value.tree.data)
            np.testing.assert_array_equal(state[name].labels, value.labels)
        else:
            assert state[name] == value, name


class Interrupted(Exception):
    pass


def raise_(error):
    def make_result(result):
        raise error

    return make_result


@pytest.mark.parametrize(
    "failure",
    [
        "invalid parameter",
        "n_clusters > n_samples",
        "error inside training",
        "KeyboardInterrupt inside training",
        "error building the final tree",
    ],
)
def test_failed_fit_leaves_fitted_estimator_unchanged(failure, monkeypatch):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(clustered(), columns=["a", "b", "c"])
    model = fit(X, max_iter=2)
    model.merger_  # noqa: B018  (built, so that it is part of the state)
    labels = model.predict(X)
    before = snapshot(model)
    # Another shape and no feature names: validation would record both.
    other = clustered(n_samples=8, n_features=5, seed=1)
    error = Interrupted
    if failure == "invalid parameter":
        model.set_params(learning_rate=-1.0)
        error = ValueError
    elif failure == "n_clusters > n_samples":
        model.set_params(n_clusters=9)
        error = ValueError
    elif failure == "error inside training":
        fail_on_call(
            monkeypatch,
            embedded_tf.EmbeddingTrainer,
            "step",
            2,
            raise_(Interrupted()),
        )
    elif failure == "KeyboardInterrupt inside training":
        fail_on_call(
            monkeypatch,
            embedded_tf.EmbeddingTrainer,
            "step",
            1,
            raise_(KeyboardInterrupt()),
        )
        error = KeyboardInterrupt
    else:
        monkeypatch.setattr(
            fitting_module,
            "fit_tree",
            lambda criterion, weights, X, **kwargs: raise_(Interrupted())(None),
        )
    with pytest.raises(error):
        model.fit(other)
    monkeypatch.undo()
    parameters = before[0]
    model.set_params(
        learning_rate=parameters["learning_rate"], n_clusters=parameters["n_clusters"]
    )
    assert_state_unchanged(model, before)
    np.testing.assert_array_equal(model.predict(X), labels)


def test_failed_first_fit_leaves_no_fitted_attributes(monkeypatch):
    fail_on_call(
        monkeypatch,
        embedded_tf.EmbeddingTrainer,
        "step",
        1,
        raise_(Interrupted()),
    )
    model = _adaptive(max_iter=3, random_state=0)
    with pytest.raises(Interrupted):
        model.fit(clustered())
    assert vars(model) == vars(_adaptive(max_iter=3, random_state=0))


def test_fit_and_merger_leave_global_random_states_untouched():
    X = clustered()
    np.random.seed(7)  # noqa: NPY002  (the global state is under test)
    random.seed(7)
    tf.random.set_seed(7)
    expected_tf = [tf.random.uniform([4]).numpy() for _ in range(2)]
    expected_numpy = np.random.get_state()  # noqa: NPY002
    expected_python = random.getstate()

    tf.random.set_seed(7)
    first_tf = tf.random.uniform([4]).numpy()
    model = fit(X, max_iter=3)
    model.merger_  # noqa: B018
    model.predict(X)
    second_tf = tf.random.uniform([4]).numpy()

    np.testing.assert_array_equal([first_tf, second_tf], expected_tf)
    numpy_state = np.random.get_state()  # noqa: NPY002
    assert numpy_state[0] == expected_numpy[0]
    np.testing.assert_array_equal(numpy_state[1], expected_numpy[1])
    assert numpy_state[2:] == expected_numpy[2:]
    assert random.getstate() == expected_python


def two_blobs():
    rng = np.random.RandomState(0)
    return np.vstack([rng.randn(10, 2), rng.randn(10, 2) + [8.0, 8.0]])


def test_objective_that_grows_by_orders_of_magnitude_warns_and_keeps_best():
    # A learning rate far too large throws the objective up by dozens of
    # orders of magnitude without overflowing.
    X = two_blobs()
    with pytest.warns(RuntimeWarning, match=r"Training diverged.*thousandfold"):
        model = fit(X, merge_cost="cumulative", learning_rate=1e3, max_iter=20)
    assert max(model.loss_curve_) < 1e3 * min(model.loss_curve_)
    untrained = fit(X, merge_cost="cumulative", max_iter=0)
    assert_weights_equal(model.merger_weights_, untrained.merger_weights_)
    assert model.score(X) == untrained.score(X)
    assert model.score(X) > -1e3


def test_ordinary_training_is_not_taken_for_a_blow_up():
    X = two_blobs()
    for merge_cost in ("cumulative", "learned_metric", "boundary"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            model = fit(X, merge_cost=merge_cost, max_iter=30)
        # Every step is taken unless training converged (the trained
        # criteria stop after 5 quiet steps), never cut short by the watch.
        assert model.n_iter_ == 30 or (
            merge_cost != "cumulative" and model.n_iter_ >= 6
        )


@pytest.mark.parametrize("scale", [1e-160, 1e-200, 1e-300, 5e-324])
@pytest.mark.parametrize("merge_cost", ["learned_metric", "cumulative"])
def test_data_too_small_to_square_is_refused_with_the_remedy(scale, merge_cost):
    X = two_blobs() * scale
    model = _adaptive(merge_cost=merge_cost, max_iter=2)
    with pytest.raises(
        ValueError, match=r"too small to square in float64.*Scale the data"
    ):
        model.fit(X)
    assert not hasattr(model, "labels_")


def test_small_data_that_squares_fits_like_the_unscaled_data():
    X = two_blobs()
    expected = fit(X, max_iter=3).labels_
    np.testing.assert_array_equal(fit(X * 1e-150, max_iter=3).labels_, expected)


@pytest.mark.parametrize("merge_cost", ["learned_metric", "cumulative"])
def test_merger_is_float64_like_the_fitted_weights(merge_cost):
    X = two_blobs() * 1e40
    model = fit(X, merge_cost=merge_cost, max_iter=0)
    a, b = X[:3], X[3:6]
    h, c, o = (np.asarray(t) for t in model.merger_([a, b]))
    for output in (h, c, o):
        assert output.dtype == np.float64
        assert np.isfinite(output).all()
    weights = model.merger_weights_
    if merge_cost == "learned_metric":
        L = weights["kernel_embed"]
        expected_c = np.hstack([a @ L, b @ L])
    else:
        expected_c = np.hstack([a, b])
    np.testing.assert_allclose(c, expected_c, rtol=1e-12)
    # Two leaves' reconstruction error is their merge cost, as the estimator
    # computes it.
    criterion = model._criterion.merge_state(
        model.merger_weights_,
        concat_states(model._node_state, leaf_state(np.vstack([a[:1], b[:1]]))),
    )
    n_nodes = model._node_labels.shape[0]
    cost = criterion.pair_costs([n_nodes], [n_nodes + 1])[0, 0]
    assert 0.5 * np.sum((o[0] - c[0]) ** 2) == pytest.approx(cost, rel=1e-9)


# A fit whose tree build enters a compiled call of several seconds (announced
# on stdout); Ctrl-C then raises KeyboardInterrupt, and the fitted estimator
# is left as it was.
_INTERRUPTED_BUILD = """
import sys
import fastcluster
import numpy as np
from sklearn.datasets import make_blobs
from sklearn.neighbors import NearestNeighbors
from sklearn_rae import RecursiveAutoencoderClustering

merge_cost, n_samples = sys.argv[1], int(sys.argv[2])
X, _ = make_blobs(n_samples, 10, random_state=0)
model = RecursiveAutoencoderClustering(merge_cost=merge_cost, max_iter=0).fit(X[:300])
before, labels = dict(vars(model)), model.labels_.copy()


def announcing(owner, name):
    original = getattr(owner, name)
    announced = []

    def call(*args, **kwargs):
        # The first search, or the first linkage of all samples (not of the
        # training's batches).
        if not announced and (owner is NearestNeighbors or len(args[0]) == n_samples):
            announced.append(True)
            print("compiled call", flush=True)
        return original(*args, **kwargs)

    setattr(owner, name, call)


if merge_cost == "boundary":
    announcing(NearestNeighbors, "kneighbors")
else:
    announcing(fastcluster, "linkage_vector")
try:
    model.fit(X)
    print("finished", flush=True)
except KeyboardInterrupt:
    unchanged = vars(model).keys() == before.keys() and all(
        vars(model)[name] is value for name, value in before.items()
    )
    same_labels = np.array_equal(model.predict(X[:300]), labels)
    print("interrupted", unchanged, same_labels, flush=True)
"""


@pytest.mark.parametrize(
    "merge_cost, n_samples",
    # The k-d tree search of the spanning tree's neighbours, and fastcluster's
    # Ward linkage: each a single compiled call of several seconds (Ctrl-C
    # came 8 to 10 s late when they ran in the main thread).
    [("boundary", 30_000), ("whitened_means", 25_000)],
)
def test_ctrl_c_during_a_long_tree_build_interrupts_the_fit(merge_cost, n_samples):
    child = start_in_checkout(_INTERRUPTED_BUILD, merge_cost, str(n_samples))
    try:
        assert child.stdout.readline() == "compiled call\n"
        time.sleep(0.5)
        child.send_signal(signal.SIGINT)
        sent = time.monotonic()
        outcome = child.stdout.readline()
        latency = time.monotonic() - sent
        _, stderr = child.communicate(timeout=20)
    finally:
        child.kill()
    assert outcome == "interrupted True True\n", stderr
    # Within about WAIT_SECONDS; without the worker threads the search or the
    # linkage would run to its end first.
    assert latency < 3.0
    # The daemon thread left to finish the call does not keep the
    # interpreter from exiting.
    assert child.returncode == 0
