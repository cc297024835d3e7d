"""The verbose parameter: a progress bar with the loss, or silence."""

import numpy as np

from sklearn_rae import RecursiveAutoencoderClustering


def _adaptive(*args, **kwargs):
    """The estimator with the stability selection these tests exercise."""
    kwargs.setdefault("merge_cost", "adaptive")
    return RecursiveAutoencoderClustering(*args, **kwargs)


def _data():
    return np.random.RandomState(0).randn(12, 3)


def test_verbose_0_prints_nothing(capfd):
    # A first fit loads TensorFlow, which logs on its own when it starts.
    _adaptive(max_iter=1, random_state=0).fit(_data())
    capfd.readouterr()
    _adaptive(max_iter=3, random_state=0, verbose=0).fit(_data())
    captured = capfd.readouterr()
    assert captured.out == ""
    assert captured.err == ""


def test_verbose_1_shows_progress_with_the_loss(capfd):
    model = _adaptive(max_iter=3, random_state=0, verbose=1)
    model.fit(_data())
    out = capfd.readouterr().out
    assert "3/3" in out
    assert f"loss: {model.loss_curve_[-1]:.4f}" in out
    assert len(model.loss_curve_) == 3


def test_logs_get_a_line_whenever_the_interval_has_passed(capsys, monkeypatch):
    from sklearn_rae import _progress

    # An interval of 0 s: every step's line is due, not only every tenth.
    monkeypatch.setattr(_progress, "PROGRESS_INTERVAL", 0.0)
    model = _adaptive(
        merge_cost="learned_metric", max_iter=4, random_state=0, verbose=1
    )
    model.fit(_data())
    lines = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("step")
    ]
    assert lines == [
        f"step {step}/4 - loss: {loss:.4f}"
        for step, loss in enumerate(model.loss_curve_, start=1)
    ]


def test_final_tree_build_reports_start_duration_and_heartbeat(capsys, monkeypatch):
    import time

    from sklearn_rae import _progress
    from sklearn_rae.criteria.learned_metric import LearnedMetricCriterion

    build = LearnedMetricCriterion.build_tree

    def slow_build(self, *args, **kwargs):
        time.sleep(0.25)
        return build(self, *args, **kwargs)

    monkeypatch.setattr(_progress, "PROGRESS_INTERVAL", 0.05)
    monkeypatch.setattr(LearnedMetricCriterion, "build_tree", slow_build)
    _adaptive(merge_cost="learned_metric", max_iter=0, verbose=1).fit(_data())
    out = capsys.readouterr().out
    assert "Building the tree over 12 samples (fastcluster's Ward" in out
    assert "  building the tree: 0 s" in out
    built = [line for line in out.splitlines() if line.startswith("Built the tree in")]
    assert len(built) == 1 and float(built[0].split()[-2]) >= 0.25
    assert out.index("Building") < out.index("building") < out.index("Built")


def test_converged_training_says_so(capsys):
    X = np.repeat(np.eye(3), 10, axis=0) * 10
    X += 0.1 * np.random.RandomState(0).normal(size=X.shape)
    model = _adaptive(n_clusters=3, max_iter=300, random_state=0, verbose=1).fit(X)
    out = capsys.readouterr().out
    assert model.n_iter_ < 300
    assert f"Training converged after {model.n_iter_} steps" in out


def test_verbose_0_reports_no_tree_build(capsys):
    _adaptive(max_iter=0).fit(_data())
    assert "tree" not in capsys.readouterr().out
