"""The Python packages a run was made with, in the ``requirements.txt`` format.

Recording them lets a result be reproduced in an equal environment (``pip install -r``).
"""

from __future__ import annotations

import errno
import importlib.metadata
import os
import re
from pathlib import Path

__all__ = ["installed_requirements", "read_requirements"]


def _normalise(name: str) -> str:
    """The PEP 503 name: ``Foo_Bar.baz`` and ``foo-bar-baz`` are the same project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_requirements() -> str:
    """The distributions installed for the running interpreter, as ``name==version`` lines.

    Sorted by normalised name, one line per project, ending with a newline (``""`` when
    nothing is found). When a project is installed twice on ``sys.path``, the first one
    wins, as it is the one ``import`` finds. Distributions with broken metadata are skipped
    rather than failing the run, so this never raises.
    """
    found: dict[str, str] = {}
    try:
        distributions = list(importlib.metadata.distributions())
    except Exception:
        return ""
    for distribution in distributions:
        try:
            name = distribution.metadata["Name"]
            version = distribution.version
        except Exception:
            continue
        if not isinstance(name, str) or not name.strip() or not isinstance(version, str):
            continue
        key = _normalise(name.strip())
        if key not in found:
            found[key] = f"{name.strip()}=={version.strip()}"
    return "".join(f"{found[key]}\n" for key in sorted(found))


def read_requirements(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a requirements file the user names, for recording as it is.

    Raises :class:`FileNotFoundError` naming ``path`` when it does not exist: the user
    asked for this file explicitly, so a typo must be reported, not silently ignored.
    """
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "Requirements file not found", os.fspath(path)) from None
