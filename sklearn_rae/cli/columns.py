"""Choosing the columns to cluster: names, positions, identifiers, text.

A file is read into a :class:`RawTable` of :class:`RawColumn` (numbers, text
or not converted). :func:`resolve_columns` turns ``--columns`` and
``--drop-columns`` into positions before any field is converted;
:func:`choose_columns` leaves text columns and row identifiers out, with the
warnings to print, and keeps the identifiers' values for ``labels.csv``.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import numpy as np

from .dialect import DATE_OR_TIME, DECIMAL_COMMA
from .messages import InputError, UsageError

#: Header names that mark a row identifier (compared in lower case); pandas
#: writes its unnamed index as an empty name or "Unnamed: 0".
ID_NAMES = frozenset(
    {"", "id", "index", "idx", "key", "row", "rowid", "row_id", "sample"}
)
ID_SUFFIXES = ("_id", " id", "-id", ".id")


# ---------------------------------------------------------------- tables


@dataclass
class RawColumn:
    """One column as read: numbers, or the text of an identifier, or neither.

    ``kind`` is ``"number"`` (every non-missing field is a number; missing
    ones are NaN in ``values``), ``"text"`` (some field is not a number) or
    ``"skipped"`` (not selected, never converted). ``text`` holds the fields
    as written, kept only for columns named like an identifier.
    """

    name: str
    kind: str = "number"
    values: array = field(default_factory=lambda: array("d"))
    text: list[str] | None = None
    first_text: tuple[str, int] | None = None  # (field, line) of the first text
    first_missing: tuple[str, int] | None = None  # (field, line) of the first NA


@dataclass
class RawTable:
    """A file's columns as read, before the clustered columns are chosen.

    ``row_lines`` holds the line (CSV) or row (arrays) of each sample, from 1,
    for messages; ``header`` is None when the file has none; ``notes`` are
    the warnings reading it gave.
    """

    source: str
    columns: list[RawColumn]
    header: list[str] | None
    row_lines: np.ndarray
    line_word: str = "line"
    notes: list[str] = field(default_factory=list)

    @property
    def n_rows(self) -> int:
        return len(self.row_lines)


def column_label(header: list[str] | None, index: int) -> str:
    """A column's name for messages: its header name or ``column i``."""
    if header is None:
        return f"column {index + 1}"
    name = header[index]
    return name if name.strip() else f"column {index + 1} (unnamed)"


def is_identifier_name(name: str | None) -> bool:
    """Whether a header name is a row identifier's (id, index, key, *_id, ...)."""
    if name is None:
        return False
    name = name.strip().lower()
    return name in ID_NAMES or name.endswith(ID_SUFFIXES) or name.startswith("unnamed:")


def resolve_columns(
    requested: list[str], header: list[str] | None, n_columns: int, option: str
) -> list[int]:
    """Column indices of header names or positions (from 1), in the order given."""
    indices = []
    for token in requested:
        if header is not None and token in header:
            if header.count(token) > 1:
                raise UsageError(
                    f"argument {option}: the header names {header.count(token)} "
                    f"columns {token!r}; give their positions instead"
                )
            indices.append(header.index(token))
            continue
        try:
            position = int(token)
        except ValueError:
            known = (
                ", ".join(repr(name) for name in header)
                if header is not None
                else "the file has no header; give positions from 1"
            )
            raise UsageError(
                f"argument {option}: no column named {token!r} ({known})"
            ) from None
        if not 1 <= position <= n_columns:
            raise UsageError(
                f"argument {option}: position {position} is not between 1 and "
                f"{n_columns}, the number of columns"
            )
        indices.append(position - 1)
    if len(set(indices)) != len(indices):
        raise UsageError(f"argument {option}: a column is named twice")
    return indices


# ---------------------------------------------------------------- columns


@dataclass
class Selection:
    """The columns chosen for clustering and what was left out.

    ``data`` holds the clustered columns (float64, NaN for missing values),
    ``names`` their names and ``positions`` their indices in the table;
    ``identifiers`` holds the name and the values (one a row) of every
    identifier column left out, in the file's order, for ``labels.csv``
    (names may repeat: pandas writes each level of an unnamed MultiIndex with
    an empty name); ``notes`` are the warnings to print.
    """

    data: np.ndarray
    names: list[str]
    positions: list[int]
    identifiers: list[tuple[str, list]]
    notes: list[str]


