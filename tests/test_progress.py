"""The verbose parameter: one line per stage, a bar where it redraws, or silence."""

import io
import os
import sys
import textwrap

import numpy as np
import pytest
from checkout_env import run_in_checkout
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from sklearn_rae import RecursiveAutoencoderClustering, _progress

#: How every line of a verbose fit in a log starts.
STAGES = (
    "Training ",
    "Built the ",
    "Building the ",
    "Comparing up to ",
    "Stability over ",
    "Boundary clusters: ",
    "genie clusters without the noise ",
    "Persistence of the cut into ",
    "Keeping ",
)


def _adaptive(*args, **kwargs):
    """The estimator with the stability selection these tests exercise."""
    kwargs.setdefault("merge_cost", "adaptive")
    return RecursiveAutoencoderClustering(*args, **kwargs)


def _data():
    return np.random.RandomState(0).randn(12, 3)


def _iris():
    return StandardScaler().fit_transform(load_iris().data)


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, as a console's stdout does."""

    def isatty(self):
        return True


def test_verbose_0_prints_nothing(capfd):
    # A first fit loads TensorFlow, which logs on its own when it starts.
    _adaptive(max_iter=1, random_state=0).fit(_data())
    capfd.readouterr()
    _adaptive(max_iter=3, random_state=0, verbose=0).fit(_data())
    captured = capfd.readouterr()
    assert captured.out == ""
    assert captured.err == ""


def test_a_log_gets_one_line_per_stage_with_rate_and_loss(capsys):
    model = RecursiveAutoencoderClustering(
        merge_cost="learned_metric", max_iter=3, random_state=0, verbose=1
    ).fit(_data())
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3, lines
    training, stopped, built = lines
    assert training.startswith("Training learned_metric: 100%|##########| 3/3 [")
    assert "step/s" in training
    assert training.endswith(f"loss={model.loss_curve_[-1]:.4f}]")
    assert stopped == (
        "Training learned_metric stopped at max_iter=3 before converging; raise "
        "max_iter to let it converge."
    )
    assert built.startswith(
        "Built the learned_metric tree over 12 samples (fastcluster's Ward"
    )
    assert "\r" not in "".join(lines)


def test_logs_get_a_line_whenever_the_interval_has_passed(capsys, monkeypatch):
    # An interval of 0 s: every step's line is due, then the last one.
    monkeypatch.setattr(_progress, "PROGRESS_INTERVAL", 0.0)
    model = RecursiveAutoencoderClustering(
        merge_cost="learned_metric", max_iter=4, random_state=0, verbose=1
    ).fit(_data())
    lines = [
        line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("Training learned_metric:")
    ]
    assert len(lines) == 4
    for step, (line, loss) in enumerate(
        zip(lines, model.loss_curve_, strict=True), start=1
    ):
        assert f"| {step}/4 [" in line
        assert line.endswith(f"loss={loss:.4f}]")


def test_default_interval_keeps_a_log_to_a_few_lines_per_fit(capsys):
    # 100 steps in well under 5 s: the training stage is its last line.
    model = RecursiveAutoencoderClustering(
        merge_cost="learned_metric", max_iter=100, random_state=0, verbose=1
    ).fit(_iris())
    lines = capsys.readouterr().out.splitlines()
    training = [line for line in lines if line.startswith("Training")]
    assert len(training) == (1 if model.n_iter_ < 100 else 2), training
    assert len(lines) <= 3


def test_final_tree_build_reports_start_duration_and_heartbeat(capsys, monkeypatch):
    import time

    from sklearn_rae.criteria.learned_metric import LearnedMetricCriterion

    build = LearnedMetricCriterion.build_tree

    def slow_build(self, *args, **kwargs):
        time.sleep(0.25)
        return build(self, *args, **kwargs)

    monkeypatch.setattr(_progress, "PROGRESS_INTERVAL", 0.05)
    monkeypatch.setattr(LearnedMetricCriterion, "build_tree", slow_build)
    _adaptive(merge_cost="learned_metric", max_iter=0, verbose=1).fit(_data())
    out = capsys.readouterr().out
    what = "the learned_metric tree over 12 samples (fastcluster's Ward"
    assert f"Building {what}" in out and "memory): 0 s" in out
    built = [line for line in out.splitlines() if line.startswith("Built the")]
    assert len(built) == 1 and built[0].startswith(f"Built {what}")
    assert float(built[0].split()[-2]) >= 0.25
    assert out.index("Building") < out.index("Built")


def test_converged_training_says_so_in_its_line(capsys):
    X = np.repeat(np.eye(3), 10, axis=0) * 10
    X += 0.1 * np.random.RandomState(0).normal(size=X.shape)
    model = _adaptive(n_clusters=3, max_iter=300, random_state=0, verbose=1).fit(X)
    out = capsys.readouterr().out
    assert model.n_iter_ < 300
    training = [line for line in out.splitlines() if line.startswith("Training")]
    # Shown complete at the steps it took, and no line about max_iter.
    assert any(
        f"| {model.n_iter_}/{model.n_iter_} [" in line and line.endswith("converged]")
        for line in training
    ), training
    assert "max_iter" not in out


