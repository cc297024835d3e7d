"""How a CSV file's text reads: its delimiter, its numbers and its header.

Everything here is decided from the text of a few records: which character
separates the fields (:func:`detect_delimiter`), which fields are numbers
and which are missing (:func:`parse_number`, :data:`MISSING_VALUES`), and
whether the first record names the columns (:func:`is_header`,
:func:`looks_like_numeric_header`). Numbers are read as pandas reads them:
ASCII digits only, so ``1_000`` and Arabic-Indic digits (``١٢٣``), which
Python's :func:`float` accepts, are text.
"""

from __future__ import annotations

import re

import numpy as np

#: Cells read as missing values: pandas' default ``na_values``, so that a
#: file written by pandas reads back with the same holes.
MISSING_VALUES = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)


#: A number written with a decimal comma, as in "3,14".
DECIMAL_COMMA = re.compile(r"[+-]?[0-9]*,[0-9]+(?:[eE][+-]?[0-9]+)?")
# A field that starts like a number (0x10, 1,5, -3e) is a malformed number,
# not a column name.
_NUMBER_LIKE = re.compile(r"[+-]?\.?[0-9]")
_INTEGER = re.compile(r"[+-]?[0-9]+")
#: A date or a time of day as spreadsheets and pandas write them:
#: 2021-03-04, 2021-03-04T12:30:00+01:00, 2021/03/04, 04/03/2021, 04.03.2021,
#: 12:30, 12:30:15.5.
DATE_OR_TIME = re.compile(
    r"(?:[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}"
    r"|[0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{2,4})"
    r"(?:[T ][0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?)?"
    r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
    r"|[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]+)?)?(?:\s?[AaPp][Mm])?"
)


def parse_number(text: str, decimal: str) -> float | None:
    """The number a field holds, or None if it is not one.

    Python's :func:`float` also reads ``1_000`` and digits of other scripts
    (``١٢٣`` is 123.0); pandas reads those fields as text, and so does this:
    a column of them is left out with the text columns' warning rather than
    clustered on numbers the user never wrote.
    """
    if not text.isascii() or "_" in text:
        return None
    if decimal != ".":
        if "." in text:
            return None
        text = text.replace(decimal, ".")
    try:
        return float(text)
    except ValueError:
        return None


def _is_name(text: str, decimal: str) -> bool:
    return bool(text) and parse_number(text, decimal) is None


def is_header(first: list[str], second: list[str] | None, decimal: str) -> bool:
    """Whether a first line is a header.

    It holds a name (a field that is not a number) and nothing number-like (a
    line such as ``0x10,2`` is data with a malformed number, reported as
    such). When a second line follows, the first is a header only if one of
    its names stands above a number, or it holds nothing but names: the first
    record of a headerless file with a text column (``5.1,3.5,setosa``) is
    data, not a header. A header of numbers (``2019,2020,2021``) is not
    recognised here; see :func:`looks_like_numeric_header`.
    """
    names = [
        i
        for i, text in enumerate(first)
        if _is_name(text, decimal) and text not in MISSING_VALUES
    ]
    if not names or any(_NUMBER_LIKE.match(first[i]) for i in names):
        return False
    if second is None or len(second) != len(first) or len(names) == len(first):
        return True
    return any(
        parse_number(second[i], decimal) is not None and second[i] not in MISSING_VALUES
        for i in names
    )


def looks_like_numeric_header(first: list[str], below: list[np.ndarray]) -> bool:
    """Whether a first record read as data looks like a header of numbers.

    Years (``2019,2020,2021``) or column numbers name columns as well as
    words do, and pandas reads a first line as the header whatever it
    holds. The record looks like one when its fields are distinct integers
    and either they increase strictly while the values below them are not
    all integers (years or column numbers above measurements), or each lies
    farther outside the range of the values below it in its column than that
    range is wide (years above counts). The first record of a file of sorted
    integers (``1,2`` above ``3,4`` and ``5,6``) is neither. ``below`` holds,
    for each column, the values of the rows after the first (NaN where
    missing), or None for a column not read as numbers; at least two values
    are needed in some column.
    """
    if len(first) < 2 or not all(_INTEGER.fullmatch(text) for text in first):
        return False
    values = [int(text) for text in first]
    if len(set(values)) != len(values):
        return False
    pairs = []
    for value, column in zip(values, below, strict=True):
        if column is not None:
            present = column[~np.isnan(column)]
            if present.size >= 2:
                pairs.append((value, present))
    if not pairs:
        return False
    far_outside = all(
        max(c.min() - value, value - c.max()) > c.max() - c.min() for value, c in pairs
    )
    increasing = bool(np.all(np.diff(values) > 0))
    fractional = any(np.any(c != np.round(c)) for _, c in pairs)
    return far_outside or (increasing and fractional)


def detect_delimiter(first_line: str, decimal: str) -> str | None:
    """The field delimiter of a CSV file, from its first line that is not blank.

    The first of comma, semicolon and tab found in the line (semicolon and
    tab only with ``decimal=","``), otherwise None for runs of whitespace.
    A line that holds semicolons and whose commas all sit inside numbers
    written with a decimal comma (``1,764052;0,400157``) is separated by
    semicolons, as :class:`csv.Sniffer` (pandas' ``sep=None``) finds too:
    splitting it at its commas would cut every number in two. Its numbers
    are then not read with a decimal comma unless ``--decimal ,`` says so,
    and the columns they fill are refused with that hint
    (:func:`~sklearn_rae.cli.columns.choose_columns`): a comma between
    digits is a decimal mark in one locale and a thousands separator
    (``1,234``) in another, and guessing wrong clusters numbers a thousand
    times too large or small without a word.
    """
    if decimal == "," or (
        ";" in first_line
        and "," in first_line
        and all(
            DECIMAL_COMMA.fullmatch(field.strip().strip("\"'"))
            for field in first_line.split(";")
            if "," in field
        )
    ):
        candidates = ";\t"
    else:
        candidates = ",;\t"
    return next((d for d in candidates if d in first_line), None)
