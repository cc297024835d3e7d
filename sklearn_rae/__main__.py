"""Command line: ``python -m sklearn_rae`` clusters iris and prints the result."""

from __future__ import annotations

import sys

import numpy as np


def main(argv: list[str] | None = None) -> int:
    """Cluster the iris data set (standardised) into 3 clusters and report."""
    from sklearn.datasets import load_iris
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler

    from . import RecursiveAutoencoderClustering

    iris = load_iris()
    X = StandardScaler().fit_transform(iris.data)
    model = RecursiveAutoencoderClustering(n_clusters=3, random_state=0).fit(X)
    sizes = ", ".join(str(int(c)) for c in sorted(np.bincount(model.labels_)))
    print(f"iris: {X.shape[0]} samples, {X.shape[1]} features")
    print(f"merge_cost={model.merge_cost!r}, {model.n_iter_} training steps")
    print(f"{model.n_clusters_} clusters of sizes {sizes}")
    print(
        f"adjusted Rand index against the species: "
        f"{adjusted_rand_score(iris.target, model.labels_):.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
