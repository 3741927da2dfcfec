"""Every environment knob zoo reads, in one place, read at call time (tests change them per test).

Layout under ZOO_HOME (default ~/.cache/zoo):
    weights/      verified weight files by content (sha256) plus a JSON manifest each
    features/     backbone-feature cache, by content key
    converted/    LiteRT, OpenVINO and ONNX conversions, by model + weights + settings
    auto/         --runtime auto's measured decisions, accuracy-gate verdicts, matmul peaks (JSON)
    registry.d/   user registry entries (e.g. written by `zoo register`)
    results.jsonl measured benchmark and evaluation results
"""

from __future__ import annotations

import os
from pathlib import Path

TRUTHY = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in TRUTHY


def zoo_home() -> Path:
    home = os.environ.get("ZOO_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "zoo"


def weights_dir() -> Path:
    return zoo_home() / "weights"


def features_dir() -> Path:
    return zoo_home() / "features"


def converted_dir() -> Path:
    return zoo_home() / "converted"


def user_registry_dir() -> Path:
    return zoo_home() / "registry.d"


def results_path() -> Path:
    return zoo_home() / "results.jsonl"


def keras_models_dir() -> Path:
    """Where keras.utils.get_file caches application weights: $KERAS_HOME/models or ~/.keras/models."""
    keras_home = os.environ.get("KERAS_HOME")
    base = Path(keras_home).expanduser() if keras_home else Path.home() / ".keras"
    return base / "models"


def offline() -> bool:
    """ZOO_OFFLINE=1 or HF_HUB_OFFLINE=1: no network call at all, loopback included."""
    return _flag("ZOO_OFFLINE") or _flag("HF_HUB_OFFLINE")


def mirrors() -> list[str]:
    """Mirror base URLs from ZOO_MIRROR (comma-separated), in order."""
    raw = os.environ.get("ZOO_MIRROR", "")
    return [m.strip().rstrip("/") for m in raw.split(",") if m.strip()]


def mirror_token() -> str | None:
    return os.environ.get("ZOO_MIRROR_TOKEN") or None


def user_registry_paths() -> list[Path]:
    """Extra registry files: ZOO_REGISTRY (os.pathsep-separated), then every *.yaml in registry.d/."""
    paths = [Path(p).expanduser() for p in os.environ.get("ZOO_REGISTRY", "").split(os.pathsep) if p]
    d = user_registry_dir()
    if d.is_dir():
        paths.extend(sorted(d.glob("*.yaml")))
    return paths


def _float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def http_timeout() -> float:
    """ZOO_HTTP_TIMEOUT: seconds each socket operation of a download may wait (default 30)."""
    return _float("ZOO_HTTP_TIMEOUT", 30.0)


def http_retries() -> int:
    """ZOO_HTTP_RETRIES: extra attempts per source after a transient failure (default 3)."""
    return max(0, int(_float("ZOO_HTTP_RETRIES", 3)))


def ca_bundle() -> str | None:
    """A custom CA bundle for HTTPS: SSL_CERT_FILE, else REQUESTS_CA_BUNDLE."""
    return os.environ.get("SSL_CERT_FILE") or os.environ.get("REQUESTS_CA_BUNDLE") or None


def default_runtime() -> str:
    """ZOO_RUNTIME: the runtime predict, embed and evaluate use when none is named (default "auto")."""
    return os.environ.get("ZOO_RUNTIME", "").strip().lower() or "auto"


def debug() -> bool:
    """ZOO_DEBUG=1 shows full tracebacks in the CLI."""
    return _flag("ZOO_DEBUG")
