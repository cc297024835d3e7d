"""Reading the command line's input files and writing its outputs safely.

Input
    Only regular files are read (a FIFO, a device such as ``/dev/zero``, a
    directory or a socket is refused before anything is read, so the command
    never blocks or reads without end). A CSV file is read incrementally, one
    record at a time, keeping only the parsed numbers of the columns that are
    clustered (8 bytes a value) and the text of identifier columns: memory
    stays near the size of the data, not of the text. ``.npy`` headers and
    ``.npz`` directories are checked before any array is allocated: the
    announced shape times the item size must match the bytes that follow the
    header and stay below :data:`MAX_ARRAY_BYTES`, so a crafted header or a
    member that inflates to gigabytes is refused in a line, not decompressed.

Columns
    Columns are chosen before any field is converted (``--columns`` and
    ``--drop-columns`` are resolved against the header), text columns are left
    out with a warning, and row identifiers are recognised by name or by being
    exactly the row numbers; see :func:`choose_columns`.

Output
    :func:`write_outputs` replaces the set of output files as a set: every new
    file is written to a hidden temporary file in the output directory first,
    then all are renamed into place, so an interrupted or failed run leaves
    the complete previous set or the complete new one, never a truncated file
    that looks complete.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import os
import re
import secrets
import signal
import stat
import tempfile
import threading
import zipfile
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

#: CSV files larger than this are refused (convert them with numpy.save).
#: Reading is incremental, but a 1 GiB file of short numbers already holds
#: some 200 million values, about 1.6 GB of float64 and minutes of parsing.
MAX_CSV_BYTES = 2**30
#: Longest CSV line read, in characters; a longer one is refused before it is
#: held in memory (a file without line breaks is not a CSV file).
MAX_LINE_CHARS = 2**24
#: Largest array read from a ``.npy`` file or a ``.npz`` member, in bytes as
#: stored (4 GiB is 537 million float64 values, far beyond what a tree of
#: the samples can be built for).
MAX_ARRAY_BYTES = 2**32

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

#: Header names that mark a row identifier (compared in lower case); pandas
#: writes its unnamed index as an empty name or "Unnamed: 0".
ID_NAMES = frozenset(
    {"", "id", "index", "idx", "key", "row", "rowid", "row_id", "sample"}
)
ID_SUFFIXES = ("_id", " id", "-id", ".id")


class InputError(Exception):
    """A problem with the user's data or files, reported in one line."""


class UsageError(Exception):
    """An invalid command line, reported in one line with exit status 2."""


# ------------------------------------------------------------ printing


def printable(text: object) -> str:
    """``text`` with control and format characters escaped, for a terminal.

    A file name or a header field can hold escape sequences (``\\x1b[2J``
    clears the screen) or right-to-left overrides; they are shown as Python
    escapes (``\\x1b``, ``\\u202e``) instead of being sent to the terminal.
    Spaces and printable non-ASCII letters are kept.
    """
    text = str(text)
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def format_size(n_bytes: int) -> str:
    """A byte count for messages: ``512 bytes``, ``2.0 MiB``, ``8.0 GiB``."""
    if n_bytes < 1024:
        return f"{n_bytes} bytes"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n_bytes /= 1024
        if n_bytes < 1024 or unit == "TiB":
            return f"{n_bytes:.1f} {unit}".replace(".0 ", " ")


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type name when it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__


# --------------------------------------------------------------- files

_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(path: Path, mode: int) -> InputError:
    kind = next((words for test, words in _FILE_KINDS if test(mode)), "not a file")
    return InputError(
        f"{path} is {kind}, not a regular file; give a CSV, .npy or .npz file."
    )


def open_regular_file(path: Path):
    """Open ``path`` for binary reading if, and only if, it is a regular file.

    The file is opened without blocking (a FIFO with no writer would
    otherwise wait forever) and checked with ``fstat`` on the open
    descriptor, so that a file swapped for a FIFO between a check and the
    open is refused too.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise InputError(f"{path}: no such file.") from None
    except OSError as exc:
        raise InputError(f"{path} cannot be read: {exc.strerror}.") from None
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(f"{path} cannot be read: {exc.strerror}.") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_regular(path, mode)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


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
    for messages; ``header`` is None when the file has none.
    """

    source: str
    columns: list[RawColumn]
    header: list[str] | None
    row_lines: np.ndarray
    line_word: str = "line"

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


