"""Public value types for Despina, chiefly :class:`File`.

A :class:`File` is what gets stored when a run uploads something that is not a
plain atom (number, string, bool, datetime): an image, an HTML chart, a CSV
table, a pickle or any file on disk. It is either *file-backed* (it remembers an
absolute ``path`` and reads it when needed) or *in memory* (it holds ``content``
bytes), and always carries an ``extension`` (without the leading dot) from which
its MIME type is guessed.

Typical uses::

    from despina.types import File

    run["model/weights"].upload("model.pt")                  # File("model.pt")
    run["config"].upload(File.from_content('{"lr": 0.1}', extension="json"))
    run["charts/loss"].upload(File.as_image(fig))            # matplotlib figure -> PNG
    run["charts/interactive"].upload(File.as_html(plotly_fig))
    run["data/sample"].upload(File.as_pickle(obj))

:meth:`File.create_from` is what ``upload(value)`` does with an arbitrary value,
and :func:`is_file_convertible` tells which values ``run["x"] = value`` treats as
a file (an image or an HTML page) rather than as an atom.

Heavy libraries (numpy, Pillow, matplotlib, plotly, pandas) are never imported at
module import time: objects are recognised by the module and name of the classes
in their MRO, and numpy / Pillow are imported only inside the functions that
need them to convert arrays to images.
"""

from __future__ import annotations

import base64
import errno
import io
import mimetypes
import os
import pickle
import typing
from typing import Any

__all__ = ["File", "is_file_convertible"]

_DEFAULT_MIME_TYPE = "application/octet-stream"

_ACCEPTED_IMAGES = (
    "a matplotlib Figure or Axes, a PIL Image, or a numpy array "
    "(2D grayscale, or 3D height x width x channels with 1, 3 or 4 channels)"
)
_ACCEPTED_HTML = "a plotly figure, a pandas DataFrame, or a matplotlib Figure or Axes"
_ACCEPTED_UPLOADS = (
    "a despina.types.File, a path (str or os.PathLike), a matplotlib Figure or Axes, a PIL Image, "
    "a numpy array, a plotly figure, or a pandas DataFrame"
)

# Modes that Pillow can write to PNG as they are; anything else is converted first.
_PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "PA", "RGB", "RGBA"})


# --------------------------------------------------------------------------- detection helpers


def _type_name(value: object) -> str:
    cls = type(value)
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _has_class(value: object, module_prefix: str, *names: str) -> bool:
    """Whether some class in ``type(value).__mro__`` is named one of ``names`` and lives
    in ``module_prefix`` or one of its submodules."""
    for cls in type(value).__mro__:
        module = getattr(cls, "__module__", "") or ""
        if cls.__name__ in names and (module == module_prefix or module.startswith(module_prefix + ".")):
            return True
    return False


def _is_matplotlib_figure(value: object) -> bool:
    return _has_class(value, "matplotlib.figure", "Figure")


def _is_matplotlib_axes(value: object) -> bool:
    return _has_class(value, "matplotlib.axes", "Axes", "_AxesBase")


def _is_pil_image(value: object) -> bool:
    return _has_class(value, "PIL.Image", "Image")


def _is_numpy_array(value: object) -> bool:
    return _has_class(value, "numpy", "ndarray")


def _is_plotly_figure(value: object) -> bool:
    return _has_class(value, "plotly", "BaseFigure")


def _is_pandas_dataframe(value: object) -> bool:
    return _has_class(value, "pandas", "DataFrame")


def is_file_convertible(value: object) -> bool:
    """Whether ``run["x"] = value`` should store ``value`` as a file rather than an atom.

    True for :class:`File` instances, matplotlib Figures and Axes, PIL Images and plotly
    figures. Numpy arrays, pandas DataFrames and strings are *not* treated as files here
    (a string is an atom; arrays and frames must be uploaded explicitly).
    """
    return (
        isinstance(value, File)
        or _is_matplotlib_figure(value)
        or _is_matplotlib_axes(value)
        or _is_pil_image(value)
        or _is_plotly_figure(value)
    )


# --------------------------------------------------------------------------- conversion helpers


