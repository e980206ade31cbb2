"""What a Python value becomes when logged: the field type and the normalised value.

Unsupported values raise (never silently dropped), pointing to `stringify_unsupported`.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from despina.client import field_types as ft
from despina.exceptions import FieldTypeError
from despina.types import File, is_file_convertible

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_HINT = "wrap it with despina.utils.stringify_unsupported(value) to log it as text"


def unsupported(path: str, value: object, what: str = "a field") -> FieldTypeError:
    return FieldTypeError(
        f"cannot log a {type(value).__module__}.{type(value).__qualname__} value to {path!r} as {what}; "
        f"supported are int, float, bool, str, datetime, File, figures and dicts of them. To keep it, {_HINT}"
    )


def as_mapping(value: object) -> Mapping[str, Any] | None:
    """Dict-like values assign a namespace (`run["parameters"] = config`)."""
    if isinstance(value, argparse.Namespace):
        return vars(value)
    if isinstance(value, Mapping):
        return value
    return None


def _is_numpy_scalar(value: object) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0


def atom(path: str, value: object) -> tuple[str, Any]:
    """(field type, value) of an atom; raises FieldTypeError for anything else."""
    if _is_numpy_scalar(value):
        value = value.item()  # type: ignore[attr-defined]
    if isinstance(value, bool):
        return ft.BOOL, value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise FieldTypeError(
                f"{value} for {path!r} does not fit in a 64-bit integer; log float({value}) or {_HINT}"
            )
        return ft.INT, int(value)
    if isinstance(value, float):
        return ft.FLOAT, float(value)
    if isinstance(value, str):
        return ft.STRING, str(value)
    if isinstance(value, datetime):
        return ft.DATETIME, value
    raise unsupported(path, value)


def float_point(path: str, value: object) -> float:
    """A float series value (int, float, numpy number); NaN and infinities are kept."""
    if _is_numpy_scalar(value):
        value = value.item()  # type: ignore[attr-defined]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise FieldTypeError(f"{value!r} for {path!r} does not fit in a 64-bit float") from None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    raise FieldTypeError(f"{path!r} is a float series; {value!r} ({type(value).__name__}) is not a number")


def series_type(path: str, value: object) -> str:
    """The series type a first appended value decides."""
    if isinstance(value, str):  # before the numpy check: numpy.str_ is a str
        return ft.STRING_SERIES
    if _is_numpy_scalar(value) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        return ft.FLOAT_SERIES
    if isinstance(value, bool):
        return ft.FLOAT_SERIES
    if isinstance(value, str):
        return ft.STRING_SERIES
    if isinstance(value, File) or is_file_convertible(value) or type(value).__module__ == "numpy":
        return ft.FILE_SERIES
    raise unsupported(path, value, "a series point")


def timestamp_of(path: str, timestamp: object) -> float | None:
    """Seconds since the epoch from a float or a datetime."""
    if timestamp is None:
        return None
    if _is_numpy_scalar(timestamp):
        timestamp = timestamp.item()  # type: ignore[attr-defined]
    if isinstance(timestamp, datetime):
        return timestamp.timestamp()
    if isinstance(timestamp, (int, float)) and not isinstance(timestamp, bool) and math.isfinite(timestamp):
        return float(timestamp)
    raise FieldTypeError(
        f"timestamp for {path!r} must be seconds since the epoch or a datetime, not {timestamp!r}"
    )


def step_of(path: str, step: object) -> float:
    if _is_numpy_scalar(step):
        step = step.item()  # type: ignore[attr-defined]
    if isinstance(step, (int, float)) and not isinstance(step, bool) and math.isfinite(step):
        return float(step)
    raise FieldTypeError(f"step for {path!r} must be a finite number, not {step!r}")