@pytest.mark.parametrize(
    "merge_cost, max_iter, says_max_iter",
    [
        ("learned_metric", 2, True),
        # Three exact steps are its own number: max_iter is not what stopped it.
        ("whitened_means", 100, False),
        ("whitened_means", 2, True),
        # Without a convergence check there is nothing to meet.
        ("cumulative", 2, False),
    ],
)
def test_stopping_at_max_iter_is_announced_once(
    merge_cost, max_iter, says_max_iter, capsys
):
    model = RecursiveAutoencoderClustering(
        n_clusters=3, merge_cost=merge_cost, max_iter=max_iter, verbose=1
    )
    model.set_params(random_state=0).fit(_iris())
    # Fewer steps than it may take, and not converged.
    assert model.n_iter_ == min(max_iter, 3 if merge_cost == "whitened_means" else 2)
    out = capsys.readouterr().out
    announced = [line for line in out.splitlines() if "before converging" in line]
    expected = (
        [
            f"Training {merge_cost} stopped at max_iter={max_iter} before "
            "converging; raise max_iter to let it converge."
        ]
        if says_max_iter
        else []
    )
    assert announced == expected


def test_a_terminal_gets_tqdm_bars(monkeypatch):
    stream = _Terminal()
    monkeypatch.setattr(sys, "stdout", stream)
    model = _adaptive(
        merge_cost="learned_metric", max_iter=3, random_state=0, verbose=1
    ).fit(_data())
    out = stream.getvalue()
    # Redrawn in place: carriage returns, and a line per stage all the same.
    assert "\r" in out
    lines = out.split("\n")
    assert (
        lines[0]
        .rsplit("\r", 1)[-1]
        .startswith("Training learned_metric: 100%|##########| 3/3 [")
    )
    assert f"loss={model.loss_curve_[-1]:.4f}" in lines[0]
    assert lines[1].startswith("Training learned_metric stopped at max_iter=3")
    assert lines[2].rsplit("\r", 1)[-1].startswith("Built the learned_metric tree")
    assert lines[3:] == [""]


def test_a_notebook_redraws_and_a_file_does_not():
    notebook_stream = type("OutStream", (io.StringIO,), {})
    notebook_stream.__module__ = "ipykernel.iostream"
    assert _progress.redraws_in_place(notebook_stream())
    assert _progress.redraws_in_place(_Terminal())
    assert not _progress.redraws_in_place(io.StringIO())
    with open(os.devnull, "w") as closed:
        pass
    assert not _progress.redraws_in_place(closed)  # isatty raises ValueError


def test_a_grid_search_prints_a_bounded_number_of_lines(capsys):
    search = GridSearchCV(
        RecursiveAutoencoderClustering(verbose=1), {"n_clusters": [2, 3, 4]}, cv=3
    )
    search.fit(_iris())
    out = capsys.readouterr().out
    lines = out.splitlines()
    n_fits = 3 * 3 + 1
    # The default: the boundary tree, the choice, and where the boundary
    # clusters lack gaps Genie's tree and its noise rule, the whitened means'
    # training and tree and the comparison of the two cuts' persistence: one
    # line per stage.
    assert sum(line.startswith("Boundary clusters: ") for line in lines) == n_fits
    assert 2 * n_fits <= len(lines) <= 7 * n_fits
    assert all(line.startswith(STAGES) for line in lines), lines
    assert "\r" not in out


def test_verbose_default_fit_imports_neither_tensorflow_nor_keras():
    script = textwrap.dedent(
        """
        import sys
        from sklearn.datasets import load_iris
        from sklearn_rae import RecursiveAutoencoderClustering
        RecursiveAutoencoderClustering(verbose=1).fit(load_iris().data)
        assert "tensorflow" not in sys.modules, "TensorFlow was imported"
        """
    )
    result = run_in_checkout(script)
    assert "Built the boundary tree over 150 samples" in result.stdout


def test_verbose_0_reports_no_tree_build(capsys):
    _adaptive(max_iter=0).fit(_data())
    assert "tree" not in capsys.readouterr().out


def test_a_restarted_stage_forgets_the_steps_before(capsys):
    # A held-out training that passed the start check is set aside and the
    # bar starts again: its steps and loss must not stand in the final line
    # when the training on every sample takes none.
    progress = _progress.TrainingProgress("learned_metric", 100, 100)
    progress.started()
    progress.update(12, 5.7721)
    progress.started()
    progress.finish("nothing to learn")
    line = capsys.readouterr().out.strip()
    assert "| 0/100 [" in line, line
    assert "loss" not in line and "12" not in line.split("[")[0]
    assert line.endswith("stopped: the flat clusters are single samples]")