# ------------------------------------------------------------------- CSV


def _lines(text_file, path: Path) -> Iterator[str]:
    """The file's lines, each at most :data:`MAX_LINE_CHARS` characters."""
    number = 0
    while True:
        try:
            line = text_file.readline(MAX_LINE_CHARS + 1)
        except UnicodeDecodeError:
            raise InputError(
                f"{path}, line {number + 1}: not UTF-8 text; is this a CSV file?"
            ) from None
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE_CHARS:
            raise InputError(
                f"{path}, line {number}: longer than {MAX_LINE_CHARS:,} "
                "characters; is this a CSV file?"
            )
        yield line


def _parse_number(text: str, decimal: str) -> float | None:
    """The number a field holds, or None if it is not one."""
    if decimal != ".":
        if "." in text:
            return None
        text = text.replace(decimal, ".")
    try:
        return float(text)
    except ValueError:
        return None


# A field that starts like a number (0x10, 1,5, -3e) is a malformed number,
# not a column name.
_NUMBER_LIKE = re.compile(r"[+-]?\.?[0-9]")
# A number written with a decimal comma, as in "3,14".
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]*,[0-9]+(?:[eE][+-]?[0-9]+)?")


def _is_name(text: str, decimal: str) -> bool:
    return bool(text) and _parse_number(text, decimal) is None


def _is_header(first: list[str], second: list[str] | None, decimal: str) -> bool:
    """Whether a first line is a header.

    It holds a name (a field that is not a number) and nothing number-like (a
    line such as ``0x10,2`` is data with a malformed number, reported as
    such). When a second line follows, the first is a header only if one of
    its names stands above a number, or it holds nothing but names: the first
    record of a headerless file with a text column (``5.1,3.5,setosa``) is
    data, not a header.
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
        _parse_number(second[i], decimal) is not None
        and second[i] not in MISSING_VALUES
        for i in names
    )


def _records(
    path: Path, text_file, delimiter: str | None
) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of every record that is not blank."""
    lines = _lines(text_file, path)
    if delimiter is None:
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if fields:
                yield number, fields
        return
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            limit = csv.field_size_limit()
            reason = (
                f"a field is longer than {limit:,} characters (the csv module's "
                "limit); is this a CSV file?"
                if "field limit" in str(exc)
                else f"{one_line(exc)}"
            )
            raise InputError(f"{path}, line {reader.line_num}: {reason}") from None
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue
        yield reader.line_num, [text.strip() for text in fields]


def _detect_delimiter(first_line: str, decimal: str) -> str | None:
    candidates = ";\t" if decimal == "," else ",;\t"
    return next((d for d in candidates if d in first_line), None)


