"""Hardware monitoring: readings land under the right names, broken sensors never hurt the run."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import pytest

from despina.context import monitoring
from despina.context.monitoring import (
    CpuMemoryCollector,
    GpuCollector,
    GpuUnavailableError,
    HardwareMonitor,
    parse_cuda_visible_devices,
    process_key,
)

# -- helpers -------------------------------------------------------------------------------------------


class FakeCollector:
    """Returns fixed readings and counts how often it was asked; can be told to fail from call N on."""

    def __init__(self, name: str, values: dict[str, float], fail_from_call: int | None = None) -> None:
        self.name = name
        self.values = values
        self.fail_from_call = fail_from_call
        self.calls = 0
        self.call_times: list[float] = []

    def sample(self) -> dict[str, float]:
        self.calls += 1
        self.call_times.append(time.monotonic())
        if self.fail_from_call is not None and self.calls >= self.fail_from_call:
            raise RuntimeError(f"{self.name} sensor gone")
        return dict(self.values)


class Sink:
    """log_float / log_warning targets; `wait_for` blocks until a condition on the points holds."""

    def __init__(self) -> None:
        self.points: list[tuple[str, float]] = []
        self.warnings: list[str] = []
        self._changed = threading.Condition()

    def log_float(self, name: str, value: float) -> None:
        with self._changed:
            self.points.append((name, value))
            self._changed.notify_all()

    def log_warning(self, message: str) -> None:
        self.warnings.append(message)

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.points if n == name)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 3.0) -> bool:
        with self._changed:
            return self._changed.wait_for(condition, timeout)


# -- HardwareMonitor -----------------------------------------------------------------------------------


def test_every_interval_logs_each_metric_under_its_name() -> None:
    sink = Sink()
    cpu = FakeCollector("cpu_memory", {"cpu": 12.5, "memory": 3.0})
    gpu = FakeCollector("gpu", {"gpu/0/utilization": 80.0})
    monitor = HardwareMonitor(sink.log_float, sink.log_warning, 0.05, [cpu, gpu])
    started = time.monotonic()
    monitor.start()
    try:
        assert sink.wait_for(lambda: sink.count("gpu/0/utilization") >= 4)
    finally:
        monitor.stop()
    assert {name for name, _ in sink.points} == {"cpu", "memory", "gpu/0/utilization"}
    assert all(
        value == {"cpu": 12.5, "memory": 3.0, "gpu/0/utilization": 80.0}[n] for n, value in sink.points
    )
    assert sink.count("cpu") == sink.count("memory") == cpu.calls >= 4
    # Sampled on the interval, not in a busy loop: sample k is due k intervals after the start.
    assert cpu.call_times[-1] - started >= (cpu.calls - 1) * 0.05
    assert sink.warnings == []


def test_first_sample_is_immediate_and_stop_does_not_wait_for_the_interval() -> None:
    sink = Sink()
    collector = FakeCollector("fake", {"cpu": 1.0})
    monitor = HardwareMonitor(sink.log_float, sink.log_warning, 60.0, [collector])
    started = time.monotonic()
    monitor.start()
    assert sink.wait_for(lambda: sink.count("cpu") == 1, timeout=1.0)
    assert collector.call_times[0] - started < 1.0
    before_stop = time.monotonic()
    monitor.stop()
    assert time.monotonic() - before_stop < 0.5
    assert not any(t.name == "despina-hardware-monitor" for t in threading.enumerate())
    assert collector.calls == 1


def test_a_failing_collector_is_warned_once_and_dropped_while_others_go_on() -> None:
    sink = Sink()
    good = FakeCollector("cpu_memory", {"cpu": 5.0})
    bad = FakeCollector("gpu", {"gpu/0/power": 100.0}, fail_from_call=2)
    monitor = HardwareMonitor(sink.log_float, sink.log_warning, 0.02, [bad, good])
    monitor.start()
    try:
        assert sink.wait_for(lambda: sink.count("cpu") >= 6)
    finally:
        monitor.stop()
    assert sink.warnings == ["gpu: gpu sensor gone"]
    assert bad.calls == 2  # asked again once, failed, never asked again
    assert sink.count("gpu/0/power") == 1
    assert [c.name for c in monitor.collectors] == ["cpu_memory"]


def test_bad_values_and_a_failing_destination_never_raise() -> None:
    sink = Sink()
    weird = FakeCollector("weird", {"x": "not a number"})  # type: ignore[dict-item]
    good = FakeCollector("good", {"cpu": 1.0})

    failures = 0

    def log_float(name: str, value: float) -> None:
        nonlocal failures
        failures += 1
        raise OSError("disk full")

    def log_warning(message: str) -> None:
        sink.warnings.append(message)
        raise RuntimeError("warnings are broken too")

    monitor = HardwareMonitor(log_float, log_warning, 10.0, [weird, good])
    monitor.sample_once()
    monitor.sample_once()
    assert failures == 2  # the good collector is still sampled and its values still offered
    assert len(sink.warnings) == 2
    assert sink.warnings[0].startswith("weird: ")
    assert sink.warnings[1] == "hardware monitoring could not log cpu: disk full"


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval"):
        HardwareMonitor(lambda n, v: None, lambda m: None, 0, [])


def test_default_collectors_here_without_warnings() -> None:
    sink = Sink()
    monitor = HardwareMonitor(sink.log_float, sink.log_warning, 10.0)
    names = [c.name for c in monitor.collectors]
    assert names[0] == "cpu_memory"
    assert set(names) <= {"cpu_memory", "gpu"}
    assert sink.warnings == []  # no GPU (library, driver or device) is not worth a warning
    monitor.sample_once()
    assert {"cpu", "process_cpu", "memory", "process_memory"} <= {name for name, _ in sink.points}
    monitor.stop()


def test_unexpected_gpu_setup_failure_is_one_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    class BrokenGpu:
        name = "gpu"

        def __init__(self) -> None:
            raise RuntimeError("NVML: Unknown Error")

    monkeypatch.setattr(monitoring, "GpuCollector", BrokenGpu)
    sink = Sink()
    monitor = HardwareMonitor(sink.log_float, sink.log_warning, 10.0)
    assert [c.name for c in monitor.collectors] == ["cpu_memory"]
    assert sink.warnings == ["gpu: NVML: Unknown Error"]


def test_monitoring_costs_well_under_one_percent_of_a_core_at_ten_seconds() -> None:
    monitor = HardwareMonitor(lambda n, v: None, lambda m: None, 10.0)
    monitor.sample_once()
    cpu_before = time.process_time()
    for _ in range(10):
        monitor.sample_once()
    per_sample = (time.process_time() - cpu_before) / 10
    monitor.stop()
    assert per_sample < 0.1  # 1% of a core over a 10 s interval; typically about 1 ms


# -- process_key ---------------------------------------------------------------------------------------


def test_process_key_is_short_stable_and_distinguishes_processes() -> None:
    key = process_key("node-1", 4242, "job-7")
    assert re.fullmatch(r"[0-9a-f]{8}", key)
    assert process_key("node-1", 4242, "job-7") == key
    # The ranks of one distributed job share host and custom_run_id; only the pid tells them apart.
    rank_keys = {process_key("node-1", pid, "job-7") for pid in range(1000, 2000)}
    assert len(rank_keys) == 1000
    assert process_key("node-2", 4242, "job-7") != key
    assert process_key("node-1", 4242, "job-8") != key
    assert process_key("node-1", 4242, None) != process_key("node-1", 4242, "")


# -- CpuMemoryCollector --------------------------------------------------------------------------------


def test_cpu_memory_readings_are_sane() -> None:
    collector = CpuMemoryCollector()
    deadline = time.monotonic() + 0.05
    while time.monotonic() < deadline:  # some work, so process CPU has something to measure
        sum(range(1000))
    values = collector.sample()
    assert set(values) == {"cpu", "process_cpu", "memory", "process_memory"}
    assert 0.0 <= values["cpu"] <= 100.0
    assert values["process_cpu"] > 0.0
    assert values["memory"] > 0.0
    assert 0.01 < values["process_memory"] < values["memory"] + 1.0  # a Python process is tens of MB


def test_process_memory_includes_child_processes() -> None:
    collector = CpuMemoryCollector()
    alone = collector.sample()["process_memory"]
    code = "import sys, time; data = b'x' * (200 * 2**20); print('ready', flush=True); time.sleep(30)"
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with_child = collector.sample()["process_memory"]
    finally:
        child.kill()
        child.wait()
    assert with_child - alone > 0.15  # the child's 200 MiB (0.195 GB) is counted


# -- CUDA_VISIBLE_DEVICES ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", []),
        ("0", [0]),
        ("2,0", [2, 0]),
        (" 1 , 3 ", [1, 3]),
        ("GPU-8f3a2b1c-1111-2222-3333-444455556666,1", ["GPU-8f3a2b1c-1111-2222-3333-444455556666", 1]),
        ("GPU-8f3a", ["GPU-8f3a"]),
        ("MIG-5c6d7e8f-aaaa-bbbb-cccc-ddddeeeeffff", ["MIG-5c6d7e8f-aaaa-bbbb-cccc-ddddeeeeffff"]),
        ("-1", []),
        ("0,-1,1", [0]),
        ("1,nonsense,0", [1]),
    ],
)
def test_cuda_visible_devices_parsing(value: str | None, expected: list[int | str] | None) -> None:
    assert parse_cuda_visible_devices(value) == expected


# -- GpuCollector --------------------------------------------------------------------------------------


def test_gpu_collector_without_driver_raises_a_clear_error() -> None:
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:
        pass
    else:
        pynvml.nvmlShutdown()
        pytest.skip("this machine has a working NVIDIA driver")
    with pytest.raises(GpuUnavailableError, match="NVIDIA driver"):
        GpuCollector()


def test_gpu_collector_without_library_raises_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    with pytest.raises(GpuUnavailableError, match="nvidia-ml-py"):
        GpuCollector()


class FakeNvml(types.ModuleType):
    """Just enough of pynvml for three GPUs; the second one cannot report power."""

    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_NOT_FOUND = 6
    NVML_ERROR_DRIVER_NOT_LOADED = 9
    NVML_ERROR_LIBRARY_NOT_FOUND = 12
    NVML_ERROR_GPU_IS_LOST = 15
    NVML_ERROR_UNKNOWN = 999
    NVML_ERROR_INVALID_ARGUMENT = 2
    NVML_TEMPERATURE_GPU = 0

    class NVMLError(Exception):
        def __init__(self, value: int) -> None:
            super().__init__(f"NVML error {value}")
            self.value = value

    def __init__(self, init_error: int | None = None) -> None:
        super().__init__("pynvml")
        self.init_error = init_error
        self.uuids = [
            "GPU-aaaa1111-0000-0000-0000-000000000000",
            "GPU-bbbb2222-0000-0000-0000-000000000000",
            "GPU-cccc3333-0000-0000-0000-000000000000",
        ]
        self.initialised = False
        self.shutdowns = 0
        self.lost: set[int] = set()

    def nvmlInit(self) -> None:
        if self.init_error is not None:
            raise self.NVMLError(self.init_error)
        self.initialised = True

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1
        self.initialised = False

    def nvmlDeviceGetCount(self) -> int:
        return len(self.uuids)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if not 0 <= index < len(self.uuids):
            raise self.NVMLError(self.NVML_ERROR_INVALID_ARGUMENT)
        return index

    def nvmlDeviceGetHandleByUUID(self, uuid: str) -> int:
        if uuid not in self.uuids:
            raise self.NVMLError(self.NVML_ERROR_NOT_FOUND)
        return self.uuids.index(uuid)

    def nvmlDeviceGetUUID(self, handle: int) -> bytes:
        return self.uuids[handle].encode()  # older releases return bytes

    def _check(self, handle: int) -> None:
        if handle in self.lost:
            raise self.NVMLError(self.NVML_ERROR_GPU_IS_LOST)

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> Any:
        self._check(handle)
        return types.SimpleNamespace(gpu=10 * (handle + 1), memory=5)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> Any:
        return types.SimpleNamespace(used=(handle + 1) * 2**30, total=80 * 2**30, free=0)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        if handle == 1:
            raise self.NVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        return 150_000 + handle  # milliwatts

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        return 40 + handle


@pytest.fixture
def fake_nvml(monkeypatch: pytest.MonkeyPatch) -> FakeNvml:
    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return fake


def test_gpu_metrics_for_every_gpu_when_the_variable_is_unset(fake_nvml: FakeNvml) -> None:
    values = GpuCollector().sample()
    assert values == {
        "gpu/0/utilization": 10.0,
        "gpu/0/memory_used": 1.0,
        "gpu/0/power": 150.0,
        "gpu/0/temperature": 40.0,
        "gpu/1/utilization": 20.0,
        "gpu/1/memory_used": 2.0,
        "gpu/1/temperature": 41.0,  # no gpu/1/power: the board does not report it
        "gpu/2/utilization": 30.0,
        "gpu/2/memory_used": 3.0,
        "gpu/2/power": 150.002,
        "gpu/2/temperature": 42.0,
    }


def test_gpus_are_numbered_as_the_process_sees_them(
    fake_nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    values = GpuCollector().sample()
    assert values["gpu/0/temperature"] == 42.0  # physical GPU 2 is cuda:0
    assert values["gpu/1/temperature"] == 40.0
    assert not any(name.startswith("gpu/2/") for name in values)


@pytest.mark.parametrize(
    ("visible", "temperatures"),
    [
        ("GPU-bbbb2222-0000-0000-0000-000000000000", [41.0]),
        ("GPU-cccc,GPU-aaaa", [42.0, 40.0]),  # unambiguous prefixes, as CUDA accepts
        ("1,7,0", [41.0]),  # devices after a nonexistent one are hidden
        ("GPU-ffff,0", []),
    ],
)
def test_gpus_selected_by_uuid_index_and_invalid_entries(
    fake_nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch, visible: str, temperatures: list[float]
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    if not temperatures:
        with pytest.raises(GpuUnavailableError, match="no GPU is visible"):
            GpuCollector()
        assert fake_nvml.shutdowns == 1
        return
    values = GpuCollector().sample()
    assert [values[f"gpu/{i}/temperature"] for i in range(len(temperatures))] == temperatures
    assert f"gpu/{len(temperatures)}/temperature" not in values


def test_empty_cuda_visible_devices_means_no_gpu(
    fake_nvml: FakeNvml, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    with pytest.raises(GpuUnavailableError):
        GpuCollector()
    assert not fake_nvml.initialised  # NVML was released again


def test_missing_driver_is_unavailable_other_nvml_errors_propagate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(init_error=FakeNvml.NVML_ERROR_DRIVER_NOT_LOADED))
    with pytest.raises(GpuUnavailableError, match="NVIDIA driver"):
        GpuCollector()
    monkeypatch.setitem(sys.modules, "pynvml", FakeNvml(init_error=FakeNvml.NVML_ERROR_UNKNOWN))
    with pytest.raises(FakeNvml.NVMLError):
        GpuCollector()


def test_a_lost_gpu_fails_the_collector_and_close_releases_nvml(fake_nvml: FakeNvml) -> None:
    collector = GpuCollector()
    fake_nvml.lost.add(1)
    with pytest.raises(FakeNvml.NVMLError):
        collector.sample()
    collector.close()
    assert fake_nvml.shutdowns == 1


def test_monitor_uses_and_closes_the_gpu_collector(fake_nvml: FakeNvml) -> None:
    sink = Sink()
    monitor = HardwareMonitor(sink.log_float, sink.log_warning, 10.0)
    assert [c.name for c in monitor.collectors] == ["cpu_memory", "gpu"]
    monitor.sample_once()
    assert ("gpu/2/power", 150.002) in sink.points
    monitor.stop()
    assert fake_nvml.shutdowns == 1
    assert sink.warnings == []
