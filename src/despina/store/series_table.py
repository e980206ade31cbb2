"""Many series as one long table (run, path, step, value, timestamp), and how it travels.

The server sends it as an Apache Arrow IPC stream (`application/vnd.apache.arrow.stream`): columns of
float64 as they are stored, so values come back exactly, NaN and infinities included; `run` and
`path` are dictionary-encoded (each name once). A client without pyarrow asks for msgpack instead,
with the same columns as raw little-endian arrays.

`value` is float64 when every series is a float series; when string series are asked for, it holds
strings (a float series' values then as their shortest exact repr, e.g. "0.1", "nan").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgpack
import numpy as np
import numpy.typing as npt

from despina.client import field_types as ft
from despina.store.base import RunSeries

if TYPE_CHECKING:
    import pandas as pd

ARROW_STREAM = "application/vnd.apache.arrow.stream"
MSGPACK = "application/msgpack"
COLUMNS = ("run", "path", "step", "value", "timestamp")


@dataclass
class SeriesTable:
    """Columns of the long table: `runs`/`paths` are the distinct names, `run_codes`/`path_codes`
    index them per point."""

    runs: list[str]
    paths: list[str]
    run_codes: npt.NDArray[np.int32]
    path_codes: npt.NDArray[np.int32]
    steps: npt.NDArray[np.float64]
    values: Any  # float64 array, or a list of strings
    timestamps: npt.NDArray[np.float64]

    @classmethod
    def of(cls, series: list[RunSeries]) -> SeriesTable:
        runs = list(dict.fromkeys(s.run_id for s in series))
        paths = list(dict.fromkeys(s.path for s in series))
        run_index = {r: i for i, r in enumerate(runs)}
        path_index = {p: i for i, p in enumerate(paths)}
        sizes = [len(s.data.steps) for s in series]
        floats = all(s.type == ft.FLOAT_SERIES for s in series)

        def join(parts: list[Any]) -> npt.NDArray[np.float64]:
            return np.concatenate(parts).astype(np.float64, copy=False) if parts else np.empty(0)

        values: Any
        if floats:
            values = join([np.asarray(s.data.values, dtype=np.float64) for s in series])
        else:
            values = [
                repr(float(v)) if s.type == ft.FLOAT_SERIES else str(v) for s in series for v in s.data.values
            ]
        return cls(
            runs,
            paths,
            np.repeat(np.array([run_index[s.run_id] for s in series], dtype=np.int32), sizes),
            np.repeat(np.array([path_index[s.path] for s in series], dtype=np.int32), sizes),
            join([s.data.steps for s in series]),
            values,
            join([s.data.timestamps for s in series]),
        )

    def __len__(self) -> int:
        return len(self.steps)

    # -- Arrow ----------------------------------------------------------------------------------------

    def to_arrow(self) -> bytes:
        """An Arrow IPC stream of one record batch."""
        import pyarrow as pa

        batch = pa.record_batch(
            [
                pa.DictionaryArray.from_arrays(pa.array(self.run_codes), pa.array(self.runs, pa.string())),
                pa.DictionaryArray.from_arrays(pa.array(self.path_codes), pa.array(self.paths, pa.string())),
                pa.array(self.steps),
                pa.array(self.values, pa.float64() if isinstance(self.values, np.ndarray) else pa.string()),
                pa.array(self.timestamps),
            ],
            names=list(COLUMNS),
        )
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_batch(batch)
        return bytes(sink.getvalue().to_pybytes())

    @classmethod
    def from_arrow(cls, body: bytes) -> SeriesTable:
        import pyarrow as pa

        table = pa.ipc.open_stream(pa.py_buffer(body)).read_all().combine_chunks()
        if table.num_rows == 0:
            return cls([], [], *(np.empty(0, np.int32),) * 2, *(np.empty(0),) * 3)

        def codes(name: str) -> tuple[list[str], npt.NDArray[np.int32]]:
            column = table.column(name).chunk(0)
            return column.dictionary.to_pylist(), column.indices.to_numpy().astype(np.int32)

        runs, run_codes = codes("run")
        paths, path_codes = codes("path")
        value = table.column("value")
        values = value.to_numpy() if pa.types.is_floating(value.type) else value.to_pylist()
        return cls(
            runs,
            paths,
            run_codes,
            path_codes,
            table.column("step").to_numpy(),
            values,
            table.column("timestamp").to_numpy(),
        )

    # -- msgpack (clients without pyarrow) --------------------------------------------------------------

    def to_msgpack(self) -> bytes:
        floats = isinstance(self.values, np.ndarray)
        return msgpack.packb(
            {
                "runs": self.runs,
                "paths": self.paths,
                "run_codes": self.run_codes.astype("<i4").tobytes(),
                "path_codes": self.path_codes.astype("<i4").tobytes(),
                "steps": self.steps.astype("<f8").tobytes(),
                "values": self.values.astype("<f8").tobytes() if floats else self.values,
                "float_values": floats,
                "timestamps": self.timestamps.astype("<f8").tobytes(),
            },
            use_bin_type=True,
        )

    @classmethod
    def from_msgpack(cls, body: bytes) -> SeriesTable:
        data = msgpack.unpackb(body, raw=False)
        values = data["values"]
        return cls(
            data["runs"],
            data["paths"],
            np.frombuffer(data["run_codes"], "<i4").astype(np.int32),
            np.frombuffer(data["path_codes"], "<i4").astype(np.int32),
            np.frombuffer(data["steps"], "<f8").astype(np.float64),
            np.frombuffer(values, "<f8").astype(np.float64) if data["float_values"] else values,
            np.frombuffer(data["timestamps"], "<f8").astype(np.float64),
        )

    # -- pandas ---------------------------------------------------------------------------------------

    def to_pandas(self) -> pd.DataFrame:
        """The long DataFrame: run and path as categoricals, step and value as float64 (strings for
        string series), timestamp as UTC datetimes."""
        import pandas as pd

        frame: pd.DataFrame = pd.DataFrame(
            {
                "run": pd.Categorical.from_codes(self.run_codes, categories=pd.Index(self.runs)),
                "path": pd.Categorical.from_codes(self.path_codes, categories=pd.Index(self.paths)),
                "step": self.steps,
                "value": self.values
                if isinstance(self.values, np.ndarray)
                else pd.Series(self.values, dtype=object),
                "timestamp": pd.to_datetime(self.timestamps, unit="s", utc=True),
            }
        )
        return frame