def _is_row_number_range(values: np.ndarray) -> bool:
    """Whether values are exactly 0, 1, ..., n-1 or 1, 2, ..., n, over n >= 3."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n < 3 or values[0] not in (0.0, 1.0):
        return False
    return bool(np.array_equal(values, np.arange(n) + values[0]))


def _is_date_or_time(column: RawColumn) -> bool:
    return bool(DATE_OR_TIME.fullmatch(column.first_text[0]))


def _not_numbers_note(table: RawTable, left_out: list[RawColumn]) -> str:
    """The warning naming the text, or date and time, columns left out."""
    names = ", ".join(repr(c.name) for c in left_out)
    example, line = left_out[0].first_text
    s = "s" if len(left_out) > 1 else ""
    if _is_date_or_time(left_out[0]):
        return (
            f"leaving out the date/time column{s} {names} of {table.source}: "
            f"only numbers are clustered ({example!r} on {table.line_word} "
            f"{line}); convert dates and times to numbers (days or seconds since "
            "a start) first to cluster on them."
        )
    return (
        f"leaving out the text column{s} {names} of {table.source}: only numbers "
        f"are clustered ({example!r} on {table.line_word} {line}); encode text as "
        "numbers first to cluster on it."
    )


def _refuse_decimal_commas(table: RawTable, indices: list[int]) -> None:
    """Refuse a column of numbers written with a decimal comma, read as text.

    Such a column is numeric data that ``--decimal ,`` reads; leaving it out
    with a warning would cluster the file on its other columns only.
    """
    for index in indices:
        column = table.columns[index]
        example, line = column.first_text
        if DECIMAL_COMMA.fullmatch(example):
            raise InputError(
                f"{table.source}, {table.line_word} {line}, column "
                f"{column.name!r}: {example!r} is a number written with a "
                "decimal comma; give --decimal , to read it (the columns are "
                "then separated by semicolons, tabs or spaces)."
            )


def choose_columns(
    table: RawTable,
    *,
    columns: list[str] | None = None,
    drop_columns: list[str] | None = None,
) -> Selection:
    """The columns to cluster, and the identifier columns for ``labels.csv``.

    Without ``columns``, text columns are left out with a warning naming them,
    and so are row identifiers: a column named like one (``id``, ``index``,
    ``key``, ``row``, ``sample``, a name ending in ``_id``, an empty name or
    pandas' ``Unnamed: 0``; text or numbers), or, over at least three rows, a
    column holding exactly the row numbers 0, ..., n-1 or 1, ..., n in file
    order. The second rule is narrow on purpose: an increasing feature (an
    ``age`` column in a file sorted by age, a timestamp) is not a row number
    and is kept. ``drop_columns`` turns the identifier detection off for the
    columns it keeps. Identifier columns that are not clustered, and the
    columns left out by name, are written beside the labels.
    """
    header = table.header
    n_columns = len(table.columns)
    by_name = [
        header is not None and is_identifier_name(header[i]) for i in range(n_columns)
    ]
    ranged = [
        c.kind == "number" and _is_row_number_range(np.asarray(c.values))
        for c in table.columns
    ]
    notes: list[str] = []
    if columns is not None:
        keep = resolve_columns(columns, header, n_columns, "--columns")
        for index in keep:
            column = table.columns[index]
            if column.kind == "text":
                _refuse_decimal_commas(table, [index])
                example, line = column.first_text
                hint = (
                    "; it is a date or a time: convert it to a number first"
                    if _is_date_or_time(column)
                    else ""
                )
                raise InputError(
                    f"{table.source}, {table.line_word} {line}, column "
                    f"{column.name!r}: {example!r} is not a number; only numeric "
                    f"columns can be clustered{hint}."
                )
    else:
        kept = set(range(n_columns))
        if drop_columns is not None:
            kept -= set(
                resolve_columns(drop_columns, header, n_columns, "--drop-columns")
            )
        text = [
            i
            for i in sorted(kept)
            if table.columns[i].kind == "text" and not by_name[i]
        ]
        _refuse_decimal_commas(table, text)
        if drop_columns is None:
            identifiers = [i for i in sorted(kept) if by_name[i] or ranged[i]]
        else:
            identifiers = [
                i
                for i in sorted(kept)
                if by_name[i] and table.columns[i].kind == "text"
            ]
        keep = [i for i in sorted(kept) if i not in identifiers and i not in text]
        if not keep:
            numeric_ids = [i for i in identifiers if table.columns[i].kind == "number"]
            if numeric_ids and not text:
                keep = numeric_ids  # nothing else to cluster on
            else:
                held = "text" if text else "identifiers"
                raise InputError(
                    f"{table.source} has no numeric column to cluster on (its "
                    f"columns are {held}); give --columns to choose them."
                )
        else:
            for index in identifiers:
                if drop_columns is not None:
                    continue
                reason = (
                    "its name is an identifier's"
                    if by_name[index]
                    else "its values are the row numbers"
                )
                notes.append(
                    f"leaving out {table.columns[index].name!r} of {table.source}: "
                    f"it looks like a row identifier ({reason}) and is written "
                    "beside the labels; give --columns to choose the columns "
                    "yourself and cluster on it."
                )
        for left_out in (
            [table.columns[i] for i in text if not _is_date_or_time(table.columns[i])],
            [table.columns[i] for i in text if _is_date_or_time(table.columns[i])],
        ):
            if left_out:
                notes.append(_not_numbers_note(table, left_out))
    ids = []
    for index in range(n_columns):
        if index in keep or not (by_name[index] or ranged[index]):
            continue
        column = table.columns[index]
        if column.text is not None:
            values = list(column.text)
        elif column.kind == "number":
            values = [int(v) for v in np.asarray(column.values)]
        else:
            continue
        name = header[index] if header is not None else column.name
        ids.append((name, values))
    data = np.column_stack(
        [np.asarray(table.columns[i].values, dtype=np.float64) for i in keep]
    )
    return Selection(
        data=data,
        names=[table.columns[i].name for i in keep],
        positions=list(keep),
        identifiers=ids,
        notes=notes,
    )


def missing_rows(table: RawTable, selection: Selection) -> np.ndarray:
    """Boolean mask of the rows with a missing value in a clustered column."""
    return np.isnan(selection.data).any(axis=1)


def empty_columns_error(
    table: RawTable, selection: Selection, *, dropna: bool, chosen: bool
) -> InputError | None:
    """The error for clustered columns that hold no value at all, or None.

    Such a column cannot be clustered, and ``--dropna`` would leave out
    every row for it; the error names the columns and how to leave them out
    (``--drop-columns``, with a header name or a position, or out of
    ``--columns`` when that chose them).
    """
    if selection.data.shape[0] == 0:
        return None
    empty = np.flatnonzero(np.isnan(selection.data).all(axis=0))
    if empty.size == 0:
        return None
    names = ", ".join(repr(selection.names[i]) for i in empty)
    tokens = ",".join(
        table.header[selection.positions[i]]
        if table.header is not None
        and table.header[selection.positions[i]]
        and "," not in table.header[selection.positions[i]]
        else str(selection.positions[i] + 1)
        for i in empty
    )
    s = "s" if empty.size > 1 else ""
    consequence = (
        "--dropna would leave out every row"
        if dropna
        else "every row has a missing value"
    )
    remedy = "leave it out of --columns" if chosen else f"give --drop-columns {tokens}"
    return InputError(
        f"{table.source}: column{s} {names} hold{'' if s else 's'} no value, so "
        f"{consequence}; {remedy} to cluster on the other columns."
    )


def missing_value_error(
    table: RawTable, selection: Selection, mask: np.ndarray
) -> InputError:
    """The error for the first missing value, naming its column and line."""
    row = int(np.flatnonzero(mask)[0])
    column = int(np.flatnonzero(np.isnan(selection.data[row]))[0])
    name = selection.names[column]
    line = int(table.row_lines[row])
    by_name = {c.name: c for c in table.columns}
    first = by_name[name].first_missing if name in by_name else None
    shown = f" ({first[0]!r})" if first is not None and first[1] == line else ""
    count = int(mask.sum())
    rows = "row has" if count == 1 else f"{count:,} rows have"
    return InputError(
        f"{table.source}, {table.line_word} {line}, column {name!r}: missing "
        f"value{shown}; {rows} missing values. Give --dropna to leave those rows "
        "out, or impute the values first."
    )
