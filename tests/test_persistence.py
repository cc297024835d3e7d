"""Persistence and determinism across processes.

Two fresh Python processes fit the same data with the same ``random_state``.
The first saves its model with pickle and joblib and its merge encoder as a
``.keras`` file; the second loads them (the pickle without importing
TensorFlow), then fits again.
"""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

FIT_AND_SAVE = """
import pickle, sys
from pathlib import Path

import joblib
import numpy as np

from sklearn_rae import RecursiveAutoencoderClustering
from sklearn_rae._prediction import CostPredictor

out = Path(sys.argv[1])
rng = np.random.RandomState(0)
X = np.vstack([rng.randn(10, 3), rng.randn(10, 3) + 5])
X_new = rng.randn(6, 3) * 3
a, b = rng.randn(4, 3), rng.randn(4, 3)

# Mini-batches of 8: the random state draws batches as well as weights.
model = RecursiveAutoencoderClustering(
    n_clusters=3, max_iter=4, batch_size=8, random_state=0, merge_cost="adaptive"
).fit(X)
with open(out / "model.pkl", "wb") as file:
    pickle.dump(model, file)
joblib.dump(model, out / "model.joblib")
model.merger_.save(out / "merger.keras")
np.savez(
    out / "fitted.npz",
    X_new=X_new,
    a=a,
    b=b,
    linkage=model.linkage_matrix_,
    loss_curve=model.loss_curve_,
    labels=model.labels_,
    merge_cost=model.merge_cost_,
    predicted=model.predict(X_new),
    # predict's argmin hides small differences; the costs show them.
    node_costs=CostPredictor(
        model._criterion, model.merger_weights_, model._node_state, model._node_labels
    ).node_costs(X_new),
    merger_outputs=np.concatenate(model.merger_([a, b]), axis=1),
)
"""

LOAD_THEN_FIT = """
import pickle, sys
from pathlib import Path

import joblib
import numpy as np

from sklearn_rae._prediction import CostPredictor

saved, out = Path(sys.argv[1]), Path(sys.argv[2])
fitted = np.load(saved / "fitted.npz")

with open(saved / "model.pkl", "rb") as file:
    unpickled = pickle.load(file)
from_pickle = unpickled.predict(fitted["X_new"])
pickle_costs = CostPredictor(
    unpickled._criterion,
    unpickled.merger_weights_,
    unpickled._node_state,
    unpickled._node_labels,
).node_costs(fitted["X_new"])
# The pickle holds NumPy arrays only: loading and predicting need no TensorFlow.
tensorflow_imported = "tensorflow" in sys.modules
from_joblib = joblib.load(saved / "model.joblib").predict(fitted["X_new"])

import keras
from sklearn_rae import RecursiveAutoencoderClustering

merger = keras.models.load_model(saved / "merger.keras")
merger_outputs = np.concatenate(merger([fitted["a"], fitted["b"]]), axis=1)

rng = np.random.RandomState(0)
X = np.vstack([rng.randn(10, 3), rng.randn(10, 3) + 5])
refit = RecursiveAutoencoderClustering(
    n_clusters=3, max_iter=4, batch_size=8, random_state=0, merge_cost="adaptive"
).fit(X)
np.savez(
    out / "loaded.npz",
    tensorflow_imported=tensorflow_imported,
    from_pickle=from_pickle,
    from_joblib=from_joblib,
    pickle_costs=pickle_costs,
    unpickled_linkage=unpickled.linkage_matrix_,
    merger_outputs=merger_outputs,
    unpickled_merger_outputs=np.concatenate(
        unpickled.merger_([fitted["a"], fitted["b"]]), axis=1
    ),
    linkage=refit.linkage_matrix_,
    loss_curve=refit.loss_curve_,
    labels=refit.labels_,
    predicted=refit.predict(fitted["X_new"]),
)
"""


def run_python(code, *args):
    """Run ``code`` in a fresh interpreter that imports this repository."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-4000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Results of the saving process and of the loading process."""
    pytest.importorskip("tensorflow")
    saved = tmp_path_factory.mktemp("saved")
    loaded = tmp_path_factory.mktemp("loaded")
    run_python(FIT_AND_SAVE, saved)
    run_python(LOAD_THEN_FIT, saved, loaded)
    return np.load(saved / "fitted.npz"), np.load(loaded / "loaded.npz")


def test_pickle_and_joblib_predict_identically_in_another_process(runs):
    fitted, loaded = runs
    np.testing.assert_array_equal(loaded["from_pickle"], fitted["predicted"])
    np.testing.assert_array_equal(loaded["from_joblib"], fitted["predicted"])
    np.testing.assert_array_equal(loaded["unpickled_linkage"], fitted["linkage"])
    # Every training sample, and with the learned metric every merged node
    # below the 3-cluster cut.
    n_train = len(fitted["labels"])
    n_nodes = 2 * n_train - 3 if fitted["merge_cost"] == "learned_metric" else n_train
    assert fitted["node_costs"].shape == (n_nodes, 6)
    np.testing.assert_array_equal(loaded["pickle_costs"], fitted["node_costs"])


def test_unpickling_and_predicting_need_no_tensorflow(runs):
    _, loaded = runs
    assert not loaded["tensorflow_imported"]


def test_merger_saves_and_loads_with_keras(runs):
    fitted, loaded = runs
    assert fitted["merger_outputs"].shape == (4, 3 + 6 + 6)
    np.testing.assert_array_equal(loaded["merger_outputs"], fitted["merger_outputs"])
    # An unpickled model rebuilds the same Keras merge encoder.
    np.testing.assert_array_equal(
        loaded["unpickled_merger_outputs"], fitted["merger_outputs"]
    )


def test_same_random_state_same_results_in_two_processes(runs):
    fitted, loaded = runs
    assert len(fitted["loss_curve"]) == 4
    for name in ("linkage", "loss_curve", "labels", "predicted"):
        np.testing.assert_array_equal(loaded[name], fitted[name], err_msg=name)


def _user_guide_block(heading):
    """The first python code block under ``heading`` in the user guide."""
    text = (ROOT / "docs" / "user_guide.rst").read_text()
    section = text[text.index(f"\n{heading}\n") :]
    lines = section[section.index(".. code-block:: python") :].splitlines()[1:]
    block = []
    for line in lines:
        if line.strip() and not line.startswith(" "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block))


def test_skops_example_of_the_user_guide(tmp_path, monkeypatch):
    # The documented safe alternative to pickle, run as written.
    pytest.importorskip("skops")
    from sklearn_rae import RecursiveAutoencoderClustering

    rng = np.random.RandomState(0)
    X = np.vstack([rng.randn(10, 3), rng.randn(10, 3) + 5])
    model = RecursiveAutoencoderClustering(max_iter=3, random_state=0).fit(X)
    assert model.merger_ is not None  # a built Keras model is not saved
    monkeypatch.chdir(tmp_path)
    namespace = {"model": model, "X": X}
    exec(_user_guide_block("Saving a model"), namespace)
    loaded = namespace["loaded"]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.labels_, model.labels_)
    np.testing.assert_array_equal(loaded.linkage_matrix_, model.linkage_matrix_)
    assert loaded.score(X) == model.score(X)
    assert loaded.get_params() == model.get_params()

    import skops.io as sio

    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(tmp_path / "model.skops")
