"""The blob store contract (despina/store/blobs/base.py), run against a folder and an S3 bucket.

`BlobStoreConformance` holds the contract; `TestLocalBlobStore` and `TestS3BlobStore` (against moto's
S3 server, see s3_server.py) run it, plus what is particular to each. `TestSqliteStoreWithS3Blobs`
runs the whole Store contract with its files in S3.
"""

from __future__ import annotations

import hashlib
import io
import random
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from despina.client import field_types as ft
from despina.client.operations import AssignFile, FileRef
from despina.exceptions import BlobHashMismatchError
from despina.store.blobs import local as local_module
from despina.store.blobs.base import BlobStore
from despina.store.blobs.local import LocalBlobStore
from despina.store.blobs.s3 import S3BlobStore
from despina.store.sql.store import SqlStore

pytest.register_assert_rewrite("store_conformance", "s3_server")  # before they are imported

from s3_server import s3_client  # noqa: E402
from store_conformance import PROJECT, StoreConformance, ingest, new_run  # noqa: E402

pytest_plugins = ["s3_server"]  # the fixtures s3_endpoint, s3_credentials, s3_bucket, s3_blobs_url

MiB = 1 << 20
UPLOAD = "upload-0123456789"
Listing = Callable[[], set[str]]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stream(data: bytes) -> BinaryIO:
    """A part as the server hands it over: a seekable stream."""
    return io.BytesIO(data)


class Generated(io.RawIOBase):
    """`size` pseudo-random bytes made on the fly, as a client's stream: never in memory whole.

    Not seekable. Feeds what it hands out to `digest`, so a test knows the hash of what was sent.
    """

    def __init__(self, seed: int, size: int, digest: Any = None, fail_after: int | None = None) -> None:
        super().__init__()
        self._rng = random.Random(seed)
        self._left = size
        self._digest = digest
        self._fail_after = fail_after  # a broken connection: raise once this many bytes were read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = min(len(view), self._left, 256 * 1024)
        if self._fail_after is not None:
            if self._fail_after <= 0:
                raise ConnectionResetError("the client went away")
            n = min(n, self._fail_after)
            self._fail_after -= n
        data = self._rng.randbytes(n)
        if self._digest is not None:
            self._digest.update(data)
        view[:n] = data
        self._left -= n
        return n


def generated(seed: int, size: int, digest: Any = None, fail_after: int | None = None) -> BinaryIO:
    return io.BufferedReader(Generated(seed, size, digest, fail_after))


def read_all(store: BlobStore, sha256: str) -> bytes:
    with store.open(sha256) as source:
        return source.read()


