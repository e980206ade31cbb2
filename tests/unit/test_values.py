"""What a logged Python value becomes: atom types, series types, and the number checks."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from decimal import Decimal

import numpy as np
import pytest

from despina.client import field_types as ft
from despina.client.values import atom, float_point, series_type, step_of, timestamp_of
from despina.exceptions import FieldTypeError
from despina.types import File

# ---------------------------------------------------------------------------------------------- atom


@pytest.mark.parametrize(
    ("value", "expected_type", "expected_value"),
    [
        (True, ft.BOOL, True),
        (False, ft.BOOL, False),
        (0, ft.INT, 0),
        (-7, ft.INT, -7),
        (2.5, ft.FLOAT, 2.5),
        ("text", ft.STRING, "text"),
        ("", ft.STRING, ""),
    ],
)
def test_atom_infers_the_field_type(value: object, expected_type: str, expected_value: object) -> None:
    type_, normalised = atom("p", value)
    assert type_ == expected_type
    assert normalised == expected_value
    assert type(normalised) is type(expected_value)


def test_bool_is_checked_before_int() -> None:
    # bool is a subclass of int: True must stay a bool field, not become the int 1
    assert atom("p", True) == (ft.BOOL, True)
    assert atom("p", True)[1] is True


def test_datetime_atoms_keep_their_value() -> None:
    naive = datetime(2024, 5, 1, 12, 30, 15, 123456)
    aware = datetime(2024, 5, 1, 12, 30, tzinfo=timezone.utc)
    assert atom("p", naive) == (ft.DATETIME, naive)
    assert atom("p", aware) == (ft.DATETIME, aware)


@pytest.mark.parametrize(
    ("value", "expected_type", "expected_value"),
    [
        (np.bool_(True), ft.BOOL, True),
        (np.bool_(False), ft.BOOL, False),
        (np.int8(-3), ft.INT, -3),
        (np.int32(7), ft.INT, 7),
        (np.int64(2**62), ft.INT, 2**62),
        (np.uint16(65535), ft.INT, 65535),
        (np.float16(0.5), ft.FLOAT, 0.5),
        (np.float32(1.5), ft.FLOAT, 1.5),
        (np.float64(-2.25), ft.FLOAT, -2.25),
        (np.str_("hello"), ft.STRING, "hello"),
    ],
)
def test_numpy_scalars_become_plain_python_values(
    value: object, expected_type: str, expected_value: object
) -> None:
    type_, normalised = atom("p", value)
    assert type_ == expected_type
    assert normalised == expected_value
    assert type(normalised) is type(expected_value)


def test_64_bit_integer_limits() -> None:
    assert atom("p", 2**63 - 1) == (ft.INT, 2**63 - 1)
    assert atom("p", -(2**63)) == (ft.INT, -(2**63))
    for too_big in (2**63, -(2**63) - 1, 10**30, np.uint64(2**64 - 1)):
        with pytest.raises(FieldTypeError, match="stringify_unsupported") as info:
            atom("train/count", too_big)
        assert "64-bit" in str(info.value)
        assert "'train/count'" in str(info.value)


@pytest.mark.parametrize(
    "value",
    [[1, 2], (1, 2), None, object(), {1, 2}, b"bytes", Decimal("1.5"), 1 + 2j, np.array([1.0, 2.0])],
)
def test_unsupported_atoms_raise_a_type_error_pointing_to_stringify_unsupported(value: object) -> None:
    with pytest.raises(FieldTypeError, match="stringify_unsupported") as info:
        atom("params/x", value)
    assert isinstance(info.value, TypeError)
    assert "'params/x'" in str(info.value)
    assert type(value).__qualname__ in str(info.value)


def test_nan_and_infinite_atoms_stay_floats() -> None:
    type_, value = atom("p", float("nan"))
    assert type_ == ft.FLOAT and math.isnan(value)
    assert atom("p", float("inf")) == (ft.FLOAT, math.inf)
    assert atom("p", np.float32("-inf")) == (ft.FLOAT, -math.inf)


# --------------------------------------------------------------------------------------- series_type


@pytest.mark.parametrize(
    "value", [1, -3, 0.5, float("nan"), True, np.float32(1.0), np.int64(3), np.float64(2.0), np.bool_(False)]
)
def test_numbers_start_a_float_series(value: object) -> None:
    assert series_type("p", value) == ft.FLOAT_SERIES


def test_strings_start_a_string_series() -> None:
    assert series_type("p", "epoch 1 done") == ft.STRING_SERIES
    assert series_type("p", "") == ft.STRING_SERIES


def test_numpy_string_starts_a_string_series() -> None:
    # np.str_ is a str (values pulled out of a numpy or pandas array of strings); it is not a number
    value = np.array(["epoch 1 done"])[0]
    assert isinstance(value, str)
    assert series_type("p", value) == ft.STRING_SERIES


def test_files_and_images_start_a_file_series() -> None:
    assert series_type("p", File.from_content("hello", extension="txt")) == ft.FILE_SERIES
    assert series_type("p", np.zeros((4, 4), dtype=np.uint8)) == ft.FILE_SERIES


@pytest.mark.parametrize("value", [None, [1.0], (1.0,), {"a"}, object(), b"raw"])
def test_unsupported_series_points_raise(value: object) -> None:
    with pytest.raises(FieldTypeError, match="stringify_unsupported") as info:
        series_type("train/x", value)
    assert "series point" in str(info.value)


# --------------------------------------------------------------------------------------- float_point


def test_float_point_accepts_numbers() -> None:
    assert float_point("p", 3) == 3.0
    assert type(float_point("p", 3)) is float
    assert float_point("p", 0.25) == 0.25
    assert float_point("p", np.float32(0.5)) == 0.5
    assert type(float_point("p", np.int64(4))) is float
    assert float_point("p", True) == 1.0
    assert float_point("p", False) == 0.0


def test_float_point_keeps_nan_and_infinities() -> None:
    assert math.isnan(float_point("p", float("nan")))
    assert math.isnan(float_point("p", np.float64("nan")))
    assert float_point("p", float("inf")) == math.inf
    assert float_point("p", -math.inf) == -math.inf
    assert float_point("p", np.float32("inf")) == math.inf


@pytest.mark.parametrize("value", ["1.0", None, [1.0], object(), datetime(2024, 1, 1)])
def test_float_point_rejects_non_numbers(value: object) -> None:
    with pytest.raises(FieldTypeError, match="float series") as info:
        float_point("train/loss", value)
    assert "'train/loss'" in str(info.value)


# ------------------------------------------------------------------------------- step_of/timestamp_of


def test_step_of_accepts_finite_numbers() -> None:
    assert step_of("p", 3) == 3.0
    assert type(step_of("p", 3)) is float
    assert step_of("p", -1.5) == -1.5
    assert step_of("p", np.int64(10)) == 10.0
    assert step_of("p", np.float32(0.5)) == 0.5


@pytest.mark.parametrize(
    "step",
    [float("nan"), float("inf"), -math.inf, np.float64("nan"), True, "1", None, [1], datetime(2024, 1, 1)],
)
def test_step_of_rejects_non_finite_or_non_numbers(step: object) -> None:
    with pytest.raises(FieldTypeError, match="finite number") as info:
        step_of("train/loss", step)
    assert "'train/loss'" in str(info.value)


def test_timestamp_of_none_means_now_decided_by_the_caller() -> None:
    assert timestamp_of("p", None) is None


def test_timestamp_of_numbers_and_datetimes() -> None:
    assert timestamp_of("p", 1_700_000_000) == 1_700_000_000.0
    assert type(timestamp_of("p", 1_700_000_000)) is float
    assert timestamp_of("p", 1_700_000_000.25) == 1_700_000_000.25
    aware = datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=timezone.utc)
    assert timestamp_of("p", aware) == aware.timestamp()
    naive = datetime(2024, 1, 2, 3, 4, 5)
    assert timestamp_of("p", naive) == naive.timestamp()  # naive means local time


def test_timestamp_of_accepts_numpy_numbers_like_step_of_does() -> None:
    # extend(values, timestamps=np.array([...])) hands each element over as a numpy scalar
    assert timestamp_of("p", np.float64(1_700_000_000.5)) == 1_700_000_000.5
    assert timestamp_of("p", np.int64(1_700_000_000)) == 1_700_000_000.0
    assert timestamp_of("p", np.float32(2.5)) == 2.5
    assert type(timestamp_of("p", np.int64(1))) is float


@pytest.mark.parametrize("timestamp", [float("nan"), float("inf"), -math.inf, True, "2024-01-01", [1.0]])
def test_timestamp_of_rejects_non_finite_or_non_times(timestamp: object) -> None:
    with pytest.raises(FieldTypeError, match="seconds since the epoch") as info:
        timestamp_of("train/loss", timestamp)
    assert "'train/loss'" in str(info.value)
