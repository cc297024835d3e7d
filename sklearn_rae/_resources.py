"""Memory: what a fit would allocate, what the process may allocate, refusal.

A fit adds up its large allocations (the criterion's
:meth:`~sklearn_rae.criteria.base.Criterion.memory_needs`) and refuses with a
``MemoryError`` before allocating when they exceed ``memory_limit``.
``memory_limit="auto"`` is the smallest of what the operating system reports
as available, what the cgroup (a container's limit) leaves, what the
address-space limit (``ulimit -v``, ``RLIMIT_AS``) leaves to this process and,
under strict overcommit (``vm.overcommit_memory = 2``), what the commit limit
leaves. A fit that trains and has not imported TensorFlow yet needs room for
TensorFlow's runtime too: it is taken off each of them.
"""

from __future__ import annotations

import os
import sys

__all__ = ["available_memory", "check_memory", "format_bytes"]

#: Address space that TensorFlow's runtime reserves when it is first imported
#: (virtual memory, measured on Linux x86-64 with TensorFlow 2.21: 2.3 GiB,
#: rounded up). Under an address-space limit a fit that trains needs it.
TENSORFLOW_ADDRESS_SPACE = 3 * 2**30
#: Resident memory of TensorFlow's runtime after a fit's first training steps
#: (measured on Linux x86-64 with TensorFlow 2.21 as the growth of peak
#: resident memory of a fresh process between fit(max_iter=0) and
#: fit(max_iter=1) of merge_cost="cumulative": 0.54 GiB, rounded up).
TENSORFLOW_RESIDENT_MEMORY = 768 * 2**20


def _tensorflow_imported() -> bool:
    return "tensorflow" in sys.modules


def _read_int(path: str) -> int | None:
    try:
        with open(path) as file:
            text = file.read().strip()
    except OSError:
        return None
    if not text.isdigit():  # "max": no limit
        return None
    return int(text)


def _meminfo() -> dict[str, int]:
    """``/proc/meminfo`` in bytes by field name (empty where there is none)."""
    fields = {}
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                name, _, value = line.partition(":")
                parts = value.split()
                if parts and parts[0].isdigit():
                    scale = 1024 if parts[1:] == ["kB"] else 1
                    fields[name] = int(parts[0]) * scale
    except OSError:
        pass
    return fields


def _meminfo_available() -> int | None:
    available = _meminfo().get("MemAvailable")
    if available is not None:
        return available
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_available() -> int | None:
    """What the cgroup's memory limit leaves, or None without a limit."""
    # cgroup v2, then v1.
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        limit = _read_int(limit_file)
        # v1 reports "no limit" as a huge number.
        if limit is None or limit >= 2**60:
            continue
        usage = _read_int(usage_file) or 0
        return max(limit - usage, 0)
    return None


def _commit_available() -> int | None:
    """What the commit limit leaves under strict overcommit, or None.

    With ``vm.overcommit_memory = 2`` an allocation fails (NumPy's "Unable to
    allocate") once the committed memory would pass ``CommitLimit``, however
    much memory is free.
    """
    if _read_int("/proc/sys/vm/overcommit_memory") != 2:
        return None
    fields = _meminfo()
    if "CommitLimit" not in fields or "Committed_AS" not in fields:
        return None
    return max(fields["CommitLimit"] - fields["Committed_AS"], 0)


def _address_space_available() -> int | None:
    """What ``RLIMIT_AS`` leaves to this process, or None without a limit."""
    try:
        import resource
    except ImportError:  # not on every platform
        return None
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return None
    try:
        with open("/proc/self/statm") as statm:
            used = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        used = 0
    return max(soft - used, 0)


def available_memory(training: bool = False) -> int | None:
    """Bytes a new allocation may take, or None if nothing is known.

    The smallest of the available physical memory, the cgroup's remaining
    limit, the remaining address space and, under strict overcommit, the
    remaining commit limit. With ``training`` and TensorFlow not yet
    imported, what TensorFlow's runtime will take is taken off each: its
    resident memory off the first two, the address space it reserves off the
    others.
    """
    resident = [_meminfo_available(), _cgroup_available()]
    reserved = [_address_space_available(), _commit_available()]
    if training and not _tensorflow_imported():
        resident = [
            None if value is None else max(value - TENSORFLOW_RESIDENT_MEMORY, 0)
            for value in resident
        ]
        reserved = [
            None if value is None else max(value - TENSORFLOW_ADDRESS_SPACE, 0)
            for value in reserved
        ]
    known = [value for value in resident + reserved if value is not None]
    return min(known) if known else None


def format_bytes(n_bytes: float) -> str:
    """``n_bytes`` in words: bytes, KiB, MiB, GiB or TiB."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n_bytes < 1024 or unit == "TiB":
            return (
                f"{n_bytes:.1f} {unit}" if unit != "bytes" else f"{n_bytes:.0f} bytes"
            )
        n_bytes /= 1024
    raise AssertionError("unreachable")


def check_memory(needs, memory_limit, training: bool = False) -> None:
    """Refuse, with a ``MemoryError``, allocations that would exceed the limit.

    Parameters
    ----------
    needs : list of (int, str, str)
        ``(bytes, what, advice)`` of each large allocation.
    memory_limit : int, float, "auto" or None
        The estimator's parameter; None disables the check.
    training : bool, default=False
        Whether the fit trains (imports TensorFlow).
    """
    if memory_limit is None:
        return
    limit = available_memory(training) if memory_limit == "auto" else memory_limit
    if limit is None:
        return
    needed = sum(n_bytes for n_bytes, _, _ in needs)
    if needed > limit:
        parts = ", ".join(
            f"{format_bytes(n_bytes)} for {what}" for n_bytes, what, _ in needs
        )
        advice = max(needs)[2]
        source = ""
        if memory_limit == "auto":
            source = " (memory_limit='auto': what this process may still allocate"
            if training and not _tensorflow_imported():
                source += (
                    f", less {format_bytes(TENSORFLOW_RESIDENT_MEMORY)} for "
                    "TensorFlow's runtime, which training imports"
                )
            source += ")"
        raise MemoryError(
            f"This needs about {format_bytes(needed)} ({parts}), more than "
            f"the memory limit of {format_bytes(limit)}{source}. {advice}, "
            "free memory, or raise memory_limit (None disables this check)."
        )
