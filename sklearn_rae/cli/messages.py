"""What the command line says: its two kinds of error and its printed lines.

Every message goes through :func:`printable`, so that a file or column name
holding control characters is shown escaped, never sent to the terminal, and
every error is one line (:func:`one_line`), never a traceback.
"""

from __future__ import annotations

import sys

#: The command's name in its messages.
PROG = "sklearn-rae"


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


def say(*parts: object) -> None:
    """Print a line of the summary on standard output."""
    print(printable(" ".join(str(part) for part in parts)))


def warn(message: str) -> None:
    """Print ``sklearn-rae: warning: message`` on standard error."""
    print(f"{PROG}: warning: {printable(message)}", file=sys.stderr)


def report_warnings(caught) -> None:
    """One line per distinct warning: NumPy and SciPy repeat theirs."""
    for message in dict.fromkeys(one_line(w.message) for w in caught):
        warn(message)


def describe_columns(names: list[str], limit: int = 8) -> str:
    """The first ``limit`` column names, and how many more there are."""
    shown = ", ".join(names[:limit])
    if len(names) > limit:
        shown += f", ... ({len(names) - limit} more)"
    return shown
