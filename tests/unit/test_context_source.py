"""capture_source finds the entry script, globbed files, or the notebook, and never raises."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from despina.context.source import SourceCapture, capture_source


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small project, made the current folder, with the entry script ``train.py``."""
    root = tmp_path / "project"
    for name in (
        "train.py",
        "config.yaml",
        "utils/helpers.py",
        "utils/deep/more.py",
        ".hidden/secret.py",
    ):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# {name}\n")
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, "argv", [str(root / "train.py"), "--lr", "0.1"])
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    return root


def test_default_is_the_entry_script(project: Path) -> None:
    captured = capture_source(None)
    assert captured == SourceCapture(
        entrypoint="train.py", base=project, files=[project / "train.py"], notebook_history=None
    )


def test_relative_argv0_becomes_absolute(project: Path) -> None:
    captured = capture_source(None, argv0="utils/helpers.py")
    assert captured.entrypoint == "helpers.py"
    assert captured.base == project / "utils"
    assert captured.files == [project / "utils" / "helpers.py"]
    assert all(path.is_absolute() for path in captured.files)


def test_script_without_py_suffix_is_captured(project: Path) -> None:
    captured = capture_source(None, argv0="config.yaml")
    assert captured.files == [project / "config.yaml"]
    assert captured.entrypoint == "config.yaml"


@pytest.mark.parametrize("argv0", ["-c", "-", "", "missing.py", "utils"])
def test_no_script_file_captures_nothing(project: Path, argv0: str) -> None:
    assert capture_source(None, argv0=argv0) == SourceCapture(None, None, [], None)


def test_python_c_through_sys_argv(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["-c"])
    assert capture_source(None) == SourceCapture(None, None, [], None)


def test_recursive_glob(project: Path) -> None:
    captured = capture_source("**/*.py")
    assert captured.files == [
        project / "train.py",
        project / "utils" / "deep" / "more.py",
        project / "utils" / "helpers.py",
    ]
    assert captured.base == project
    assert captured.entrypoint == "train.py"
    assert captured.notebook_history is None


def test_list_of_globs_is_deduplicated_and_sorted(project: Path) -> None:
    captured = capture_source(["utils/*.py", "*.py", "train.py", "utils/../train.py", "*.yaml"])
    assert captured.files == [project / "config.yaml", project / "train.py", project / "utils" / "helpers.py"]


def test_base_is_the_common_folder_and_entrypoint_relative_to_it(project: Path) -> None:
    captured = capture_source("utils/**/*.py")
    assert captured.base == project / "utils"
    assert captured.files == [project / "utils" / "deep" / "more.py", project / "utils" / "helpers.py"]
    assert captured.entrypoint == "../train.py"


def test_hidden_files_only_when_named(project: Path) -> None:
    assert project / ".hidden" / "secret.py" not in capture_source("**/*.py").files
    assert capture_source(".hidden/*.py").files == [project / ".hidden" / "secret.py"]


def test_folders_are_not_files(project: Path) -> None:
    captured = capture_source(["utils", "utils/deep"])
    assert captured.files == []
    assert captured.base is None


def test_glob_matching_nothing(project: Path) -> None:
    captured = capture_source("*.ipynb")
    assert captured.files == []
    assert captured.base is None
    assert captured.entrypoint == (project / "train.py").as_posix()


def test_empty_list_captures_nothing_at_all(project: Path) -> None:
    assert capture_source([]) == SourceCapture(None, None, [], None)
    assert capture_source((), argv0=str(project / "train.py")) == SourceCapture(None, None, [], None)


def test_empty_results_are_independent(project: Path) -> None:
    first = capture_source([])
    first.files.append(project / "train.py")
    assert capture_source([]).files == []


def test_bad_input_does_not_raise(project: Path) -> None:
    weird: Any = [None, 3, "\x00bad", "train.py"]
    assert capture_source(weird).files == [project / "train.py"]
    assert capture_source(None, argv0="\x00bad") == SourceCapture(None, None, [], None)


