"""Model selection in worker processes: joblib's loky backend and Dask."""

import os
import warnings

import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_rae import RecursiveAutoencoderClustering


def _adaptive(*args, **kwargs):
    """The estimator with the stability selection these tests exercise."""
    kwargs.setdefault("merge_cost", "adaptive")
    return RecursiveAutoencoderClustering(*args, **kwargs)


PARAM_GRID = {"learning_rate": [1e-3, 1e-2]}


def blobs():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(8, 2), rng.randn(8, 2) + 6])
    y = np.repeat([0, 1], 8)
    order = rng.permutation(len(X))
    return X[order], y[order]


def process_id(estimator, X, y=None):
    return float(os.getpid())


def intra_op_threads(estimator, X, y=None):
    import tensorflow as tf

    return float(tf.config.threading.get_intra_op_parallelism_threads())


def inter_op_threads(estimator, X, y=None):
    import tensorflow as tf

    return float(tf.config.threading.get_inter_op_parallelism_threads())


SCORING = {
    "ari": "adjusted_rand_score",
    "process_id": process_id,
    "intra_op_threads": intra_op_threads,
    "inter_op_threads": inter_op_threads,
}


def search(n_jobs, scoring=None):
    """A small grid search; the fit is deterministic (random_state=0)."""
    return GridSearchCV(
        _adaptive(n_clusters=2, max_iter=2, random_state=0),
        PARAM_GRID,
        scoring=scoring,
        refit="ari" if scoring else True,
        cv=KFold(2),
        n_jobs=n_jobs,
    )


@pytest.fixture(scope="module")
def sequential():
    X, y = blobs()
    return search(n_jobs=1).fit(X), search(n_jobs=1, scoring=SCORING).fit(X, y)


def assert_same_search(result, expected, metrics):
    for metric in metrics:
        for split in range(2):
            key = f"split{split}_test_{metric}"
            np.testing.assert_allclose(
                result.cv_results_[key], expected.cv_results_[key], rtol=1e-12
            )
    assert result.best_params_ == expected.best_params_
    np.testing.assert_array_equal(
        result.best_estimator_.linkage_matrix_, expected.best_estimator_.linkage_matrix_
    )


def expected_worker_threads(n_jobs):
    """Threads each joblib worker may use: what loky sets OMP_NUM_THREADS to."""
    if "OMP_NUM_THREADS" in os.environ:
        return int(os.environ["OMP_NUM_THREADS"])
    return max(joblib.cpu_count() // n_jobs, 1)


def test_grid_search_in_process_workers_without_scoring(sequential):
    X, _ = blobs()
    with joblib.parallel_backend("loky"):
        result = search(n_jobs=2).fit(X)
    assert np.isfinite(result.cv_results_["mean_test_score"]).all()
    assert_same_search(result, sequential[0], ["score"])


def test_grid_search_in_process_workers_with_scoring(sequential):
    X, y = blobs()
    with joblib.parallel_backend("loky"):
        result = search(n_jobs=2, scoring=SCORING).fit(X, y)
    assert_same_search(result, sequential[1], ["ari"])
    # Every fit ran in a worker process, whose TensorFlow thread pools are
    # sized to its share of the cores.
    assert os.getpid() not in result.cv_results_["mean_test_process_id"]
    threads = expected_worker_threads(n_jobs=2)
    for pool in ("intra_op_threads", "inter_op_threads"):
        for split in range(2):
            scores = result.cv_results_[f"split{split}_test_{pool}"]
            np.testing.assert_array_equal(scores, threads)


def test_grid_search_on_dask_cluster(sequential, dask_client):
    client = dask_client
    X, y = blobs()
    with joblib.parallel_backend("dask"):
        worker_ids = set(client.run(os.getpid).values())
        result = search(n_jobs=-1, scoring=SCORING).fit(X, y)
        unscored = search(n_jobs=-1).fit(X)
    assert len(worker_ids) == 2
    assert_same_search(result, sequential[1], ["ari"])
    assert_same_search(unscored, sequential[0], ["score"])
    for split in range(2):
        assert set(result.cv_results_[f"split{split}_test_process_id"]) <= worker_ids
        # Dask's worker processes start with OMP_NUM_THREADS=1.
        for pool in ("intra_op_threads", "inter_op_threads"):
            np.testing.assert_array_equal(
                result.cv_results_[f"split{split}_test_{pool}"], 1
            )


def test_loky_workers_are_not_replaced_when_a_grid_mixes_untrained_fits():
    # loky replaces a worker whose memory grows by 300 MB after its first
    # task; TensorFlow's import, in a later task than a first untrained fit,
    # looked like such a leak.
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)  # fresh workers
    X, _ = blobs()
    grid = GridSearchCV(
        _adaptive(n_clusters=2, random_state=0),
        {"max_iter": [0, 0, 2, 2], "shrinkage": [0.2, 0.4]},
        scoring={"score": lambda est, X, y=None: est.score(X), "pid": process_id},
        refit=False,
        cv=KFold(2),
        n_jobs=2,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with joblib.parallel_backend("loky"):
            result = grid.fit(X)
    assert [str(w.message) for w in caught if "worker stopped" in str(w.message)] == []
    pids = {
        pid
        for split in range(2)
        for pid in result.cv_results_[f"split{split}_test_pid"]
    }
    assert len(pids) <= 2