def read_csv(
    path: Path,
    file,
    *,
    columns: list[str] | None = None,
    drop_columns: list[str] | None = None,
    decimal: str = ".",
) -> RawTable:
    """Read a CSV file incrementally into a :class:`RawTable`.

    The delimiter is the first of comma, semicolon and tab found in the first
    line that is not blank (semicolon and tab only with ``decimal=","``),
    otherwise runs of whitespace. ``columns`` or ``drop_columns`` (names or
    positions from 1) are resolved against the header before any field is
    converted: columns that are not clustered are never parsed, so
    ``drop_columns=["species"]`` reads a file whose species are names.
    """
    size = os.fstat(file.fileno()).st_size
    if size > MAX_CSV_BYTES:
        raise InputError(
            f"{path} is {format_size(size)}, more than the "
            f"{format_size(MAX_CSV_BYTES)} read from a CSV file; save the array "
            "with numpy.save and give the .npy file."
        )
    import io

    text_file = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    # Peek at the first two lines that are not blank: the delimiter and the
    # header are decided from them.
    head_lines: list[str] = []
    raw_lines = _lines(text_file, path)
    for line in raw_lines:
        head_lines.append(line)
        if line.strip():
            break
    if not head_lines or not head_lines[-1].strip():
        raise InputError(f"{path} is empty.")
    delimiter = _detect_delimiter(head_lines[-1], decimal)

    class _Replay:
        """The lines already read, then the rest of the file."""

        def __init__(self):
            self._pending = list(head_lines)

        def readline(self, size=-1):
            if self._pending:
                return self._pending.pop(0)
            return text_file.readline(size)

    records = _records(path, _Replay(), delimiter)
    first_number, first = next(records)
    second_record = next(records, None)
    second = second_record[1] if second_record is not None else None
    header = first if _is_header(first, second, decimal) else None
    n_columns = len(first)

    def remaining():
        if header is None:
            yield first_number, first
        if second_record is not None:
            yield second_record
        yield from records

    if header is not None and second_record is None:
        raise InputError(f"{path} has a header line but no data.")

    # Columns chosen before any field is converted.
    parsed = set(range(n_columns))
    if columns is not None:
        parsed = set(resolve_columns(columns, header, n_columns, "--columns"))
    elif drop_columns is not None:
        dropped = resolve_columns(drop_columns, header, n_columns, "--drop-columns")
        parsed -= set(dropped)
        if not parsed:
            raise UsageError("argument --drop-columns: no column would be left")
    table_columns = []
    for index in range(n_columns):
        name = column_label(header, index)
        column = RawColumn(name=name, kind="number" if index in parsed else "skipped")
        if header is not None and is_identifier_name(header[index]):
            column.text = []
        table_columns.append(column)
    converted = [(i, table_columns[i]) for i in sorted(parsed)]
    texts = [(i, c) for i, c in enumerate(table_columns) if c.text is not None]
    row_lines = array("q")
    where = "header" if header is not None else "first line"
    nan = float("nan")
    for number, fields in remaining():
        if len(fields) != n_columns:
            raise InputError(
                f"{path}, line {number}: {len(fields)} fields where the {where} "
                f"has {n_columns}."
            )
        row_lines.append(number)
        for index, column in texts:
            column.text.append(fields[index])
        for index, column in converted:
            if column.kind != "number":
                continue
            text = fields[index]
            if text in MISSING_VALUES:
                column.values.append(nan)
                if column.first_missing is None:
                    column.first_missing = (text, number)
                continue
            value = _parse_number(text, decimal)
            if value is None:
                column.kind = "text"
                column.first_text = (text, number)
                column.values = array("d")
            else:
                column.values.append(value)
    return RawTable(
        source=str(path),
        columns=table_columns,
        header=header,
        row_lines=np.frombuffer(row_lines, dtype=np.int64).copy()
        if row_lines
        else np.zeros(0, dtype=np.int64),
    )


def table_from_array(source: str, X: np.ndarray, header=None) -> RawTable:
    """A :class:`RawTable` of a 2-D numeric array (rows counted from 1)."""
    columns = []
    for index in range(X.shape[1]):
        values = X[:, index]
        column = RawColumn(name=column_label(header, index), values=values)
        missing = np.flatnonzero(np.isnan(values))
        if missing.size:
            column.first_missing = ("nan", int(missing[0]) + 1)
        columns.append(column)
    return RawTable(
        source=source,
        columns=columns,
        header=header,
        row_lines=np.arange(1, X.shape[0] + 1),
        line_word="row",
    )


# ------------------------------------------------------------ NumPy files


def _read_npy_header(file, path: Path, kind: str, available: int):
    """Shape and dtype from a ``.npy`` header, checked against the bytes left.

    ``available`` is the number of bytes of the file (or ``.npz`` member);
    the array the header announces must fill exactly what follows the header
    and stay below :data:`MAX_ARRAY_BYTES`, so nothing is allocated for a
    header that lies.
    """
    fmt = np.lib.format
    try:
        version = fmt.read_magic(file)
        if version == (1, 0):
            shape, fortran_order, dtype = fmt.read_array_header_1_0(file)
        else:
            shape, fortran_order, dtype = fmt.read_array_header_2_0(file)
    except (ValueError, OSError, EOFError, SyntaxError) as exc:
        raise InputError(
            f"{path} is not a readable {kind} file ({one_line(exc)})."
        ) from None
    if dtype.hasobject:
        raise InputError(
            f"{path} is not a numeric {kind} array (it holds Python objects, which "
            "need pickling, and pickles are refused)."
        )
    if dtype.kind not in "biuf":
        raise InputError(f"{path} holds {dtype} values; expected numbers.")
    if len(shape) != 2:
        raise InputError(
            f"{path} holds an array of shape {shape}; expected a 2-D array of "
            "shape (n_samples, n_features)."
        )
    n_bytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if n_bytes > MAX_ARRAY_BYTES:
        raise InputError(
            f"{path} holds an array of shape {shape}, {format_size(n_bytes)}, "
            f"more than the {format_size(MAX_ARRAY_BYTES)} the command line reads."
        )
    left = available - file.tell()
    if left != n_bytes:
        raise InputError(
            f"{path} is not a readable {kind} file: its header announces "
            f"{n_bytes:,} bytes of data (shape {shape}, {dtype}) but {left:,} "
            "follow."
        )
    return shape, dtype


