from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib
import pytest

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from PIL import Image

from despina.types import File, is_file_convertible

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SRC_DIR = Path(__file__).resolve().parents[2] / "src"


def _open_png(file: File) -> Image.Image:
    assert file.extension == "png"
    assert file.mime_type == "image/png"
    assert file.content is not None
    assert file.content.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(file.content))
    image.load()
    return image


@pytest.fixture
def figure() -> Iterator[Any]:
    fig, ax = plt.subplots(figsize=(4, 3), dpi=50)
    ax.plot([1, 2, 3], [3, 1, 2])
    yield fig
    plt.close(fig)


# --------------------------------------------------------------------------- constructor


def test_file_from_path_is_absolute_with_extension(tmp_path: Path) -> None:
    target = tmp_path / "plot.png"
    target.write_bytes(b"data")
    file = File(target)
    assert file.path == str(target)
    assert os.path.isabs(file.path)
    assert file.content is None
    assert file.extension == "png"
    assert file.mime_type == "image/png"
    with file.open() as stream:
        assert stream.read() == b"data"


def test_relative_path_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    file = File("notes.txt")
    assert file.path == str(tmp_path / "notes.txt")
    assert file.extension == "txt"


def test_path_without_suffix_has_empty_extension() -> None:
    file = File("/tmp/Makefile")
    assert file.extension == ""
    assert file.mime_type == "application/octet-stream"


def test_explicit_extension_overrides_suffix_and_drops_dot() -> None:
    assert File("/tmp/data.bin", extension="csv").extension == "csv"
    assert File(content=b"x", extension=".json").extension == "json"


def test_content_file() -> None:
    file = File(content=b"a,b\n1,2\n", extension="csv")
    assert file.path is None
    assert file.content == b"a,b\n1,2\n"
    assert file.mime_type == "text/csv"
    with file.open() as stream:
        assert stream.read() == b"a,b\n1,2\n"


def test_neither_path_nor_content_raises() -> None:
    with pytest.raises(ValueError, match="neither"):
        File()


def test_both_path_and_content_raises() -> None:
    with pytest.raises(ValueError, match="not both"):
        File("/tmp/a.txt", content=b"x")


def test_str_content_raises_type_error() -> None:
    with pytest.raises(TypeError, match="from_content"):
        File(content="text")  # type: ignore[arg-type]


def test_unknown_extension_falls_back_to_octet_stream() -> None:
    assert File(content=b"x", extension="pkl").mime_type == "application/octet-stream"


def test_equality_and_repr(tmp_path: Path) -> None:
    assert File(content=b"x", extension="txt") == File(content=b"x", extension="txt")
    assert File(content=b"x", extension="txt") != File(content=b"x", extension="bin")
    assert File(content=b"x", extension="txt") != File(content=b"y", extension="txt")
    assert File(tmp_path / "a.txt") == File(str(tmp_path / "a.txt"))
    assert File(content=b"x") != "x"
    assert "3 bytes" in repr(File(content=b"abc", extension="txt"))
    assert str(tmp_path / "a.txt") in repr(File(tmp_path / "a.txt"))


# --------------------------------------------------------------------------- from_* constructors


def test_from_content_str_is_utf8_txt() -> None:
    file = File.from_content("héllo")
    assert file.content == "héllo".encode()
    assert file.extension == "txt"
    assert file.mime_type == "text/plain"


def test_from_content_bytes_is_bin() -> None:
    file = File.from_content(b"\x00\x01")
    assert file.content == b"\x00\x01"
    assert file.extension == "bin"


def test_from_content_with_extension() -> None:
    assert File.from_content('{"a": 1}', extension="json").extension == "json"


def test_from_path(tmp_path: Path) -> None:
    file = File.from_path(tmp_path / "model.pt", extension="bin")
    assert file.path == str(tmp_path / "model.pt")
    assert file.extension == "bin"


def test_from_stream_text() -> None:
    stream = io.StringIO("line 1\nline 2\n")
    stream.read()  # at the end: the default seek=0 rewinds
    file = File.from_stream(stream)
    assert file.content == b"line 1\nline 2\n"
    assert file.extension == "txt"


def test_from_stream_binary() -> None:
    file = File.from_stream(io.BytesIO(b"\x89binary"), extension="dat")
    assert file.content == b"\x89binary"
    assert file.extension == "dat"
    assert File.from_stream(io.BytesIO(b"abc")).extension == "bin"


