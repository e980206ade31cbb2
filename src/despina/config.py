"""Every DESPINA_* environment variable, declared once and read in one place.

Values are read when a run or project starts (not at import), so tests and notebooks can change the
environment between runs.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from despina.exceptions import DespinaConfigError

MODES = ("async", "sync", "offline", "debug", "read-only")

ENV_PROJECT = "DESPINA_PROJECT"
ENV_MODE = "DESPINA_MODE"
ENV_HOME = "DESPINA_HOME"
ENV_USER = "DESPINA_USER"
ENV_URL = "DESPINA_URL"
ENV_API_TOKEN = "DESPINA_API_TOKEN"
ENV_CUSTOM_RUN_ID = "DESPINA_CUSTOM_RUN_ID"
ENV_STOP_TIMEOUT = "DESPINA_STOP_TIMEOUT"
ENV_CRASH_TIMEOUT = "DESPINA_CRASH_TIMEOUT"
ENV_PING_INTERVAL = "DESPINA_PING_INTERVAL"


# Where `despina ui` serves a home by default: the web UI's address when no server is configured.
LOCAL_UI_PORT = 8765
LOCAL_UI_URL = f"http://127.0.0.1:{LOCAL_UI_PORT}"


@dataclass(frozen=True)
class Settings:
    """The environment as Despina understands it."""

    project: str | None
    mode: str
    home: Path
    user: str
    url: str | None
    api_token: str | None
    custom_run_id: str | None
    stop_timeout: float
    crash_timeout: float  # a running run without a heartbeat for this long reads as crashed
    ping_interval: float  # how often a live run writes its heartbeat

    def web_url(self, page: str) -> str:
        """A page of the web UI (`/p/team/cassava/runs/CAS-12`): on the server runs are sent to, else
        where `despina ui` serves this home by default."""
        base = (self.url or LOCAL_UI_URL).rstrip("/")
        return base + page


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise DespinaConfigError(f"{name}={raw!r} is not a number of seconds") from None


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


def read_settings() -> Settings:
    """Read the DESPINA_* variables now."""
    mode = os.environ.get(ENV_MODE) or "async"
    if mode not in MODES:
        raise DespinaConfigError(f"{ENV_MODE}={mode!r} is not a mode; use one of {', '.join(MODES)}")
    return Settings(
        project=os.environ.get(ENV_PROJECT) or None,
        mode=mode,
        home=Path(os.environ.get(ENV_HOME) or ".despina").absolute(),
        user=os.environ.get(ENV_USER) or _os_user(),
        url=os.environ.get(ENV_URL) or None,
        api_token=os.environ.get(ENV_API_TOKEN) or None,
        custom_run_id=os.environ.get(ENV_CUSTOM_RUN_ID) or None,
        stop_timeout=_float_env(ENV_STOP_TIMEOUT, 60.0),
        crash_timeout=_float_env(ENV_CRASH_TIMEOUT, 60.0),
        ping_interval=_float_env(ENV_PING_INTERVAL, 10.0),
    )
