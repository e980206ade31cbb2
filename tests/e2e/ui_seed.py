"""Runs for the browser tests and the UI benchmark, logged through the client over HTTP (DESPINA_URL)."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import despina
from despina import File

PROJECT = "team/vision"
LONG_SERIES_POINTS = 5000  # more than a chart's 1,000 buckets: drawn downsampled until zoomed


@contextmanager
def client_env(url: str, home: Path, token: str | None = None) -> Iterator[None]:
    """Point the client at a server (its journals in `home`), restoring the environment after."""
    names = ("DESPINA_URL", "DESPINA_API_TOKEN", "DESPINA_HOME", "DESPINA_MODE")
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update({"DESPINA_URL": url, "DESPINA_HOME": str(home)})
    if token:
        os.environ["DESPINA_API_TOKEN"] = token
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def quiet_run(**kwargs: object) -> despina.Run:
    """A run without the captures a test does not look at (faster, and no background threads)."""
    options: dict[str, object] = {
        "project": PROJECT,
        "capture_hardware_metrics": False,
        "capture_stdout": False,
        "capture_stderr": False,
        "git_ref": False,
        "source_files": [],
    }
    options.update(kwargs)
    return despina.init_run(**options)  # type: ignore[arg-type]


def seed_project(files_dir: Path) -> list[str]:
    """Six runs that differ in lr and optimizer; the first carries files, images and a long series."""
    ids: list[str] = []
    for i, (lr, optimizer) in enumerate(
        [(0.1, "sgd"), (0.01, "adam"), (0.001, "adam"), (0.03, "sgd"), (0.003, "adam"), (0.0003, "sgd")]
    ):
        run = quiet_run(name=f"resnet-{i}", tags=["baseline"] if i < 3 else ["sweep"])
        run["parameters"] = {"lr": lr, "optimizer": optimizer, "batch_size": 64}
        steps = LONG_SERIES_POINTS if i == 0 else 200
        run["train/loss"].extend([math.exp(-s * lr) + 0.01 * (s % 7) for s in range(steps)])
        run["train/accuracy"].extend([1 - math.exp(-s * lr * 2) for s in range(200)])
        run["val/loss"].extend([math.exp(-s * lr) + 0.05 for s in range(0, 200, 10)], steps=range(0, 200, 10))
        run["score"] = 0.5 + lr * i
        if i == 0:
            _files(run, files_dir)
        ids.append(run["sys/id"].fetch())
        run.stop()
    return ids


def _png(path: Path, color: tuple[int, int, int]) -> Path:
    """A small solid PNG, written without imaging libraries."""
    import struct
    import zlib

    width = height = 16
    raw = b"".join(b"\x00" + bytes(color) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def _files(run: despina.Run, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.csv").write_text("epoch,loss\n0,1.0\n1,0.5\n")
    (folder / "config.json").write_text('{"model": "resnet", "layers": 50}')
    (folder / "figure.html").write_text(
        "<!doctype html><html><body><h1 id='t'>static</h1>"
        "<script>document.getElementById('t').textContent = 'figure script ran';</script></body></html>"
    )
    run["reports/metrics"].upload(str(folder / "metrics.csv"))
    run["reports/config"].upload(str(folder / "config.json"))
    run["reports/figure"].upload(str(folder / "figure.html"))
    run["samples/first"].upload(str(_png(folder / "red.png", (220, 30, 30))))
    for step, color in enumerate([(30, 200, 30), (30, 30, 200), (200, 200, 30)]):
        run["samples/predictions"].append(File(str(_png(folder / f"p{step}.png", color))), step=step)
