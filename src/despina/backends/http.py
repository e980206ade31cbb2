"""HttpBackend: the client's side of a Despina server (DESPINA_URL, DESPINA_API_TOKEN).

It is only a transport: the run still writes its journal first, and the sender drains it here. A
server that is down makes `ingest` raise ServerUnavailableError after a few quick retries; the sender
then keeps the data in the journal and retries with a growing delay, so training never waits on it.
Every request is safe to repeat: ingest is idempotent on the server by (run, writer, sequence), and
uploads are named after their content, so a repeated or resumed upload sends only missing parts.
"""

from __future__ import annotations

import io
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx
import msgpack
import numpy as np

from despina.backends.base import Backend
from despina.client.codec import encode_batch
from despina.client.operations import FileRef, Operation, referenced_files
from despina.exceptions import (
    AccessDeniedError,
    DespinaConfigError,
    ProjectNotFoundError,
    QueryError,
    RunDeletionError,
    RunNotFoundError,
    ServerError,
    ServerUnavailableError,
)
from despina.store.base import (
    FieldValue,
    IngestResult,
    RunCreate,
    RunInfo,
    RunsPage,
    SeriesBuckets,
    SeriesData,
)
from despina.store.runs_columns import RunsColumns
from despina.store.series_table import ARROW_STREAM, MSGPACK, SeriesTable
from despina.store.wire import decode_fields, decode_run_info, decode_table_row, decode_value

_T = TypeVar("_T")
API = "/api/v1"
RETRY_STATUSES = frozenset({429, 502, 503, 504})
PAGE_SIZE = 10_000  # rows asked for per page of the runs table (the server's maximum)


def _has_pyarrow() -> bool:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def _step_params(step_range: tuple[float | None, float | None] | None) -> dict[str, float]:
    params: dict[str, float] = {}
    if step_range is not None:
        if step_range[0] is not None:
            params["step_min"] = step_range[0]
        if step_range[1] is not None:
            params["step_max"] = step_range[1]
    return params


UPLOAD_PROGRESS_THRESHOLD = 1 << 30


def _print_upload_progress(sha256: str, sent: int, size: int) -> None:
    print(
        f"Despina: uploading file {sha256[:12]}: {sent / size:.0%} ({sent >> 20:,} of {size >> 20:,} MiB)",
        file=sys.stderr,
        flush=True,
    )


def _project_path(project: str) -> str:
    parts = project.split("/")
    if len(parts) != 2:
        raise DespinaConfigError(
            f"project {project!r}: a Despina server names projects 'workspace/project', e.g. 'team/cassava'"
        )
    return f"{API}/projects/{parts[0]}/{parts[1]}"