def test_from_stream_seek_none_reads_from_current_position() -> None:
    stream = io.BytesIO(b"headerBODY")
    stream.seek(6)
    assert File.from_stream(stream, seek=None).content == b"BODY"


def test_from_stream_real_file(tmp_path: Path) -> None:
    target = tmp_path / "f.txt"
    target.write_text("text file")
    with open(target) as text_stream:
        assert File.from_stream(text_stream).content == b"text file"
    with open(target, "rb") as binary_stream:
        assert File.from_stream(binary_stream).content == b"text file"


# --------------------------------------------------------------------------- as_image


def test_as_image_matplotlib_figure(figure: Any) -> None:
    image = _open_png(File.as_image(figure))
    assert image.format == "PNG"
    width, height = image.size
    # bbox_inches="tight" trims the margins, so at most the 200x150 canvas.
    assert 0 < width <= 200 and 0 < height <= 150


def test_as_image_matplotlib_axes(figure: Any) -> None:
    ax = figure.axes[0]
    assert File.as_image(ax) == File.as_image(figure)


def test_as_image_pil_image() -> None:
    original = Image.new("RGB", (7, 5), color=(10, 20, 30))
    image = _open_png(File.as_image(original))
    assert image.size == (7, 5)
    assert image.convert("RGB").getpixel((3, 2)) == (10, 20, 30)


def test_as_image_pil_image_in_unsupported_png_mode() -> None:
    image = _open_png(File.as_image(Image.new("CMYK", (3, 2))))
    assert image.size == (3, 2)


def test_as_image_float_array_in_unit_range_is_scaled() -> None:
    array = np.zeros((4, 6), dtype=np.float32)
    array[1, 2] = 1.0
    array[3, 5] = 0.5
    image = _open_png(File.as_image(array))
    assert image.size == (6, 4)  # PIL sizes are (width, height)
    assert image.mode == "L"
    assert image.getpixel((2, 1)) == 255
    assert image.getpixel((5, 3)) in (127, 128)
    assert image.getpixel((0, 0)) == 0


def test_as_image_array_in_byte_range_is_kept() -> None:
    array = np.full((2, 3, 3), 100, dtype=np.uint8)
    array[0, 0] = (200, 0, 50)
    image = _open_png(File.as_image(array))
    assert image.mode == "RGB"
    assert image.size == (3, 2)
    assert image.getpixel((0, 0)) == (200, 0, 50)
    assert image.getpixel((1, 1)) == (100, 100, 100)


def test_as_image_rgba_and_single_channel_arrays() -> None:
    rgba = _open_png(File.as_image(np.ones((2, 2, 4))))
    assert rgba.mode == "RGBA"
    assert rgba.getpixel((0, 0)) == (255, 255, 255, 255)
    gray = _open_png(File.as_image(np.full((3, 2, 1), 0.2)))
    assert gray.mode == "L"
    assert gray.size == (2, 3)
    assert gray.getpixel((0, 0)) == 51


def test_as_image_without_autoscale_keeps_unit_range_values() -> None:
    image = _open_png(File.as_image(np.ones((2, 2)), autoscale=False))
    assert image.getpixel((0, 0)) == 1


def test_as_image_out_of_range_array_raises() -> None:
    with pytest.raises(ValueError, match=r"-5.*300|\[0, 255\]"):
        File.as_image(np.array([[-5.0, 300.0]]))


def test_as_image_bad_shape_raises() -> None:
    with pytest.raises(ValueError, match="shape"):
        File.as_image(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="shape"):
        File.as_image(np.zeros(5))


def test_as_image_unsupported_type_raises() -> None:
    with pytest.raises(TypeError, match="list"):
        File.as_image([[0, 1], [1, 0]])


# --------------------------------------------------------------------------- as_html / as_pickle


def test_as_html_plotly_figure_contains_trace_data() -> None:
    fig = go.Figure(data=[go.Scatter(x=[1, 2, 3], y=[4, 5, 6], name="my-trace")])
    file = File.as_html(fig, include_plotlyjs="cdn")
    assert file.extension == "html"
    assert file.mime_type == "text/html"
    assert file.content is not None
    html = file.content.decode("utf-8")
    assert html.lstrip().lower().startswith(("<!doctype html", "<html"))
    assert "my-trace" in html
    assert "cdn.plot.ly" in html


