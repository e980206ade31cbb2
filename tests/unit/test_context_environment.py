"""environment_fields describes the interpreter and machine; the dependency helpers list packages."""

from __future__ import annotations

import getpass
import importlib.metadata
import os
import platform
import shlex
import socket
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy
import pytest

from despina.context import dependencies
from despina.context.dependencies import installed_requirements, read_requirements
from despina.context.environment import environment_fields

EXPECTED_KEYS = [
    "python_version",
    "python_implementation",
    "platform",
    "cpu_count",
    "total_memory_gb",
    "command_line",
    "hostname",
    "pid",
    "user",
]


def test_fields_have_the_documented_keys_and_types() -> None:
    fields = environment_fields()
    if sys.platform.startswith("linux"):
        assert list(fields) == EXPECTED_KEYS
    for key in ("python_version", "python_implementation", "platform", "command_line", "hostname", "user"):
        assert isinstance(fields[key], str) and fields[key], key
    for key in ("cpu_count", "pid"):
        assert type(fields[key]) is int, key
    assert fields["cpu_count"] == (os.cpu_count() or 0)


def test_fields_describe_this_process() -> None:
    fields = environment_fields()
    assert fields["python_version"] == platform.python_version()
    assert fields["python_implementation"] == platform.python_implementation()
    assert fields["platform"] == platform.platform()
    assert fields["pid"] == os.getpid()
    assert fields["hostname"] == socket.gethostname()


@pytest.mark.skipif(not hasattr(os, "sysconf"), reason="os.sysconf is POSIX only")
def test_total_memory_in_gib_rounded() -> None:
    memory = environment_fields()["total_memory_gb"]
    assert isinstance(memory, float)
    expected = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1024**3
    assert memory == round(expected, 2)
    assert memory > 0.1


def test_memory_is_left_out_when_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_sysconf(name: str) -> int:
        raise ValueError(name)

    monkeypatch.setattr(os, "sysconf", no_sysconf, raising=False)
    monkeypatch.setitem(sys.modules, "psutil", None)  # makes `import psutil` fail
    assert "total_memory_gb" not in environment_fields()


def test_memory_falls_back_to_psutil(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sysconf", raising=False)
    fake = SimpleNamespace(virtual_memory=lambda: SimpleNamespace(total=3 * 1024**3 + 1024**3 // 4))
    monkeypatch.setitem(sys.modules, "psutil", fake)
    assert environment_fields()["total_memory_gb"] == 3.25


def test_command_line_can_be_pasted_into_a_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["train.py", "--name", "my run", "--tag=it's"])
    command = environment_fields()["command_line"]
    assert command == shlex.join([sys.executable, "train.py", "--name", "my run", "--tag=it's"])
    assert isinstance(command, str)
    assert shlex.split(command) == [sys.executable, "train.py", "--name", "my run", "--tag=it's"]


def test_user_without_a_name_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_user() -> str:
        raise OSError("no passwd entry for uid 1234")

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert environment_fields()["user"] == "unknown"


def test_user_is_the_login_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "ada")
    assert environment_fields()["user"] == "ada"


def test_requirements_list_numpy_with_its_version() -> None:
    lines = installed_requirements().splitlines()
    assert f"numpy=={numpy.__version__}" in lines


def test_requirements_are_sorted_unique_and_end_with_a_newline() -> None:
    text = installed_requirements()
    assert text.endswith("\n")
    lines = text.splitlines()
    names = [dependencies._normalise(line.partition("==")[0]) for line in lines]
    assert names == sorted(names)
    assert len(names) == len(set(names))
    assert all(line.count("==") == 1 and line.partition("==")[2] for line in lines)


def fake_distribution(name: str | None, version: str) -> SimpleNamespace:
    return SimpleNamespace(metadata={"Name": name} if name is not None else {}, version=version)


def test_requirements_first_duplicate_wins_and_broken_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    fakes = [
        fake_distribution("Zeta.Pkg", "2.0"),
        fake_distribution("Foo_Bar", "1.0"),
        fake_distribution(None, "9.9"),
        fake_distribution("foo-bar", "0.5"),
        fake_distribution("alpha", "3.1"),
    ]
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: iter(fakes))
    assert installed_requirements() == "alpha==3.1\nFoo_Bar==1.0\nZeta.Pkg==2.0\n"


def test_requirements_never_raise(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise OSError("unreadable site-packages")

    monkeypatch.setattr(importlib.metadata, "distributions", broken)
    assert installed_requirements() == ""


def test_read_requirements_returns_the_bytes(tmp_path: Path) -> None:
    path = tmp_path / "requirements.txt"
    content = b"numpy>=1.26\n# d\xc3\xa9pendances\n"
    path.write_bytes(content)
    assert read_requirements(path) == content
    assert read_requirements(str(path)) == content


def test_read_requirements_names_the_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "reqs" / "missing.txt"
    with pytest.raises(FileNotFoundError, match=r"missing\.txt") as caught:
        read_requirements(missing)
    assert caught.value.filename == str(missing)
    assert str(missing) in str(caught.value)
