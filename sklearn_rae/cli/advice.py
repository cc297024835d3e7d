"""Advice printed before fitting: what in the data would surprise the user.

:func:`warn_about_scales` reports columns whose scales differ by orders of
magnitude when the user has not said whether to standardize them and the
merge cost depends on the columns' units; :func:`warn_about_size` reports a
data set whose tree would take hours.
"""

from __future__ import annotations

import math

import numpy as np

from .messages import warn

#: Standard deviations of the clustered columns that differ by this factor or
#: more are reported when --standardize is not given.
SCALE_RATIO_WARNING = 100.0
#: Merge costs whose trees do not depend on the columns' units: the whitened
#: means measure distances in the data's own covariance, and ``"auto"``
#: chooses between unit-free criteria (standardizing the input gives the same
#: labels). The scale warning would only make their users standardize for
#: nothing.
UNIT_FREE_MERGE_COSTS = frozenset({"auto", "whitened_means"})

#: Above this many samples a warning gives the fit's expected time: a tree
#: over all the data is impractical beyond about 300,000 samples
#: (docs/performance.md, "The large-data recipe").
LARGE_N_SAMPLES = 300_000
#: The rule behind the estimate: a default fit takes O(n^2) time, measured at
#: 66 s for 100,000 samples (docs/performance.md, "Large data"); a fit of n
#: samples takes about 66 s * (n / 100,000)^2 on such a machine.
SECONDS_AT_100_000 = 66.0
#: The cached greedy engine of ``"cumulative"`` keeps every pair's cost:
#: n * (n - 1) / 2 float64 values, about 4 n^2 bytes.
CUMULATIVE_BYTES_PER_PAIR = 8


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} seconds"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} minutes"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.0f} hours"
    return f"{seconds / 86400:.0f} days"


def _bytes(n_bytes: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n_bytes >= size:
            return f"{n_bytes / size:.3g} {unit}"
    return f"{n_bytes:.0f} bytes"


def _column_spreads(X: np.ndarray) -> np.ndarray:
    """Each column's standard deviation, without overflow for huge values.

    ``X.std`` squares the values, so columns of 1e200 give infinity (and
    their ratio NaN); each column is divided by its largest magnitude first.
    """
    magnitude = np.abs(X).max(axis=0)
    magnitude[magnitude == 0] = 1.0
    return (X / magnitude).std(axis=0) * magnitude


def warn_about_scales(X: np.ndarray, names: list[str]) -> None:
    """Warn when the columns' standard deviations differ by orders of magnitude.

    The ratio is taken between logarithms, so that it is a number even when
    it exceeds the largest float (standard deviations of 1e200 and 1e-200).
    """
    spread = _column_spreads(X)
    varying = np.flatnonzero(spread > 0)
    if len(varying) < 2:
        return
    largest = varying[np.argmax(spread[varying])]
    smallest = varying[np.argmin(spread[varying])]
    log_ratio = math.log10(spread[largest]) - math.log10(spread[smallest])
    if log_ratio < math.log10(SCALE_RATIO_WARNING):
        return
    ratio = f"{10**log_ratio:.3g}" if log_ratio < 300 else f"1e{log_ratio:.0f}"
    warn(
        f"the columns' scales differ by a factor of {ratio} "
        f"(standard deviation {spread[largest]:.3g} for {names[largest]!r}, "
        f"{spread[smallest]:.3g} for {names[smallest]!r}), so the clusters follow "
        "the large-scale columns; give --standardize to scale every column to "
        "unit variance, or --no-standardize to keep the scales and this quiet."
    )


def warn_about_size(n_samples: int, merge_cost: str) -> None:
    """Warn, above :data:`LARGE_N_SAMPLES`, of the fit's O(n^2) time.

    The estimate follows the rule of :data:`SECONDS_AT_100_000`, from the
    measurements of docs/performance.md, not a timing of this machine; with
    ``"cumulative"`` the memory of its pair-cost cache is given too.
    """
    if n_samples <= LARGE_N_SAMPLES:
        return
    seconds = SECONDS_AT_100_000 * (n_samples / 100_000) ** 2
    memory = ""
    if merge_cost == "cumulative":
        pairs = n_samples * (n_samples - 1) / 2
        memory = (
            f" and {_bytes(pairs * CUMULATIVE_BYTES_PER_PAIR)} for the "
            "'cumulative' pair-cost cache"
        )
    warn(
        f"{n_samples:,} samples: a hierarchical tree takes O(n^2) time, about "
        f"{_duration(seconds)}{memory} (estimated as 66 s at 100,000 "
        "samples times (n / 100,000)^2); cluster a random sample of 10,000 to "
        "100,000 rows instead and label the rest with the fitted model's "
        "predict in Python (see the large-data recipe in docs/performance.md)."
    )