def read_npy(path: Path, file) -> np.ndarray:
    """A 2-D numeric array from a ``.npy`` file, its header checked first."""
    if file.read(6) != b"\x93NUMPY":
        raise InputError(f"{path} is not a .npy file (it has no NumPy header).")
    file.seek(0)
    size = os.fstat(file.fileno()).st_size
    _read_npy_header(file, path, ".npy", size)
    file.seek(0)
    try:
        return np.lib.format.read_array(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(
            f"{path} is not a readable .npy file ({one_line(exc)})."
        ) from None


def read_npz(path: Path, file) -> np.ndarray:
    """The one 2-D numeric array of a ``.npz`` file, its size checked first.

    The member's uncompressed size is read from the ZIP directory and its
    ``.npy`` header checked against it before anything is decompressed;
    Python's zipfile never inflates a member beyond that size.
    """
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise InputError(
            f"{path} is not a readable .npz file ({one_line(exc)})."
        ) from None
    with archive:
        members = archive.infolist()
        if len(members) != 1:
            held = ", ".join(m.filename.removesuffix(".npy") for m in members)
            raise InputError(
                f"{path} holds {len(members)} arrays ({held or 'no arrays'}); "
                "expected one. Save the array to cluster on its own with "
                "numpy.save."
            )
        member = members[0]
        if member.file_size > MAX_ARRAY_BYTES + 65536:
            raise InputError(
                f"{path}: its array {member.filename!r} inflates to "
                f"{format_size(member.file_size)}, more than the "
                f"{format_size(MAX_ARRAY_BYTES)} the command line reads."
            )
        try:
            with archive.open(member) as stream:
                if stream.read(6) != b"\x93NUMPY":
                    raise InputError(
                        f"{path}: its member {member.filename!r} is not a .npy array."
                    )
            with archive.open(member) as stream:
                _read_npy_header(stream, path, ".npz", member.file_size)
            with archive.open(member) as stream:
                return np.lib.format.read_array(stream, allow_pickle=False)
        except InputError:
            raise
        except Exception as exc:  # BadZipFile, CRC errors, encryption, ...
            raise InputError(
                f"{path} is not a readable .npz file ({one_line(exc)})."
            ) from None


def read_table(
    path: Path,
    *,
    columns: list[str] | None = None,
    drop_columns: list[str] | None = None,
    decimal: str = ".",
) -> RawTable:
    """Read a ``.npy``, ``.npz`` or CSV file (by suffix, or a ZIP's magic)."""
    with open_regular_file(path) as file:
        magic = file.read(4)
        file.seek(0)
        suffix = path.suffix.lower()
        if suffix == ".npy":
            X = read_npy(path, file)
        elif suffix == ".npz" or magic == b"PK\x03\x04":
            X = read_npz(path, file)
        else:
            return read_csv(
                path, file, columns=columns, drop_columns=drop_columns, decimal=decimal
            )
    if X.size == 0:
        raise InputError(f"{path} holds no data (shape {X.shape}).")
    return table_from_array(str(path), X.astype(np.float64))


# ---------------------------------------------------------------- columns


@dataclass
class Selection:
    """The columns chosen for clustering and what was left out.

    ``data`` holds the clustered columns (float64, NaN for missing values);
    ``identifiers`` maps the name of each identifier column left out to its
    values, one a row, for ``labels.csv``; ``notes`` are the warnings to print.
    """

    data: np.ndarray
    names: list[str]
    identifiers: dict[str, list]
    notes: list[str]


def _is_row_number_range(values: np.ndarray) -> bool:
    """Whether values are exactly 0, 1, ..., n-1 or 1, 2, ..., n, over n >= 3."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n < 3 or values[0] not in (0.0, 1.0):
        return False
    return bool(np.array_equal(values, np.arange(n) + values[0]))


def _text_note(table: RawTable, text_columns: list[RawColumn]) -> str:
    names = ", ".join(repr(c.name) for c in text_columns)
    example, line = text_columns[0].first_text
    s = "s" if len(text_columns) > 1 else ""
    note = (
        f"leaving out the text column{s} {names} of {table.source}: only numbers "
        f"are clustered ({example!r} on {table.line_word} {line})"
    )
    if _DECIMAL_COMMA.fullmatch(example):
        note += "; give --decimal , for numbers written with a decimal comma"
    return note + "; encode text as numbers first to cluster on it."


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
                example, line = column.first_text
                hint = (
                    "; give --decimal , for numbers written with a decimal comma"
                    if _DECIMAL_COMMA.fullmatch(example)
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
                    + (
                        " Numbers written with a decimal comma need --decimal ,."
                        if any(
                            _DECIMAL_COMMA.fullmatch(table.columns[i].first_text[0])
                            for i in text
                        )
                        else ""
                    )
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
        if text:
            notes.append(_text_note(table, [table.columns[i] for i in text]))
    ids = {}
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
        ids.setdefault(name, values)
    data = np.column_stack(
        [np.asarray(table.columns[i].values, dtype=np.float64) for i in keep]
    )
    return Selection(
        data=data,
        names=[table.columns[i].name for i in keep],
        identifiers=ids,
        notes=notes,
    )


def missing_rows(table: RawTable, selection: Selection) -> np.ndarray:
    """Boolean mask of the rows with a missing value in a clustered column."""
    return np.isnan(selection.data).any(axis=1)


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


# ----------------------------------------------------------------- output


def check_outputs(directory: Path, names: Iterable[str], input_path: Path | None):
    """Refuse outputs that cannot be written safely, before any work is done.

    The output directory must be, or be creatable as, a writable directory.
    An existing output that is a symbolic link is refused rather than
    followed or replaced (it points somewhere the user chose; writing through
    it overwrites another file, replacing it hides that choice), and so is
    one that is not a regular file. The input file must not be one of the
    outputs (same resolved path, or the same inode through a hard link): the
    run would replace the data it came from.
    """
    existing = directory
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if existing == directory and not directory.is_dir():
        raise InputError(f"--output-dir {directory} exists and is not a directory.")
    if not existing.is_dir():
        raise InputError(
            f"--output-dir {directory} cannot be created: {existing} is not a "
            "directory."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "written to" if existing == directory else f"created in {existing}"
        raise InputError(
            f"--output-dir {directory} cannot be {what}: permission denied."
        )
    input_stat = None
    if input_path is not None:
        with contextlib.suppress(OSError):
            input_stat = os.stat(input_path)
    for name in names:
        target = directory / name
        try:
            info = os.lstat(target)
        except FileNotFoundError:
            info = None
        except OSError as exc:
            raise InputError(f"{target} cannot be checked: {exc.strerror}.") from None
        if info is not None and stat.S_ISLNK(info.st_mode):
            raise InputError(
                f"{target} is a symbolic link; refusing to write through it or "
                "replace it: remove it or choose another --output-dir."
            )
        if info is not None and not stat.S_ISREG(info.st_mode):
            raise InputError(f"{target} exists and is not a regular file.")
        same_file = (
            info is not None
            and input_stat is not None
            and (info.st_dev, info.st_ino) == (input_stat.st_dev, input_stat.st_ino)
        )
        if same_file or (
            input_path is not None and Path(input_path).resolve() == target.resolve()
        ):
            raise InputError(
                f"the input {input_path} is the output {target}, which this run "
                "would replace; choose another --output-dir."
            )


def write_labels_csv(file, identifiers: dict[str, list], labels: np.ndarray):
    """``labels.csv``: the identifier columns (or ``sample``), then ``label``."""
    import io

    text = io.TextIOWrapper(file, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow([*identifiers, "label"])
    writer.writerows(zip(*identifiers.values(), labels.tolist(), strict=True))
    text.flush()
    text.detach()


def write_linkage_npy(file, linkage: np.ndarray):
    """``linkage.npy``: the linkage matrix, as :func:`numpy.save` writes it."""
    np.lib.format.write_array(file, np.ascontiguousarray(linkage), allow_pickle=False)


def _file_mode() -> int:
    """The mode a new file gets under the current umask (mkstemp's is 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def _signals_deferred():
    """Hold SIGINT and SIGTERM back while the outputs are renamed into place.

    The renames take microseconds; a signal arriving meanwhile is delivered
    once they are done, so it never splits the set.
    """
    deferrable = (
        hasattr(signal, "pthread_sigmask")
        and threading.current_thread() is threading.main_thread()
    )
    held = {signal.SIGINT, signal.SIGTERM}
    if deferrable:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        if deferrable:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


@contextlib.contextmanager
def _directory_lock(directory: Path):
    """An exclusive ``flock`` on the directory, so concurrent commits do not mix."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _backup_name(directory: Path, name: str) -> Path:
    return directory / f".{name}.{secrets.token_hex(6)}.old"


def _commit(directory: Path, temporaries: dict[str, Path], remove: list[str]):
    """Rename the temporaries into place and remove ``remove``, all or nothing.

    Each existing output is first hard-linked to a hidden backup name (so the
    final name never disappears), then the new file replaces it with
    ``os.replace``; files in ``remove`` are unlinked after their backup is
    made. On any failure the backups are renamed back, restoring the previous
    set exactly, and the error is raised.
    """
    backups: dict[str, Path] = {}
    placed: list[str] = []
    removed: list[str] = []
    try:
        for name in [*temporaries, *remove]:
            final = directory / name
            if not os.path.lexists(final):
                continue
            backup = _backup_name(directory, name)
            try:
                os.link(final, backup, follow_symlinks=False)
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
                os.rename(final, backup)  # no hard links on this file system
            backups[name] = backup
        for name, temporary in temporaries.items():
            os.replace(temporary, directory / name)
            placed.append(name)
        for name in remove:
            if name in backups:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(directory / name)
                removed.append(name)
    except BaseException:
        for name in placed:
            with contextlib.suppress(OSError):
                os.replace(directory / name, temporaries[name])
        for name, backup in backups.items():
            # rename() between two links of one file does nothing: unlink too.
            with contextlib.suppress(OSError):
                os.replace(backup, directory / name)
            with contextlib.suppress(OSError):
                os.unlink(backup)
        raise
    for backup in backups.values():
        with contextlib.suppress(OSError):
            os.unlink(backup)
    return removed


def write_outputs(
    directory: Path,
    writers: dict[str, Callable],
    remove: Iterable[str] = (),
) -> list[str]:
    """Write a set of output files so that it replaces the previous set whole.

    Parameters
    ----------
    directory : Path
        The output directory, created if missing.
    writers : dict of str to callable
        For each file name, a function that writes the file's bytes to the
        binary file object it is given.
    remove : iterable of str
        Names of outputs of a previous run that this run does not produce
        (a ``dendrogram.png`` when matplotlib is missing): they are removed
        as part of the same step, so that no stale file of another data set
        stays beside the new ones.

    Returns
    -------
    removed : list of str
        The names in ``remove`` that existed and were removed.

    Notes
    -----
    Every file is first written in full to a hidden temporary file in
    ``directory`` (``.labels.csv.XXXX.tmp``) and flushed to disk; if any
    writer fails (a full disk, an exception while drawing, Ctrl-C), the
    temporaries are removed and the previous outputs are untouched. Then,
    under an exclusive lock of the directory and with SIGINT and SIGTERM held
    back, every temporary is renamed over its final name; a failure there
    restores the previous set from hard-linked backups. Only SIGKILL or a
    power failure during those few renames can leave a mix, with the hidden
    ``.NAME.XXXX.old`` backups of the previous files beside it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    temporaries: dict[str, Path] = {}
    mode = _file_mode()
    try:
        for name, write in writers.items():
            fd, temporary = tempfile.mkstemp(
                dir=directory, prefix=f".{name}.", suffix=".tmp"
            )
            temporaries[name] = Path(temporary)
            with os.fdopen(fd, "wb") as file:
                write(file)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, mode)
        with _directory_lock(directory), _signals_deferred():
            removed = _commit(
                directory, temporaries, [n for n in remove if n not in writers]
            )
        _fsync_directory(directory)
        return removed
    finally:
        for temporary in temporaries.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
