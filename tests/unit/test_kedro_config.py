"""The Kedro plugin's configuration: validation, `$VARIABLE` values, and what `kedro despina init` writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from despina.exceptions import DespinaConfigError
from despina.integrations.kedro.config import DEFAULT_SOURCE_FILES, parse_config


def test_defaults_and_values() -> None:
    config = parse_config({"project": "team/wine"})
    assert config.project == "team/wine"
    assert config.base_namespace == "kedro"
    assert config.enabled is True
    assert config.source_files == DEFAULT_SOURCE_FILES
    config = parse_config(
        {"project": "t/p", "base_namespace": "/pipelines/kedro/", "enabled": "no", "source_files": "src/*.py"}
    )
    assert (config.base_namespace, config.enabled, config.source_files) == (
        "pipelines/kedro",
        False,
        ("src/*.py",),
    )


def test_unknown_keys_are_named() -> None:
    with pytest.raises(DespinaConfigError, match=r"unknown key\(s\) enable, projetc"):
        parse_config({"projetc": "t/p", "enable": False})
    with pytest.raises(DespinaConfigError, match=r"credentials_despina.yml.*unknown key\(s\) token"):
        parse_config({"project": "t/p"}, {"token": "x"})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"enabled": "maybe"}, "enabled must be true or false"),
        ({"base_namespace": ""}, "base_namespace must be a non-empty field path"),
        ({"base_namespace": "a//b"}, "empty or space-padded segment"),
        ({"source_files": [1, 2]}, "source_files must be a string or a list of strings"),
        ({"project": 12}, "project must be a string"),
    ],
)
def test_bad_values_say_which_key(settings: dict[str, object], message: str) -> None:
    with pytest.raises(DespinaConfigError, match=message):
        parse_config(settings)


def test_dollar_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WINE_PROJECT", "team/from-env")
    monkeypatch.setenv("WINE_TRACKING", "false")
    monkeypatch.setenv("WINE_TOKEN", "dsp_secret")
    monkeypatch.delenv("UNSET_URL", raising=False)
    config = parse_config(
        {"project": "$WINE_PROJECT", "enabled": "$WINE_TRACKING", "url": "$UNSET_URL"},
        {"api_token": "$WINE_TOKEN"},
    )
    assert (config.project, config.enabled, config.url, config.api_token) == (
        "team/from-env",
        False,
        None,
        "dsp_secret",
    )
    assert "dsp_secret" not in repr(config)


def test_init_writes_files_that_load(tmp_path: Path) -> None:
    from despina.integrations.kedro.cli import write_config

    written = write_config(tmp_path, project="team/wine", base_namespace="pipe", dependencies="infer")
    assert [(p.relative_to(tmp_path).as_posix(), w) for p, w in written] == [
        ("conf/base/despina.yml", True),
        ("conf/local/credentials_despina.yml", True),
    ]
    config = parse_config(yaml.safe_load((tmp_path / "conf/base/despina.yml").read_text()))
    assert (config.project, config.base_namespace, config.dependencies) == ("team/wine", "pipe", "infer")
    credentials = yaml.safe_load((tmp_path / "conf/local/credentials_despina.yml").read_text())
    assert credentials == {"despina": {"api_token": "$DESPINA_API_TOKEN"}}
    (tmp_path / "conf/base/despina.yml").write_text("project: mine/kept\n")
    again = write_config(tmp_path, project="team/other")
    assert [w for _, w in again] == [False, False]
    assert (tmp_path / "conf/base/despina.yml").read_text() == "project: mine/kept\n"
