"""Tracked files beyond a laptop folder: an S3 prefix (moto's standalone server), and a Despina server
(the diff over HTTP, the file list through the API, upload progress)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from server_harness import server_with_user

import despina
from despina.backends.http import HttpBackend
from despina.client.artifact_manifest import S3_ETAG, S3_MULTIPART_ETAG
from despina.client.data_diff import diff_data
from despina.exceptions import TrackedFilesError
from despina.store.base import RunCreate

pytest_plugins = ["s3_server"]

PROJECT = "team/cassava"
QUIET = {"capture_hardware_metrics": False, "capture_stdout": False, "capture_stderr": False}


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DESPINA_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DESPINA_PROJECT", PROJECT)
    for name in ("MODE", "CUSTOM_RUN_ID", "URL", "API_TOKEN", "STOP_TIMEOUT"):
        monkeypatch.delenv(f"DESPINA_{name}", raising=False)
    return tmp_path / "home"


def test_an_s3_prefix_is_tracked_by_etag_without_downloading_and_read_back(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    from s3_server import s3_client

    client = s3_client(s3_endpoint)
    for key, body in {
        "data/train/a.csv": b"1,2\n",
        "data/train/sub/b.csv": b"3\n",
        "data/train2/x": b"x",
    }.items():
        client.put_object(Bucket=s3_bucket, Key=key, Body=body)
    location = f"s3://{s3_bucket}/data/train?endpoint_url={s3_endpoint}"
    with despina.init_run(**QUIET) as run:
        job = run["datasets/train"].track_files(location, wait=True)
        files = run["datasets/train"].fetch_files_list()
        assert [(f.path, f.size, f.hash, f.hash_type) for f in files] == [
            ("a.csv", 4, hashlib.md5(b"1,2\n").hexdigest(), S3_ETAG),  # not data/train2: another prefix
            ("sub/b.csv", 2, hashlib.md5(b"3\n").hexdigest(), S3_ETAG),
        ]
        assert files[0].location == f"s3://{s3_bucket}/data/train/a.csv?endpoint_url={s3_endpoint}"
        assert run["datasets/train"].track_files(location, wait=True).changed is False
        out = run["datasets/train"].download(tmp_path / "out")
        assert (out / "sub" / "b.csv").read_bytes() == b"3\n"

        # A multipart upload's ETag is noted as not a content hash.
        upload = client.create_multipart_upload(Bucket=s3_bucket, Key="data/train/big.bin")
        part = client.upload_part(
            Bucket=s3_bucket,
            Key="data/train/big.bin",
            UploadId=upload["UploadId"],
            PartNumber=1,
            Body=b"z" * 10,
        )
        client.complete_multipart_upload(
            Bucket=s3_bucket,
            Key="data/train/big.bin",
            UploadId=upload["UploadId"],
            MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
        )
        client.delete_object(Bucket=s3_bucket, Key="data/train/sub/b.csv")
        second = run["datasets/train"].track_files(location, wait=True)
        assert second.changed and job.artifact is not None and second.artifact is not None
        assert second.artifact.hash != job.artifact.hash
        big = [f for f in run["datasets/train"].fetch_files_list() if f.path == "big.bin"]
        assert big[0].hash_type == S3_MULTIPART_ETAG and not big[0].is_content_hash
        # Downloading the first version names the object that is gone.
        run["old"].track_files(location, wait=True)
        client.delete_object(Bucket=s3_bucket, Key="data/train/a.csv")
        with pytest.raises(TrackedFilesError, match=r"no longer exist.*data/train/a\.csv"):
            run["old"].download(tmp_path / "out2")


def test_a_bucket_that_cannot_be_listed_gives_a_clear_error(s3_endpoint: str, s3_credentials: None) -> None:
    with despina.init_run(**QUIET) as run:
        location = f"s3://no-such-bucket-here/x?endpoint_url={s3_endpoint}"
        with pytest.raises(TrackedFilesError, match="NoSuchBucket"):
            run["d"].track_files(location, wait=True)
        with pytest.raises(TrackedFilesError, match="no objects under"):
            run["d"].track_files(f"s3://{_empty_bucket(s3_endpoint)}/x?endpoint_url={s3_endpoint}", wait=True)
        run["after"] = 1
    assert run["after"].fetch() == 1


def _empty_bucket(endpoint: str) -> str:
    from s3_server import new_bucket

    return new_bucket(endpoint)


# -- through a Despina server ----------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, str]]:
    with server_with_user(tmp_path, "li", contributes_to=[PROJECT]) as (url, token, _):
        monkeypatch.setenv("DESPINA_URL", url)
        monkeypatch.setenv("DESPINA_API_TOKEN", token)
        yield url, token


def test_tracked_files_through_a_server_and_the_diff_over_http(
    server: tuple[str, str], tmp_path: Path
) -> None:
    url, token = server
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("1")
    (data / "b.csv").write_text("2")
    ids = []
    for content in ("2", "22"):
        (data / "b.csv").write_text(content)
        with despina.init_run(**QUIET) as run:
            run["datasets/train"].track_files(data, wait=True)
            assert [f.path for f in run["datasets/train"].fetch_files_list()] == ["a.csv", "b.csv"]
            ids.append(run.id)
    a, b = ids
    answer = httpx.get(
        f"{url}/api/v1/projects/team/cassava/data-diff",
        params={"run_a": a, "run_b": b, "field": "datasets/train"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 200, answer.text
    (field,) = answer.json()["fields"]
    assert [(c["a"]["size"], c["b"]["size"]) for c in field["changed"]] == [(1, 2)] and field[
        "unchanged"
    ] == 1
    assert [d.path for d in diff_data(a, b)] == ["datasets/train"]  # the Python API, through the server
    missing = httpx.get(
        f"{url}/api/v1/projects/team/cassava/data-diff",
        params={"run_a": a, "run_b": b, "field": "nope"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


def test_a_large_upload_reports_progress_per_part_and_resumes_from_what_arrived(
    server: tuple[str, str], tmp_path: Path
) -> None:
    url, token = server
    content = os.urandom(17 << 20)  # three 8 MiB parts; the threshold is lowered from 1 GB
    source = tmp_path / "weights.bin"
    source.write_bytes(content)
    sha = hashlib.sha256(content).hexdigest()
    backend = HttpBackend(url, token)
    backend.create_run(RunCreate(project=PROJECT, owner="li"))
    reports: list[tuple[int, int]] = []
    backend.progress_threshold = 1 << 20
    backend.upload_progress = lambda _sha, sent, size: reports.append((sent, size))
    backend.upload_blob(PROJECT, source, sha)
    size = len(content)
    assert reports == [(8 << 20, size), (16 << 20, size), (size, size)]
    reports.clear()
    backend.upload_blob(PROJECT, source, sha)  # already there: nothing is sent again
    assert reports == []
