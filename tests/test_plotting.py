"""plot_dendrogram and linkage_to_frame."""

import sys

import numpy as np
import pytest
from scipy.cluster.hierarchy import dendrogram, linkage
from sklearn.cluster import KMeans
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_rae import (
    RecursiveAutoencoderClustering,
    linkage_to_frame,
    plot_dendrogram,
)
from sklearn_rae._cut import cut_height
from sklearn_rae._plotting import _cut_height

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _blobs(n_per_blob=4, seed=0):
    rng = np.random.RandomState(seed)
    centers = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    return np.concatenate([c + 0.3 * rng.randn(n_per_blob, 2) for c in centers])


def _leaf_labels(ax):
    return [tick.get_text() for tick in ax.get_xticklabels()]


def test_plot_dendrogram_draws_scipy_leaf_order():
    Z = linkage(np.random.RandomState(0).randn(12, 3), "ward")
    fig, ax = plt.subplots()
    assert plot_dendrogram(Z, ax=ax) is ax
    assert _leaf_labels(ax) == dendrogram(Z, no_plot=True)["ivl"]
    assert ax.get_ylabel() == "height"
    top = max(
        max(segment[:, 1]) for c in ax.collections for segment in c.get_segments()
    )
    assert top == pytest.approx(Z[-1, 2])


@pytest.mark.parametrize(
    "n_leaves, kwargs, n_shown",
    [
        (50, {}, 50),
        (51, {}, 30),
        (200, {}, 30),
        (200, {"p": 12}, 12),
        (200, {"truncate_mode": None}, 200),
        (200, {"truncate_mode": "level", "p": 2}, None),
    ],
)
def test_plot_dendrogram_truncates_large_trees(n_leaves, kwargs, n_shown):
    Z = linkage(np.random.RandomState(1).randn(n_leaves, 2), "average")
    ax = plot_dendrogram(Z, **kwargs)
    if n_shown is None:  # the caller's own truncation is passed through
        n_shown = len(dendrogram(Z, no_plot=True, **kwargs)["ivl"])
        assert n_shown < n_leaves
    assert len(_leaf_labels(ax)) == n_shown


def test_plot_dendrogram_colours_the_fitted_clusters():
    X = _blobs()
    model = RecursiveAutoencoderClustering(n_clusters=3, max_iter=0, random_state=0)
    model.fit(X)
    cut = _cut_height(model.linkage_matrix_, model)
    heights = model.linkage_matrix_[:, 2]
    assert heights[-3] < cut < heights[-2]
    drawn = dendrogram(model.linkage_matrix_, color_threshold=cut, no_plot=True)
    colour_of_leaf = dict(zip(drawn["leaves"], drawn["leaves_color_list"], strict=True))
    colours = [colour_of_leaf[i] for i in range(len(X))]
    # Samples share a colour exactly when they share a label.
    for i in range(len(X)):
        for j in range(len(X)):
            same_label = model.labels_[i] == model.labels_[j]
            assert (colours[i] == colours[j]) == same_label
    ax = plot_dendrogram(model)
    assert sorted(map(int, _leaf_labels(ax))) == list(range(len(X)))


def test_cut_height_follows_distance_threshold():
    X = _blobs()
    model = RecursiveAutoencoderClustering(
        n_clusters=None, distance_threshold=1.5, max_iter=0, random_state=0
    ).fit(X)
    assert _cut_height(model.linkage_matrix_, model) == 1.5
    assert _cut_height(model.linkage_matrix_, None) is None


def test_plot_dendrogram_accepts_a_pipeline():
    X = _blobs()
    pipe = make_pipeline(
        StandardScaler(),
        RecursiveAutoencoderClustering(n_clusters=3, max_iter=0, random_state=0),
    ).fit(X)
    ax = plot_dendrogram(pipe)
    expected = dendrogram(pipe[-1].linkage_matrix_, no_plot=True)["ivl"]
    assert _leaf_labels(ax) == expected


def test_plot_dendrogram_refuses_what_is_not_a_tree():
    with pytest.raises(NotFittedError):
        plot_dendrogram(RecursiveAutoencoderClustering())
    kmeans = KMeans(n_clusters=2, n_init=1, random_state=0).fit(_blobs())
    with pytest.raises(TypeError, match="has no linkage_matrix_"):
        plot_dendrogram(kmeans)
    with pytest.raises(ValueError, match=r"shape \(n_samples - 1, 4\)"):
        plot_dendrogram(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="Not a valid SciPy linkage matrix"):
        plot_dendrogram(np.array([[0.0, 1.0, -1.0, 2.0], [2.0, 3.0, 1.0, 3.0]]))
    with pytest.raises(TypeError, match="SciPy linkage matrix"):
        plot_dendrogram("tree")


