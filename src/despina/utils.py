"""Helpers for users of Despina.

:func:`stringify_unsupported` turns an arbitrary value (a config dict holding
lists, numpy scalars, ``None``, custom objects...) into something a run can log::

    run["parameters"] = stringify_unsupported(config)
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

__all__ = ["stringify_unsupported"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


def _is_numpy_scalar(value: object) -> bool:
    """A numpy scalar (``numpy.generic``) or a 0-d array, recognised without importing numpy."""
    for cls in type(value).__mro__:
        if cls.__module__ == "numpy" and cls.__name__ == "generic":
            return True
        if cls.__module__ == "numpy" and cls.__name__ == "ndarray":
            return getattr(value, "ndim", None) == 0
    return False


def stringify_unsupported(value: Any, expand: bool = False) -> Any:
    """Return ``value`` made loggable, as plain Python values.

    * ``bool``, ``int``, ``float``, ``str`` and ``datetime`` values are returned unchanged
      (subclasses are reduced to the base type); ints outside the signed 64-bit range
      become strings; NaN and infinite floats stay floats.
    * numpy scalars become the matching Python scalar (via ``.item()``).
    * Mappings become dicts with ``str()`` keys, their values converted recursively.
    * Lists, tuples, sets and frozensets become ``str(value)``; with ``expand=True`` they
      become dicts keyed ``"0"``, ``"1"``, ... with their items converted recursively
      (sets in the order of their items' ``str()``).
    * ``None`` becomes ``"None"``; anything else becomes ``str(value)``.

    Examples:

    >>> stringify_unsupported({"lr": 0.1, "layers": [64, 32], "act": None})
    {'lr': 0.1, 'layers': '[64, 32]', 'act': 'None'}
    >>> stringify_unsupported({"layers": [64, 32]}, expand=True)
    {'layers': {'0': 64, '1': 32}}
    >>> stringify_unsupported({1: 2**70})
    {'1': '1180591620717411303424'}
    >>> stringify_unsupported(float("nan"))
    nan
    """
    if isinstance(value, bool):
        return value if type(value) is bool else bool(value)
    if _is_numpy_scalar(value):
        return stringify_unsupported(value.item(), expand)
    if isinstance(value, int):
        number = value if type(value) is int else int(value)
        return number if _INT64_MIN <= number <= _INT64_MAX else str(number)
    if isinstance(value, float):
        return value if type(value) is float else float(value)
    if isinstance(value, str):
        return value if type(value) is str else str.__str__(value)
    if isinstance(value, datetime.datetime):
        return value
    if value is None:
        return "None"
    if isinstance(value, Mapping):
        return {str(key): stringify_unsupported(item, expand) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        if not expand:
            return str(value)
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return {str(index): stringify_unsupported(item, expand) for index, item in enumerate(items)}
    return str(value)
