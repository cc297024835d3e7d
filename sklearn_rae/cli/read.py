"""Reading the command line's input: CSV, ``.npy`` and ``.npz`` files, safely.

Only regular files are read (a FIFO, a device such as ``/dev/zero``, a
directory or a socket is refused before anything is read, so the command
never blocks or reads without end). A CSV file is read incrementally, one
record at a time, keeping only the parsed numbers of the columns that are
clustered (8 bytes a value) and the text of identifier columns: memory stays
near the size of the data, not of the text. ``.npy`` headers and ``.npz``
directories are checked before any array is allocated: the announced shape
times the item size must match the bytes that follow the header and stay
below :data:`MAX_ARRAY_BYTES`, so a crafted header or a member that inflates
to gigabytes is refused in a line, not decompressed.

Every reader returns a :class:`~sklearn_rae.cli.columns.RawTable`, from which
:func:`~sklearn_rae.cli.columns.choose_columns` takes the clustered columns.
"""

from __future__ import annotations

import csv
import os
import stat
import zipfile
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .columns import (
    RawColumn,
    RawTable,
    column_label,
    is_identifier_name,
    resolve_columns,
)
from .dialect import (
    MISSING_VALUES,
    detect_delimiter,
    is_header,
    looks_like_numeric_header,
    parse_number,
)
from .messages import InputError, UsageError, format_size, one_line

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


def read_csv(
    path: Path,
    file,
    *,
    columns: list[str] | None = None,
    drop_columns: list[str] | None = None,
    decimal: str = ".",
    header: str = "auto",
) -> RawTable:
    """Read a CSV file incrementally into a :class:`RawTable`.

    The delimiter is found in the first line that is not blank
    (:func:`~sklearn_rae.cli.dialect.detect_delimiter`). ``header`` is
    ``"yes"`` (the first record names the columns, whatever it holds),
    ``"no"`` (it is data) or ``"auto"``: a header when
    :func:`~sklearn_rae.cli.dialect.is_header` says so; a first record read
    as data that looks like a header of numbers (``2019,2020,2021``) is kept
    as data with a note saying to give ``--header yes`` or ``--header no``.
    ``columns`` or ``drop_columns`` (names or positions from 1) are resolved
    against the header before any field is converted: columns that are not
    clustered are never parsed, so ``drop_columns=["species"]`` reads a file
    whose species are names.
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
    delimiter = detect_delimiter(head_lines[-1], decimal)

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
    has_header = header == "yes" or (
        header == "auto" and is_header(first, second, decimal)
    )
    names = first if has_header else None
    n_columns = len(first)

    def remaining():
        if names is None:
            yield first_number, first
        if second_record is not None:
            yield second_record
        yield from records

    if names is not None and second_record is None:
        raise InputError(f"{path} has a header line but no data.")

    # Columns chosen before any field is converted.
    parsed = set(range(n_columns))
    if columns is not None:
        parsed = set(resolve_columns(columns, names, n_columns, "--columns"))
    elif drop_columns is not None:
        dropped = resolve_columns(drop_columns, names, n_columns, "--drop-columns")
        parsed -= set(dropped)
        if not parsed:
            raise UsageError("argument --drop-columns: no column would be left")
    table_columns = []
    for index in range(n_columns):
        name = column_label(names, index)
        column = RawColumn(name=name, kind="number" if index in parsed else "skipped")
        if names is not None and is_identifier_name(names[index]):
            column.text = []
        table_columns.append(column)
    converted = [(i, table_columns[i]) for i in sorted(parsed)]
    texts = [(i, c) for i, c in enumerate(table_columns) if c.text is not None]
    row_lines = array("q")
    where = "header" if names is not None else "first line"
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
            value = parse_number(text, decimal)
            if value is None:
                column.kind = "text"
                column.first_text = (text, number)
                column.values = array("d")
            else:
                column.values.append(value)
    table = RawTable(
        source=str(path),
        columns=table_columns,
        header=names,
        row_lines=np.frombuffer(row_lines, dtype=np.int64).copy()
        if row_lines
        else np.zeros(0, dtype=np.int64),
    )
    if header == "auto" and names is None:
        below = [
            np.asarray(c.values)[1:] if c.kind == "number" else None
            for c in table_columns
        ]
        if looks_like_numeric_header(first, below):
            table.notes.append(
                f"{path}, line {first_number}: the first line "
                f"({','.join(first)!r}) looks like a header of numbers "
                "(distinct integers unlike the values below them) and is read "
                "as data, a sample of its own; give --header yes to read it as "
                "the column names, or --header no to keep it as data."
            )
    return table


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
    header: str = "auto",
) -> RawTable:
    """Read a ``.npy``, ``.npz`` or CSV file (by suffix, or a ZIP's magic).

    ``decimal`` and ``header`` apply to a CSV file only; see :func:`read_csv`.
    """
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
                path,
                file,
                columns=columns,
                drop_columns=drop_columns,
                decimal=decimal,
                header=header,
            )
    if X.size == 0:
        raise InputError(f"{path} holds no data (shape {X.shape}).")
    return table_from_array(str(path), X.astype(np.float64))
