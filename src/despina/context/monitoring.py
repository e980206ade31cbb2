"""Hardware monitoring: periodic CPU, memory and GPU readings for a run.

The monitor only produces ``(relative name, value)`` pairs through a ``log_float`` callback; where they
land (for example ``monitoring/<process_key>/cpu``) is the caller's choice, so this module knows nothing
about runs or paths.  It is built to be harmless: a broken sensor is reported once and dropped, nothing
ever raises into the training loop, and the sampling thread costs a few milliseconds per interval.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

__all__ = [
    "Collector",
    "CpuMemoryCollector",
    "GpuCollector",
    "GpuUnavailableError",
    "HardwareMonitor",
    "parse_cuda_visible_devices",
    "process_key",
]

#: Memory is reported in GB of 2**30 bytes, the unit ``free -g``, ``nvidia-smi`` (MiB based) and Neptune use.
BYTES_PER_GB = float(2**30)


def process_key(hostname: str, pid: int, custom_run_id: str | None) -> str:
    """A short, stable key naming one process's monitoring namespace.

    Several processes may write to one run (ranks of a distributed job that share a ``custom_run_id``,
    or a resumed run on another machine); each needs its own namespace or their CPU readings would be
    merged into one meaningless series.  Hashing hostname, pid and run id gives the same key for the same
    process (so a namespace is stable across reconnects) and, with 32 bits, a negligible chance that two
    ranks of one job collide.  JSON encoding keeps the fields unambiguous (``None`` differs from ``""``).
    """
    material = json.dumps([hostname, pid, custom_run_id], ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:8]


class Collector(Protocol):
    """A source of hardware readings, sampled from the monitor's thread.

    ``sample`` returns metric names relative to the monitoring namespace (``"cpu"``, ``"gpu/0/power"``)
    mapped to numbers.  It may raise: the monitor then reports the error once and stops calling it, so
    an implementation needs no error handling of its own beyond what keeps its readings meaningful.
    """

    name: str

    def sample(self) -> dict[str, float]:
        """Read the current values."""
        ...


class CpuMemoryCollector:
    """System and process CPU and memory usage, read through psutil.

    Metrics: ``cpu`` (system-wide CPU %, 0..100), ``process_cpu`` (this process and its children, in %
    of one core, so 250 means two and a half busy cores), ``memory`` (system memory in use, GB) and
    ``process_memory`` (resident memory of this process and its children, GB).  Children are counted
    because data loader workers and other subprocesses are usually where the work happens.
    """

    name = "cpu_memory"

    def __init__(self) -> None:
        # Imported here so that importing despina never requires psutil (and never pays for it).
        import psutil

        self._psutil: Any = psutil
        self._process: Any = psutil.Process()
        # psutil reports CPU % as the usage since the previous call; the first call only sets the
        # reference point.  Priming now makes the first real sample cover the time since construction.
        psutil.cpu_percent(None)
        self._process.cpu_percent(None)
        # Child Process objects are kept between samples for the same reason: a fresh object has no
        # reference point and would report 0 %.
        self._children: dict[int, Any] = {}

    def sample(self) -> dict[str, float]:
        """Read CPU and memory usage; children that exit mid-sample are simply left out."""
        psutil = self._psutil
        process_cpu = float(self._process.cpu_percent(None))
        process_rss = float(self._process.memory_info().rss)
        for child in self._current_children():
            try:
                process_cpu += float(child.cpu_percent(None))
                process_rss += float(child.memory_info().rss)
            except psutil.Error:
                continue  # exited or became inaccessible between listing and reading
        vm = psutil.virtual_memory()
        return {
            "cpu": float(psutil.cpu_percent(None)),
            "process_cpu": process_cpu,
            # total - available rather than psutil's "used": the latter excludes reclaimable caches
            # differently per platform, while "available" is what a new allocation can really get.
            "memory": (float(vm.total) - float(vm.available)) / BYTES_PER_GB,
            "process_memory": process_rss / BYTES_PER_GB,
        }

    def _current_children(self) -> list[Any]:
        """The live descendants, reusing the Process objects seen before (see ``__init__``)."""
        try:
            found = self._process.children(recursive=True)
        except self._psutil.Error:
            found = []
        children: dict[int, Any] = {}
        for child in found:
            known = self._children.get(child.pid)
            # Process equality includes the creation time, so a reused pid is not mistaken for the old one.
            children[child.pid] = known if known is not None and known == child else child
        self._children = children
        return list(children.values())


class GpuUnavailableError(RuntimeError):
    """NVIDIA GPU monitoring cannot work here: no nvidia-ml-py, no driver, or no visible GPU.

    This is the normal state of a CPU-only machine, so callers treat it as "nothing to monitor" rather
    than as a problem worth a warning.
    """


def parse_cuda_visible_devices(value: str | None) -> list[int | str] | None:
    """Parse ``CUDA_VISIBLE_DEVICES`` the way the CUDA runtime does.

    Returns ``None`` when the variable is unset (every GPU is visible), otherwise the visible devices in
    order: ints for indices, strings for ``GPU-``/``MIG-`` UUIDs (possibly abbreviated prefixes, which
    CUDA accepts).  As in CUDA, an empty value hides every GPU and the list stops at the first entry that
    is not valid (``"0,-1,1"`` exposes only GPU 0), which is how users commonly hide devices.
    """
    if value is None:
        return None
    devices: list[int | str] = []
    for raw in value.split(","):
        token = raw.strip()
        if token.isdigit():
            devices.append(int(token))
        elif token.startswith(("GPU-", "MIG-")) and len(token) > 4:
            devices.append(token)
        else:
            break
    return devices


class GpuCollector:
    """Utilization, memory, power and temperature of the GPUs this process can see, through NVML.

    Metrics are numbered by position among the visible GPUs, so ``gpu/0`` is the device a framework
    calls ``cuda:0`` even when ``CUDA_VISIBLE_DEVICES=3``.  Indices are interpreted as NVML (PCI bus)
    indices, which matches CUDA when ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` is set, as cluster schedulers do.
    Readings a device does not support (power on many boards, utilization on MIG slices) are left out.
    """

    name = "gpu"

    def __init__(self) -> None:
        """Initialise NVML and resolve the devices ``CUDA_VISIBLE_DEVICES`` leaves visible.

        Raises ``GpuUnavailableError`` when nvidia-ml-py is not installed, the NVIDIA driver is missing
        or no GPU is visible; other NVML failures propagate unchanged.
        """
        try:
            import pynvml
        except ImportError as exc:
            raise GpuUnavailableError(
                "GPU monitoring needs nvidia-ml-py (import pynvml failed: " + str(exc) + ")"
            ) from exc
        self._nvml: Any = pynvml
        unavailable = {pynvml.NVML_ERROR_LIBRARY_NOT_FOUND, pynvml.NVML_ERROR_DRIVER_NOT_LOADED}
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as exc:
            if getattr(exc, "value", None) in unavailable:
                raise GpuUnavailableError(f"no NVIDIA driver available for GPU monitoring ({exc})") from exc
            raise
        try:
            visible = parse_cuda_visible_devices(os.environ.get("CUDA_VISIBLE_DEVICES"))
            self._handles = self._resolve(visible)
            if not self._handles:
                raise GpuUnavailableError("no GPU is visible to this process")
        except BaseException:
            self.close()
            raise

    def _resolve(self, visible: list[int | str] | None) -> list[Any]:
        """Turn the parsed visible-device list into NVML handles, stopping at the first unknown one.

        Stopping (rather than skipping) mirrors CUDA, which numbers the devices after an invalid entry
        as if they did not exist; skipping would shift ``gpu/i`` away from ``cuda:i``.
        """
        nvml = self._nvml
        count = int(nvml.nvmlDeviceGetCount())
        if visible is None:
            return [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        handles: list[Any] = []
        for device in visible:
            handle = self._handle_for(device, count)
            if handle is None:
                break
            handles.append(handle)
        return handles

    def _handle_for(self, device: int | str, count: int) -> Any:
        """The NVML handle of one ``CUDA_VISIBLE_DEVICES`` entry, or ``None`` when it names no device."""
        nvml = self._nvml
        if isinstance(device, int):
            return nvml.nvmlDeviceGetHandleByIndex(device) if device < count else None
        try:
            return nvml.nvmlDeviceGetHandleByUUID(device)
        except nvml.NVMLError:
            pass
        # CUDA also accepts an unambiguous prefix of a GPU UUID; NVML needs the full one.
        matches = []
        for index in range(count):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            uuid = nvml.nvmlDeviceGetUUID(handle)
            if isinstance(uuid, bytes):  # older nvidia-ml-py releases return bytes
                uuid = uuid.decode("ascii", "replace")
            if str(uuid).startswith(device):
                matches.append(handle)
        return matches[0] if len(matches) == 1 else None

    def sample(self) -> dict[str, float]:
        """Read every visible GPU; unsupported readings are omitted, other NVML errors propagate."""
        nvml = self._nvml
        readers: list[tuple[str, Callable[[Any], float]]] = [
            ("utilization", self._utilization),
            ("memory_used", self._memory_used),
            ("power", self._power),
            ("temperature", self._temperature),
        ]
        values: dict[str, float] = {}
        for i, handle in enumerate(self._handles):
            for metric, read in readers:
                try:
                    values[f"gpu/{i}/{metric}"] = read(handle)
                except nvml.NVMLError as exc:
                    if getattr(exc, "value", None) != nvml.NVML_ERROR_NOT_SUPPORTED:
                        raise
        return values

    def _utilization(self, handle: Any) -> float:
        """Percent of the last sample period in which a kernel was running."""
        return float(self._nvml.nvmlDeviceGetUtilizationRates(handle).gpu)

    def _memory_used(self, handle: Any) -> float:
        return float(self._nvml.nvmlDeviceGetMemoryInfo(handle).used) / BYTES_PER_GB

    def _power(self, handle: Any) -> float:
        return float(self._nvml.nvmlDeviceGetPowerUsage(handle)) / 1000.0  # NVML reports milliwatts

    def _temperature(self, handle: Any) -> float:
        return float(self._nvml.nvmlDeviceGetTemperature(handle, self._nvml.NVML_TEMPERATURE_GPU))

    def close(self) -> None:
        """Release NVML; harmless when called twice or after a failed initialisation."""
        with contextlib.suppress(Exception):
            self._nvml.nvmlShutdown()


class HardwareMonitor:
    """Samples a set of collectors on a daemon thread and hands every reading to ``log_float``.

    ``log_float(name, value)`` receives names relative to the monitoring namespace; ``log_warning``
    receives one human-readable line per problem.  Neither the thread nor the caller ever sees an
    exception from a collector or a callback: monitoring must never be the reason a training run dies.
    """

    def __init__(
        self,
        log_float: Callable[[str, float], None],
        log_warning: Callable[[str], None],
        interval: float,
        collectors: Sequence[Collector] | None = None,
    ) -> None:
        """Set up the collectors; with ``collectors=None`` use CPU/memory plus GPU when one is usable.

        A missing GPU (library, driver or device) is expected and silent; any other failure to set up
        a default collector is reported once through ``log_warning``.
        """
        if not interval > 0:
            raise ValueError(f"monitoring interval must be positive, got {interval!r}")
        self._log_float = log_float
        self._log_warning = log_warning
        self._interval = float(interval)
        self._owned: list[Collector] = []
        if collectors is None:
            collectors = self._default_collectors()
            self._owned = list(collectors)
        self._active: list[Collector] = list(collectors)
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._log_failure_reported = False

    @property
    def collectors(self) -> list[Collector]:
        """The collectors still being sampled (failed ones have been dropped)."""
        with self._lock:
            return list(self._active)

    def _default_collectors(self) -> list[Collector]:
        collectors: list[Collector] = []
        factories: list[Callable[[], Collector]] = [CpuMemoryCollector, GpuCollector]
        for factory in factories:
            try:
                collectors.append(factory())
            except GpuUnavailableError:
                continue
            except Exception as exc:
                name = getattr(factory, "name", getattr(factory, "__name__", "collector"))
                self._warn(f"{name}: {exc}")
        return collectors

    def start(self) -> None:
        """Start sampling: one sample right away, then one every ``interval`` seconds.

        Calling it while the thread runs does nothing, so callers need not track the state.
        """
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop_event.clear()
        self._thread = threading.Thread(target=self._run, name="despina-hardware-monitor", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread, waiting at most ``timeout`` seconds; collectors we created are then closed.

        The thread waits on an Event between samples, so it wakes up as soon as this is called; only a
        sample already in progress can delay it.  A collector still busy after the timeout is left open
        rather than closed under the thread's feet.  A stopped monitor is not meant to be restarted.
        """
        self._stop_event.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return
            self._thread = None
        for collector in self._owned:
            close = getattr(collector, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
        self._owned = []

    def _run(self) -> None:
        # Deadlines on a fixed grid, so the cost of sampling does not make the interval drift; if a sample
        # overruns whole intervals, the missed ones are skipped rather than taken back to back.
        next_due = time.monotonic()
        while True:
            self.sample_once()
            next_due += self._interval
            now = time.monotonic()
            if next_due < now:
                next_due = now + self._interval - (now - next_due) % self._interval
            if self._stop_event.wait(next_due - now):
                return

    def sample_once(self) -> None:
        """Sample every active collector once and log the values (what the thread does each interval)."""
        with self._lock:
            for collector in list(self._active):
                try:
                    values = {str(name): float(value) for name, value in collector.sample().items()}
                except Exception as exc:
                    self._active.remove(collector)
                    self._warn(f"{getattr(collector, 'name', type(collector).__name__)}: {exc}")
                    continue
                for name, value in values.items():
                    try:
                        self._log_float(name, value)
                    except Exception as exc:
                        # The destination failed, not the sensor: keep sampling, but say so only once.
                        if not self._log_failure_reported:
                            self._log_failure_reported = True
                            self._warn(f"hardware monitoring could not log {name}: {exc}")

    def _warn(self, message: str) -> None:
        with contextlib.suppress(Exception):  # a broken warning sink must not break sampling
            self._log_warning(message)
