"""Device plumbing for the torch backend: availability, names, memory, synchronisation, timing.

torch is an optional extra: a missing one is the ``profiler`` command's install hint.
"""

from __future__ import annotations

import gc
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from phasesim.errors import InputError
from phasesim.profiler.capture.table import hardware_name_for_device, nvidia_smi_field

__all__ = ["DeviceInfo", "open_device", "synchronize", "free_bytes", "release", "time_call",
           "is_oom"]

DEVICE_TYPES = ("cuda", "cpu", "mps", "xpu")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceInfo:
    device: torch.device
    name: str  # e.g. "NVIDIA H100 80GB HBM3"
    hardware: str  # catalog-style name, e.g. "h100-sxm"
    total_memory_bytes: int
    driver: str
    libraries: dict[str, str]

    def as_dict(self) -> dict[str, object]:
        return {"device": self.name, "device_type": self.device.type, "hardware": self.hardware,
                "total_memory_bytes": self.total_memory_bytes, "driver": self.driver,
                "libraries": dict(self.libraries)}


def _cpu_total_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 0


def open_device(kind: str) -> DeviceInfo:
    """Check the device exists; InputError (one line) if not."""
    if kind not in DEVICE_TYPES:
        raise InputError(f"unknown device {kind!r} (choose from {', '.join(DEVICE_TYPES)})",
                         column="--device")
    libraries = {"torch": torch.__version__, "python": platform.python_version()}
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise InputError("CUDA is not available to this torch build/machine", column="--device")
        props = torch.cuda.get_device_properties(0)
        libraries["cuda"] = str(torch.version.cuda)
        libraries["cudnn"] = str(torch.backends.cudnn.version())
        name = torch.cuda.get_device_name(0)
        return DeviceInfo(device=torch.device("cuda", 0), name=name,
                          hardware=hardware_name_for_device(name),
                          total_memory_bytes=int(props.total_memory),
                          driver=nvidia_smi_field("driver_version"), libraries=libraries)
    if kind == "mps":
        if not torch.backends.mps.is_available():
            raise InputError("MPS is not available on this machine", column="--device")
        return DeviceInfo(device=torch.device("mps"), name="Apple MPS", hardware="apple-mps",
                          total_memory_bytes=_cpu_total_bytes(), driver="", libraries=libraries)
    if kind == "xpu":
        if not (hasattr(torch, "xpu") and torch.xpu.is_available()):
            raise InputError("XPU is not available on this machine", column="--device")
        name = torch.xpu.get_device_name(0)
        total = int(torch.xpu.get_device_properties(0).total_memory)
        return DeviceInfo(device=torch.device("xpu", 0), name=name,
                          hardware=hardware_name_for_device(name), total_memory_bytes=total,
                          driver="", libraries=libraries)
    cpu_name = platform.processor() or platform.machine() or "cpu"
    return DeviceInfo(device=torch.device("cpu"), name=f"CPU {cpu_name}",
                      hardware=f"cpu-{platform.machine().lower() or 'unknown'}",
                      total_memory_bytes=_cpu_total_bytes(), driver="",
                      libraries={**libraries, "threads": str(torch.get_num_threads())})


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
    elif device.type == "xpu":
        torch.xpu.synchronize()


def free_bytes(device: torch.device) -> int:
    """Memory a new allocation can use now (after returning cached blocks)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + cached)
    try:
        import psutil  # optional; present in the test extra

        return int(psutil.virtual_memory().available)
    except ImportError:
        return _cpu_total_bytes() // 2


def release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def is_oom(exc: BaseException) -> bool:
    oom_types = tuple(t for t in (getattr(torch, "OutOfMemoryError", None),
                                  getattr(torch.cuda, "OutOfMemoryError", None)) if t is not None)
    if oom_types and isinstance(exc, oom_types):
        return True
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(exc, MemoryError))


def time_call(fn: Callable[[], object], *, device: torch.device, repeats: int,
              warmup: int) -> list[float]:
    """Seconds per call, device-accurate: CUDA events on CUDA, synchronize + perf_counter
    elsewhere. ``warmup`` untimed calls first."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    samples: list[float] = []
    for _ in range(repeats):
        if device.type == "cuda":
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            fn()
            synchronize(device)
            samples.append(time.perf_counter() - t0)
    return samples