class BlobStoreConformance:
    """The BlobStore contract; subclasses provide `store` and `listing` (every name it holds)."""

    @pytest.fixture
    def store(self) -> BlobStore:
        raise NotImplementedError("a BlobStoreConformance subclass must provide the `store` fixture")

    @pytest.fixture
    def listing(self, store: BlobStore) -> Listing:
        raise NotImplementedError("a BlobStoreConformance subclass must provide the `listing` fixture")

    @pytest.fixture
    def source(self, tmp_path: Path) -> Callable[[bytes], Path]:
        """Writes content to a new file outside the store, for put_file."""
        folder = tmp_path / "sources"
        folder.mkdir()
        names = iter(range(1_000_000))

        def write(content: bytes) -> Path:
            path = folder / f"source-{next(names)}"
            path.write_bytes(content)
            return path

        return write

    # -- whole files --------------------------------------------------------------------------------

    def test_put_then_exists_size_and_open(self, store: BlobStore, source: Callable[[bytes], Path]) -> None:
        content = b"weights \x00\x01\xff" * 1000
        digest = sha(content)
        assert not store.exists(digest)
        store.put_file(source(content), digest)
        assert store.exists(digest)
        assert store.size(digest) == len(content)
        assert read_all(store, digest) == content

    def test_a_blob_never_stored_is_not_found(self, store: BlobStore) -> None:
        missing = sha(b"never stored")
        assert not store.exists(missing)
        with pytest.raises(FileNotFoundError, match=missing):
            store.size(missing)
        with pytest.raises(FileNotFoundError, match=missing):
            store.open(missing)

    def test_putting_the_same_content_again_changes_nothing(
        self, store: BlobStore, listing: Listing, source: Callable[[bytes], Path]
    ) -> None:
        content = b'{"lr": 0.1}'
        store.put_file(source(content), sha(content))
        before = listing()
        store.put_file(source(content), sha(content))
        assert listing() == before
        assert read_all(store, sha(content)) == content

    def test_concurrent_puts_of_one_blob_leave_one_whole_copy(
        self, store: BlobStore, listing: Listing, source: Callable[[bytes], Path]
    ) -> None:
        content = random.Random(1).randbytes(3 * MiB)
        digest = sha(content)
        sources = [source(content) for _ in range(6)]
        start = threading.Barrier(len(sources))
        errors: list[BaseException] = []

        def put(path: Path) -> None:
            start.wait()
            try:
                store.put_file(path, digest)
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=put, args=(path,)) for path in sources]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(listing()) == 1  # the blob, and no temp file left behind
        assert sha(read_all(store, digest)) == digest

    def test_open_streams_a_large_blob_in_chunks(
        self, store: BlobStore, source: Callable[[bytes], Path]
    ) -> None:
        content = random.Random(2).randbytes(5 * MiB + 123)
        digest = sha(content)
        store.put_file(source(content), digest)
        chunks = []
        with store.open(digest) as stream_:
            while chunk := stream_.read(256 * 1024):
                assert len(chunk) <= 256 * 1024
                chunks.append(chunk)
        assert len(chunks) > 20
        assert b"".join(chunks) == content
        assert stream_.closed
        with pytest.raises(ValueError, match="closed"):
            stream_.read(1)

    def test_open_supports_readinto(self, store: BlobStore, source: Callable[[bytes], Path]) -> None:
        content = b"0123456789" * 10
        store.put_file(source(content), sha(content))
        buffer = bytearray(64)
        with store.open(sha(content)) as stream_:
            first = stream_.readinto(buffer)
            rest = stream_.read()
        assert bytes(buffer[:first]) + rest == content

    # -- resumable uploads --------------------------------------------------------------------------

    def test_parts_sent_out_of_order_and_again_join_in_order(
        self, store: BlobStore, listing: Listing
    ) -> None:
        parts = [b"alpha-" * 100, b"beta-" * 70, b"gamma"]
        content = b"".join(parts)
        assert store.parts(UPLOAD) == {}
        assert store.put_part(UPLOAD, 2, stream(parts[2])) == len(parts[2])
        assert store.put_part(UPLOAD, 1, stream(b"a first, wrong copy of part one")) == 31
        assert store.put_part(UPLOAD, 0, stream(parts[0])) == len(parts[0])
        assert store.put_part(UPLOAD, 1, stream(parts[1])) == len(parts[1])  # sent again: replaces
        assert store.parts(UPLOAD) == {0: len(parts[0]), 1: len(parts[1]), 2: len(parts[2])}
        assert store.complete_upload(UPLOAD, sha(content)) == len(content)
        assert read_all(store, sha(content)) == content
        assert store.size(sha(content)) == len(content)
        assert store.parts(UPLOAD) == {}
        assert len(listing()) == 1  # the blob alone: no parts, no temp files

    def test_after_a_broken_connection_parts_tells_what_arrived(self, store: BlobStore) -> None:
        sent = hashlib.sha256()
        store.put_part(UPLOAD, 0, generated(0, 300_000, sent))
        store.put_part(UPLOAD, 1, generated(1, 300_000, sent))
        with pytest.raises(ConnectionResetError):
            store.put_part(UPLOAD, 2, generated(2, 300_000, fail_after=100_000))
        # The half-sent part is not there, neither as a part nor as a shorter one.
        assert store.parts(UPLOAD) == {0: 300_000, 1: 300_000}
        # The client resumes: it sends what `parts` lacks, then completes.
        store.put_part(UPLOAD, 2, generated(2, 300_000, sent))
        assert store.complete_upload(UPLOAD, sent.hexdigest()) == 900_000
        with store.open(sent.hexdigest()) as blob:
            assert hashlib.sha256(blob.read()).hexdigest() == sent.hexdigest()

    def test_a_broken_resend_keeps_the_earlier_copy(self, store: BlobStore) -> None:
        store.put_part(UPLOAD, 0, stream(b"the whole part"))
        with pytest.raises(ConnectionResetError):
            store.put_part(UPLOAD, 0, generated(9, 1000, fail_after=10))
        assert store.parts(UPLOAD) == {0: 14}
        assert store.complete_upload(UPLOAD, sha(b"the whole part")) == 14

    def test_a_hash_mismatch_stores_nothing_and_drops_the_parts(
        self, store: BlobStore, listing: Listing
    ) -> None:
        store.put_part(UPLOAD, 0, stream(b"what was "))
        store.put_part(UPLOAD, 1, stream(b"sent"))
        claimed = sha(b"what was meant")
        with pytest.raises(BlobHashMismatchError, match=claimed):
            store.complete_upload(UPLOAD, claimed)
        assert not store.exists(claimed)
        assert not store.exists(sha(b"what was sent"))
        assert store.parts(UPLOAD) == {}
        assert listing() == set()

    def test_abort_drops_the_parts(self, store: BlobStore, listing: Listing) -> None:
        store.put_part(UPLOAD, 0, stream(b"abandoned"))
        store.abort_upload(UPLOAD)
        assert store.parts(UPLOAD) == {}
        assert listing() == set()
        with pytest.raises(FileNotFoundError, match=UPLOAD):
            store.complete_upload(UPLOAD, sha(b"abandoned"))
        store.abort_upload(UPLOAD)  # again, and for an unknown upload: a no-op
        store.abort_upload("never-started-upload")

    def test_completing_with_a_gap_names_it_and_keeps_the_parts(self, store: BlobStore) -> None:
        store.put_part(UPLOAD, 0, stream(b"zero "))
        store.put_part(UPLOAD, 2, stream(b"two"))
        with pytest.raises(ValueError, match=r"part\(s\) 1\b"):
            store.complete_upload(UPLOAD, sha(b"zero one two"))
        assert store.parts(UPLOAD) == {0: 5, 2: 3}
        store.put_part(UPLOAD, 1, stream(b"one "))
        assert store.complete_upload(UPLOAD, sha(b"zero one two")) == 12

    def test_an_empty_file_is_one_empty_part(self, store: BlobStore) -> None:
        assert store.put_part(UPLOAD, 0, stream(b"")) == 0
        assert store.parts(UPLOAD) == {0: 0}
        assert store.complete_upload(UPLOAD, sha(b"")) == 0
        assert read_all(store, sha(b"")) == b""

    def test_uploading_content_already_stored_keeps_one_copy(
        self, store: BlobStore, listing: Listing, source: Callable[[bytes], Path]
    ) -> None:
        content = b"stored before"
        store.put_file(source(content), sha(content))
        store.put_part(UPLOAD, 0, stream(content))
        assert store.complete_upload(UPLOAD, sha(content)) == len(content)
        assert store.parts(UPLOAD) == {}
        assert len(listing()) == 1

    def test_uploads_are_independent(self, store: BlobStore) -> None:
        other = "upload-other-9876"
        store.put_part(UPLOAD, 0, stream(b"first file"))
        store.put_part(other, 0, stream(b"second file"))
        store.abort_upload(other)
        assert store.parts(UPLOAD) == {0: 10}
        assert store.complete_upload(UPLOAD, sha(b"first file")) == 10

    def test_parts_of_at_least_5_mib_join(self, store: BlobStore) -> None:
        # S3 joins parts this large inside the bucket (multipart copy); the result is the same.
        sent = hashlib.sha256()
        sizes = [5 * MiB, 5 * MiB + 17, 1000]
        for n, size in enumerate(sizes):
            store.put_part(UPLOAD, n, generated(n, size, sent))
        assert store.complete_upload(UPLOAD, sent.hexdigest()) == sum(sizes)
        received = hashlib.sha256()
        with store.open(sent.hexdigest()) as blob:
            while chunk := blob.read(MiB):
                received.update(chunk)
        assert received.hexdigest() == sent.hexdigest()

    @pytest.mark.slow
    def test_a_64_mib_upload_and_download_stay_in_little_memory(self, store: BlobStore) -> None:
        part_size, count = 8 * MiB, 8
        sent = hashlib.sha256()
        tracemalloc.start()
        try:
            for n in range(count):
                assert store.put_part(UPLOAD, n, generated(n, part_size, sent)) == part_size
            assert store.complete_upload(UPLOAD, sent.hexdigest()) == part_size * count
            received = hashlib.sha256()
            with store.open(sent.hexdigest()) as blob:
                while chunk := blob.read(MiB):
                    received.update(chunk)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert received.hexdigest() == sent.hexdigest()
        # Holding a part in memory would show as 8 MiB, the whole file as 64 MiB.
        assert peak < part_size, f"peak Python allocation {peak / MiB:.1f} MiB"

    # -- names from clients -------------------------------------------------------------------------

    @pytest.mark.parametrize(
        "bad_sha256", ["", "../x", "a/b", "0" * 63, "A" * 64, "0" * 65, "../" + "0" * 61, "0" * 62 + "\n0"]
    )
    def test_invalid_digests_are_rejected_before_storage(
        self, store: BlobStore, listing: Listing, source: Callable[[bytes], Path], bad_sha256: str
    ) -> None:
        path = source(b"content")
        store.put_part(UPLOAD, 0, stream(b"content"))
        before = listing()
        for call in (
            lambda: store.exists(bad_sha256),
            lambda: store.size(bad_sha256),
            lambda: store.open(bad_sha256),
            lambda: store.put_file(path, bad_sha256),
            lambda: store.complete_upload(UPLOAD, bad_sha256),
        ):
            with pytest.raises(ValueError, match="sha256"):
                call()
        assert listing() == before

    @pytest.mark.parametrize(
        "bad_id",
        ["", "../x", "a/b", "..", "../../../../etc", "upload/../../x", "short", "x" * 65, "up load 1"],
    )
    def test_invalid_upload_ids_are_rejected_before_storage(
        self, store: BlobStore, listing: Listing, bad_id: str
    ) -> None:
        for call in (
            lambda: store.put_part(bad_id, 0, stream(b"content")),
            lambda: store.parts(bad_id),
            lambda: store.complete_upload(bad_id, sha(b"content")),
            lambda: store.abort_upload(bad_id),
        ):
            with pytest.raises(ValueError, match="upload id"):
                call()
        assert listing() == set()

    @pytest.mark.parametrize("bad_part", [-1, 100_001, True, 1.0, "1"])
    def test_invalid_part_numbers_are_rejected(
        self, store: BlobStore, listing: Listing, bad_part: Any
    ) -> None:
        with pytest.raises(ValueError, match="part number"):
            store.put_part(UPLOAD, bad_part, stream(b"content"))
        assert listing() == set()


