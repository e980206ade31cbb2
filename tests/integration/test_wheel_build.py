"""The package build (hatch_build.py) through hatchling's own wheel builder: a wheel carries the web
UI, and no wheel is built without it.

The first test builds from this checkout: where its UI bundle is older than web/'s sources, the hook
rebuilds it first (npm ci and npm run build), as `pip install .` would."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

import pytest

hatchling_wheel = pytest.importorskip("hatchling.builders.wheel", reason="hatchling is not installed")

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "despina" / "server" / "static"
IN_WHEEL = "despina/server/static/"


def build_wheel(root: Path, out: Path) -> Path:
    """What `pip install .` builds: hatchling's standard wheel, with the project's build hook."""
    builder = hatchling_wheel.WheelBuilder(str(root))
    (wheel,) = builder.build(directory=str(out), versions=["standard"])
    return Path(wheel)


def test_the_wheel_carries_the_web_ui(tmp_path: Path) -> None:
    if not (STATIC / "index.html").is_file():
        pytest.fail(f"the web UI is not built ({STATIC}): pip install -e . builds it")
    names = set(zipfile.ZipFile(build_wheel(ROOT, tmp_path)).namelist())
    assert f"{IN_WHEEL}index.html" in names
    # Every script and stylesheet the page loads is in the wheel beside it.
    index = (STATIC / "index.html").read_text()
    assets = {name.removeprefix(IN_WHEEL) for name in names if name.startswith(f"{IN_WHEEL}assets/")}
    assert any(name.endswith(".js") for name in assets) and any(name.endswith(".css") for name in assets)
    linked = {part.split('"')[0].lstrip("/") for part in index.split('="/')[1:]}
    assert {name for name in linked if name.startswith("assets/")} <= assets, linked
    assert "despina/server/app.py" in names


def copy_project(to: Path, *, with_web: bool) -> Path:
    """The project's sources without a built UI (as a fresh clone has them)."""
    to.mkdir()
    for name in ("pyproject.toml", "hatch_build.py", "README.md"):
        shutil.copy(ROOT / name, to / name)
    skip = shutil.ignore_patterns("static", "__pycache__", "node_modules", "dist")
    shutil.copytree(ROOT / "src", to / "src", ignore=skip)
    if with_web:
        shutil.copytree(ROOT / "web", to / "web", ignore=skip)
    return to


def test_no_wheel_is_built_when_the_ui_cannot_be(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = copy_project(tmp_path / "project", with_web=True)
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))  # no npm on it
    with pytest.raises(RuntimeError, match=re.escape("needs Node.js 20+ and npm")):
        build_wheel(project, tmp_path / "out")
    assert not list(tmp_path.rglob("*.whl"))


def test_no_wheel_is_built_from_sources_without_the_ui(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project", with_web=False)
    with pytest.raises(RuntimeError, match=re.escape("web is missing: no package is built")):
        build_wheel(project, tmp_path / "out")
    assert not list(tmp_path.rglob("*.whl"))
