"""An S3 server for tests: moto's standalone server, in a subprocess, on a free local port.

Load it as a plugin in a test module of tests/integration (one server serves every module)::

    pytest_plugins = ["s3_server"]

- `s3_endpoint` (session): the server's URL, e.g. ``http://127.0.0.1:54321``.
- `s3_credentials`: fake AWS credentials in the environment, and no AWS profile, config file or
  endpoint variable of the machine leaking in.
- `s3_bucket`: the name of a fresh, empty bucket on that server (credentials set).
- `s3_blobs_url`: ``s3://<fresh bucket>/despina?endpoint_url=...``, for `blob_store_from_url` or
  `ServerSettings.blobs_url`.

The server runs in its own process, so what it holds in memory does not count in a test's
tracemalloc figures, and every bucket name is new, so tests never see each other's objects.
"""

from __future__ import annotations

import functools
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

_START_TIMEOUT = 30.0
REGION = "us-east-1"
FAKE_KEY = "testing"  # moto accepts any credentials


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"moto_server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/moto-api/", timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"moto_server did not answer at {url} within {_START_TIMEOUT} s:\n{log.read_text()}")


def start_moto_server(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start moto's S3 server on a free port; returns the process and its URL. Retries a taken port."""
    last_error: RuntimeError | None = None
    for _ in range(3):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log, "ab") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_until_serving(process, url, log)
            return process, url
        except RuntimeError as err:  # another process took the port between probe and bind
            stop_moto_server(process)
            last_error = err
    assert last_error is not None
    raise last_error


def stop_moto_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@functools.cache
def s3_client(endpoint: str) -> Any:
    """A boto3 S3 client for the test server, to set up and inspect buckets (made once: it is slow)."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_KEY,
        aws_secret_access_key=FAKE_KEY,
        config=Config(s3={"addressing_style": "path"}),
    )


def new_bucket(endpoint: str) -> str:
    """Create an empty bucket with a name no other test uses; returns the name."""
    name = f"despina-test-{uuid.uuid4().hex[:16]}"
    s3_client(endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("moto") / "moto_server.log"
    process, url = start_moto_server(log)
    try:
        yield url
    finally:
        stop_moto_server(process)


@pytest.fixture
def s3_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    nowhere = tmp_path_factory.mktemp("no-aws-config") / "absent"
    for name in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(nowhere))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(nowhere))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def s3_bucket(s3_endpoint: str, s3_credentials: None) -> str:
    return new_bucket(s3_endpoint)


@pytest.fixture
def s3_blobs_url(s3_endpoint: str, s3_bucket: str) -> str:
    return f"s3://{s3_bucket}/despina?endpoint_url={s3_endpoint}"