def test_as_html_plotly_embeds_plotlyjs_by_default() -> None:
    file = File.as_html(go.Figure(data=[go.Bar(x=["a"], y=[1])]))
    assert file.content is not None
    assert len(file.content) > 1_000_000  # the bundled plotly.js


def test_as_html_dataframe() -> None:
    df = pd.DataFrame({"col_a": [1, 2], "col_b": ["x", "y"]})
    file = File.as_html(df)
    assert file.extension == "html"
    assert file.content is not None
    html = file.content.decode("utf-8")
    assert "<table" in html and "col_a" in html and "col_b" in html


def test_as_html_matplotlib_figure(figure: Any) -> None:
    file = File.as_html(figure)
    assert file.content is not None
    html = file.content.decode("utf-8")
    assert "<img" in html and "data:image/png;base64," in html


def test_as_html_unsupported_type_raises() -> None:
    with pytest.raises(TypeError, match="int"):
        File.as_html(42)


def test_as_pickle_round_trips() -> None:
    obj = {"a": [1, 2, 3], "b": (None, 1.5)}
    file = File.as_pickle(obj)
    assert file.extension == "pkl"
    assert file.content is not None
    assert pickle.loads(file.content) == obj


# --------------------------------------------------------------------------- create_from


def test_create_from_file_is_identity() -> None:
    file = File(content=b"x", extension="txt")
    assert File.create_from(file) is file


def test_create_from_existing_path(tmp_path: Path) -> None:
    target = tmp_path / "weights.pt"
    target.write_bytes(b"w")
    assert File.create_from(str(target)) == File(target)
    assert File.create_from(target).extension == "pt"


def test_create_from_missing_path_raises(tmp_path: Path) -> None:
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError, match=r"nope\.txt") as info:
        File.create_from(str(missing))
    assert info.value.filename == str(missing)


def test_create_from_directory_raises(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        File.create_from(tmp_path)


def test_create_from_images(figure: Any) -> None:
    assert _open_png(File.create_from(figure)).size == _open_png(File.as_image(figure)).size
    _open_png(File.create_from(figure.axes[0]))
    assert _open_png(File.create_from(Image.new("L", (3, 3)))).size == (3, 3)
    assert _open_png(File.create_from(np.zeros((3, 4)))).size == (4, 3)


def test_create_from_plotly_figure_gives_html() -> None:
    file = File.create_from(go.Figure(data=[go.Scatter(y=[7, 8, 9], name="created-trace")]))
    assert file.extension == "html"
    assert file.content is not None
    assert "created-trace" in file.content.decode("utf-8")


def test_create_from_dataframe_gives_csv() -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5], "c": ["x", "y", "z"]})
    file = File.create_from(df)
    assert file.extension == "csv"
    assert file.mime_type == "text/csv"
    assert file.content is not None
    assert not file.content.startswith(b",")  # no index column
    pd.testing.assert_frame_equal(pd.read_csv(io.BytesIO(file.content)), df)


def test_create_from_unsupported_type_raises() -> None:
    class Custom:
        pass

    with pytest.raises(TypeError, match="Custom") as info:
        File.create_from(Custom())
    assert "path" in str(info.value)  # lists what is accepted
    with pytest.raises(TypeError, match="int"):
        File.create_from(3)


# --------------------------------------------------------------------------- is_file_convertible


def test_is_file_convertible(figure: Any) -> None:
    assert is_file_convertible(File(content=b"x"))
    assert is_file_convertible(figure)
    assert is_file_convertible(figure.axes[0])
    assert is_file_convertible(Image.new("RGB", (1, 1)))
    assert is_file_convertible(go.Figure())
    assert not is_file_convertible(np.zeros((2, 2)))
    assert not is_file_convertible(pd.DataFrame({"a": [1]}))
    assert not is_file_convertible("image.png")
    assert not is_file_convertible(1.5)
    assert not is_file_convertible(None)


# --------------------------------------------------------------------------- lazy imports


def test_importing_types_does_not_import_heavy_libraries() -> None:
    # numpy is a core dependency (the client imports it); the optional media libraries stay unloaded.
    code = (
        "import sys, despina.types\n"
        "heavy = [m for m in ('pandas', 'matplotlib', 'PIL', 'plotly') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "despina.types.is_file_convertible(object())\n"
        "despina.types.File.from_content('x')\n"
        "heavy = [m for m in ('pandas', 'matplotlib', 'PIL', 'plotly') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC_DIR)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
