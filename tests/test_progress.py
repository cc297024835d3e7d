"""The verbose parameter: a progress bar with the loss, or silence."""

import numpy as np

from sklearn_rae import RecursiveAutoencoderClustering


def _data():
    return np.random.RandomState(0).randn(12, 3)


def test_verbose_0_prints_nothing(capfd):
    # A first fit loads TensorFlow, which logs on its own when it starts.
    RecursiveAutoencoderClustering(max_iter=1, random_state=0).fit(_data())
    capfd.readouterr()
    RecursiveAutoencoderClustering(max_iter=3, random_state=0, verbose=0).fit(_data())
    captured = capfd.readouterr()
    assert captured.out == ""
    assert captured.err == ""


def test_verbose_1_shows_progress_with_the_loss(capfd):
    model = RecursiveAutoencoderClustering(max_iter=3, random_state=0, verbose=1)
    model.fit(_data())
    out = capfd.readouterr().out
    assert "3/3" in out
    assert f"loss: {model.loss_curve_[-1]:.4f}" in out
    assert len(model.loss_curve_) == 3
