"""Blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph, Cloudflare R2, ...).

Keys under the store's prefix::

    blobs/ab/cd/abcd...     a blob, named by its sha256
    uploads/<upload_id>/3   part 3 of a resumable upload, until it is completed or aborted

S3 writes whole objects atomically, so readers never see half a blob, and concurrent writers of one
blob write the same bytes. Staged parts live in the bucket, so any server process can take the next
part of an upload. Credentials come from boto3's usual chain (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, AWS_PROFILE, an instance role, ...). Parts of abandoned uploads stay until
`abort_upload`; a bucket lifecycle rule on `<prefix>/uploads/` can expire them too.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from despina.exceptions import BlobHashMismatchError
from despina.store.blobs._io import CHUNK_SIZE, Digest, copy_stream, listed
from despina.store.blobs.base import (
    missing_parts,
    validate_part_no,
    validate_sha256,
    validate_upload_id,
)

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_MIN_COPY_PART = 5 << 20  # S3's smallest multipart part (every one but the last)
_MAX_COPY_PART = 5 << 30  # the largest object CopyObject / UploadPartCopy copies in one go
_MAX_MULTIPART_PARTS = 10_000
_COPY_WORKERS = 8  # server-side part copies run in parallel: each one moves no data through us
_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
_DELETE_BATCH = 1000  # the most keys one DeleteObjects call takes


@dataclass(frozen=True)
class _Part:
    number: int
    key: str
    size: int
    etag: str


class S3BlobStore:
    """Blobs as objects in an S3-compatible bucket, under an optional key prefix."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        """`client`: a boto3 S3 client to use; by default one is made for `endpoint_url` and `region`."""
        if not bucket:
            raise ValueError("an S3 blob store needs a bucket name")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if client is None:
            # Other S3-compatible services (MinIO, Ceph, moto) are addressed by path: their host
            # names rarely resolve with the bucket prepended.
            s3_options = {"addressing_style": "path"} if endpoint_url else {}
            config = Config(retries={"mode": "standard", "max_attempts": 5}, s3=s3_options)
            client = boto3.session.Session().client(
                "s3", endpoint_url=endpoint_url, region_name=region, config=config
            )
        self.client = client
        # A part arrives as one seekable stream: one PutObject streams it from there (up to 5 GiB);
        # past that, multipart chunks are read into memory, at most two at a time.
        self._part_transfer = TransferConfig(multipart_threshold=_MAX_COPY_PART, max_concurrency=2)
        self._part_transfer.max_in_memory_upload_chunks = 2  # s3transfer's knob; boto3 does not pass it

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    # -- keys and errors ---------------------------------------------------------------------------

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def key(self, sha256: str) -> str:
        """The object key of the blob `sha256` (whether or not it is stored)."""
        validate_sha256(sha256)
        return self._key(f"blobs/{sha256[:2]}/{sha256[2:4]}/{sha256}")

    def _upload_prefix(self, upload_id: str) -> str:
        return self._key(f"uploads/{validate_upload_id(upload_id)}/")

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    @contextmanager
    def _errors(self, action: str, key: str) -> Iterator[None]:
        """Turn boto3's errors into FileNotFoundError / OSError naming the bucket and key."""
        try:
            yield
        except ClientError as err:
            error = err.response.get("Error", {})
            code = str(error.get("Code", ""))
            if code in _NOT_FOUND:
                raise FileNotFoundError(f"no object {self._where(key)}") from err
            detail = f"{code}: {error.get('Message', '')}".rstrip(": ")
            if code == "PreconditionFailed":
                detail += " (the object changed meanwhile: was a part sent again?)"
            raise OSError(f"could not {action} {self._where(key)}: {detail}") from err
        except (BotoCoreError, Boto3Error) as err:
            raise OSError(f"could not {action} {self._where(key)}: {err}") from err

    # -- blobs -------------------------------------------------------------------------------------

    def exists(self, sha256: str) -> bool:
        try:
            self.size(sha256)
        except FileNotFoundError:
            return False
        return True

    def touch(self, sha256: str) -> None:
        """Nothing to do: Despina's garbage collection covers blob folders, not buckets (a bucket's
        own lifecycle rules apply there)."""

    def size(self, sha256: str) -> int:
        key = self.key(sha256)
        with self._errors("look up", key):
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        return int(head["ContentLength"])

    def put_file(self, source: Path, sha256: str) -> None:
        """Upload `source` (multipart when big; read from disk chunk by chunk), unless it is stored."""
        key = self.key(sha256)
        if self.exists(sha256):
            return
        with self._errors("upload to", key):
            self.client.upload_file(str(source), self.bucket, key)

    def open(self, sha256: str) -> BinaryIO:
        key = self.key(sha256)
        with self._errors("read", key):
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        return io.BufferedReader(_ObjectReader(body, self._where(key)), buffer_size=CHUNK_SIZE)

    # -- resumable uploads -------------------------------------------------------------------------

    def put_part(self, upload_id: str, part_no: int, data: BinaryIO) -> int:
        key = self._upload_prefix(upload_id) + str(validate_part_no(part_no))
        if _seekable(data):
            return self._put_seekable(key, data)
        # PutObject needs the length up front: spool a plain stream to a local temp file first.
        with tempfile.TemporaryFile(prefix="despina-part-") as spool:
            copy_stream(data, spool)
            spool.seek(0)
            return self._put_seekable(key, spool)

    def _put_seekable(self, key: str, data: BinaryIO) -> int:
        start = data.tell()
        size = data.seek(0, io.SEEK_END) - start
        data.seek(start)
        with self._errors("upload to", key):
            self.client.upload_fileobj(data, self.bucket, key, Config=self._part_transfer)
        return size

    def _staged(self, upload_id: str) -> list[_Part]:
        prefix = self._upload_prefix(upload_id)
        found: list[_Part] = []
        with self._errors("list", prefix):
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix
            ):
                for item in page.get("Contents", []):
                    name = item["Key"][len(prefix) :]
                    if name.isascii() and name.isdigit():
                        found.append(_Part(int(name), item["Key"], int(item["Size"]), item["ETag"]))
        return sorted(found, key=lambda part: part.number)

    def parts(self, upload_id: str) -> dict[int, int]:
        return {part.number: part.size for part in self._staged(upload_id)}

    def complete_upload(self, upload_id: str, sha256: str) -> int:
        target = self.key(sha256)
        staged = self._staged(upload_id)
        if not staged:
            where = self._where(self._upload_prefix(upload_id))
            raise FileNotFoundError(f"upload {upload_id} has no parts in {where}")
        missing = missing_parts([part.number for part in staged])
        if missing:
            raise ValueError(f"upload {upload_id} lacks part(s) {listed(missing)}: send them, then complete")
        size = sum(part.size for part in staged)
        if _copyable(staged):
            # Hash the parts as they are, then let S3 copy exactly those versions (pinned by ETag)
            # into the blob: the data crosses the network to us once, not twice.
            self._verify(upload_id, staged, sha256, None)
            if not self.exists(sha256):
                self._copy_parts(staged, target)
        else:
            with tempfile.TemporaryDirectory(prefix="despina-upload-") as folder:
                joined = Path(folder) / "joined"
                with open(joined, "wb") as handle:
                    self._verify(upload_id, staged, sha256, handle)
                if not self.exists(sha256):
                    with self._errors("upload to", target):
                        self.client.upload_file(str(joined), self.bucket, target)
        self.abort_upload(upload_id)
        return size

    def _verify(self, upload_id: str, staged: list[_Part], sha256: str, copy_to: BinaryIO | None) -> None:
        """Stream the parts in order through sha256 (and into `copy_to`); drop them on a mismatch."""
        digest = hashlib.sha256()
        for part in staged:
            self._read_part(part, digest, copy_to)
        if digest.hexdigest() != sha256:
            self.abort_upload(upload_id)
            size = sum(part.size for part in staged)
            raise BlobHashMismatchError(
                f"upload {upload_id} ({size} bytes in {len(staged)} part(s)) has sha256 "
                f"{digest.hexdigest()}, not {sha256}; its parts were dropped"
            )

    def _read_part(self, part: _Part, digest: Digest, copy_to: BinaryIO | None) -> None:
        with self._errors("read", part.key):
            body = self.client.get_object(Bucket=self.bucket, Key=part.key, IfMatch=part.etag)["Body"]
        with io.BufferedReader(_ObjectReader(body, self._where(part.key))) as stream:
            copy_stream(stream, copy_to, digest)

    def _copy_parts(self, staged: list[_Part], target: str) -> None:
        """Assemble the blob from the part objects inside S3 (CopyObject / UploadPartCopy)."""
        if len(staged) == 1:
            (part,) = staged
            with self._errors("copy into", target):
                self.client.copy_object(
                    Bucket=self.bucket,
                    Key=target,
                    CopySource={"Bucket": self.bucket, "Key": part.key},
                    CopySourceIfMatch=part.etag,
                )
            return
        with self._errors("start a multipart upload of", target):
            upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=target)["UploadId"]

        def copy(part: _Part) -> dict[str, Any]:
            with self._errors("copy into", target):
                result = self.client.upload_part_copy(
                    Bucket=self.bucket,
                    Key=target,
                    UploadId=upload,
                    PartNumber=part.number + 1,  # S3 numbers parts from 1
                    CopySource={"Bucket": self.bucket, "Key": part.key},
                    CopySourceIfMatch=part.etag,
                )
            return {"PartNumber": part.number + 1, "ETag": result["CopyPartResult"]["ETag"]}

        try:
            with ThreadPoolExecutor(max_workers=min(_COPY_WORKERS, len(staged))) as pool:
                copied = list(pool.map(copy, staged))
            with self._errors("complete the multipart upload of", target):
                self.client.complete_multipart_upload(
                    Bucket=self.bucket, Key=target, UploadId=upload, MultipartUpload={"Parts": copied}
                )
        except BaseException:
            # Leave no invisible, billed multipart upload behind.
            with suppress(ClientError, BotoCoreError):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=target, UploadId=upload)
            raise

    def abort_upload(self, upload_id: str) -> None:
        prefix = self._upload_prefix(upload_id)
        # Every key under the prefix goes, not only the well-named parts.
        with self._errors("list", prefix):
            keys = [
                item["Key"]
                for page in self.client.get_paginator("list_objects_v2").paginate(
                    Bucket=self.bucket, Prefix=prefix
                )
                for item in page.get("Contents", [])
            ]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            with self._errors("delete", prefix):
                result = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            if result.get("Errors"):
                first = result["Errors"][0]
                raise OSError(
                    f"could not delete {len(result['Errors'])} part(s) of upload {upload_id}, e.g. "
                    f"{self._where(first.get('Key', prefix))}: {first.get('Code')}: {first.get('Message')}"
                )


class _ObjectReader(io.RawIOBase):
    """An S3 object's body as a raw binary stream; `open` buffers it with io.BufferedReader."""

    def __init__(self, body: Any, where: str) -> None:
        super().__init__()
        self._body = body
        self._where = where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._body.read(len(view))
        except (BotoCoreError, OSError) as err:
            raise OSError(f"reading {self._where} failed: {err}") from err
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()


def _seekable(data: BinaryIO) -> bool:
    try:
        return bool(data.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _copyable(staged: list[_Part]) -> bool:
    """Whether S3 can join these parts by itself: its multipart size and count limits allow it."""
    return (
        len(staged) <= _MAX_MULTIPART_PARTS
        and all(part.size <= _MAX_COPY_PART for part in staged)
        and all(part.size >= _MIN_COPY_PART for part in staged[:-1])
    )
