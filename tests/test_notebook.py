"""What a notebook does with a model: display it, inspect it, without TensorFlow."""

import pickle
import textwrap

import numpy as np
from checkout_env import run_in_checkout

from sklearn_rae import RecursiveAutoencoderClustering


def test_displaying_an_unpickled_model_does_not_import_tensorflow(tmp_path):
    X = np.random.RandomState(0).randn(20, 2)
    model = RecursiveAutoencoderClustering(max_iter=2, random_state=0).fit(X)
    path = tmp_path / "model.pkl"
    path.write_bytes(pickle.dumps(model))
    script = textwrap.dedent(
        f"""
        import pickle, sys
        model = pickle.loads(open({str(path)!r}, "rb").read())
        html = model._repr_html_()
        assert "RecursiveAutoencoderClustering" in html and "labels_" in html
        repr(model)
        model.get_params()
        names = dir(model)
        assert "labels_" in names and "merger_" not in names, names
        assert "tensorflow" not in sys.modules, "TensorFlow was imported"
        model.merger_  # still there when asked for
        assert "merger_" in dir(model)
        """
    )
    run_in_checkout(script)


def test_dir_lists_merger_once_tensorflow_is_loaded():
    X = np.random.RandomState(0).randn(20, 2)
    model = RecursiveAutoencoderClustering(max_iter=2, random_state=0).fit(X)
    assert "merger_" in dir(model)  # training loaded TensorFlow
    assert "merger_" not in dir(RecursiveAutoencoderClustering())