def _normalize_extension(extension: str | None, default: str) -> str:
    if extension is None:
        return default
    if not isinstance(extension, str):
        raise TypeError(f"extension must be a str or None, got {_type_name(extension)}")
    return extension.lstrip(".")


def _figure_of_axes(axes: Any) -> Any:
    try:
        figure = axes.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10 has no ``root`` argument
        figure = axes.get_figure()
    if figure is None:
        raise ValueError("the matplotlib Axes is not attached to a figure")
    return figure


def _matplotlib_png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()


def _pil_png(image: Any) -> bytes:
    if image.mode not in _PNG_MODES:
        bands = tuple(image.getbands())
        if "A" in bands:
            target = "RGBA"
        elif len(bands) == 1:
            target = "L"
        else:
            target = "RGB"
        image = image.convert(target)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _numpy_png(array: Any, autoscale: bool) -> bytes:
    import numpy as np
    from PIL import Image

    data = np.asarray(array)
    if data.dtype.kind == "b":
        data = data.astype(np.uint8)
    elif data.dtype.kind not in "iuf":
        try:
            data = data.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"cannot make an image from a numpy array of dtype {data.dtype}") from exc

    if data.ndim == 3 and data.shape[2] == 1:
        data = data[:, :, 0]
    if not (data.ndim == 2 or (data.ndim == 3 and data.shape[2] in (3, 4))):
        raise ValueError(
            f"cannot make an image from a numpy array of shape {data.shape}: expected a 2D array "
            "(grayscale) or a 3D array of shape (height, width, channels) with 1, 3 or 4 channels"
        )
    if data.size == 0:
        raise ValueError(f"cannot make an image from an empty numpy array of shape {data.shape}")
    if data.dtype.kind == "f" and not bool(np.isfinite(data).all()):
        raise ValueError("cannot make an image from a numpy array containing NaN or infinite values")

    low = float(data.min())
    high = float(data.max())
    if autoscale and low >= 0.0 and high <= 1.0:
        data = data.astype(np.float64) * 255.0
    elif low < 0.0 or high > 255.0:
        hint = "values in [0, 1] (scaled to [0, 255]) or " if autoscale else ""
        raise ValueError(
            f"cannot make an image from a numpy array with values in [{low:g}, {high:g}]: "
            f"expected {hint}values in [0, 255]; rescale the array first"
        )
    if data.dtype.kind == "f":
        data = np.rint(data)
    pixels = np.ascontiguousarray(data.astype(np.uint8))
    return _pil_png(Image.fromarray(pixels))


def _matplotlib_html(figure: Any) -> bytes:
    encoded = base64.b64encode(_matplotlib_png(figure)).decode("ascii")
    page = (
        "<!DOCTYPE html>\n"
        '<html>\n<head>\n<meta charset="utf-8">\n<title>matplotlib figure</title>\n</head>\n'
        f'<body>\n<img src="data:image/png;base64,{encoded}" alt="matplotlib figure">\n</body>\n</html>\n'
    )
    return page.encode("utf-8")


# --------------------------------------------------------------------------- File


