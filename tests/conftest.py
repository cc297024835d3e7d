import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_circles, make_moons

# Test helpers (the seed oracle) live beside the tests.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def dask_client():
    """A Dask cluster of two worker processes on the loopback interface."""
    distributed = pytest.importorskip("distributed")
    with (
        distributed.LocalCluster(
            n_workers=2,
            processes=True,
            threads_per_worker=1,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _line_beside_blob():
    rng = np.random.RandomState(0)
    line = np.c_[np.linspace(-4, 4, 200), 0.05 * rng.randn(200)]
    blob = rng.randn(200, 2) * 0.4 + [0.0, 2.0]
    return np.r_[line, blob], np.r_[np.zeros(200), np.ones(200)]


#: Small 2-D shapes that Ward's cost cuts into convex pieces, as (X, y).
SHAPES = {
    "two rings": lambda: make_circles(500, factor=0.4, noise=0.05, random_state=0),
    "two moons": lambda: make_moons(500, noise=0.06, random_state=0),
    "line beside a blob": _line_beside_blob,
}


@pytest.fixture(params=list(SHAPES))
def shape(request):
    """``(X, y)`` of each of :data:`SHAPES` in turn."""
    return SHAPES[request.param]()
