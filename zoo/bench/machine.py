"""Where a measurement was taken: the machine and the library versions (recorded with every result)."""

from __future__ import annotations

import os
import platform
import socket
from functools import lru_cache
from importlib import metadata


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=1)
def machine_info() -> dict[str, object]:
    """Host name, OS, CPU model and the cores this process may use."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "host": socket.gethostname(),
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "cpu": _cpu_model(),
        "cores": cores,
    }


_DECIDING_LIBRARIES = (
    "tensorflow", "keras", "keras-hub", "numpy", "ai-edge-litert", "onnxruntime", "tf2onnx", "openvino",
    "nncf", "jax", "jaxlib", "torch",
)  # fmt: skip


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries that decide the numbers (from metadata: no imports)."""
    versions = {"python": platform.python_version(), "zoo": _version("zoo-hub")}
    for dist in _DECIDING_LIBRARIES:
        versions[dist] = _version(dist)
    return versions


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"
