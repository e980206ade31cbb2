"""Hatch build hook: build the web UI (web/) into the package, so no wheel ships without it.

`pip install .` and `pip install -e .` both run this before packaging: `npm ci && npm run build` in
web/, which writes the bundle to src/despina/server/static/ (git-ignored). A build that cannot make the
bundle fails with the reason, instead of producing a package whose UI is an empty page (the trap
optuna-dashboard's hook avoids the same way).

The bundle records a hash of the sources it was built from (`.build-stamp`): a later install from the
same sources (CI installs the package into several virtual environments) reuses it instead of running
npm again; any change to web/ rebuilds.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

WEB = "web"
BUNDLE = "src/despina/server/static"
INDEX = "index.html"
STAMP = ".build-stamp"
# What the bundle is built from; node_modules is what package-lock.json says.
SOURCES = (
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "tsconfig.json",
    "vite.config.ts",
)


def sources_hash(web: Path) -> str:
    """A hash of every source file of the UI (paths and contents), in a stable order."""
    digest = hashlib.sha256()
    for name in SOURCES:
        top = web / name
        files = sorted(p for p in top.rglob("*") if p.is_file()) if top.is_dir() else [top]
        for path in files:
            if path.is_file():
                digest.update(path.relative_to(web).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class WebBuildHook(BuildHookInterface):
    """Runs the web build and adds the bundle to the wheel (it is git-ignored, so listed explicitly)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        bundle = root / BUNDLE
        if self.target_name == "sdist":
            # An sdist carries web/ and builds the UI when it becomes a wheel.
            return
        web = root / WEB
        if not web.is_dir():
            raise RuntimeError(f"{web} is missing: no package is built without its web UI")
        wanted = sources_hash(web)
        stamp = bundle / STAMP
        up_to_date = (bundle / INDEX).is_file() and stamp.is_file() and stamp.read_text().strip() == wanted
        if up_to_date:
            self.app.display_info(f"web UI: the bundle in {bundle} is up to date")
        else:
            self._build(web)
            if (bundle / INDEX).is_file():
                stamp.write_text(wanted + "\n")
        if not (bundle / INDEX).is_file():
            raise RuntimeError(
                f"the web UI bundle is missing: {bundle / INDEX} was not written by `npm run build` in "
                f"{root / WEB}; a Despina package without its UI is never built"
            )
        if version != "editable":
            # Git-ignored files are left out unless forced in.
            build_data.setdefault("force_include", {})[str(bundle)] = "despina/server/static"

    def _build(self, web: Path) -> None:
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError(
                "building Despina needs Node.js 20+ and npm to build its web UI (web/); install them "
                "(e.g. `apt-get install nodejs npm`) and build again"
            )
        if not (web / "package-lock.json").is_file():
            raise RuntimeError(f"{web / 'package-lock.json'} is missing: the web UI cannot be built")
        for command in ([npm, "ci", "--no-audit", "--no-fund"], [npm, "run", "build"]):
            self.app.display_info(f"web UI: {' '.join(command[1:])} in {web}")
            result = subprocess.run(command, cwd=web, check=False)
            if result.returncode != 0:
                raise RuntimeError(
                    f"`npm {' '.join(command[1:])}` in {web} failed with exit code {result.returncode}; "
                    "the package is not built without its web UI"
                )
