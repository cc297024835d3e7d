"""Advice printed before fitting: what in the data would surprise the user.

:func:`warn_about_scales` reports columns whose scales differ by orders of
magnitude when the user has not said whether to standardize them.
"""

from __future__ import annotations

import numpy as np

from .messages import warn

#: Standard deviations of the clustered columns that differ by this factor or
#: more are reported when --standardize is not given.
SCALE_RATIO_WARNING = 100.0


def warn_about_scales(X: np.ndarray, names: list[str]) -> None:
    """Warn when the columns' standard deviations differ by orders of magnitude."""
    spread = X.std(axis=0)
    varying = np.flatnonzero(spread > 0)
    if len(varying) < 2:
        return
    largest = varying[np.argmax(spread[varying])]
    smallest = varying[np.argmin(spread[varying])]
    ratio = spread[largest] / spread[smallest]
    if ratio < SCALE_RATIO_WARNING:
        return
    warn(
        f"the columns' scales differ by a factor of {ratio:.3g} "
        f"(standard deviation {spread[largest]:.3g} for {names[largest]!r}, "
        f"{spread[smallest]:.3g} for {names[smallest]!r}), so the clusters follow "
        "the large-scale columns; give --standardize to scale every column to "
        "unit variance, or --no-standardize to keep the scales and this quiet."
    )
