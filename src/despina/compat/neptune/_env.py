"""What the compatibility layer shares: NEPTUNE_* variables next to DESPINA_* ones, Neptune's argument
checks, and warnings that name the user's line and come once per field."""

from __future__ import annotations

import os
import sys
import threading
import warnings
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

from despina.compat.neptune.exceptions import NeptunePossibleLegacyUsageException

# DESPINA_* first: a machine configured for Despina keeps its settings whatever the script's habits.
PROJECT_VARIABLES = ("DESPINA_PROJECT", "NEPTUNE_PROJECT")
MODE_VARIABLES = ("DESPINA_MODE", "NEPTUNE_MODE")
CUSTOM_RUN_ID_VARIABLES = ("DESPINA_CUSTOM_RUN_ID", "NEPTUNE_CUSTOM_RUN_ID")
MONITORING_NAMESPACE_VARIABLES = ("NEPTUNE_MONITORING_NAMESPACE",)

# Neptune put offline runs without a project here; Despina keeps a given project for `despina sync`.
OFFLINE_PROJECT = "offline/project-placeholder"

_LEGACY_KWARGS = ("project_qualified_name", "backend")


def from_env(names: Iterable[str]) -> str | None:
    """The first of `names` set to a non-empty value."""
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


def reject_extra_kwargs(
    caller: str, kwargs: Mapping[str, Any], hints: Mapping[str, str] | None = None
) -> None:
    """Neptune's rule for keywords it does not know: TypeError (a 0.x keyword says so)."""
    for name in _LEGACY_KWARGS:
        if name in kwargs:
            raise NeptunePossibleLegacyUsageException(
                f"{caller}() got {name!r}, a keyword of the legacy neptune-client 0.x API; "
                "this is the neptune 1.x API (init_run(project=..., with_id=...))"
            )
    if kwargs:
        first = next(iter(kwargs))
        hint = (hints or {}).get(first, "")
        raise TypeError(f"{caller}() got an unexpected keyword argument {first!r}{hint}")


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def verify_type(name: str, value: object, types: type | tuple[type, ...]) -> None:
    """Neptune's argument check: `TypeError("<name> must be a <types> (was <type>)")`."""
    expected = types if isinstance(types, tuple) else (types,)
    if not isinstance(value, expected):
        raise TypeError(f"{name} must be a {_type_names(expected)} (was {type(value).__name__})")


def verify_number(name: str, value: object) -> None:
    """An int or float that is not a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a int or float (was {type(value).__name__})")


def verify_strings(name: str, value: object) -> None:
    """None, a str, or a collection of str (tags, source_files)."""
    if value is None or isinstance(value, str):
        return
    if not isinstance(value, Iterable):
        raise TypeError(f"{name} must be a str or a list of str (was {type(value).__name__})")
    for item in value:
        if not isinstance(item, str):
            raise TypeError(f"{name} must be a list of str (it holds a {type(item).__name__})")


def user_stacklevel() -> int:
    """The `stacklevel`, for `warnings.warn` called by the caller of this function, that makes a warning
    point at the first frame outside Despina: the user's line
    (or the library, such as Optuna, calling into Despina), however deep the call went."""
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and str(frame.f_globals.get("__name__", "")).startswith("despina."):
        frame = frame.f_back
        level += 1
    return level


_warned: weakref.WeakKeyDictionary[object, set[str]] = weakref.WeakKeyDictionary()
_warned_lock = threading.Lock()


def warn_once(owner: object, key: str, message: str, category: type[Warning]) -> None:
    """Warn unless `owner` (a run) already warned under `key` (a field path): one warning per field,
    not one per training step."""
    with _warned_lock:
        seen = _warned.get(owner)
        if seen is None:
            seen = _warned[owner] = set()
        if key in seen:
            return
        seen.add(key)
    warnings.warn(message, category, stacklevel=user_stacklevel())
