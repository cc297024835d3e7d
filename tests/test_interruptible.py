"""Compiled calls that Ctrl-C interrupts: call_interruptibly, chunked searches."""

import os
import signal
import threading
import time

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.neighbors import NearestNeighbors

import sklearn_rae.engines.interruptible as interruptible
import sklearn_rae.engines.spanning as spanning
from sklearn_rae.engines.interruptible import (
    call_interruptibly,
    kneighbors_interruptibly,
)


def test_call_interruptibly_returns_the_result_from_a_worker_thread():
    seen = []

    def power(base, exponent=1):
        seen.append(threading.current_thread())
        return base**exponent

    assert call_interruptibly(power, 3, exponent=4) == 81
    # Called from the main thread, the work runs in a daemon thread of its own.
    (worker,) = seen
    assert worker is not threading.main_thread()
    assert worker.daemon


def test_call_interruptibly_raises_the_calls_exception_in_the_caller():
    class Failure(Exception):
        pass

    def fail(message):
        raise Failure(message)

    with pytest.raises(Failure, match="the call's own error") as caught:
        call_interruptibly(fail, "the call's own error")
    # The traceback still leads into the failed call.
    assert caught.traceback[-1].name == "fail"


def test_call_interruptibly_off_the_main_thread_calls_directly():
    outcome = {}

    def run():
        try:
            outcome["thread"] = call_interruptibly(threading.current_thread)
            call_interruptibly(int, "not a number")
        except ValueError as error:
            outcome["error"] = error
        outcome["caller"] = threading.current_thread()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert outcome["thread"] is outcome["caller"]
    assert "not a number" in str(outcome["error"])


def _workers():
    return [t for t in threading.enumerate() if t.name.startswith("sklearn_rae:")]


def test_sigint_interrupts_the_call_which_goes_on_in_the_background():
    # The call waits until it is released, which the signal does not do:
    # KeyboardInterrupt comes from the main thread's handler while the call
    # still runs. A second timer releases it should the handler never run.
    release = threading.Event()
    interrupt = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    deadline = threading.Timer(5.0, release.set)
    start = time.monotonic()
    interrupt.start()
    deadline.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            call_interruptibly(release.wait)
        waited = time.monotonic() - start
        (worker,) = _workers()
        assert worker.is_alive() and not release.is_set()
    finally:
        interrupt.cancel()
        deadline.cancel()
        release.set()
    assert 0.3 <= waited < 0.3 + 10 * interruptible.WAIT_SECONDS
    # Released, the call ends on its own and its result is dropped.
    worker.join(5.0)
    assert not worker.is_alive()
    assert _workers() == []


@pytest.mark.parametrize("algorithm", ["kd_tree", "ball_tree", "brute"])
@pytest.mark.parametrize("chunk_size", [7, 64, 10_000])
def test_chunked_search_is_the_single_search(algorithm, chunk_size, monkeypatch):
    monkeypatch.setattr(interruptible, "QUERY_CHUNK_SIZE", chunk_size)
    rng = np.random.RandomState(0)
    Z = rng.randn(300, 4)
    # A sample with as many duplicates as neighbours asked for, and one with
    # more: kneighbors() may not return the sample itself among them.
    Z[10:16] = Z[9]
    Z[40:60] = Z[39]
    index = NearestNeighbors(n_neighbors=5, algorithm=algorithm).fit(Z)
    distances, neighbours = kneighbors_interruptibly(index, Z, 5, indexed=True)
    expected_distances, expected_neighbours = index.kneighbors()
    np.testing.assert_array_equal(distances, expected_distances)
    unique = ~np.isin(np.arange(300), np.r_[9:16, 39:60])
    # Among equal distances the choice of neighbour may differ (brute force
    # breaks ties by its own chunks): a copy of Z[9] or Z[39] may stand for
    # another copy, in the rows of the copies and in the rows of samples near
    # them alike; elsewhere the neighbours are the same.
    copy_of = np.arange(300)
    copy_of[9:16], copy_of[39:60] = 9, 39
    np.testing.assert_array_equal(
        copy_of[neighbours[unique]], copy_of[expected_neighbours[unique]]
    )
    assert not (neighbours == np.arange(300)[:, None]).any()
    queries = rng.randn(50, 4)
    distances, neighbours = kneighbors_interruptibly(index, queries, 3)
    expected_distances, expected_neighbours = index.kneighbors(queries, 3)
    np.testing.assert_array_equal(distances, expected_distances)
    np.testing.assert_array_equal(neighbours, expected_neighbours)


def test_search_of_no_samples_is_empty():
    index = NearestNeighbors(n_neighbors=2).fit(np.eye(3))
    distances, neighbours = kneighbors_interruptibly(index, np.empty((0, 3)), 2)
    assert distances.shape == neighbours.shape == (0, 2)
    assert neighbours.dtype == np.intp


def test_spanning_tree_above_the_exact_limit_does_not_depend_on_chunks(monkeypatch):
    monkeypatch.setattr(spanning, "EXACT_SPANNING_TREE_MAX_SAMPLES", 10)
    Z, _ = make_blobs(500, centers=3, cluster_std=0.3, random_state=0)
    monkeypatch.setattr(interruptible, "QUERY_CHUNK_SIZE", 10_000)
    expected = spanning.spanning_edges(Z)
    monkeypatch.setattr(interruptible, "QUERY_CHUNK_SIZE", 33)
    first, second, n_graph_edges = spanning.spanning_edges(Z)
    np.testing.assert_array_equal(first, expected[0])
    np.testing.assert_array_equal(second, expected[1])
    assert n_graph_edges == expected[2] == 499
