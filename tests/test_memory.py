"""The memory check's estimates against what a fit really allocates.

The estimates of the cached engine (the seed's criterion) are compared with
the peak memory of a fresh process, where the first BLAS calls and
TensorFlow's runtime are allocated too; a refusal must come before anything
of the estimate's size is allocated.
"""

import json
import os
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from sklearn_rae import RecursiveAutoencoderClustering, _resources
from sklearn_rae._registry import get_criterion

REPOSITORY = Path(__file__).resolve().parent.parent


def _estimate(n_samples, n_features=3, training=False):
    needs = get_criterion("cumulative").memory_needs(
        n_samples, n_features, None, training=training
    )
    return sum(n_bytes for n_bytes, _, _ in needs)


_PEAKS = textwrap.dedent(
    """
    import json
    import numpy as np
    from sklearn_rae import RecursiveAutoencoderClustering

    def peaks():
        fields = {}
        with open("/proc/self/status") as status:
            for line in status:
                name, _, value = line.partition(":")
                if name in ("VmPeak", "VmHWM"):
                    fields[name] = int(value.split()[0]) * 1024
        return fields

    X = np.random.RandomState(0).normal(size=(6000, 3))
    start = peaks()
    RecursiveAutoencoderClustering(3, merge_cost="cumulative", max_iter=0).fit(X)
    untrained = peaks()
    RecursiveAutoencoderClustering(3, merge_cost="cumulative", max_iter=1).fit(X)
    trained = peaks()
    print(json.dumps({
        "untrained": {k: untrained[k] - start[k] for k in start},
        "trained": {k: trained[k] - start[k] for k in start},
    }))
    """
)


@pytest.mark.skipif(
    not Path("/proc/self/status").exists(), reason="reads /proc/self/status"
)
def test_cached_tree_estimate_covers_the_peak_of_a_fresh_process():
    # 6,000 samples: a 137 MiB cache. Measured: without training the peak
    # virtual memory grows by 237 MiB and the resident by 197 MiB; with one
    # training step (TensorFlow imported) by 1.9 GiB and 0.73 GiB.
    env = dict(os.environ, PYTHONPATH=str(REPOSITORY), TF_CPP_MIN_LOG_LEVEL="3")
    # glibc's own trimming: a Dask nanny started by an earlier test (of the
    # same process) leaves MALLOC_TRIM_THRESHOLD_=65536 in os.environ, and
    # with it the resident peak of this fit is about 45 MB lower.
    env.pop("MALLOC_TRIM_THRESHOLD_", None)
    result = subprocess.run(
        [sys.executable, "-c", _PEAKS],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    grown = json.loads(result.stdout.strip().splitlines()[-1])
    untrained, trained = grown["untrained"], grown["trained"]
    estimate = _estimate(6000)
    assert untrained["VmPeak"] <= estimate
    assert untrained["VmHWM"] <= estimate < untrained["VmHWM"] + 128 * 2**20
    # A fit that trains first imports TensorFlow: "auto" leaves room for it.
    assert trained["VmHWM"] <= estimate + _resources.TENSORFLOW_RESIDENT_MEMORY
    assert trained["VmPeak"] <= estimate + _resources.TENSORFLOW_ADDRESS_SPACE


def test_cached_tree_estimate_at_40000_samples_is_the_measured_peak():
    # Measured in fresh processes on 40,000 x 3 (fit(max_iter=0), 66 to 130
    # s): peak virtual memory +6.07 GiB, peak resident +5.99 GiB; with
    # max_iter=3, peak resident +6.53 GiB.
    estimate = _estimate(40000)
    assert 6.07 * 2**30 <= estimate <= 6.3 * 2**30
    training = _estimate(40000, training=True)
    assert 6.53 * 2**30 <= training + _resources.TENSORFLOW_RESIDENT_MEMORY
    assert training + _resources.TENSORFLOW_RESIDENT_MEMORY <= 7.2 * 2**30


def test_limit_just_below_the_estimate_refuses_40000_samples_at_once():
    X = np.random.RandomState(0).normal(size=(40000, 3))
    estimate = _estimate(40000)
    model = RecursiveAutoencoderClustering(
        3, merge_cost="cumulative", max_iter=0, memory_limit=estimate - 1
    )
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(MemoryError) as refusal:
            model.fit(X)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1
    assert peak < 16 * 2**20  # the data's copies, nothing of the cache
    message = str(refusal.value)
    assert "6.1 GiB for the pair-cost cache of a tree over 40000 samples" in message
    assert "Fit on a subsample" in message and "sparse connectivity" in message
    assert not hasattr(model, "labels_")


def _only_physical_memory(monkeypatch, available):
    monkeypatch.setattr(_resources, "_meminfo_available", lambda: available)
    monkeypatch.setattr(_resources, "_cgroup_available", lambda: None)
    monkeypatch.setattr(_resources, "_address_space_available", lambda: None)
    monkeypatch.setattr(_resources, "_commit_available", lambda: None)


def test_auto_limit_leaves_room_for_tensorflow_before_it_is_imported(monkeypatch):
    # 100 MiB more than the tree needs: enough to build it, not to train
    # first, since TensorFlow's runtime takes more than that.
    available = _estimate(40000) + 100 * 2**20
    _only_physical_memory(monkeypatch, available)
    monkeypatch.setattr(_resources, "_tensorflow_imported", lambda: False)
    assert _resources.available_memory() == available
    assert _resources.available_memory(training=True) == (
        available - _resources.TENSORFLOW_RESIDENT_MEMORY
    )
    X = np.random.RandomState(0).normal(size=(40000, 3))
    model = RecursiveAutoencoderClustering(3, merge_cost="cumulative", max_iter=3)
    start = time.perf_counter()
    with pytest.raises(MemoryError, match=r"less 768\.0 MiB for TensorFlow's runtime"):
        model.fit(X)
    assert time.perf_counter() - start < 1
    # Once TensorFlow is imported its memory is in use already.
    monkeypatch.setattr(_resources, "_tensorflow_imported", lambda: True)
    assert _resources.available_memory(training=True) == available


def test_auto_limit_honours_the_commit_limit_under_strict_overcommit(monkeypatch):
    # vm.overcommit_memory = 2: allocations fail past CommitLimit even with
    # free memory, so the check counts what the commit limit leaves.
    meminfo = {
        "MemAvailable": 20 * 2**30,
        "CommitLimit": 12 * 2**30,
        "Committed_AS": 9 * 2**30,
    }
    monkeypatch.setattr(_resources, "_meminfo", lambda: meminfo)
    for mode, expected in ((2, 3 * 2**30), (0, None)):
        monkeypatch.setattr(
            _resources,
            "_read_int",
            lambda path, mode=mode: (
                mode if path.endswith("overcommit_memory") else None
            ),
        )
        assert _resources._commit_available() == expected
    monkeypatch.setattr(_resources, "_address_space_available", lambda: None)
    monkeypatch.setattr(
        _resources, "_read_int", lambda path: 2 if "overcommit" in path else None
    )
    assert _resources.available_memory() == 3 * 2**30
    X = np.random.RandomState(0).normal(size=(30000, 3))  # a 3.4 GiB cache
    with pytest.raises(MemoryError, match="memory limit of 3.0 GiB"):
        RecursiveAutoencoderClustering(3, merge_cost="cumulative", max_iter=0).fit(X)
