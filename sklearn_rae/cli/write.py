"""Writing the command line's outputs as a set: labels, linkage, dendrogram.

:func:`check_outputs` refuses, before any work is done, an output directory
that cannot be written and output paths that are symbolic links or the
input itself. :func:`write_outputs` replaces the set of output files as a
set: every new file is written to a hidden temporary file in the output
directory first, then all are renamed into place, so an interrupted or
failed run leaves the complete previous set or the complete new one, never
a truncated file that looks complete.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import os
import secrets
import stat
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from . import signals
from .messages import InputError, one_line

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
        what = "written to" if existing == directory else "created"
        raise InputError(
            f"--output-dir {directory} cannot be {what}: "
            f"{_not_writable(existing)}; choose another --output-dir."
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


def _read_only_file_system(directory: Path) -> bool:
    try:
        return bool(os.statvfs(directory).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


def _disk_full(directory: Path) -> bool:
    try:
        return os.statvfs(directory).f_bavail == 0
    except (OSError, AttributeError):
        return False


def _not_writable(directory: Path) -> str:
    """Why a directory cannot be written to, in words that name it."""
    if _read_only_file_system(directory):
        return f"{directory} is on a read-only file system"
    return f"{directory} is not writable (read-only for this user: permission denied)"


def describe_write_error(exc: OSError, directory: Path) -> str:
    """The cause of a failed write, naming the directory written to.

    An ``OSError`` carries an ``errno`` saying why, but its text is often
    bare: NumPy's ``tofile`` reports a full disk as "7996 requested and 2032
    written", and a read-only directory is a plain "Permission denied" on a
    hidden temporary file. This names the cause and where: the disk holding
    the directory is full (ENOSPC, or no errno and no free block left), the
    quota is exceeded (EDQUOT), the file system is read-only (EROFS), or the
    directory is not writable (EACCES, EPERM).
    """
    code = exc.errno
    if code == errno.ENOSPC or (code is None and _disk_full(directory)):
        return f"the disk holding {directory} is full (ENOSPC: no space left on device)"
    if code == getattr(errno, "EDQUOT", None):
        return f"the disk quota for {directory} is exceeded (EDQUOT)"
    if code == errno.EROFS:
        return f"{directory} is on a read-only file system (EROFS)"
    if code in (errno.EACCES, errno.EPERM):
        return _not_writable(directory)
    return one_line(exc)


def write_labels_csv(file, identifiers: list[tuple[str, list]], labels: np.ndarray):
    """``labels.csv``: the identifier columns (or ``sample``), then ``label``.

    ``identifiers`` holds each identifier column's name and values, in the
    input file's order; a name may repeat.
    """
    import io

    text = io.TextIOWrapper(file, encoding="utf-8", newline="")
    writer = csv.writer(text)
    writer.writerow([*(name for name, _ in identifiers), "label"])
    columns = [values for _, values in identifiers]
    writer.writerows(zip(*columns, labels.tolist(), strict=True))
    text.flush()
    text.detach()


class _Writes:
    """Only a file's ``write``: NumPy then writes with it, not with ``tofile``.

    ``ndarray.tofile`` reports a short write (a full disk) as "N requested
    and M written", without the ``errno`` that Python's own ``write`` gives.
    """

    def __init__(self, file):
        self.write = file.write


def write_linkage_npy(file, linkage: np.ndarray):
    """``linkage.npy``: the linkage matrix, as :func:`numpy.save` writes it."""
    np.lib.format.write_array(
        _Writes(file), np.ascontiguousarray(linkage), allow_pickle=False
    )


def dendrogram_writer(model, title: str, height_scale: str):
    """A function drawing the dendrogram into a file; None without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    from .. import plot_dendrogram

    def write(file):
        # A Figure without pyplot renders with Agg and leaves the caller's
        # matplotlib backend alone.
        figure = Figure(figsize=(10, 5), layout="constrained")
        ax = plot_dendrogram(model, ax=figure.subplots(), height_scale=height_scale)
        # A file name such as "$x$.csv" is text, not mathtext.
        ax.set_title(title, parse_math=False)
        figure.savefig(file, format="png", dpi=100)

    return write


def _file_mode() -> int:
    """The mode a new file gets under the current umask (mkstemp's is 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


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
    under an exclusive lock of the directory and with SIGINT, SIGTERM and
    SIGHUP held back, every temporary is renamed over its final name; a
    failure there
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
        with _directory_lock(directory), signals.deferred():
            removed = _commit(
                directory, temporaries, [n for n in remove if n not in writers]
            )
        _fsync_directory(directory)
        return removed
    finally:
        for temporary in temporaries.values():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
