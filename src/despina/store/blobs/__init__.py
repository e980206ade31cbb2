"""Content-addressed file storage: a local folder or an S3-compatible bucket, chosen by URL.

Accepted forms of a blob store URL::

    /var/lib/despina/blobs            a folder (relative paths and ~ work too)
    file:///var/lib/despina/blobs     the same folder as a URL
    s3://bucket                       an S3 bucket (AWS credentials from the usual boto3 chain)
    s3://bucket/some/prefix?endpoint_url=http://minio:9000&region=eu-west-1

Without `endpoint_url`, an S3 store honours AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from despina.exceptions import BlobHashMismatchError, DespinaConfigError
from despina.store.blobs.base import BlobStore
from despina.store.blobs.local import LocalBlobStore

__all__ = ["BlobHashMismatchError", "BlobStore", "LocalBlobStore", "blob_store_from_url"]

ACCEPTED_FORMS = (
    "a folder path, file:///absolute/path, or s3://bucket[/prefix][?endpoint_url=URL&region=NAME]"
)
_S3_OPTIONS = ("endpoint_url", "region")
_URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+)://")
_ALMOST_URL = re.compile(r"(?P<scheme>s3|file):(?!//)", re.IGNORECASE)
# Bucket names per AWS's rules, plus the upper case and underscores of legacy and other services.
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9]")


def blob_store_from_url(url: str, *, environ: Mapping[str, str] | None = None) -> BlobStore:
    """The blob store a URL names (see the module docstring); `environ` defaults to os.environ.

    Raises DespinaConfigError, naming the problem and the accepted forms, for anything else.
    """
    text = url.strip()
    if not text:
        raise DespinaConfigError(f"the blob store URL is empty; give {ACCEPTED_FORMS}")
    almost = _ALMOST_URL.match(text)
    if almost:
        scheme = almost["scheme"].lower()
        raise DespinaConfigError(
            f"blob store URL {url!r} lacks '//' after '{scheme}:'; give {ACCEPTED_FORMS}"
        )
    match = _URL.match(text)
    if match is None:
        return LocalBlobStore(Path(text).expanduser())
    scheme = match["scheme"].lower()
    if scheme == "file":
        return LocalBlobStore(_file_path(url, text))
    if scheme == "s3":
        return _s3_store(url, text, os.environ if environ is None else environ)
    raise DespinaConfigError(
        f"blob store URL {url!r} has the unsupported scheme {scheme!r}; give {ACCEPTED_FORMS}"
    )


def _file_path(url: str, text: str) -> Path:
    parts = urlsplit(text)
    if parts.netloc not in ("", "localhost"):
        raise DespinaConfigError(
            f"blob store URL {url!r} names the host {parts.netloc!r}; a file:// URL is a local folder: "
            "file:///absolute/path"
        )
    if parts.query or parts.fragment:
        raise DespinaConfigError(f"blob store URL {url!r} has a query or fragment; file:// takes none")
    path = unquote(parts.path)
    if not path.startswith("/"):
        raise DespinaConfigError(f"blob store URL {url!r} has no absolute path; write file:///absolute/path")
    return Path(path)


def _s3_store(url: str, text: str, environ: Mapping[str, str]) -> BlobStore:
    parts = urlsplit(text)
    if "@" in parts.netloc:
        raise DespinaConfigError(
            f"blob store URL {url!r} carries credentials; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
            "(or any boto3 credential source) instead"
        )
    bucket = parts.netloc
    if not _BUCKET.fullmatch(bucket):
        raise DespinaConfigError(
            f"blob store URL {url!r} names no valid bucket ({bucket!r}); write s3://bucket[/prefix]"
        )
    if parts.fragment:
        raise DespinaConfigError(f"blob store URL {url!r} has a fragment; s3:// takes none")
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in _S3_OPTIONS:
            raise DespinaConfigError(
                f"blob store URL {url!r} has the unknown option {name!r}; s3:// takes "
                + ", ".join(_S3_OPTIONS)
            )
        if name in options:
            raise DespinaConfigError(f"blob store URL {url!r} gives {name!r} twice")
        if not value:
            raise DespinaConfigError(f"blob store URL {url!r} gives {name!r} no value")
        options[name] = value
    endpoint = (
        options.get("endpoint_url") or environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    )
    if endpoint:
        endpoint_parts = urlsplit(endpoint)
        if endpoint_parts.scheme not in ("http", "https") or not endpoint_parts.netloc:
            raise DespinaConfigError(
                f"the S3 endpoint {endpoint!r} (of blob store URL {url!r}) is not an http:// or https:// URL"
            )
    try:
        from despina.store.blobs.s3 import S3BlobStore
    except ImportError as err:
        raise DespinaConfigError(
            f"blob store URL {url!r} needs boto3, which is not installed: pip install 'despina[s3]'"
        ) from err
    prefix = unquote(parts.path).strip("/")
    if prefix and any(segment in ("", ".", "..") for segment in prefix.split("/")):
        raise DespinaConfigError(
            f"blob store URL {url!r} has the key prefix {prefix!r}, with an empty, '.' or '..' segment; "
            "S3 keys are not paths, so write the prefix out plainly"
        )
    return S3BlobStore(bucket, prefix=prefix, endpoint_url=endpoint or None, region=options.get("region"))
