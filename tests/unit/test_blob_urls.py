"""blob_store_from_url: which store a blob store URL names, and what it says about a wrong one."""

from __future__ import annotations

from pathlib import Path

import pytest

from despina.exceptions import DespinaConfigError
from despina.store.blobs import LocalBlobStore, blob_store_from_url
from despina.store.blobs.s3 import S3BlobStore


@pytest.fixture(autouse=True)
def no_aws_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """boto3 reads AWS_* variables and ~/.aws itself: keep the machine's out of these tests."""
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))


def s3(url: str, environ: dict[str, str] | None = None) -> S3BlobStore:
    store = blob_store_from_url(url, environ={} if environ is None else environ)
    assert isinstance(store, S3BlobStore)
    return store


# -- folders ----------------------------------------------------------------------------------------


def test_a_plain_path_is_a_folder(tmp_path: Path) -> None:
    store = blob_store_from_url(str(tmp_path / "blobs"))
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "blobs"
    assert store.root.is_dir()


def test_a_relative_path_is_a_folder_under_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = blob_store_from_url("data/blobs")
    assert isinstance(store, LocalBlobStore)
    assert store.root.resolve() == tmp_path / "data" / "blobs"


def test_a_path_with_a_tilde_is_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    store = blob_store_from_url("~/despina-blobs")
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "despina-blobs"


@pytest.mark.parametrize("form", ["file://{path}", "file://localhost{path}", "  file://{path}  "])
def test_a_file_url_is_a_folder(tmp_path: Path, form: str) -> None:
    store = blob_store_from_url(form.format(path=tmp_path / "blobs"))
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "blobs"


def test_a_file_url_is_percent_decoded(tmp_path: Path) -> None:
    store = blob_store_from_url(f"file://{tmp_path}/my%20blobs")
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "my blobs"


# -- buckets ----------------------------------------------------------------------------------------


def test_an_s3_url_names_the_bucket() -> None:
    store = s3("s3://experiments")
    assert (store.bucket, store.prefix) == ("experiments", "")
    assert "amazonaws.com" in store.client.meta.endpoint_url


def test_an_s3_url_with_prefix_endpoint_and_region() -> None:
    store = s3("s3://team-bucket/despina/blobs/?endpoint_url=http://minio:9000&region=eu-west-1")
    assert (store.bucket, store.prefix) == ("team-bucket", "despina/blobs")
    assert store.client.meta.endpoint_url == "http://minio:9000"
    assert store.client.meta.region_name == "eu-west-1"
    assert store.key("0" * 64) == f"despina/blobs/blobs/00/00/{'0' * 64}"


def test_the_endpoint_comes_from_aws_variables_when_the_url_gives_none() -> None:
    both = {"AWS_ENDPOINT_URL": "http://general:9000", "AWS_ENDPOINT_URL_S3": "http://s3-only:9000"}
    assert s3("s3://bucket", both).client.meta.endpoint_url == "http://s3-only:9000"
    general = {"AWS_ENDPOINT_URL": "http://general:9000"}
    assert s3("s3://bucket", general).client.meta.endpoint_url == "http://general:9000"
    assert (
        s3("s3://bucket?endpoint_url=https://given:443", both).client.meta.endpoint_url == "https://given:443"
    )


def test_the_endpoint_variables_are_read_from_the_process_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://from-env:9000")
    store = blob_store_from_url("s3://bucket")
    assert isinstance(store, S3BlobStore)
    assert store.client.meta.endpoint_url == "http://from-env:9000"


# -- mistakes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("gs://bucket/prefix", "unsupported scheme 'gs'"),
        ("https://example.com/blobs", "unsupported scheme 'https'"),
        ("S3:bucket", "lacks '//' after 's3:'"),
        ("file:relative/blobs", "lacks '//' after 'file:'"),
        ("file://server/share/blobs", "host 'server'"),
        ("file:///blobs?x=1", "query or fragment"),
        ("s3://", "no valid bucket"),
        ("s3:///prefix-without-bucket", "no valid bucket"),
        ("s3://a", "no valid bucket"),
        ("s3://bucket?x", "unknown option 'x'"),
        ("s3://bucket/runs/../blobs", "'..' segment"),
        ("s3://bucket/runs//blobs", "empty, '.' or '..' segment"),
        ("s3://key:secret@bucket", "carries credentials"),
        ("s3://bucket?endpoint=http://minio:9000", "unknown option 'endpoint'"),
        ("s3://bucket?region=a&region=b", "'region' twice"),
        ("s3://bucket?region=", "'region' no value"),
        ("s3://bucket?endpoint_url=minio:9000", "not an http:// or https:// URL"),
        ("s3://bucket#top", "fragment"),
    ],
)
def test_a_wrong_url_names_the_problem(url: str, message: str) -> None:
    with pytest.raises(DespinaConfigError, match=message):
        blob_store_from_url(url, environ={})


@pytest.mark.parametrize("url", ["gs://bucket", "ftp://host/blobs"])
def test_an_unsupported_scheme_lists_the_accepted_forms(url: str) -> None:
    with pytest.raises(DespinaConfigError) as error:
        blob_store_from_url(url)
    assert "file:///" in str(error.value)
    assert "s3://bucket" in str(error.value)
