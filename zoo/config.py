"""Every environment knob zoo reads, in one place, read at call time (tests change them per test).

Layout under ZOO_HOME (default ~/.cache/zoo):
    weights/      verified weight files by content (sha256) plus a JSON manifest each
    features/     backbone-feature cache, by content key
    converted/    LiteRT, OpenVINO and ONNX conversions, by model + weights + settings
    jax-cache/    JAX's persistent compilation cache (on the JAX back-end)
    auto/         --runtime auto's measured decisions, accuracy-gate verdicts, measured peaks (JSON)
    registry.d/   user registry entries (e.g. written by `zoo register`)
    results.jsonl measured benchmark and evaluation results
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from typing import Any

from zoo.choices import BACKENDS
from zoo.errors import BackendUnavailable

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


def keras_home() -> Path:
    """Keras' own folder, found as Keras finds it: $KERAS_HOME, else ~/.keras (/tmp/.keras when the home
    folder is not writable)."""
    keras_home = os.environ.get("KERAS_HOME")
    if keras_home:
        return Path(keras_home).expanduser()
    home = Path.home()
    return (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"


def keras_models_dir() -> Path:
    """Where keras.utils.get_file caches application weights: $KERAS_HOME/models or ~/.keras/models."""
    return keras_home() / "models"


# The Keras 3 back-ends zoo runs on, and the pip extra that installs each one.
BACKEND_EXTRAS = dict(zip(BACKENDS, ("zoo-hub", "zoo-hub[jax]", "zoo-hub[torch]"), strict=True))
_KERAS_DEFAULTS = {"backend": "tensorflow", "floatx": "float32", "image_data_format": "channels_last"}


def keras_settings() -> dict[str, Any]:
    """The Keras settings zoo depends on — backend, floatx, image_data_format — as Keras itself resolves
    them, without importing Keras: `keras.json` in keras_home(), then KERAS_BACKEND over its backend. In a
    process that has already imported Keras, Keras' own (possibly changed) values."""
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "config"):
        return {
            "backend": keras.config.backend(),
            "floatx": keras.config.floatx(),
            "image_data_format": keras.config.image_data_format(),
        }
    settings = dict(_KERAS_DEFAULTS)
    try:
        saved = json.loads((keras_home() / "keras.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):  # no file, or one Keras would ignore as well
        saved = {}
    if isinstance(saved, dict):
        settings.update({key: saved[key] for key in _KERAS_DEFAULTS if key in saved})
    if os.environ.get("KERAS_BACKEND"):
        settings["backend"] = os.environ["KERAS_BACKEND"]
    return settings


def keras_backend() -> str:
    """The Keras back-end this process uses (or will use when it imports Keras)."""
    return str(keras_settings()["backend"])


def jax_cache_dir() -> Path:
    return zoo_home() / "jax-cache"


def check_backend(backend: str, why: str = "asked for") -> None:
    """Refuse (BackendUnavailable, exit 2) a back-end zoo does not run on, or one that is not installed."""
    if backend not in BACKEND_EXTRAS:
        raise BackendUnavailable(
            f"zoo does not run on the Keras back-end {backend!r} ({why})",
            hint=f"choose one of {', '.join(BACKEND_EXTRAS)}, e.g. `zoo --backend jax ...`",
        )
    if importlib.util.find_spec(backend) is None:
        raise BackendUnavailable(
            f"the Keras back-end {backend!r} is not installed",
            hint=f"pip install {BACKEND_EXTRAS[backend]}, or choose another with `zoo --backend`",
        )


# keras.json settings zoo cannot run with: the value it needs, and why (the end of the refusal's hint).
_REQUIRED_SETTINGS = {
    "image_data_format": (
        "channels_last",
        "zoo builds its models and feeds its images channels-last (NHWC) on every back-end",
    ),
    "floatx": (
        "float32",
        "zoo computes in float32; for lower precision use `--precision bf16` (keras runtime) or an int8 "
        "runtime",
    ),
}


def check_keras_settings() -> None:
    """Refuse (BackendUnavailable, exit 2) a keras.json image_data_format or floatx zoo cannot run with,
    naming the file, the line to change and why: before any work, in every command that builds a model."""
    settings = keras_settings()
    for key, (needed, why) in _REQUIRED_SETTINGS.items():
        if settings[key] != needed:
            path = keras_home() / "keras.json"
            raise BackendUnavailable(
                f"zoo cannot run with {key}={settings[key]!r} (set in {path})",
                hint=f'set "{key}": "{needed}" in {path}: {why}',
            )


def prepare_keras_backend() -> str:
    """The back-end, after refusing what zoo cannot run on (BackendUnavailable, exit 2): a back-end that is
    not one of BACKEND_EXTRAS or not installed, channels_first, a floatx other than float32.

    On JAX it also turns on JAX's persistent compilation cache (jax_cache_dir(), unless the user chose
    one): building a network compiles every weight initialiser, measured 21 s for MobileNet before the
    first run and 1.3 s after. Effective when called before JAX is imported, as zoo does."""
    backend = keras_backend()
    check_backend(backend, f"set by KERAS_BACKEND or {keras_home() / 'keras.json'}")
    check_keras_settings()
    if backend == "jax" and "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        os.environ["JAX_COMPILATION_CACHE_DIR"] = str(jax_cache_dir())
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
    return backend


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
