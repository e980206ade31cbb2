"""Where tracked files live: listing and hashing them (local files, folders and globs; S3 prefixes), and
fetching them back for `download`.

Nothing here uploads anything. Local files are hashed with sha256 (a cache skips files whose path, size
and modification time are unchanged); S3 objects are not read at all: their ETag stands for the hash.
S3 locations take the blob store's URL form, `s3://bucket/prefix[?endpoint_url=URL&region=NAME]`, and
its credentials (boto3's chain: AWS_ACCESS_KEY_ID, AWS_PROFILE, ...); the endpoint may also come from
AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or Neptune's S3_ENDPOINT_URL.
"""

from __future__ import annotations

import glob
import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from despina.client.artifact_manifest import (
    S3_ETAG,
    S3_MULTIPART_ETAG,
    SHA256,
    ArtifactFile,
    Manifest,
)
from despina.client.hash_cache import HashCache
from despina.exceptions import DespinaConfigError, TrackedFilesError

_CHUNK = 1 << 20
_HASH_WORKERS = 4  # hashlib releases the GIL on large buffers; more threads than this only queue on disk
_SHOWN = 10  # files named in an error message before "and N more"


@dataclass
class Progress:
    """How far tracking has got; updated from the hashing threads (read it, do not write it)."""

    phase: str = "listing"  # listing | hashing | done
    files_total: int = 0
    files_done: int = 0
    bytes_total: int = 0
    bytes_done: int = 0
    hashed: int = 0  # files read and hashed
    cached: int = 0  # files whose hash came from the cache

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def advance(self, size: int, *, hashed: bool) -> None:
        with self._lock:
            self.files_done += 1
            self.bytes_done += size
            if hashed:
                self.hashed += 1
            else:
                self.cached += 1


