from __future__ import annotations

import datetime
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from despina.utils import stringify_unsupported

SRC_DIR = Path(__file__).resolve().parents[2] / "src"


class Custom:
    def __str__(self) -> str:
        return "<custom thing>"


def test_supported_scalars_pass_through() -> None:
    now = datetime.datetime(2024, 5, 1, 12, 30)
    for value in (True, False, 0, -7, 3.25, "text", now):
        result = stringify_unsupported(value)
        assert result == value
        assert type(result) is type(value)


def test_nan_and_inf_stay_floats() -> None:
    assert math.isnan(stringify_unsupported(float("nan")))
    assert stringify_unsupported(float("inf")) == float("inf")
    assert stringify_unsupported(float("-inf")) == float("-inf")


def test_big_ints_become_strings() -> None:
    assert stringify_unsupported(2**63 - 1) == 2**63 - 1
    assert stringify_unsupported(-(2**63)) == -(2**63)
    assert stringify_unsupported(2**63) == str(2**63)
    assert stringify_unsupported(-(2**63) - 1) == str(-(2**63) - 1)


def test_none_becomes_string() -> None:
    assert stringify_unsupported(None) == "None"


def test_numpy_scalars_become_python_scalars() -> None:
    cases = [
        (np.float64(1.5), 1.5, float),
        (np.float32(0.25), 0.25, float),
        (np.int64(42), 42, int),
        (np.int8(-3), -3, int),
        (np.bool_(True), True, bool),
        (np.str_("abc"), "abc", str),
    ]
    for value, expected, expected_type in cases:
        result = stringify_unsupported(value)
        assert result == expected
        assert type(result) is expected_type
    assert stringify_unsupported(np.uint64(2**64 - 1)) == str(2**64 - 1)
    assert math.isnan(stringify_unsupported(np.float64("nan")))


def test_custom_object_becomes_its_str() -> None:
    assert stringify_unsupported(Custom()) == "<custom thing>"
    assert stringify_unsupported(b"raw") == "b'raw'"
    assert stringify_unsupported(1 + 2j) == "(1+2j)"


def test_nested_dict_without_expand() -> None:
    config = {
        "lr": 0.001,
        "layers": [64, 32],
        "shape": (3, 224, 224),
        "optimizer": {"name": "adam", "betas": (0.9, 0.999), "eps": None},
        1: Custom(),
    }
    assert stringify_unsupported(config) == {
        "lr": 0.001,
        "layers": "[64, 32]",
        "shape": "(3, 224, 224)",
        "optimizer": {"name": "adam", "betas": "(0.9, 0.999)", "eps": "None"},
        "1": "<custom thing>",
    }


def test_nested_dict_with_expand() -> None:
    config = {
        "layers": [64, {"units": np.int64(32), "act": None}],
        "tags": {"b", "a", "c"},
        "empty": [],
        "pair": (1.5, "x"),
    }
    assert stringify_unsupported(config, expand=True) == {
        "layers": {"0": 64, "1": {"units": 32, "act": "None"}},
        "tags": {"0": "a", "1": "b", "2": "c"},
        "empty": {},
        "pair": {"0": 1.5, "1": "x"},
    }


def test_top_level_sequences() -> None:
    assert stringify_unsupported([1, 2]) == "[1, 2]"
    assert stringify_unsupported([1, [2, 3]], expand=True) == {"0": 1, "1": {"0": 2, "1": 3}}
    assert stringify_unsupported(frozenset({3, 1, 2}), expand=True) == {"0": 1, "1": 2, "2": 3}


def test_result_is_plain_python() -> None:
    result = stringify_unsupported({"a": np.float32(1.0), "b": [np.int16(2)]}, expand=True)
    assert type(result["a"]) is float
    assert type(result["b"]["0"]) is int


def test_importing_utils_does_not_import_pandas() -> None:
    code = "import sys, despina.utils\nassert 'pandas' not in sys.modules\n"
    env = {**os.environ, "PYTHONPATH": str(SRC_DIR)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
