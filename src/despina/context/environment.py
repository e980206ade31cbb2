"""Where and how a run was started: interpreter, machine, command line, user.

These fields tell apart runs that differ only by where they ran (a laptop against a
cluster node, Python 3.10 against 3.12) and let a run be started again the same way.
"""

from __future__ import annotations

import getpass
import os
import platform
import shlex
import socket
import sys

__all__ = ["environment_fields"]

_GIB = 1024**3


def _total_memory_gb() -> float | None:
    """Physical memory in GiB: ``os.sysconf`` (Linux, macOS), else psutil when installed."""
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and page_size > 0:
            return round(pages * page_size / _GIB, 2)
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows), or no such name
        pass
    try:
        import psutil

        total = float(psutil.virtual_memory().total)
    except Exception:  # not installed, or cannot tell
        return None
    return round(total / _GIB, 2) if total > 0 else None


def _user() -> str:
    """The login name; containers often run as a user id with no name, hence the fallback."""
    try:
        return getpass.getuser() or "unknown"
    except Exception:  # KeyError (no passwd entry) before Python 3.13, OSError since
        return "unknown"


def _hostname() -> str:
    try:
        return socket.gethostname() or "unknown"
    except OSError:
        return "unknown"


def environment_fields() -> dict[str, str | int | float]:
    """Describe the interpreter, the machine and the process; never raises.

    Keys: ``python_version``, ``python_implementation``, ``platform``, ``cpu_count``,
    ``total_memory_gb`` (GiB, 2 decimals; left out when it cannot be found),
    ``command_line`` (the interpreter and ``sys.argv``, quoted for a POSIX shell so it
    can be pasted back), ``hostname``, ``pid`` and ``user``.
    """
    fields: dict[str, str | int | float] = {
        "python_version": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count() or 0,
    }
    memory = _total_memory_gb()
    if memory is not None:
        fields["total_memory_gb"] = memory
    fields["command_line"] = shlex.join([sys.executable or "python", *map(str, sys.argv)])
    fields["hostname"] = _hostname()
    fields["pid"] = os.getpid()
    fields["user"] = _user()
    return fields
