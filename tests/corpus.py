"""A fixed corpus of fits whose results pin the package's behaviour.

``python tests/corpus.py`` writes ``tests/data/corpus.npz``; ``test_corpus.py``
fits the same models and compares. Regenerate the file only when a change of
results is intended, and say so in the commit.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.neighbors import kneighbors_graph

from sklearn_rae import RecursiveAutoencoderClustering

CORPUS_FILE = Path(__file__).parent / "data" / "corpus.npz"


def corpus_data():
    """Three blobs beside a ring (70 samples, 2 features), and new samples."""
    rng = np.random.RandomState(7)
    blobs = np.concatenate(
        [rng.normal(c, 0.3, size=(15, 2)) for c in ((0, 0), (3, 0), (0, 3))]
    )
    angle = rng.uniform(0, 2 * np.pi, 25)
    ring = np.c_[6 + 1.5 * np.cos(angle), 6 + 1.5 * np.sin(angle)]
    ring += rng.normal(0, 0.05, ring.shape)
    X = np.concatenate([blobs, ring])
    X_new = rng.uniform(-1, 8, size=(20, 2))
    return X, X_new


def overlapping_data():
    """Three overlapping elongated Gaussian clusters (90 samples, 2 features).

    No gaps between them: the default falls back to the whitened means.
    """
    rng = np.random.RandomState(11)
    stretch = np.array([[1.0, 0.0], [0.8, 0.3]])
    return np.concatenate(
        [rng.normal(size=(30, 2)) @ stretch + c for c in ((0, 0), (1.5, 0.6), (3, 1))]
    )


#: The data sets of the corpus by name; ``corpus_data``'s first is the default.
def corpus_sets():
    return {"shapes": corpus_data()[0], "overlapping": overlapping_data()}


def corpus_fits():
    """Yield ``(key, parameters)`` of every fit of the corpus."""
    for merge_cost in (
        "learned_metric",
        "boundary",
        "cumulative",
        "adaptive",
        "whitened_means",
        "auto",
    ):
        base = {"merge_cost": merge_cost, "max_iter": 5, "random_state": 0}
        yield f"{merge_cost}-k4", {**base, "n_clusters": 4}
        yield f"{merge_cost}-auto", {**base, "n_clusters": "auto"}
        yield f"{merge_cost}-untrained", {**base, "n_clusters": 3, "max_iter": 0}
        yield f"{merge_cost}-graph", {**base, "n_clusters": 4, "connectivity": "knn"}
    # Thresholds in the heights of linkage_matrix_ (SciPy's units for the
    # embedded criteria: 2 sqrt(cost) of the merge costs 2.0 and 0.05).
    for merge_cost, threshold in (
        ("learned_metric", 2 * np.sqrt(2.0)),
        ("boundary", 2 * np.sqrt(0.05)),
        ("cumulative", 5.0),
        ("whitened_means", 2 * np.sqrt(2.0)),
        ("auto", 2 * np.sqrt(0.05)),
    ):
        yield (
            f"{merge_cost}-threshold",
            {
                "merge_cost": merge_cost,
                "max_iter": 5,
                "random_state": 0,
                "n_clusters": None,
                "distance_threshold": threshold,
            },
        )

    # The default where clusters overlap (its fallback and the persistence
    # comparison), and the criteria it chooses between.
    for merge_cost in ("auto", "whitened_means", "boundary"):
        base = {"merge_cost": merge_cost, "max_iter": 5, "random_state": 0}
        base["data"] = "overlapping"
        yield f"overlapping-{merge_cost}-k3", {**base, "n_clusters": 3}
        yield f"overlapping-{merge_cost}-auto", {**base, "n_clusters": "auto"}


def fit_corpus_model(parameters, X=None):
    """Fit the corpus model of ``parameters`` on its data set (or ``X``)."""
    parameters = dict(parameters)
    data = parameters.pop("data", None)
    if data is not None or X is None:
        X = corpus_sets()[data or "shapes"]
    if parameters.get("connectivity") == "knn":
        parameters["connectivity"] = kneighbors_graph(X, 6, include_self=False)
    return RecursiveAutoencoderClustering(**parameters).fit(X)


def corpus_results():
    """Every fit's linkage, labels, loss curve, score and predictions."""
    _, X_new = corpus_data()
    sets = corpus_sets()
    results = {}
    for key, parameters in corpus_fits():
        X = sets[parameters.get("data", "shapes")]
        model = fit_corpus_model(parameters)
        results[f"{key}/linkage"] = model.linkage_matrix_
        results[f"{key}/labels"] = model.labels_
        results[f"{key}/loss_curve"] = np.asarray(model.loss_curve_, dtype=float)
        results[f"{key}/score"] = np.asarray(model.score(X))
        results[f"{key}/predict"] = model.predict(X_new)
        results[f"{key}/merge_cost"] = np.asarray(model.merge_cost_)
        if hasattr(model, "cut_bic_"):
            results[f"{key}/cut_bic"] = model.cut_bic_
    return results


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent.parent))
    np.savez_compressed(CORPUS_FILE, **corpus_results())
    print(f"wrote {CORPUS_FILE}")
