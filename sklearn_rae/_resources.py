"""Memory: what a fit would allocate, what the process may allocate, refusal.

A fit adds up its large allocations (the criterion's
:meth:`~sklearn_rae.criteria.base.Criterion.memory_needs`) and refuses with a
``MemoryError`` before allocating when they exceed ``memory_limit``.
``memory_limit="auto"`` is the smallest of what the operating system reports
as available, what the cgroup (a container's limit) leaves, and what the
address-space limit (``ulimit -v``, ``RLIMIT_AS``) leaves to this process.
"""

from __future__ import annotations

import os
import sys

__all__ = ["available_memory", "check_memory", "format_bytes"]

#: Address space that TensorFlow's runtime reserves when it is first imported
#: (virtual memory, measured on Linux x86-64 with TensorFlow 2.21: 2.3 GiB,
#: rounded up). Under an address-space limit a fit that trains needs it.
TENSORFLOW_ADDRESS_SPACE = 3 * 2**30


def _read_int(path: str) -> int | None:
    try:
        with open(path) as file:
            text = file.read().strip()
    except OSError:
        return None
    if not text.isdigit():  # "max": no limit
        return None
    return int(text)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
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
    limit and the remaining address space. With ``training`` and TensorFlow
    not yet imported, the address space TensorFlow's runtime will reserve is
    taken off the last.
    """
    address_space = _address_space_available()
    if address_space is not None and training and "tensorflow" not in sys.modules:
        address_space = max(address_space - TENSORFLOW_ADDRESS_SPACE, 0)
    known = [
        value
        for value in (_meminfo_available(), _cgroup_available(), address_space)
        if value is not None
    ]
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
        raise MemoryError(
            f"This needs about {format_bytes(needed)} ({parts}), more than "
            f"the memory limit of {format_bytes(limit)}. {advice}, free "
            "memory, or raise memory_limit (None disables this check)."
        )
