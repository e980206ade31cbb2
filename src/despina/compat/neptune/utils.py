"""`neptune.utils`: `stringify_unsupported`, with Neptune 1.x's rules.

Neptune's version differs from `despina.utils.stringify_unsupported` in two places, and a script
written for Neptune relies on them: an int outside the 32-bit range becomes a float (Neptune could not
store it as an int), and a NaN or infinite float becomes the text "nan" / "inf" (Neptune could not
store it as a float). Everything the result holds is something the compatibility layer stores, so
`run["config"] = stringify_unsupported(config)` never skips a value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from despina.types import File, is_file_convertible
from despina.utils import stringify_unsupported as _despina_stringify

__all__ = ["stringify_unsupported"]

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def _numpy_scalar(value: object) -> bool:
    """A numpy scalar or 0-d array, recognised without importing numpy."""
    for cls in type(value).__mro__:
        if cls.__module__ == "numpy" and cls.__name__ == "generic":
            return True
        if cls.__module__ == "numpy" and cls.__name__ == "ndarray":
            return getattr(value, "ndim", None) == 0
    return False


def stringify_unsupported(value: Any, expand: bool = False) -> Any:
    """Return `value` in a form the run stores as it is (Neptune 1.x's rules).

    * Mappings become dicts with `str()` keys, their values converted recursively.
    * With `expand=True`, lists, tuples and sets become dicts keyed "0", "1", ... (sets in the
      order of their items' `str()`); without it they become `str(value)`.
    * bool, str and datetime are kept; an int is kept when it fits in 32 bits, else becomes a float;
      a float is kept when finite, else becomes `str(value)` ("nan", "inf", "-inf").
    * numpy scalars become the matching Python value first; Files and figures are kept (they are
      uploaded); `None` becomes "None" and anything else `str(value)`.

    >>> stringify_unsupported({"layers": [64, 32], "act": None, "seed": 2**40, "lr": float("nan")})
    {'layers': '[64, 32]', 'act': 'None', 'seed': 1099511627776.0, 'lr': 'nan'}
    """
    if isinstance(value, Mapping):
        return {str(key): stringify_unsupported(item, expand) for key, item in value.items()}
    if expand and isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else list(value)
        return {str(index): stringify_unsupported(item, expand) for index, item in enumerate(items)}
    if _numpy_scalar(value):
        value = value.item()
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        number = int(value)
        return number if INT32_MIN <= number <= INT32_MAX else float(number)
    if isinstance(value, float):
        number_f = float(value)
        return number_f if math.isfinite(number_f) else str(number_f)
    if isinstance(value, datetime):
        return value
    if isinstance(value, File) or is_file_convertible(value):
        return value
    return _despina_stringify(value)
