"""The plugin's configuration: `conf/<env>/despina.yml` and `despina:` in the credentials.

`conf/base/despina.yml` (written by `kedro despina init`) holds flat keys, so that a Kedro environment
overrides one of them without repeating the others (`conf/test/despina.yml` with `enabled: false`
turns tracking off for `kedro run --env test`):

    project: team/wine            # Despina project; "$DESPINA_PROJECT" reads the variable
    base_namespace: kedro         # where the run's Kedro fields go
    enabled: true                 # true/false, or "yes"/"no"/"1"/"0"
    source_files: ["**/*.py", "conf/base/*.yml"]   # globs under the project folder
    dependencies: infer           # "infer", a requirements file, or null
    url: $DESPINA_URL             # optional: a Despina server (else the embedded store)
    tags: [kedro]                 # optional: tags of every run
    name: null                    # optional: the runs' name (default: the pipeline's name)

The token lives with the other credentials (`conf/local/credentials_despina.yml`):

    despina:
      api_token: $DESPINA_API_TOKEN

Any string value beginning with `$` is the name of an environment variable; an unset variable counts as
the key not given. Unknown keys are an error that names them: a typo must not silently disable a setting.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from despina.exceptions import DespinaConfigError

CONFIG_FILE = "despina.yml"
CREDENTIALS_FILE = "credentials_despina.yml"
CREDENTIALS_KEY = "despina"
DEFAULT_NAMESPACE = "kedro"
DEFAULT_SOURCE_FILES = ("**/*.py", "conf/base/*.yml", "conf/base/**/*.yml", "pyproject.toml")

_KEYS = frozenset(
    {"project", "base_namespace", "enabled", "source_files", "dependencies", "url", "tags", "name"}
)
_CREDENTIAL_KEYS = frozenset({"api_token"})
_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})


@dataclass(frozen=True)
class KedroConfig:
    """Validated plugin settings for one Kedro session."""

    project: str | None = None
    base_namespace: str = DEFAULT_NAMESPACE
    enabled: bool = True
    source_files: tuple[str, ...] = DEFAULT_SOURCE_FILES
    dependencies: str | None = None
    url: str | None = None
    api_token: str | None = field(default=None, repr=False)
    tags: tuple[str, ...] = ()
    name: str | None = None
    # Where the settings came from, for messages ("conf/base/despina.yml", or "defaults").
    origin: str = "defaults"


def expand_env(value: Any) -> Any:
    """`$NAME` -> the variable's value (None when unset); other values unchanged, lists item by item."""
    if isinstance(value, str) and value.startswith("$") and len(value) > 1:
        return os.environ.get(value[1:].strip("{}")) or None
    if isinstance(value, (list, tuple)):
        return [expand_env(item) for item in value]
    return value


def _bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise DespinaConfigError(f"{where}: enabled must be true or false (or yes/no, 1/0), not {value!r}")


def _optional_str(key: str, value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise DespinaConfigError(f"{where}: {key} must be a string, not {type(value).__name__} {value!r}")


def _strings(key: str, value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise DespinaConfigError(f"{where}: {key} must be a string or a list of strings, not {value!r}")


def _namespace(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip("/ "):
        raise DespinaConfigError(f"{where}: base_namespace must be a non-empty field path like 'kedro'")
    segments = value.strip("/").split("/")
    if any(not part or part.strip() != part for part in segments):
        raise DespinaConfigError(f"{where}: base_namespace {value!r} has an empty or space-padded segment")
    return "/".join(segments)


def _unknown(keys: Sequence[str], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(keys) - allowed)
    if unknown:
        raise DespinaConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(sorted(allowed))}"
        )


def parse_config(
    settings: Mapping[str, Any] | None,
    credentials: Mapping[str, Any] | None = None,
    *,
    origin: str = CONFIG_FILE,
) -> KedroConfig:
    """Validate the despina.yml mapping and the `despina:` credentials entry into a KedroConfig."""
    settings = dict(settings or {})
    if not isinstance(settings, dict):
        raise DespinaConfigError(f"{origin}: expected a mapping of settings, got {type(settings).__name__}")
    _unknown(list(settings), _KEYS, origin)
    values = {key: expand_env(value) for key, value in settings.items()}
    creds = dict(credentials or {})
    _unknown(list(creds), _CREDENTIAL_KEYS, f"{CREDENTIALS_FILE} (key {CREDENTIALS_KEY!r})")
    token = _optional_str("api_token", expand_env(creds.get("api_token")), CREDENTIALS_FILE)
    source_files = values.get("source_files", DEFAULT_SOURCE_FILES)
    return KedroConfig(
        project=_optional_str("project", values.get("project"), origin),
        base_namespace=_namespace(
            DEFAULT_NAMESPACE if values.get("base_namespace") is None else values["base_namespace"], origin
        ),
        enabled=_bool(values.get("enabled", True), origin),
        source_files=() if source_files is None else _strings("source_files", source_files, origin),
        dependencies=_optional_str("dependencies", values.get("dependencies"), origin),
        url=_optional_str("url", values.get("url"), origin),
        api_token=token,
        tags=() if values.get("tags") is None else _strings("tags", values["tags"], origin),
        name=_optional_str("name", values.get("name"), origin),
        origin=origin,
    )


def config_template(project: str, base_namespace: str, env: str, dependencies: str | None) -> str:
    """The text of a new `conf/<env>/despina.yml`, commented key by key."""
    deps = "null" if dependencies is None else dependencies
    return (
        "# Despina tracking for this Kedro project: every `kedro run` is one Despina run.\n"
        "# A value beginning with $ is read from that environment variable. Override a key per Kedro\n"
        "# environment in conf/<env>/despina.yml (e.g. `enabled: false` in conf/test/despina.yml).\n"
        f"project: {project}\n"
        "# Fields of the Kedro run go under this namespace of the Despina run.\n"
        f"base_namespace: {base_namespace}\n"
        "enabled: true\n"
        "# Files stored with each run (globs under the project folder).\n"
        "source_files:\n"
        '  - "**/*.py"\n'
        f'  - "conf/{env}/*.yml"\n'
        "# Installed packages: infer, a requirements file, or null.\n"
        f"dependencies: {deps}\n"
        "# A Despina server; unset logs to the embedded store in DESPINA_HOME (./.despina).\n"
        "url: $DESPINA_URL\n"
    )


CREDENTIALS_TEMPLATE = (
    "# The API token of the Despina server named in despina.yml (keep this file out of git).\n"
    f"{CREDENTIALS_KEY}:\n"
    "  api_token: $DESPINA_API_TOKEN\n"
)
