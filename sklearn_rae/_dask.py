"""``predict`` on Dask collections: lazily, block by block.

The fitted estimator enters the task graph once, as one ``dask.delayed``
key that every block's task depends on, so a distributed scheduler sends it
to each worker once per ``predict`` call; the function applied to the blocks
is a module-level function that pickles by reference. To reuse one copy on
the workers across many calls, scatter the estimator yourself (see
``docs/parallel.md``).
"""

from __future__ import annotations

import sys
import uuid

import numpy as np

__all__ = ["is_dask_collection", "predict_dask"]


def is_dask_collection(X) -> bool:
    """Whether ``X`` is a Dask collection (without importing Dask otherwise)."""
    if "dask" not in sys.modules:
        return False
    from dask import is_dask_collection as dask_collection

    return bool(dask_collection(X))


def predict_blocks(block, estimator) -> np.ndarray:
    """``estimator.predict`` on one block of a Dask array."""
    if block.shape[0] == 0:
        return np.empty(0, dtype=np.intp)
    return estimator.predict(block)


def predict_partition(partition, estimator):
    """``estimator.predict`` on one partition of a Dask DataFrame, as a Series."""
    import pandas as pd

    if len(partition) == 0:
        return pd.Series(np.empty(0, dtype=np.intp), index=partition.index)
    return pd.Series(estimator.predict(partition), index=partition.index)


def predict_dask(estimator, X):
    """Labels of a Dask array (a Dask array) or DataFrame (a Dask Series).

    Lazy: nothing is computed until the result is.
    """
    import dask

    # One key holding the estimator; not traversed (it is not a collection)
    # and not hashed (tokenising would pickle it): a fresh name per call.
    model = dask.delayed(
        estimator, name=f"sklearn-rae-model-{uuid.uuid4().hex}", traverse=False
    )
    if hasattr(X, "map_partitions"):
        import pandas as pd

        if hasattr(X, "columns") and len(X.columns) != estimator.n_features_in_:
            raise ValueError(
                f"X has {len(X.columns)} features, but "
                f"{type(estimator).__name__} is expecting "
                f"{estimator.n_features_in_} features as input."
            )
        return X.map_partitions(predict_partition, model, meta=pd.Series(dtype=np.intp))
    if X.ndim != 2:
        raise ValueError(f"Expected a 2D Dask array, got {X.ndim} dimensions.")
    n_features = X.shape[1]
    if not np.isnan(n_features) and n_features != estimator.n_features_in_:
        raise ValueError(
            f"X has {n_features} features, but {type(estimator).__name__} is "
            f"expecting {estimator.n_features_in_} features as input."
        )
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X.map_blocks(
        predict_blocks,
        model,
        dtype=np.intp,
        drop_axis=1,
        meta=np.empty((0,), dtype=np.intp),
    )
