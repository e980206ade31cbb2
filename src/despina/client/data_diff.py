"""Which tracked files differ between two runs: `despina.diff_data`, `despina diff-data`, and the server's
`data-diff` endpoint all come here.

Fields whose set hashes are equal are not opened: their file lists are the same by construction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from despina.client import field_types as ft
from despina.client.artifact_manifest import FieldDiff, Manifest, diff_files
from despina.client.operations import ArtifactRef
from despina.exceptions import FieldTypeError, MissingFieldError
from despina.store.base import FieldValue


def _artifacts(fields: Mapping[str, FieldValue]) -> dict[str, ArtifactRef]:
    return {p: f.value for p, f in fields.items() if f.type == ft.ARTIFACT}


def diff_fields(
    fields_a: Mapping[str, FieldValue],
    fields_b: Mapping[str, FieldValue],
    read_manifest: Callable[[str], bytes],
    field: str | None = None,
    labels: tuple[str, str] = ("A", "B"),
) -> list[FieldDiff]:
    """The differences of every artifact field of two runs (or of `field` only), sorted by path.

    `read_manifest(sha256)` returns a file-list blob's bytes. A field that only one run has shows all
    its files as added (only in B) or removed (only in A).
    """
    a, b = _artifacts(fields_a), _artifacts(fields_b)
    if field is not None:
        for label, fields in zip(labels, (fields_a, fields_b), strict=True):
            found = fields.get(field)
            if found is not None and found.type != ft.ARTIFACT:
                raise FieldTypeError(
                    f"{field!r} of run {label} is a {found.type} field, not tracked files (track_files)"
                )
        if field not in a and field not in b:
            raise MissingFieldError(
                f"neither run {labels[0]} nor run {labels[1]} has tracked files at {field!r}"
            )
        paths = [field]
    else:
        paths = sorted(set(a) | set(b))
    cache: dict[str, Manifest] = {}

    def manifest(ref: ArtifactRef | None) -> Manifest | None:
        if ref is None:
            return None
        if ref.manifest not in cache:
            cache[ref.manifest] = Manifest.from_bytes(read_manifest(ref.manifest))
        return cache[ref.manifest]

    result = []
    for path in paths:
        ref_a, ref_b = a.get(path), b.get(path)
        if ref_a is not None and ref_b is not None and ref_a.hash == ref_b.hash:
            result.append(FieldDiff(path, ref_a.hash, ref_b.hash, unchanged=ref_a.file_count))
        else:
            result.append(diff_files(path, manifest(ref_a), manifest(ref_b)))
    return result


def diff_data(
    run_a: str, run_b: str, *, field: str | None = None, project: str | None = None
) -> list[FieldDiff]:
    """Files added, removed and changed between the tracked files of two runs (ids like "CAS-12"), for
    every artifact field or only `field`; `project` defaults to DESPINA_PROJECT. Reads the store that
    runs go to (DESPINA_URL's server, else DESPINA_HOME)."""
    from despina.backends import backend_for
    from despina.client.run import resolve_project
    from despina.config import read_settings

    settings = read_settings()
    name = resolve_project(project, settings)
    backend = backend_for(settings)
    fields_a = backend.fields(name, run_a, field)
    fields_b = backend.fields(name, run_b, field)

    def read(sha256: str) -> bytes:
        with backend.open_blob(name, sha256) as stream:
            return stream.read()

    return diff_fields(fields_a, fields_b, read, field, (run_a, run_b))
