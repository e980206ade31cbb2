"""Tracked files as values: the set hash, the stored file list, the difference of two versions, and the
operation's round trip through the codec."""

from __future__ import annotations

import pytest

from despina.client.artifact_manifest import (
    S3_MULTIPART_ETAG,
    SHA256,
    ArtifactFile,
    FieldDiff,
    Manifest,
    diff_files,
)
from despina.client.codec import decode, encode
from despina.client.operations import ArtifactRef, AssignArtifact, FileRef, referenced_files


def _file(path: str, content_hash: str = "a" * 64, size: int = 10, where: str = "/data") -> ArtifactFile:
    return ArtifactFile(path, size, content_hash, SHA256, 1_700_000_000.5, f"{where}/{path}")


FILES = (_file("train/1.png"), _file("train/2.png", "b" * 64), _file("labels.csv", "c" * 64, 99))


def test_the_set_hash_does_not_depend_on_the_order_files_were_found_in() -> None:
    assert Manifest(FILES).hash == Manifest(tuple(reversed(FILES))).hash
    assert len(Manifest(FILES).hash) == 64


def test_the_set_hash_changes_with_a_rename_a_content_change_an_addition_or_a_removal() -> None:
    base = Manifest(FILES).hash
    renamed = (_file("train/one.png"), *FILES[1:])
    edited = (_file("train/1.png", "d" * 64), *FILES[1:])
    resized = (_file("train/1.png", size=11), *FILES[1:])
    added = (*FILES, _file("extra.txt"))
    hashes = {Manifest(files).hash for files in (renamed, edited, resized, added, FILES[1:])}
    assert base not in hashes and len(hashes) == 5


def test_the_set_hash_ignores_where_the_files_lie_and_when_they_were_touched() -> None:
    moved = tuple(
        ArtifactFile(f.path, f.size, f.hash, f.hash_type, 42.0, f"/mnt/copy/{f.path}") for f in FILES
    )
    assert Manifest(moved).hash == Manifest(FILES).hash


def test_the_file_list_round_trips_and_is_the_same_bytes_for_the_same_files() -> None:
    manifest = Manifest(FILES, ("a note",))
    data = manifest.to_bytes()
    assert Manifest(tuple(reversed(FILES)), ("a note",)).to_bytes() == data  # one blob per version
    back = Manifest.from_bytes(data)
    assert back == manifest and back.notes == ("a note",)
    assert [f.path for f in back.files] == ["labels.csv", "train/1.png", "train/2.png"]
    assert back.total_size == 119


def test_a_multipart_etag_is_marked_as_not_a_content_hash() -> None:
    etag = ArtifactFile("x", 1, "abc-3", S3_MULTIPART_ETAG, None, "s3://b/x")
    assert not etag.is_content_hash and FILES[0].is_content_hash
    assert etag.type == "S3" and FILES[0].type == "Local"  # Neptune's ArtifactFileData names
    assert FILES[0].metadata["location"] == "/data/train/1.png"


def test_the_difference_lists_added_removed_and_changed_files() -> None:
    a = Manifest(FILES)
    b = Manifest((_file("train/1.png", "e" * 64), FILES[1], _file("new.csv")))
    diff = diff_files("datasets/train", a, b)
    assert [f.path for f in diff.added] == ["new.csv"]
    assert [f.path for f in diff.removed] == ["labels.csv"]
    assert [(old.hash[0], new.hash[0]) for old, new in diff.changed] == [("a", "e")]
    assert diff.unchanged == 1 and not diff.same
    assert FieldDiff.from_dict(diff.to_dict()) == diff
    only_b = diff_files("d", None, b)
    assert only_b.hash_a is None and len(only_b.added) == 3


def test_assign_artifact_round_trips_through_the_codec_and_names_its_file_list_blob() -> None:
    manifest = FileRef("f" * 64, 321, "files.json.gz", "json.gz", "application/gzip")
    op = AssignArtifact("datasets/train", ArtifactRef("1" * 64, 3, 119, manifest.sha256), manifest)
    assert decode(encode(op)) == op
    assert referenced_files(op) == [manifest]


def test_a_file_list_of_a_newer_format_is_refused_by_name() -> None:
    import gzip

    with pytest.raises(ValueError, match="newer"):
        Manifest.from_bytes(gzip.compress(b'{"format": 99, "files": []}'))
