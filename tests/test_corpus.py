"""Results of a fixed corpus of fits, compared with the recorded ones.

Every criterion, with and without a connectivity graph, with a fixed number of
clusters, a distance threshold and ``"auto"``: the linkage matrices, labels,
loss curves, scores and predictions must stay what ``tests/corpus.py``
recorded. A change that alters them on purpose regenerates the record.
"""

import warnings

import numpy as np
import pytest
from corpus import CORPUS_FILE, corpus_data, corpus_fits, corpus_sets, fit_corpus_model

RECORDED = np.load(CORPUS_FILE)
_, X_NEW = corpus_data()
SETS = corpus_sets()


@pytest.mark.parametrize(
    "key, parameters",
    list(corpus_fits()),
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_corpus_fit_is_unchanged(key, parameters):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = fit_corpus_model(parameters)
    X = SETS[parameters.get("data", "shapes")]
    linkage = RECORDED[f"{key}/linkage"]
    np.testing.assert_array_equal(
        model.linkage_matrix_[:, [0, 1, 3]], linkage[:, [0, 1, 3]]
    )
    np.testing.assert_allclose(
        model.linkage_matrix_[:, 2], linkage[:, 2], rtol=1e-9, atol=1e-12
    )
    np.testing.assert_array_equal(model.labels_, RECORDED[f"{key}/labels"])
    np.testing.assert_allclose(
        model.loss_curve_, RECORDED[f"{key}/loss_curve"], rtol=1e-9
    )
    np.testing.assert_allclose(model.score(X), RECORDED[f"{key}/score"], rtol=1e-9)
    np.testing.assert_array_equal(model.predict(X_NEW), RECORDED[f"{key}/predict"])
    assert model.merge_cost_ == str(RECORDED[f"{key}/merge_cost"])
    if f"{key}/cut_bic" in RECORDED:
        np.testing.assert_allclose(
            model.cut_bic_, RECORDED[f"{key}/cut_bic"], rtol=1e-9
        )
