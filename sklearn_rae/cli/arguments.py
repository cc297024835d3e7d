"""The values of the command line's options, checked as argparse reads them.

Each function takes an option's text and returns its value or raises
:class:`argparse.ArgumentTypeError`, which the parser reports in one line
with exit status 2.
"""

from __future__ import annotations

import argparse
import re

import numpy as np


def _integer(text: str, otherwise: str = "is not an integer") -> int:
    """``int(text)``, or the error ``'text' otherwise``."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} {otherwise}") from None


def positive_int(text: str) -> int:
    """An integer of at least 1 (``--n-clusters``)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def nonnegative_int(text: str) -> int:
    """An integer of at least 0 (``--max-iter``)."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number of at least 0 (``--distance-threshold``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not np.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is not a non-negative number")
    return value


def positive_float(text: str) -> float:
    """A finite number above 0."""
    value = nonnegative_float(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def seed(text: str) -> int:
    """A NumPy seed, from 0 to 2**32 - 1 (``--random-state``)."""
    value = _integer(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"{text} is not between 0 and 4294967295 (2**32 - 1)"
        )
    return value


def column_list(text: str) -> list[str]:
    """Column names or positions separated by commas (``--columns``)."""
    columns = [column.strip() for column in text.split(",")]
    if not all(columns):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of column names or positions"
        )
    return columns


def batch_size(text: str) -> int | str:
    """``"auto"`` or an integer of at least 2 (``--batch-size``)."""
    if text == "auto":
        return text
    value = _integer(text, "is neither 'auto' nor an integer")
    if value < 2:
        raise argparse.ArgumentTypeError(f"{text} is less than 2")
    return value


def learning_rate(text: str) -> float | str:
    """``"auto"`` or a positive number (``--learning-rate``)."""
    if text == "auto":
        return text
    return positive_float(text)


def n_clusters(text: str) -> int | str:
    """``"auto"`` or a positive integer (``--n-clusters``)."""
    if text == "auto":
        return text
    return positive_int(text)


_SIZE = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([kmgt]?)(?:i?b)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


def memory_limit(text: str) -> int | str | None:
    """Bytes, with a suffix K, M, G or T (powers of 1024), ``auto`` or ``none``.

    ``2G``, ``2GB`` and ``2GiB`` are all 2 * 1024**3 bytes, ``500M`` is
    500 * 1024**2; ``auto`` is the estimator's default (the memory the
    system has free), ``none`` turns the estimator's memory check off.
    """
    word = text.strip().lower()
    if word in ("auto", "none"):
        return None if word == "none" else "auto"
    match = _SIZE.fullmatch(word)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a size in bytes (such as 2G or 500M), 'auto' or 'none'"
        )
    value = int(float(match[1]) * _SIZE_UNITS[match[2].lower()])
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive size")
    return value