def test_plot_dendrogram_without_matplotlib(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    Z = linkage(np.random.RandomState(0).randn(5, 2), "ward")
    with pytest.raises(ImportError, match=r"pip install matplotlib"):
        plot_dendrogram(Z)


def test_linkage_to_frame_lists_the_merges():
    X = _blobs()
    model = RecursiveAutoencoderClustering(n_clusters=3, max_iter=0, random_state=0)
    model.fit(X)
    frame = linkage_to_frame(model)
    Z = model.linkage_matrix_
    n = len(X)
    assert list(frame.columns) == ["node", "left", "right", "height", "size"]
    assert frame.shape == (n - 1, 5)
    np.testing.assert_array_equal(frame["node"], np.arange(n, 2 * n - 1))
    np.testing.assert_array_equal(frame["left"], Z[:, 0])
    np.testing.assert_array_equal(frame["right"], Z[:, 1])
    np.testing.assert_array_equal(frame["height"], Z[:, 2])
    np.testing.assert_array_equal(frame["size"], Z[:, 3])
    assert frame["size"].iloc[-1] == n
    for column in ("node", "left", "right", "size"):
        assert frame[column].dtype == np.int64
    assert frame["height"].dtype == np.float64
    np.testing.assert_array_equal(linkage_to_frame(Z).to_numpy(), frame.to_numpy())


def test_linkage_to_frame_without_pandas(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    Z = linkage(np.random.RandomState(0).randn(5, 2), "ward")
    with pytest.raises(ImportError, match="linkage_to_frame needs pandas"):
        linkage_to_frame(Z)


def _text_boxes(fig, texts):
    renderer = fig.canvas.get_renderer()
    return [t.get_window_extent(renderer) for t in texts if t.get_text()]


@pytest.mark.parametrize("n_samples", [12, 50, 150])
def test_plot_dendrogram_at_the_default_size_cuts_and_overlaps_nothing(n_samples):
    X = np.random.RandomState(0).randn(n_samples, 3)
    model = RecursiveAutoencoderClustering(n_clusters=3, max_iter=0).fit(X)
    ax = plot_dendrogram(model)
    fig = ax.figure
    fig.canvas.draw()
    figure_box = fig.bbox
    labels = _text_boxes(fig, ax.get_xticklabels())
    assert labels
    for box in [*labels, *_text_boxes(fig, [ax.xaxis.label, ax.yaxis.label])]:
        assert figure_box.x0 <= box.x0 and box.x1 <= figure_box.x1, box
        assert figure_box.y0 <= box.y0 and box.y1 <= figure_box.y1, box
    for left, right in zip(labels[:-1], labels[1:], strict=True):
        assert left.x1 <= right.x0, (left, right)


@pytest.mark.parametrize(
    "height_scale, yscale", [("sqrt", "function"), ("log", "symlog")]
)
def test_plot_dendrogram_height_scale_shows_the_merges_inside_clusters(
    height_scale, yscale
):
    # Tight blobs far apart: on a linear axis the merges inside the blobs
    # are squashed against the leaves.
    X = np.repeat([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]], 8, axis=0)
    X += 0.05 * np.random.RandomState(0).randn(len(X), 2)
    model = RecursiveAutoencoderClustering(n_clusters=3, max_iter=0).fit(X)
    inner = model.linkage_matrix_[len(X) - 4, 2]  # the highest inside a blob

    def drawn_fraction(ax):
        ax.figure.canvas.draw()
        bottom, top = ax.get_ylim()
        to_axes = ax.transData.transform
        y0, y1, yi = (to_axes([[0, v]])[0, 1] for v in (bottom, top, inner))
        return (yi - y0) / (y1 - y0)

    linear = plot_dendrogram(model)
    scaled = plot_dendrogram(model, height_scale=height_scale)
    assert drawn_fraction(linear) < 0.001
    assert drawn_fraction(scaled) > 20 * drawn_fraction(linear)
    if height_scale == "log":
        assert drawn_fraction(scaled) > 0.3
    assert scaled.get_yscale() == yscale
    assert "scale)" in scaled.get_ylabel()
    # Tick labels are still heights: the top merge is drawn at its height.
    top = max(
        max(segment[:, 1]) for c in scaled.collections for segment in c.get_segments()
    )
    assert top == pytest.approx(model.linkage_matrix_[-1, 2])


def test_plot_dendrogram_rejects_an_unknown_height_scale():
    Z = linkage(np.random.RandomState(0).randn(5, 2), "ward")
    with pytest.raises(ValueError, match="height_scale must be one of 'linear'"):
        plot_dendrogram(Z, height_scale="log10")


def test_gallery_figures_use_constrained_layout():
    # Figures laid out by hand (or not at all) clip their labels in the
    # rendered gallery.
    from pathlib import Path

    examples = Path(__file__).resolve().parents[1] / "docs" / "examples"
    for path in sorted(examples.glob("plot_*.py")):
        text = path.read_text()
        calls = text.count("plt.subplots(") + text.count("plt.figure(")
        assert text.count('layout="constrained"') >= calls, path.name
        assert "tight_layout" not in text, path.name


def test_cut_height_of_the_cut_module_is_the_plotting_one():
    X = _blobs()
    model = RecursiveAutoencoderClustering(n_clusters=3, max_iter=0, random_state=0)
    linkage = model.fit(X).linkage_matrix_
    heights = linkage[:, 2]
    cut = cut_height(linkage, n_clusters=3)
    assert cut == _cut_height(linkage, model) == (heights[-3] + heights[-2]) / 2
    assert cut_height(linkage, distance_threshold=1.5) == 1.5
    assert cut_height(linkage) is None
    assert cut_height(linkage, n_clusters=1) is None
