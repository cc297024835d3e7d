"""Draw docs/_static/iris_dendrogram.png, the picture shown in the README.

Run from the repository root: ``python docs/make_readme_figure.py``.
"""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from sklearn.datasets import load_iris  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from sklearn_rae import RecursiveAutoencoderClustering, plot_dendrogram  # noqa: E402

OUTPUT = Path(__file__).resolve().parent / "_static" / "iris_dendrogram.png"


def main() -> None:
    X = StandardScaler().fit_transform(load_iris().data)
    model = RecursiveAutoencoderClustering(n_clusters=3, random_state=0).fit(X)
    fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
    plot_dendrogram(model, ax=ax)
    ax.set_title(
        f"iris (standardized): merge_cost={model.merge_cost!r} "
        f"kept {model.merge_cost_!r}, {model.n_clusters_} clusters"
    )
    OUTPUT.parent.mkdir(exist_ok=True)
    fig.savefig(OUTPUT, dpi=100)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