class File:
    """A file to upload: either a path on disk or bytes in memory, plus an extension.

    Exactly one of ``path`` and ``content`` must be given. ``extension`` (without the
    leading dot) defaults to the suffix of ``path`` (``""`` when it has none) and is
    required in practice for content, where it defaults to ``""``.

    >>> File("plots/loss.png").extension
    'png'
    >>> File(content=b"a,b\\n1,2\\n", extension="csv").mime_type
    'text/csv'
    """

    __slots__ = ("_content", "_extension", "_path")

    _path: str | None
    _content: bytes | None
    _extension: str

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        content: bytes | None = None,
        extension: str | None = None,
    ) -> None:
        if path is None and content is None:
            raise ValueError("File needs either a path or content, but got neither")
        if path is not None and content is not None:
            raise ValueError("File takes either a path or content, not both")

        if path is not None:
            if not isinstance(path, (str, os.PathLike)):
                raise TypeError(f"File path must be a str or os.PathLike, got {_type_name(path)}")
            raw = os.fspath(path)
            if not isinstance(raw, str):
                raise TypeError(f"File path must be a str path, got {_type_name(raw)}")
            if raw == "":
                raise ValueError("File path must not be empty")
            self._path = os.path.abspath(raw)
            self._content = None
            default_extension = os.path.splitext(raw)[1].lstrip(".")
        else:
            if isinstance(content, (bytearray, memoryview)):
                content = bytes(content)
            if not isinstance(content, bytes):
                raise TypeError(
                    f"File content must be bytes, got {_type_name(content)}; "
                    "use File.from_content() to upload a str"
                )
            self._path = None
            self._content = content
            default_extension = ""
        self._extension = _normalize_extension(extension, default_extension)

    # ----------------------------------------------------------------- properties

    @property
    def path(self) -> str | None:
        """The absolute path of a file-backed File, else None."""
        return self._path

    @property
    def content(self) -> bytes | None:
        """The bytes of an in-memory File, else None."""
        return self._content

    @property
    def extension(self) -> str:
        """The extension without the leading dot, e.g. ``"png"`` (may be ``""``)."""
        return self._extension

    @property
    def mime_type(self) -> str:
        """The MIME type guessed from the extension, ``application/octet-stream`` if unknown."""
        if not self._extension:
            return _DEFAULT_MIME_TYPE
        guessed, _ = mimetypes.guess_type(f"file.{self._extension}", strict=False)
        return guessed or _DEFAULT_MIME_TYPE

    def open(self) -> typing.BinaryIO:
        """A readable binary stream over the file's bytes; the caller closes it."""
        if self._path is not None:
            return open(self._path, "rb")
        assert self._content is not None
        return io.BytesIO(self._content)

    # ----------------------------------------------------------------- constructors

    @classmethod
    def from_path(cls, path: str | os.PathLike[str], *, extension: str | None = None) -> File:
        """A file-backed File; the path is made absolute but not checked here."""
        return cls(path, extension=extension)

    @classmethod
    def from_content(cls, content: str | bytes, *, extension: str | None = None) -> File:
        """An in-memory File. A str is encoded as UTF-8 (default extension ``"txt"``),
        bytes are kept as they are (default extension ``"bin"``)."""
        if isinstance(content, str):
            return cls(content=content.encode("utf-8"), extension=_normalize_extension(extension, "txt"))
        if isinstance(content, (bytes, bytearray, memoryview)):
            return cls(content=bytes(content), extension=_normalize_extension(extension, "bin"))
        raise TypeError(f"File.from_content() expects str or bytes, got {_type_name(content)}")

    @classmethod
    def from_stream(
        cls, stream: typing.IO[Any], *, seek: int | None = 0, extension: str | None = None
    ) -> File:
        """An in-memory File holding everything read from ``stream`` (read once).

        The stream is first moved to ``seek`` (pass None to read from where it is).
        Text streams are encoded as UTF-8 (default extension ``"txt"``); binary streams
        default to ``"bin"``.
        """
        if seek is not None:
            stream.seek(seek)
        data = stream.read()
        if isinstance(data, str):
            return cls(content=data.encode("utf-8"), extension=_normalize_extension(extension, "txt"))
        if isinstance(data, (bytes, bytearray, memoryview)):
            return cls(content=bytes(data), extension=_normalize_extension(extension, "bin"))
        raise TypeError(f"File.from_stream() read {_type_name(data)} from the stream; expected str or bytes")

    @classmethod
    def as_image(cls, image: object, autoscale: bool = True) -> File:
        """A PNG image (extension ``"png"``) made from ``image``.

        Accepts a matplotlib Figure (saved with ``bbox_inches="tight"``), a matplotlib
        Axes (its figure), a PIL Image, or a numpy array: 2D (grayscale) or 3D
        height x width x channels with 1, 3 or 4 channels. With ``autoscale`` an array
        whose values all lie in [0, 1] is multiplied by 255; values in [0, 255] are kept
        as they are; any other range raises ValueError.
        """
        if _is_matplotlib_figure(image):
            content = _matplotlib_png(image)
        elif _is_matplotlib_axes(image):
            content = _matplotlib_png(_figure_of_axes(image))
        elif _is_pil_image(image):
            content = _pil_png(image)
        elif _is_numpy_array(image):
            content = _numpy_png(image, autoscale)
        else:
            raise TypeError(
                f"File.as_image() cannot convert {_type_name(image)}; expected {_ACCEPTED_IMAGES}"
            )
        return cls(content=content, extension="png")

    @classmethod
    def as_html(cls, chart: object, **kwargs: Any) -> File:
        """An HTML page (extension ``"html"``) made from ``chart``.

        * plotly figure: ``fig.to_html(include_plotlyjs=True, full_html=True)``; keyword
          arguments are passed to ``to_html`` (e.g. ``include_plotlyjs="cdn"``);
        * pandas DataFrame: ``df.to_html()``, with the keyword arguments other than
          ``include_plotlyjs`` / ``full_html`` passed on;
        * matplotlib Figure or Axes: a page embedding the figure as a base64 PNG ``<img>``.
        """
        if _is_plotly_figure(chart):
            options: dict[str, Any] = {"include_plotlyjs": True, "full_html": True}
            options.update(kwargs)
            html = typing.cast(Any, chart).to_html(**options)
            return cls(content=str(html).encode("utf-8"), extension="html")

        extra = {key: value for key, value in kwargs.items() if key not in ("include_plotlyjs", "full_html")}
        if _is_pandas_dataframe(chart):
            html = typing.cast(Any, chart).to_html(**extra)
            return cls(content=str(html).encode("utf-8"), extension="html")
        if _is_matplotlib_figure(chart) or _is_matplotlib_axes(chart):
            if extra:
                raise TypeError(
                    "File.as_html() got unexpected keyword arguments for a matplotlib figure: "
                    + ", ".join(sorted(extra))
                )
            figure = _figure_of_axes(chart) if _is_matplotlib_axes(chart) else chart
            return cls(content=_matplotlib_html(figure), extension="html")
        raise TypeError(f"File.as_html() cannot convert {_type_name(chart)}; expected {_ACCEPTED_HTML}")

    @classmethod
    def as_pickle(cls, obj: object) -> File:
        """The pickled bytes of ``obj`` (extension ``"pkl"``)."""
        return cls(content=pickle.dumps(obj), extension="pkl")

    @classmethod
    def create_from(cls, value: object) -> File:
        """The File that ``upload(value)`` stores.

        * a File: itself;
        * str / os.PathLike: the file at that path (FileNotFoundError if it does not
          exist, IsADirectoryError if it is a directory);
        * matplotlib Figure / Axes, PIL Image, numpy array: :meth:`as_image`;
        * plotly figure: :meth:`as_html`;
        * pandas DataFrame: CSV bytes (``df.to_csv(index=False)``, extension ``"csv"``).

        Anything else raises TypeError.
        """
        if isinstance(value, File):
            return value
        if isinstance(value, (str, os.PathLike)):
            raw = os.fspath(value)
            if isinstance(raw, str):
                if not os.path.exists(raw):
                    raise FileNotFoundError(errno.ENOENT, "cannot upload: no such file", raw)
                if os.path.isdir(raw):
                    raise IsADirectoryError(errno.EISDIR, "cannot upload a directory as a single file", raw)
                return cls(raw)
        if (
            _is_matplotlib_figure(value)
            or _is_matplotlib_axes(value)
            or _is_pil_image(value)
            or _is_numpy_array(value)
        ):
            return cls.as_image(value)
        if _is_plotly_figure(value):
            return cls.as_html(value)
        if _is_pandas_dataframe(value):
            csv = typing.cast(Any, value).to_csv(index=False)
            return cls(content=str(csv).encode("utf-8"), extension="csv")
        hint = "; wrap bytes with File.from_content()" if isinstance(value, (bytes, bytearray)) else ""
        raise TypeError(
            f"cannot upload a value of type {_type_name(value)}; expected {_ACCEPTED_UPLOADS}{hint}"
        )

    # ----------------------------------------------------------------- dunder methods

    def _key(self) -> tuple[str | None, bytes | None, str]:
        return (self._path, self._content, self._extension)

    def __repr__(self) -> str:
        if self._path is not None:
            return f"File(path={self._path!r}, extension={self._extension!r})"
        assert self._content is not None
        return f"File(content=<{len(self._content)} bytes>, extension={self._extension!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, File):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())
