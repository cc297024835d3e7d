"""Long compiled calls that Ctrl-C can interrupt.

Python runs its signal handlers, and so raises ``KeyboardInterrupt``, in the
main thread between bytecodes: a compiled call that runs for a minute (such as
fastcluster's linkage of 100,000 points) delays Ctrl-C until it returns.
:func:`call_interruptibly` runs such a call in a worker thread (it must
release the GIL, as fastcluster does) while the main thread waits for it in
short slices, so that ``KeyboardInterrupt`` is raised within about
``WAIT_SECONDS``.

The interrupted call cannot be stopped: it finishes in the background on one
core, keeping its input and output (``O(n d)`` for the engines that use it)
until it returns, and its result is dropped. The thread is a daemon, so it
does not keep the interpreter from exiting. Work that can be split is split,
so that little of it is left to finish: :func:`kneighbors_interruptibly`
queries a neighbour index ``QUERY_CHUNK_SIZE`` samples at a time.

This module knows nothing of TensorFlow or of the estimator.
"""

from __future__ import annotations

import threading

import numpy as np
from sklearn import config_context, get_config

__all__ = [
    "QUERY_CHUNK_SIZE",
    "WAIT_SECONDS",
    "call_interruptibly",
    "kneighbors_interruptibly",
]

#: How long the main thread waits for the worker at a time: the longest delay
#: between a signal and its handler.
WAIT_SECONDS = 0.05
#: Samples per interruptible call of :func:`kneighbors_interruptibly`: about a
#: second of k-d tree search among 80,000 samples in 10 dimensions, the most
#: an interrupted search goes on in the background.
QUERY_CHUNK_SIZE = 2048


def call_interruptibly(function, *args, **kwargs):
    """``function(*args, **kwargs)``, interruptible by signals in the main thread.

    Outside the main thread (where Python never runs signal handlers) the call
    is made directly. Exceptions of the call are raised in the caller.

    Parameters
    ----------
    function : callable
        A call that releases the GIL while it works; otherwise the main thread
        cannot run meanwhile and nothing is gained.
    *args, **kwargs
        Its arguments.
    """
    if threading.current_thread() is not threading.main_thread():
        return function(*args, **kwargs)
    outcome = {}
    finished = threading.Event()

    def run():
        try:
            outcome["result"] = function(*args, **kwargs)
        except BaseException as error:  # re-raised in the caller
            outcome["error"] = error
        finally:
            finished.set()

    worker = threading.Thread(
        target=run, name=f"sklearn_rae: {getattr(function, '__name__', 'call')}"
    )
    worker.daemon = True
    worker.start()
    # A signal runs its handler here, raising KeyboardInterrupt (or what the
    # handler raises) and leaving the worker to finish on its own. Not
    # worker.join(): in Python 3.11 an exception raised inside join marks the
    # thread stopped while it still runs (and releases its state lock).
    while not finished.wait(WAIT_SECONDS):
        pass
    if "error" in outcome:
        error = outcome.pop("error")
        try:
            raise error
        finally:
            del error
    return outcome["result"]


def kneighbors_interruptibly(index, queries, n_neighbors, indexed=False):
    """``index.kneighbors(queries, n_neighbors)``, interruptible by signals.

    The samples are searched ``QUERY_CHUNK_SIZE`` at a time, each chunk by
    :func:`call_interruptibly` under the caller's scikit-learn configuration.
    The result is that of one call, up to which of several neighbours at
    equal distances come first or are kept: the search of each sample is
    its own.

    Parameters
    ----------
    index : fitted sklearn.neighbors.NearestNeighbors
    queries : ndarray of shape (n_queries, n_features)
        The samples whose neighbours are searched.
    n_neighbors : int
        Neighbours per sample.
    indexed : bool, default=False
        ``queries`` are the indexed samples, in their order: each is searched
        without itself, as ``index.kneighbors()`` does.

    Returns
    -------
    distances : ndarray of shape (n_queries, n_neighbors)
    neighbours : ndarray of shape (n_queries, n_neighbors)
        Indices of indexed samples, nearest first.
    """
    config = get_config()

    def search(rows, k):
        with config_context(**config):
            return index.kneighbors(rows, n_neighbors=k)

    distance_chunks, neighbour_chunks = [], []
    for start in range(0, queries.shape[0], QUERY_CHUNK_SIZE):
        rows = queries[start : start + QUERY_CHUNK_SIZE]
        distances, neighbours = call_interruptibly(
            search, rows, n_neighbors + 1 if indexed else n_neighbors
        )
        if indexed:
            # The sample itself comes back too, and is dropped; a sample with
            # more duplicates than neighbours asked for may not come back, and
            # its first neighbour is dropped instead (as kneighbors() does).
            others = neighbours != np.arange(start, start + rows.shape[0])[:, None]
            others[others.all(axis=1), 0] = False
            distances = distances[others].reshape(rows.shape[0], n_neighbors)
            neighbours = neighbours[others].reshape(rows.shape[0], n_neighbors)
        distance_chunks.append(distances)
        neighbour_chunks.append(neighbours)
    if not distance_chunks:
        return np.empty((0, n_neighbors)), np.empty((0, n_neighbors), dtype=np.intp)
    return np.vstack(distance_chunks), np.vstack(neighbour_chunks)