class FakeShell:
    def __init__(self, user_ns: dict[str, Any], kernel: bool = True) -> None:
        self.user_ns = user_ns
        if kernel:
            self.kernel = object()


def install_ipython(monkeypatch: pytest.MonkeyPatch, shell: object) -> None:
    module = types.ModuleType("IPython")
    module.get_ipython = lambda: shell  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", module)


def kernel_argv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A kernel's argv[0] is the ipykernel launcher: an existing file that must not be taken."""
    launcher = tmp_path / "ipykernel_launcher.py"
    launcher.write_text("")
    monkeypatch.setattr(sys, "argv", [str(launcher), "-f", "kernel.json"])


def test_notebook_from_jpy_session_name(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = project / "analysis.ipynb"
    notebook.write_text("{}")
    kernel_argv(monkeypatch, project)
    install_ipython(monkeypatch, FakeShell({"In": ["", "x = 1"]}))
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))
    assert capture_source(None) == SourceCapture("analysis.ipynb", project, [notebook], None)


def test_notebook_from_session_variable(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = project / "nb" / "explore.ipynb"
    notebook.parent.mkdir()
    notebook.write_text("{}")
    kernel_argv(monkeypatch, project)
    install_ipython(monkeypatch, FakeShell({"__session__": "nb/explore.ipynb"}))
    monkeypatch.setenv("JPY_SESSION_NAME", str(project / "gone.ipynb"))
    captured = capture_source(None)
    assert captured.entrypoint == "explore.ipynb"
    assert captured.files == [notebook]
    assert captured.base == notebook.parent


def test_notebook_history_when_the_file_is_not_found(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kernel_argv(monkeypatch, project)
    history = ["", "import math\n", "x = math.pi\nprint(x)", "  "]
    install_ipython(monkeypatch, FakeShell({"In": history, "__session__": "untitled.ipynb"}))
    monkeypatch.setenv("JPY_SESSION_NAME", "missing.ipynb")
    captured = capture_source(None)
    assert captured.notebook_history == "import math\n\nx = math.pi\nprint(x)\n"
    assert captured.files == []
    assert captured.entrypoint is None
    assert captured.base is None


def test_globs_in_a_kernel_keep_the_notebook_as_entrypoint(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notebook = project / "analysis.ipynb"
    notebook.write_text("{}")
    kernel_argv(monkeypatch, project)
    install_ipython(monkeypatch, FakeShell({"In": ["", "x = 1"]}))
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))
    captured = capture_source("utils/*.py")
    helpers = project / "utils" / "helpers.py"
    assert captured == SourceCapture("analysis.ipynb", project / "utils", [helpers], None)


def test_terminal_ipython_is_not_a_notebook(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_ipython(monkeypatch, FakeShell({"In": ["", "x = 1"]}, kernel=False))
    assert capture_source(None).files == [project / "train.py"]


def test_ipython_imported_but_no_shell(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install_ipython(monkeypatch, None)
    assert capture_source(None).files == [project / "train.py"]


def test_broken_get_ipython_does_not_raise(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("IPython")

    def get_ipython() -> None:
        raise RuntimeError("broken")

    module.get_ipython = get_ipython  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", module)
    assert capture_source(None).files == [project / "train.py"]


class ImportRecorder(importlib.abc.MetaPathFinder):
    def __init__(self) -> None:
        self.asked: list[str] = []

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        self.asked.append(fullname)
        return None


def test_ipython_is_never_imported(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = ImportRecorder()
    monkeypatch.setattr(sys, "meta_path", [recorder, *sys.meta_path])
    for source_files in (None, "**/*.py"):
        capture_source(source_files)
    assert not any(name.split(".")[0] == "IPython" for name in recorder.asked)
    assert "IPython" not in sys.modules
