"""The command line's run: memory, warnings before fitting, write errors, start-up."""

import errno
import os
import resource
import signal
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from checkout_env import checkout_env
from test_cli_io import DATA, FAST

from sklearn_rae.cli import advice, main
from sklearn_rae.cli import write as cli_write


def _npy(tmp_path, X=DATA):
    path = tmp_path / "d.npy"
    np.save(path, X)
    return str(path)


def _error_line(capsys):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sklearn-rae: error: "), err
    return err


# ---------------------------------------------------------- --memory-limit


def test_memory_limit_reaches_the_estimator(tmp_path, capsys):
    args = [_npy(tmp_path), *FAST, "--output-dir", str(tmp_path / "out")]
    assert main([*args, "--memory-limit", "1K"]) == 1
    err = _error_line(capsys)
    assert "more than the memory limit of 1.0 KiB" in err
    assert "--memory-limit" in err
    for value in ("none", "2G", "500M", "auto"):
        assert main([*args, "--memory-limit", value]) == 0
    assert main([*args, "--memory-limit", "lots"]) == 2
    assert "'lots' is not a size in bytes" in _error_line(capsys)


# ------------------------------------------------------ the scale warning


def test_no_scale_warning_for_the_unit_free_merge_costs(tmp_path, capsys):
    path = _npy(tmp_path, DATA * [1.0, 1000.0, 1.0])
    out = ["--max-iter", "0", "--quiet", "--output-dir", str(tmp_path / "o")]
    for merge_cost in ("auto", "whitened_means"):
        assert main([path, "--merge-cost", merge_cost, *out]) == 0
        assert capsys.readouterr().err == ""
    assert main([path, "--merge-cost", "learned_metric", *out]) == 0
    assert "scales differ by a factor of 1.8e+03" in capsys.readouterr().err


def test_scale_ratio_of_huge_values_is_a_number(capsys):
    X = np.random.default_rng(0).normal(size=(20, 3)) * [1e200, 1.0, 1e-200]
    advice.warn_about_scales(X, ["huge", "one", "tiny"])
    err = capsys.readouterr().err
    assert "nan" not in err and "inf" not in err
    assert "differ by a factor of 1e400" in err
    assert "for 'huge'" in err and "for 'tiny'" in err


# ------------------------------------------------------------ large data


def test_large_data_is_warned_of_before_fitting(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(advice, "LARGE_N_SAMPLES", len(DATA) - 1)
    assert main([_npy(tmp_path), *FAST, "--output-dir", str(tmp_path / "o")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "sklearn-rae: warning: 7 samples: a hierarchical tree takes O(n^2)" in err
    assert "predict" in err


def test_large_data_estimate_follows_the_documented_rule(capsys):
    advice.warn_about_size(advice.LARGE_N_SAMPLES, "auto")
    assert capsys.readouterr().err == ""
    advice.warn_about_size(2_000_000, "auto")
    assert (
        "2,000,000 samples: a hierarchical tree takes O(n^2) time, about 7 hours"
        in (capsys.readouterr().err)
    )
    advice.warn_about_size(400_000, "cumulative")
    assert "640 GB for the 'cumulative' pair-cost cache" in capsys.readouterr().err


# ------------------------------------------------------------ write errors


def test_full_disk_without_errno_is_named(tmp_path, capsys, monkeypatch):
    # NumPy's tofile reports a full disk as "N requested and M written".
    def short_write(file, identifiers, labels):
        raise OSError("7996 requested and 2032 written")

    monkeypatch.setattr(cli_write, "write_labels_csv", short_write)
    monkeypatch.setattr(
        cli_write.os, "statvfs", lambda path: SimpleNamespace(f_bavail=0, f_flag=0)
    )
    out = tmp_path / "out"
    assert main([_npy(tmp_path), *FAST, "--output-dir", str(out)]) == 1
    err = _error_line(capsys)
    assert f"the disk holding {out} is full (ENOSPC" in err


def test_linkage_write_past_a_file_size_limit_keeps_its_errno(tmp_path):
    # A short write through ndarray.tofile loses errno; Python's write keeps it.
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        with open(tmp_path / "linkage.npy", "wb") as file:
            cli_write.write_linkage_npy(file, np.zeros((1000, 4)))
            file.flush()
    except OSError as exc:
        error = exc
    else:
        error = None
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)
    assert error is not None and error.errno == errno.EFBIG, error


def test_unwritable_output_dir_is_named(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    real_mkstemp = cli_write.tempfile.mkstemp

    def denied(*args, dir=None, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(dir))

    monkeypatch.setattr(cli_write.tempfile, "mkstemp", denied)
    assert main([_npy(tmp_path), *FAST, "--output-dir", str(out)]) == 1
    err = _error_line(capsys)
    assert f"{out} is not writable (read-only for this user" in err
    monkeypatch.setattr(cli_write.tempfile, "mkstemp", real_mkstemp)
    # Refused before the fit too, on a read-only file system.
    monkeypatch.setattr(cli_write.os, "access", lambda path, mode: False)
    monkeypatch.setattr(
        cli_write.os,
        "statvfs",
        lambda path: SimpleNamespace(f_bavail=1, f_flag=os.ST_RDONLY),
    )
    assert main([_npy(tmp_path), *FAST, "--output-dir", str(out)]) == 1
    err = _error_line(capsys)
    assert f"--output-dir {out} cannot be written to: {out} is on a read-only" in err


# --------------------------------------------------------------- start-up

_INTERRUPTED_IMPORT = """
import runpy, sys

class Interrupt:
    # Ctrl-C while the command line's modules are imported.
    def find_spec(self, name, path=None, target=None):
        if name == "sklearn_rae.cli.main":
            raise KeyboardInterrupt
        return None

import sklearn_rae  # the package itself, as python -m imports it first
sys.meta_path.insert(0, Interrupt())
sys.argv = ["sklearn-rae", "--version"]
runpy.run_module("sklearn_rae", run_name="__main__", alter_sys=True)
"""


def test_ctrl_c_while_starting_is_one_line():
    result = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_IMPORT],
        env=checkout_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 130, result.stderr
    assert result.stderr == "sklearn-rae: interrupted\n"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_handlers_are_restored_after_a_run(signum, tmp_path):
    before = signal.getsignal(signum)
    assert main([_npy(tmp_path), *FAST, "--output-dir", str(tmp_path / "o")]) == 0
    assert signal.getsignal(signum) is before