def _named(label: str, items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    more = f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return f"{label}: {shown}{more}"


def is_s3(location: str) -> bool:
    return location.lower().startswith("s3://")


def _relative(destination: str | None, rel: str) -> str:
    if not destination:
        return rel
    return f"{destination.strip('/')}/{rel}"


# -- local files ---------------------------------------------------------------------------------------


def _local_candidates(spec: str) -> list[tuple[Path, str]]:
    """(absolute path, relative path) of every file a path, folder or glob names."""
    if glob.has_magic(spec):
        matches = [Path(m).absolute() for m in sorted(glob.glob(os.path.expanduser(spec), recursive=True))]
        if not matches:
            raise TrackedFilesError(f"no files match {spec!r}")
        base = Path(os.path.commonpath([m.parent for m in matches]))
    else:
        path = Path(spec).expanduser().absolute()
        if not path.exists():
            where = "" if str(path) == spec else f" ({path})"
            raise TrackedFilesError(f"cannot track {spec!r}: no such file or directory{where}")
        matches = [path]
        base = path if path.is_dir() else path.parent
    found: dict[Path, str] = {}
    for match in matches:
        if match.is_dir():
            for folder, dirs, names in os.walk(match):
                dirs.sort()
                for name in sorted(names):
                    file = Path(folder, name)
                    found.setdefault(file, file.relative_to(base).as_posix())
        else:
            found.setdefault(match, match.relative_to(base).as_posix())
    if not found:
        raise TrackedFilesError(f"cannot track {spec!r}: it holds no files")
    return list(found.items())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def scan_local(spec: str, destination: str | None, cache: HashCache | None, progress: Progress) -> Manifest:
    """Hash the files `spec` names (a file, a folder, recursively, or a glob); raises TrackedFilesError
    naming every file that cannot be read."""
    candidates = _local_candidates(spec)
    stats: list[tuple[Path, str, int, int]] = []
    unreadable: list[str] = []
    for path, rel in candidates:
        try:
            st = path.stat()
        except OSError as exc:
            unreadable.append(f"{path} ({exc.strerror or exc})")
            continue
        stats.append((path, rel, st.st_size, st.st_mtime_ns))
    progress.files_total = len(stats)
    progress.bytes_total = sum(s[2] for s in stats)
    progress.phase = "hashing"
    known = cache.lookup([(str(p), size, mtime) for p, _, size, mtime in stats]) if cache else {}
    hashes: dict[Path, str] = {}
    fresh: list[tuple[str, int, int, str]] = []
    for path, _, size, _ in stats:
        sha = known.get(str(path))
        if sha is not None:
            hashes[path] = sha
            progress.advance(size, hashed=False)

    def work(item: tuple[Path, str, int, int]) -> tuple[Path, str | None, str | None]:
        path, _, size, _ = item
        try:
            sha = _sha256(path)
        except OSError as exc:
            return path, None, f"{path} ({exc.strerror or exc})"
        progress.advance(size, hashed=True)
        return path, sha, None

    todo = [s for s in stats if s[0] not in hashes]
    with ThreadPoolExecutor(max_workers=_HASH_WORKERS, thread_name_prefix="despina-hash") as pool:
        for path, sha, error in pool.map(work, todo):
            if error is not None:
                unreadable.append(error)
            else:
                assert sha is not None
                hashes[path] = sha
    by_path = {s[0]: s for s in stats}
    for path in hashes:
        if str(path) not in known:
            _, _, size, mtime = by_path[path]
            fresh.append((str(path), size, mtime, hashes[path]))
    if cache is not None:
        cache.store(fresh)  # even when some files failed: the next try need not hash these again
    if unreadable:
        raise TrackedFilesError(_named(f"cannot read {len(unreadable)} file(s) of {spec!r}", unreadable))
    files = [
        ArtifactFile(_relative(destination, rel), size, hashes[path], SHA256, mtime / 1e9, str(path))
        for path, rel, size, mtime in stats
    ]
    return Manifest(tuple(files))


# -- S3 --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _S3Place:
    client: Any
    bucket: str
    prefix: str
    query: str  # the URL's options (endpoint_url, region), kept in each file's location for download


def _s3_place(location: str) -> _S3Place:
    from despina.store.blobs import blob_store_from_url

    environ = dict(os.environ)
    if "S3_ENDPOINT_URL" in environ:  # Neptune's variable for the same thing
        environ.setdefault("AWS_ENDPOINT_URL_S3", environ["S3_ENDPOINT_URL"])
    try:
        store = blob_store_from_url(location, environ=environ)
    except DespinaConfigError as exc:
        raise TrackedFilesError(str(exc).replace("blob store URL", "S3 location")) from exc
    return _S3Place(store.client, store.bucket, store.prefix, urlsplit(location).query)  # type: ignore[attr-defined]


def _s3_location(place: _S3Place, key: str) -> str:
    return f"s3://{place.bucket}/{key}" + (f"?{place.query}" if place.query else "")


@contextmanager
def _s3_errors(what: str) -> Iterator[None]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        detail = f"{code}: {error.get('Message', '')}".rstrip(": ")
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            detail += " (check the AWS credentials and the bucket's policy)"
        raise TrackedFilesError(f"cannot {what}: {detail}") from exc
    except BotoCoreError as exc:
        raise TrackedFilesError(f"cannot {what}: {exc}") from exc


def scan_s3(location: str, destination: str | None, progress: Progress) -> Manifest:
    """List the objects under an s3:// prefix (or the one object it names); nothing is downloaded."""
    place = _s3_place(location)
    files: list[ArtifactFile] = []
    multipart = 0
    with _s3_errors(f"list {location}"):
        pages = place.client.get_paginator("list_objects_v2").paginate(
            Bucket=place.bucket, Prefix=place.prefix
        )
        for page in pages:
            for item in page.get("Contents", ()):
                key: str = item["Key"]
                if not place.prefix:
                    rel = key
                elif key == place.prefix:
                    rel = key.rsplit("/", 1)[-1]
                elif key.startswith(place.prefix + "/"):
                    rel = key[len(place.prefix) + 1 :]
                else:
                    continue  # "data/train2/..." is not under "data/train"
                if not rel or key.endswith("/"):
                    continue  # a folder marker
                etag = str(item.get("ETag", "")).strip('"')
                hash_type = S3_MULTIPART_ETAG if "-" in etag else S3_ETAG
                multipart += hash_type == S3_MULTIPART_ETAG
                size = int(item["Size"])
                files.append(
                    ArtifactFile(
                        _relative(destination, rel),
                        size,
                        etag,
                        hash_type,
                        item["LastModified"].timestamp(),
                        _s3_location(place, key),
                    )
                )
                progress.files_total = progress.files_done = len(files)
                progress.bytes_total = progress.bytes_done = progress.bytes_total + size
    if not files:
        raise TrackedFilesError(f"cannot track {location!r}: no objects under it")
    notes = ["hashes are S3 ETags: the MD5 of the content for objects uploaded in one part without SSE-KMS"]
    if multipart:
        notes.append(
            f"{multipart} file(s) have multipart-upload ETags, which are not content hashes: the same bytes "
            "uploaded with another part size read as changed"
        )
    return Manifest(tuple(files), tuple(notes))


def scan(location: str, destination: str | None, cache: HashCache | None, progress: Progress) -> Manifest:
    """The files at `location` (local path, folder, glob or s3:// prefix), hashed."""
    if is_s3(location):
        return scan_s3(location, destination, progress)
    return scan_local(location, destination, cache, progress)


# -- fetching back (download) ------------------------------------------------------------------------------


def _open_local(file: ArtifactFile) -> BinaryIO:
    return open(file.location, "rb")


def _s3_open(file: ArtifactFile, places: dict[str, _S3Place]) -> tuple[BinaryIO, str]:
    """The object's body and its current ETag."""
    from botocore.exceptions import ClientError

    parts = urlsplit(file.location)
    root = f"s3://{parts.netloc}" + (f"?{parts.query}" if parts.query else "")
    place = places.get(root)
    if place is None:
        place = places[root] = _s3_place(root)
    key = parts.path.lstrip("/")
    try:
        answer = place.client.get_object(Bucket=place.bucket, Key=key)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("NoSuchKey", "404", "NotFound"):
            raise FileNotFoundError(file.location) from exc
        raise OSError(f"{code}: {exc.response.get('Error', {}).get('Message', '')}") from exc
    return answer["Body"], str(answer.get("ETag", "")).strip('"')


def fetch_files(
    manifest: Manifest,
    destination: Path,
    label: str,
    on_file: Callable[[ArtifactFile], None] | None = None,
) -> Path:
    """Copy every tracked file from where it was tracked to `destination/<path>`, checking sizes and
    hashes; raises TrackedFilesError naming the files that are gone, unreadable or changed (the others
    are written)."""
    missing: list[str] = []
    changed: list[str] = []
    failed: list[str] = []
    places: dict[str, _S3Place] = {}
    for file in manifest.files:
        target = destination / file.path
        try:
            if is_s3(file.location):
                stream, etag = _s3_open(file, places)
                if etag != file.hash:
                    stream.close()
                    changed.append(file.location)
                    continue
                digest = None
            else:
                stream = _open_local(file)
                digest = hashlib.sha256()
            target.parent.mkdir(parents=True, exist_ok=True)
            part = target.with_name(f".{target.name}.{os.getpid()}.part")
            size = 0
            with stream, open(part, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    out.write(chunk)
                    size += len(chunk)
                    if digest is not None:
                        digest.update(chunk)
            if size != file.size or (digest is not None and digest.hexdigest() != file.hash):
                part.unlink()
                changed.append(file.location)
                continue
            os.replace(part, target)
        except FileNotFoundError:
            missing.append(file.location)
            continue
        except TrackedFilesError as exc:
            failed.append(f"{file.location} ({exc})")
            continue
        except OSError as exc:
            failed.append(f"{file.location} ({exc.strerror or exc})")
            continue
        if on_file is not None:
            on_file(file)
    problems = [
        _named(f"{len(items)} {what}", items)
        for what, items in (
            ("file(s) no longer exist", missing),
            ("file(s) changed since they were tracked", changed),
            ("file(s) cannot be read", failed),
        )
        if items
    ]
    if problems:
        raise TrackedFilesError(f"cannot download {label}: " + "; ".join(problems))
    return destination


__all__ = ["Progress", "fetch_files", "is_s3", "scan", "scan_local", "scan_s3"]