# -- a folder ---------------------------------------------------------------------------------------


class TestLocalBlobStore(BlobStoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> LocalBlobStore:
        return LocalBlobStore(tmp_path / "store")

    @pytest.fixture
    def listing(self, tmp_path: Path) -> Listing:
        """Every file under tmp_path but the test's sources: a path escaping the store shows too."""

        def files() -> set[str]:
            return {
                path.relative_to(tmp_path).as_posix()
                for path in tmp_path.rglob("*")
                if path.is_file() and path.relative_to(tmp_path).parts[0] != "sources"
            }

        return files

    def test_layout_on_disk(
        self, store: LocalBlobStore, listing: Listing, source: Callable[[bytes], Path]
    ) -> None:
        digest = sha(b"content")
        store.put_file(source(b"content"), digest)
        store.put_part(UPLOAD, 3, stream(b"part"))
        assert listing() == {f"store/{digest[:2]}/{digest[2:4]}/{digest}", f"store/uploads/{UPLOAD}/3"}
        assert store.path(digest) == store.root / digest[:2] / digest[2:4] / digest

    def test_a_failed_read_keeps_the_parts_and_leaves_no_temp_file(
        self, store: LocalBlobStore, listing: Listing, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        store.put_part(UPLOAD, 0, stream(b"zero"))
        store.put_part(UPLOAD, 1, stream(b"one"))
        real_copy = local_module.copy_stream
        calls = iter(range(100))

        def failing_copy(source: BinaryIO, target: BinaryIO | None, digest: Any = None) -> int:
            if next(calls) == 1:
                raise OSError("the disk failed reading part 1")
            return real_copy(source, target, digest)

        monkeypatch.setattr(local_module, "copy_stream", failing_copy)
        with pytest.raises(OSError, match="disk failed"):
            store.complete_upload(UPLOAD, sha(b"zeroone"))
        # The parts stay for another try, and no half-joined file is left in the root.
        assert listing() == {f"store/uploads/{UPLOAD}/0", f"store/uploads/{UPLOAD}/1"}
        monkeypatch.undo()
        assert store.complete_upload(UPLOAD, sha(b"zeroone")) == 7


# -- an S3 bucket (moto's server) ------------------------------------------------------------------


class _Untouchable:
    """A boto3 client stand-in that fails the test if the store calls it at all."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the store called the S3 client ({name}) before validating its input")


class TestS3BlobStore(BlobStoreConformance):
    @pytest.fixture
    def store(self, s3_endpoint: str, s3_bucket: str) -> S3BlobStore:
        return S3BlobStore(s3_bucket, prefix="despina", endpoint_url=s3_endpoint)

    @pytest.fixture
    def listing(self, s3_endpoint: str, s3_bucket: str) -> Listing:
        """Every key in the bucket, under the store's prefix or not: a key escaping it shows too."""
        client = s3_client(s3_endpoint)

        def keys() -> set[str]:
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=s3_bucket)
            return {item["Key"] for page in pages for item in page.get("Contents", [])}

        return keys

    def test_layout_in_the_bucket(
        self, store: S3BlobStore, listing: Listing, source: Callable[[bytes], Path]
    ) -> None:
        digest = sha(b"content")
        store.put_file(source(b"content"), digest)
        store.put_part(UPLOAD, 3, stream(b"part"))
        assert listing() == {
            f"despina/blobs/{digest[:2]}/{digest[2:4]}/{digest}",
            f"despina/uploads/{UPLOAD}/3",
        }

    def test_large_parts_are_joined_inside_the_bucket(self, store: S3BlobStore) -> None:
        sent = hashlib.sha256()
        for n, size in enumerate([5 * MiB, 5 * MiB, 300]):
            store.put_part(UPLOAD, n, generated(n, size, sent))
        calls: list[str] = []
        store.client.meta.events.register("before-call.s3.*", lambda model, **_: calls.append(model.name))
        store.complete_upload(UPLOAD, sent.hexdigest())
        # The parts were read once, to check the hash; S3 copied them into the blob by itself.
        assert calls.count("GetObject") == 3
        assert calls.count("UploadPartCopy") == 3
        assert "PutObject" not in calls
        assert "UploadPart" not in calls
        assert store.size(sent.hexdigest()) == 10 * MiB + 300

    def test_invalid_names_never_reach_the_client(self) -> None:
        store = S3BlobStore("some-bucket", client=_Untouchable())
        for call in (
            lambda: store.exists("../x"),
            lambda: store.open("a/b"),
            lambda: store.put_part("../x", 0, stream(b"")),
            lambda: store.put_part(UPLOAD, -1, stream(b"")),
            lambda: store.parts("a/b"),
            lambda: store.complete_upload("", sha(b"")),
            lambda: store.complete_upload(UPLOAD, "../x"),
            lambda: store.abort_upload("../x"),
        ):
            with pytest.raises(ValueError):
                call()

    def test_errors_name_the_bucket_and_key(
        self, s3_endpoint: str, s3_credentials: None, source: Callable[[bytes], Path]
    ) -> None:
        store = S3BlobStore("no-such-bucket", prefix="p", endpoint_url=s3_endpoint)
        digest = sha(b"x")
        with pytest.raises(OSError, match=f"s3://no-such-bucket/p/blobs/../../{digest}.*NoSuchBucket"):
            store.put_file(source(b"x"), digest)
        with pytest.raises(OSError, match=f"s3://no-such-bucket/p/uploads/{UPLOAD}/0"):
            store.put_part(UPLOAD, 0, stream(b"x"))

    def test_a_missing_blob_names_its_key(self, store: S3BlobStore) -> None:
        digest = sha(b"absent")
        with pytest.raises(FileNotFoundError, match=f"s3://{store.bucket}/{store.key(digest)}"):
            store.open(digest)


# -- the whole store with its files in S3 ----------------------------------------------------------


class TestSqliteStoreWithS3Blobs(StoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> Iterator[SqlStore]:
        store = SqlStore(
            f"sqlite:///{tmp_path / 'despina.db'}",
            S3BlobStore(s3_bucket, "despina", endpoint_url=s3_endpoint),
        )
        yield store
        store.close()

    def test_a_file_uploaded_in_parts_is_read_back_through_the_store(self, store: SqlStore) -> None:
        sent = hashlib.sha256()
        for n in range(3):
            store.blobs.put_part(UPLOAD, n, generated(n, 2 * MiB, sent))
        size = store.blobs.complete_upload(UPLOAD, sent.hexdigest())
        ref = FileRef(sent.hexdigest(), size, "model.pt", "pt", "application/octet-stream")
        run = new_run(store)
        assert ingest(store, run, [AssignFile("model/weights", ref)]).rejected == []
        field = store.fields(PROJECT, run.id)["model/weights"]
        assert field.type == ft.FILE
        assert field.value == ref
        assert store.has_blob(ref.sha256)
        with store.open_blob(ref.sha256) as blob:
            assert hashlib.sha256(blob.read()).hexdigest() == ref.sha256
