"""predict on Dask arrays and DataFrames, on a local cluster of processes."""

import pickle

import numpy as np
import pandas as pd
import pytest

from sklearn_rae import RecursiveAutoencoderClustering

da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def model_and_data():
    rng = np.random.RandomState(0)
    X = np.vstack([rng.normal(size=(80, 3)), rng.normal(size=(80, 3)) + 5])
    model = RecursiveAutoencoderClustering(n_clusters=2, max_iter=3, random_state=0)
    new = rng.normal(size=(1000, 3)) * 4
    return model.fit(X), new


@pytest.fixture
def client(dask_client):
    return dask_client


def test_dask_array_gives_a_lazy_dask_array(model_and_data):
    model, new = model_and_data
    X = da.from_array(new, chunks=(128, 2))  # column chunks are joined
    labels = model.predict(X)
    assert isinstance(labels, da.Array)
    assert labels.shape == (len(new),) and labels.dtype == np.intp
    assert labels.chunks == (X.chunks[0],)
    np.testing.assert_array_equal(labels.compute(), model.predict(new))


def test_the_estimator_enters_the_graph_once(model_and_data):
    model, new = model_and_data
    labels = model.predict(da.from_array(new, chunks=(100, 3)))
    graph = dict(labels.__dask_graph__())
    size = len(pickle.dumps(model))
    # Ten blocks, one copy of the estimator: the rest is small.
    assert len(pickle.dumps(graph)) < size + 200_000
    blocks = [key for key in graph if key[0] == labels.name]
    assert len(blocks) == 10
    for key in blocks:
        assert len(pickle.dumps(graph[key])) < 2_000


def test_wrong_width_is_refused_before_computing(model_and_data):
    model, _ = model_and_data
    with pytest.raises(ValueError, match="4 features"):
        model.predict(da.zeros((10, 4), chunks=5))


def test_dask_dataframe_gives_a_dask_series(model_and_data):
    model, new = model_and_data
    frame = pd.DataFrame(new, index=np.arange(len(new)) * 3)
    labels = model.predict(dd.from_pandas(frame, npartitions=4))
    assert isinstance(labels, dd.Series)
    result = labels.compute()
    np.testing.assert_array_equal(result.index, frame.index)
    np.testing.assert_array_equal(result.to_numpy(), model.predict(new))


def test_predict_on_a_local_cluster(model_and_data, client):
    model, new = model_and_data
    expected = model.predict(new)
    X = da.from_array(new, chunks=(125, 3))
    np.testing.assert_array_equal(model.predict(X).compute(), expected)
    frame = dd.from_pandas(pd.DataFrame(new), npartitions=3)
    np.testing.assert_array_equal(model.predict(frame).compute().to_numpy(), expected)
    # The documented recipe for many calls: one scattered copy per worker.
    [remote] = client.scatter([model], broadcast=True)
    labels = X.map_blocks(
        lambda block, estimator: estimator.predict(block),
        remote,
        drop_axis=1,
        dtype=np.intp,
        meta=np.empty((0,), dtype=np.intp),
    )
    np.testing.assert_array_equal(labels.compute(), expected)
