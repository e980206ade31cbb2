"""Field path validation and the sys/ namespace guard."""

from __future__ import annotations

import pytest

from despina.client.paths import MAX_PATH_LENGTH, check_user_writable, join_path, validate_path
from despina.exceptions import FieldPathError


@pytest.mark.parametrize(
    "path",
    [
        "loss",
        "train/loss",
        "a/b/c/d",
        "parameters/learning rate",
        "métriques/précision",
        "x" * MAX_PATH_LENGTH,
    ],
)
def test_well_formed_paths_are_returned_unchanged(path: str) -> None:
    assert validate_path(path) == path


def test_empty_path_is_rejected_with_a_hint() -> None:
    with pytest.raises(FieldPathError, match="empty"):
        validate_path("")


@pytest.mark.parametrize(
    "path",
    [
        "/train/loss",
        "train/loss/",
        "train//loss",
        "/",
        "//",
        " train/loss",
        "train/loss ",
        "train/ loss",
        "a/ /b",
    ],
)
def test_empty_or_space_padded_segments_are_rejected(path: str) -> None:
    with pytest.raises(FieldPathError, match="segment") as info:
        validate_path(path)
    assert repr(path) in str(info.value)


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1b", "\x1f"])
def test_control_characters_are_rejected(char: str) -> None:
    with pytest.raises(FieldPathError, match="control character"):
        validate_path(f"train/lo{char}ss")


def test_inner_newline_or_tab_is_rejected() -> None:
    for path in ("train/lo\nss", "train/lo\tss", "a\rb"):
        with pytest.raises(FieldPathError):
            validate_path(path)


def test_length_limit_is_inclusive() -> None:
    assert validate_path("a" * MAX_PATH_LENGTH) == "a" * MAX_PATH_LENGTH
    with pytest.raises(FieldPathError, match=str(MAX_PATH_LENGTH)) as info:
        validate_path("a" * (MAX_PATH_LENGTH + 1))
    assert str(MAX_PATH_LENGTH + 1) in str(info.value)


def test_length_limit_counts_characters_of_long_multi_segment_paths() -> None:
    path = "/".join(["abc"] * 300)  # 1199 characters, every segment valid
    assert len(path) > MAX_PATH_LENGTH
    with pytest.raises(FieldPathError, match="characters long"):
        validate_path(path)


@pytest.mark.parametrize("value", [None, 1, 1.5, b"train/loss", ["train", "loss"], ("a",)])
def test_non_str_paths_are_rejected_naming_the_type(value: object) -> None:
    with pytest.raises(FieldPathError, match=type(value).__name__):
        validate_path(value)


def test_field_path_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate_path("")


def test_join_path_validates_the_joined_result() -> None:
    assert join_path("train", "loss") == "train/loss"
    assert join_path("", "loss") == "loss"
    assert join_path("a/b", "c/d") == "a/b/c/d"
    with pytest.raises(FieldPathError):
        join_path("train", "")
    with pytest.raises(FieldPathError):
        join_path("train", "/loss")


@pytest.mark.parametrize("path", ["sys/name", "sys/description", "sys/tags"])
def test_user_may_write_name_description_and_tags(path: str) -> None:
    assert check_user_writable(path) is None


@pytest.mark.parametrize(
    "path", ["train/loss", "system/id", "sysinfo", "my/sys/state", "parameters/sys", "sys_state"]
)
def test_fields_outside_sys_are_writable(path: str) -> None:
    assert check_user_writable(path) is None


@pytest.mark.parametrize(
    "path", ["sys", "sys/state", "sys/id", "sys/creation_time", "sys/tags/extra", "sys/name/first"]
)
def test_despina_maintained_sys_fields_are_rejected(path: str) -> None:
    with pytest.raises(FieldPathError) as info:
        check_user_writable(path)
    message = str(info.value)
    assert repr(path) in message
    for allowed in ("sys/name", "sys/description", "sys/tags"):
        assert allowed in message
