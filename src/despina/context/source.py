"""Which source files a run records, so that a result can be reproduced from its code.

By default that is the script the run was started from (``sys.argv[0]``), or, in a
Jupyter kernel, the notebook file. When the notebook file cannot be found, the text of the
cells executed so far is kept instead: it is the only copy of the code there is. The user
can instead name files with glob patterns, or pass ``[]`` to record no code at all (for
code that must not leave the machine).

:func:`capture_source` only finds files; it never reads or uploads them, and never raises.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["SourceCapture", "capture_source"]

#: ``sys.argv[0]`` values that mean there is no script file: ``python -c``, ``python -``
#: (code on standard input) and the interactive interpreter.
_NO_SCRIPT = frozenset({"", "-c", "-"})

#: Names the notebook path may be found under in the kernel's user namespace: Jupyter's
#: ``__session__`` and the one VS Code sets.
_NOTEBOOK_VARIABLES = ("__session__", "__vsc_ipynb_file__")


@dataclass(frozen=True)
class SourceCapture:
    """The source code of a run: files to store, and what started the run."""

    #: The script path relative to ``base`` (``/``-separated), or the notebook file name;
    #: ``None`` when there is no script (``python -c``, interactive) or nothing is recorded.
    entrypoint: str | None
    #: The deepest folder holding all of ``files``; ``None`` when there are no files.
    base: Path | None
    #: Absolute paths of existing files, sorted, without duplicates.
    files: list[Path]
    #: The executed cells of an IPython kernel whose notebook file cannot be found.
    notebook_history: str | None


def _nothing() -> SourceCapture:
    """An empty capture; a new one each time, since ``files`` is a mutable list."""
    return SourceCapture(entrypoint=None, base=None, files=[], notebook_history=None)


def _is_file(path: str) -> bool:
    """Like ``os.path.isfile``, which already swallows the errors of odd paths."""
    return os.path.isfile(path)


def _absolute(path: str) -> Path:
    """An absolute, normalised path; symbolic links are kept as the user named them."""
    return Path(os.path.abspath(path))


def _kernel_shell() -> Any | None:
    """The IPython shell when running in a Jupyter kernel, else ``None``.

    IPython is looked up in ``sys.modules`` and never imported: importing it costs time
    and would only find a shell that the user's program has started anyway. A terminal
    IPython shell has no ``kernel`` and does not count: it has no notebook.
    """
    module = sys.modules.get("IPython")
    if module is None:
        return None
    try:
        shell = module.get_ipython()
    except Exception:
        return None
    if shell is None or not hasattr(shell, "kernel"):
        return None
    return shell


def _user_namespace(shell: Any) -> dict[str, Any]:
    namespace = getattr(shell, "user_ns", None)
    return namespace if isinstance(namespace, dict) else {}


def _notebook_file(shell: Any) -> Path | None:
    """The notebook file of the kernel, if Jupyter (or VS Code) says where it is."""
    namespace = _user_namespace(shell)
    candidates = [os.environ.get("JPY_SESSION_NAME")]
    candidates += [namespace.get(name) for name in _NOTEBOOK_VARIABLES]
    for candidate in candidates:
        if isinstance(candidate, (str, os.PathLike)):
            text = os.fspath(candidate)
            if isinstance(text, str) and text and _is_file(text):
                return _absolute(text)
    return None


def _notebook_history(shell: Any) -> str | None:
    """The executed cells (IPython's ``In`` list, whose first entry is an empty string)."""
    cells = _user_namespace(shell).get("In")
    if not isinstance(cells, (list, tuple)):
        return None
    texts = [cell.strip("\n") for cell in cells if isinstance(cell, str) and cell.strip()]
    return "\n\n".join(texts) + "\n" if texts else None


def _script(argv0: str | None) -> Path | None:
    """The entry script, when ``argv0`` names an existing file."""
    name = sys.argv[0] if argv0 is None and sys.argv else argv0
    if not isinstance(name, str) or name in _NO_SCRIPT or not _is_file(name):
        return None
    return _absolute(name)


def _expand(patterns: Sequence[str]) -> list[Path]:
    """Files matching any pattern (relative to the current folder; ``**`` recurses)."""
    found: set[Path] = set()
    for pattern in patterns:
        try:
            text = os.fspath(pattern)
        except TypeError:
            continue
        if not isinstance(text, str) or not text:
            continue
        for match in glob.glob(text, recursive=True):
            if _is_file(match):
                found.add(_absolute(match))
    return sorted(found)


def _common_base(files: Sequence[Path]) -> Path | None:
    if not files:
        return None
    try:
        return Path(os.path.commonpath([str(file.parent) for file in files]))
    except ValueError:  # files on different Windows drives
        return None


def _relative_to(path: Path, base: Path | None) -> str:
    """``path`` relative to ``base`` (possibly with ``..``), else absolute."""
    if base is None:
        return path.as_posix()
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another Windows drive
        return path.as_posix()


def _capture(source_files: str | Sequence[str] | None, argv0: str | None) -> SourceCapture:
    if source_files is not None and not isinstance(source_files, str) and len(source_files) == 0:
        return _nothing()
    # An explicit argv0 says where the entry script is: no need to look for a notebook.
    shell = _kernel_shell() if argv0 is None else None
    notebook = _notebook_file(shell) if shell is not None else None

    if source_files is None:
        if shell is not None:
            if notebook is not None:
                return SourceCapture(notebook.name, notebook.parent, [notebook], None)
            return SourceCapture(None, None, [], _notebook_history(shell))
        script = _script(argv0)
        if script is None:
            return _nothing()
        return SourceCapture(script.name, script.parent, [script], None)

    patterns = [source_files] if isinstance(source_files, str) else list(source_files)
    files = _expand(patterns)
    base = _common_base(files)
    if shell is not None:
        entrypoint = notebook.name if notebook is not None else None
    else:
        script = _script(argv0)
        entrypoint = _relative_to(script, base) if script is not None else None
    return SourceCapture(entrypoint, base, files, None)


def capture_source(source_files: str | Sequence[str] | None, *, argv0: str | None = None) -> SourceCapture:
    """Find the source files a run should record.

    ``source_files``:

    * ``None``: the entry script ``argv0`` (default ``sys.argv[0]``) if it is an existing
      file; nothing for ``python -c``, ``python -`` and the interactive interpreter. In a
      Jupyter kernel (and ``argv0`` not given) the notebook file named by the
      ``JPY_SESSION_NAME`` environment variable or the ``__session__`` variable; if it
      cannot be found, ``notebook_history`` holds the cells executed so far.
    * a glob pattern or a list of them, relative to the current folder (``**`` matches
      any number of folders; hidden files and folders are only matched when named):
      the matching files. Folders are not expanded; name their files with ``dir/**``.
      ``entrypoint`` is still the entry script (or notebook), relative to ``base``.
    * ``[]``: nothing, not even the entry point.

    Never raises: source code is worth recording, not worth failing a run for.
    """
    try:
        return _capture(source_files, argv0)
    except Exception:
        return _nothing()