class _ResponseStream(io.RawIOBase):
    """A streamed response body as a readable binary file; closing it closes the response."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self._chunks: Iterator[bytes] = response.iter_bytes(1 << 20)
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def close(self) -> None:
        if not self.closed:
            self._response.close()
        super().close()


class HttpBackend(Backend):
    """Talks to one server with one API token."""

    def __init__(
        self,
        url: str,
        api_token: str | None = None,
        *,
        timeout: float = 60.0,
        retries: int = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"User-Agent": "despina-client"}
        if api_token:
            headers["Authorization"] = f"Bearer {api_token}"
        self.url = url.rstrip("/")
        self.retries = retries
        self._client_options: dict[str, Any] = {
            "base_url": self.url,
            "headers": headers,
            "timeout": httpx.Timeout(timeout, connect=10.0),
            "transport": transport,
        }
        self._http: httpx.Client | None = None
        # Uploads of at least `progress_threshold` bytes call `upload_progress(sha256, sent, size)`
        # after each part (a resumed upload starts from what the server has).
        self.progress_threshold = UPLOAD_PROGRESS_THRESHOLD
        self.upload_progress: Callable[[str, int, int], None] = _print_upload_progress
        self._linked: set[tuple[str, str]] = set()  # (project, sha256) the server has for the project

    # -- requests ---------------------------------------------------------------------------------

    @property
    def _client(self) -> httpx.Client:
        # Made on first use and again after `close()`: one backend is shared by every run of a process
        # (backend_for), so closing it after `despina sync` must not break the next run.
        if self._http is None or self._http.is_closed:
            self._http = httpx.Client(**self._client_options)
        return self._http

    def _send(self, make: Callable[[], httpx.Response], accept: int | None = None) -> httpx.Response:
        """Send with quick retries on connection errors and overload; raise a Despina error for an
        error status other than `accept`."""
        delay = 0.25
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = make()
            except httpx.TransportError as exc:
                if last:
                    raise ServerUnavailableError(
                        f"cannot reach the Despina server at {self.url} ({type(exc).__name__}: {exc})"
                    ) from exc
            else:
                if response.status_code == accept:
                    response.read()
                    return response
                if response.status_code not in RETRY_STATUSES or last:
                    return self._check(response)
                response.close()
            time.sleep(delay)
            delay = min(delay * 2, 4.0)
        raise AssertionError("unreachable")

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.status_code < 400:
            return response
        response.read()
        try:
            detail: Any = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        status = response.status_code
        where = f"{response.request.method} {response.request.url.path}"
        if status in (401, 403):
            raise AccessDeniedError(f"the Despina server refused {where}: {detail}", status)
        if status == 422 and isinstance(detail, str) and where.endswith(("/table", "/series")):
            raise QueryError(detail)  # the server's message names the position in the query
        if status == 404:
            if str(detail).startswith("project") and str(detail).endswith("not found"):
                raise ProjectNotFoundError(str(detail))
            raise RunNotFoundError(str(detail))
        if status in RETRY_STATUSES:
            raise ServerUnavailableError(f"the Despina server is unavailable ({status}): {detail}", status)
        raise ServerError(f"the Despina server answered {status} to {where}: {detail}", status)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._send(lambda: self._client.request(method, path, **kwargs)).json()

    # -- runs -------------------------------------------------------------------------------------

    def create_run(self, request: RunCreate) -> tuple[RunInfo, bool]:
        body = request.to_dict()
        del body["project"]
        answer = self._json("POST", f"{_project_path(request.project)}/runs", json=body)
        return decode_run_info(answer["run"]), bool(answer["created"])

    def get_run(self, project: str, run_id: str) -> RunInfo:
        return decode_run_info(self._json("GET", f"{_project_path(project)}/runs/{run_id}"))

    def delete_runs(self, project: str, run_ids: Sequence[str]) -> int:
        """Delete runs in the trash for good (the token needs the owner role on the project)."""
        url = f"{_project_path(project)}/runs/delete"
        response = self._send(lambda: self._client.post(url, json={"run_ids": list(run_ids)}), accept=409)
        if response.status_code == 409:
            raise RunDeletionError(str(response.json().get("detail", response.text)))
        return int(response.json()["deleted"])

    def restore_run_times(
        self, project: str, run_id: str, creation_time: datetime, modification_time: datetime
    ) -> None:
        """Give an imported run the times of the run it was copied from (`despina import` only)."""
        body = {
            "creation_time": creation_time.isoformat(),
            "modification_time": modification_time.isoformat(),
        }
        url = f"{_project_path(project)}/runs/{run_id}/times"
        self._send(lambda: self._client.put(url, json=body))

    def fields(self, project: str, run_id: str, prefix: str | None = None) -> dict[str, FieldValue]:
        params = {"prefix": prefix} if prefix is not None else {}
        return decode_fields(
            self._json("GET", f"{_project_path(project)}/runs/{run_id}/fields", params=params)
        )

    def series(
        self,
        project: str,
        run_id: str,
        path: str,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesData:
        params: dict[str, Any] = {"path": path, **_step_params(step_range)}
        response = self._send(
            lambda: self._client.get(f"{_project_path(project)}/runs/{run_id}/series", params=params)
        )
        data = msgpack.unpackb(response.content, raw=False)
        values: Any = data["values"]
        if data["kind"] == "float":
            values = np.frombuffer(values, dtype="<f8").copy()
        elif data["kind"] == "file":
            values = [FileRef.from_dict(v) for v in values]
        return SeriesData(
            np.frombuffer(data["steps"], dtype="<f8").copy(),
            np.frombuffer(data["timestamps"], dtype="<f8").copy(),
            values,
        )

    def runs_table(
        self,
        project: str,
        *,
        owner: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        state: Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {}
        for key, values in (("owner", owner), ("tags", tags), ("state", state), ("columns", columns)):
            if values is not None:
                params[key] = list(values)
        rows = self._json("GET", f"{_project_path(project)}/runs", params=params)
        return [{path: decode_value(value) for path, value in row.items()} for row in rows]

    def query_runs(
        self,
        project: str,
        *,
        query: str | None = None,
        columns: Sequence[str] | None = None,
        sort_by: str = "sys/creation_time",
        ascending: bool = False,
        limit: int | None = None,
        cursor: str | None = None,
        owner: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        state: Sequence[str] | None = None,
    ) -> RunsPage:
        """Pages of at most PAGE_SIZE rows are read until `limit` rows (None: all) are there."""
        params: dict[str, Any] = {"sort_by": sort_by, "ascending": str(ascending).lower()}
        if query is not None:
            params["query"] = query
        for key, values in (("columns", columns), ("owner", owner), ("tags", tags), ("state", state)):
            if values is not None:
                params[key] = list(values)
        rows: list[dict[str, FieldValue]] = []
        while True:
            want = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(rows))
            if want <= 0:
                return RunsPage(rows, cursor)
            page = {**params, "limit": want, **({"cursor": cursor} if cursor else {})}
            answer = self._json("GET", f"{_project_path(project)}/table", params=page)
            rows.extend(decode_table_row(row) for row in answer["rows"])
            cursor = answer["next_cursor"]
            if cursor is None:
                return RunsPage(rows, None)

    def query_runs_columns(
        self,
        project: str,
        *,
        query: str | None = None,
        columns: Sequence[str] | None = None,
        sort_by: str = "sys/creation_time",
        ascending: bool = False,
        limit: int | None = None,
        cursor: str | None = None,
        owner: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        state: Sequence[str] | None = None,
    ) -> RunsColumns:
        """Pages of typed columns as Arrow (JSON rows without pyarrow) until `limit` rows (None: all)."""
        if not _has_pyarrow():
            return super().query_runs_columns(
                project,
                query=query,
                columns=columns,
                sort_by=sort_by,
                ascending=ascending,
                limit=limit,
                cursor=cursor,
                owner=owner,
                tags=tags,
                state=state,
            )
        params: dict[str, Any] = {"sort_by": sort_by, "ascending": str(ascending).lower()}
        if query is not None:
            params["query"] = query
        for key, values in (("columns", columns), ("owner", owner), ("tags", tags), ("state", state)):
            if values is not None:
                params[key] = list(values)
        headers = {"Accept": ARROW_STREAM}
        pages: list[RunsColumns] = []
        read = 0
        while True:
            want = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - read)
            if want <= 0:
                break
            page = {**params, "limit": want, **({"cursor": cursor} if cursor else {})}
            response = self._send(
                lambda page=page: self._client.get(  # type: ignore[misc]
                    f"{_project_path(project)}/table", params=page, headers=headers
                )
            )
            pages.append(RunsColumns.from_arrow(response.content))
            read += pages[-1].length
            cursor = pages[-1].next_cursor
            if cursor is None:
                break
        if not pages:
            return RunsColumns.of(0, {}, cursor)
        joined = RunsColumns.concat(pages)
        joined.next_cursor = cursor
        return joined

    def series_table(
        self,
        project: str,
        paths: Sequence[str],
        *,
        query: str | None = None,
        run_ids: Sequence[str] | None = None,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesTable:
        params: dict[str, Any] = {"path": list(paths), **_step_params(step_range)}
        if query is not None:
            params["query"] = query
        if run_ids is not None:
            params["run"] = list(run_ids)
        arrow = _has_pyarrow()  # without pyarrow the server sends msgpack
        headers = {"Accept": ARROW_STREAM if arrow else MSGPACK}
        response = self._send(
            lambda: self._client.get(f"{_project_path(project)}/series", params=params, headers=headers)
        )
        if response.headers.get("content-type", "").startswith(ARROW_STREAM):
            return SeriesTable.from_arrow(response.content)
        return SeriesTable.from_msgpack(response.content)

    def series_buckets(
        self,
        project: str,
        run_id: str,
        path: str,
        *,
        buckets: int,
        step_range: tuple[float | None, float | None] | None = None,
    ) -> SeriesBuckets:
        params: dict[str, Any] = {"path": path, "buckets": buckets, **_step_params(step_range)}
        response = self._send(
            lambda: self._client.get(f"{_project_path(project)}/runs/{run_id}/series/buckets", params=params)
        )
        data = msgpack.unpackb(response.content, raw=False)

        def floats(name: str) -> Any:
            return np.frombuffer(data[name], dtype="<f8").astype(np.float64)

        if data["exact"]:
            return SeriesBuckets(
                exact=True, points=SeriesData(floats("steps"), floats("timestamps"), floats("values"))
            )
        arrays = {name: floats(name) for name in SeriesBuckets.BUCKET_ARRAYS}
        count = np.frombuffer(data["count"], dtype="<i8").astype(np.int64)
        return SeriesBuckets(exact=False, count=count, **arrays)

    def applied_seq(self, project: str, run_id: str, writer_id: str) -> int:
        """How far the server has applied one writer's operations (-1: none)."""
        path = f"{_project_path(project)}/runs/{run_id}/writers/{writer_id}"
        return int(self._json("GET", path)["applied_seq"])

    def list_projects(self) -> list[str]:
        return [p["name"] for p in self._json("GET", f"{API}/projects")]

    # -- ingest -----------------------------------------------------------------------------------

    def ingest(
        self,
        project: str,
        run_id: str,
        writer_id: str,
        items: Sequence[tuple[int, Operation]],
        last_seq: int,
        staged_blobs: Path | None,
    ) -> IngestResult:
        """Apply a batch of a writer's operations, uploading first the files they refer to that the
        server does not have, from `staged_blobs` (None: every one was uploaded already)."""
        if staged_blobs is not None:
            for sha in {ref.sha256 for _, op in items for ref in referenced_files(op)}:
                if (project, sha) not in self._linked:
                    self.upload_blob(project, staged_blobs / sha, sha)
        body = msgpack.packb(
            {"writer_id": writer_id, "last_seq": last_seq, "batch": encode_batch(list(items))},
            use_bin_type=True,
        )
        url = f"{_project_path(project)}/runs/{run_id}/ingest"
        headers = {"Content-Type": "application/msgpack"}
        for _ in range(2):
            response = self._send(lambda: self._client.post(url, content=body, headers=headers), accept=409)
            if response.status_code != 409:
                answer = response.json()
                return IngestResult(int(answer["applied_seq"]), list(answer["rejected"]))
            # The server forgot a file we thought it had (another project, a restored database).
            missing = response.json().get("missing_blobs", [])
            if staged_blobs is None:
                raise ServerError(
                    f"the server lost {len(missing)} file(s) of run {run_id} just uploaded "
                    f"({', '.join(sha[:12] for sha in missing)}); send them again",
                    409,
                )
            for sha in missing:
                self._linked.discard((project, sha))
                self.upload_blob(project, staged_blobs / sha, sha)
        raise ServerError(f"the server keeps asking for files of run {run_id} that were uploaded", 409)

    # -- files ------------------------------------------------------------------------------------

    def upload_blob(self, project: str, source: Path, sha256: str) -> bool:
        """Upload a file's content in parts, sending only the parts the server does not have yet;
        False when the server had the whole content already."""
        if not source.exists():
            raise FileNotFoundError(f"the content of file {sha256[:12]} is missing from {source.parent}")
        size = source.stat().st_size
        base = f"{_project_path(project)}/uploads"
        status = self._json("POST", base, json={"sha256": sha256, "size": size})
        if not status["complete"]:
            upload_id, part_size = status["upload_id"], int(status["part_size"])
            have = {int(n): int(s) for n, s in status["parts"].items()}
            count = max(1, math.ceil(size / part_size))
            report = size >= self.progress_threshold
            sent = sum(have.values())
            with open(source, "rb") as handle:
                for part_no in range(count):
                    expected = min(part_size, size - part_no * part_size)
                    if have.get(part_no) == expected:
                        continue  # received before the connection broke
                    handle.seek(part_no * part_size)
                    chunk = handle.read(expected)
                    self._send(
                        lambda chunk=chunk, n=part_no: self._client.put(  # type: ignore[misc]
                            f"{base}/{upload_id}/parts/{n}",
                            content=chunk,
                            headers={"Content-Type": "application/octet-stream"},
                        )
                    )
                    sent += expected
                    if report:
                        self.upload_progress(sha256, sent, size)
            self._json("POST", f"{base}/{upload_id}/complete", json={"sha256": sha256})
        self._linked.add((project, sha256))
        return not status["complete"]

    def knows_blob(self, project: str, sha256: str) -> bool:
        """Whether this client has seen the server hold the content for the project (no request)."""
        return (project, sha256) in self._linked

    def open_blob(self, project: str, sha256: str) -> BinaryIO:
        request = self._client.build_request("GET", f"{_project_path(project)}/blobs/{sha256}")
        response = self._send(lambda: self._client.send(request, stream=True))
        return io.BufferedReader(_ResponseStream(response), 1 << 20)

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
