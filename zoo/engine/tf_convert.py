"""LiteRT/ONNX/OpenVINO conversions of a model built on JAX or PyTorch, done by a TensorFlow child process.

Every converter starts from a TensorFlow graph, and Keras on JAX or torch gives none that converts (see
zoo.engine.backend). So the model goes to a temporary back-end-neutral .keras file, and
`KERAS_BACKEND=tensorflow python -m zoo.engine.tf_convert_child JOB_DIR` builds the same model from it and
converts it there: a runtime's file lands in zoo's conversion cache (atomic, keyed as on TensorFlow), an
export at its `out`. This process then runs the converted file with the runtime's own library (ai_edge_litert,
onnxruntime, openvino: none of them imports TensorFlow). A child process because TensorFlow must never be
imported into a process that has imported torch (it crashes), and a process has one Keras back-end.

JOB_DIR/job.json: {"task": "runtime"|"export", "model": a .keras file, run directory or name, ...};
the child answers in JOB_DIR/result.json: {"path": ...} (an export adds {"export": ExportResult.to_dict()})
or {"error": ..., "message": ..., "hint": ...}. A runtime's file already in the cache (looked up here, with
the key the child would use: zoo.engine.conversion_cache) starts no child at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from zoo import errors

if TYPE_CHECKING:
    import keras

Loaded = TypeVar("Loaded")


def runtime_via_tensorflow(
    model: keras.Model,
    runtime: str,
    precision: str,
    load: Callable[[Path], Loaded],
    *,
    calibration: np.ndarray | None,
    cache_key: str | None,
) -> Loaded:
    """`load(file)` of the file make_runtime(model, runtime, precision) runs, for a model built off
    TensorFlow: found in the conversion cache by this process (no TensorFlow started), else converted by
    a TensorFlow child into that cache; the runtime's own library runs it here. A cached file its runtime
    cannot read is converted again by the child."""
    from zoo.engine.conversion_cache import cached_conversion
    from zoo.engine.runtime_base import load_cached, model_digest

    # the child keys the cache on the key given: the digest of this very model, not of its rebuilt copy
    with tensorflow_kept_out():  # model_digest serializes the model's config
        key = cache_key or model_digest(model)

    def convert() -> Path:
        with tempfile.TemporaryDirectory(prefix="zoo-convert-") as tmp:
            job_dir = Path(tmp)
            job = {
                "task": "runtime",
                "model": _save_model(model, job_dir),
                "runtime": runtime,
                "precision": precision,
                "cache_key": key,
                "calibration": _save_array(calibration, job_dir / "calibration.npy"),
            }
            return Path(_run_child(job, job_dir)["path"])

    found = cached_conversion(model, runtime, precision, calibration=calibration, cache_key=key)
    if found is None:
        return load(convert())
    return load_cached(found, lambda: load(found), convert)


def export_via_tensorflow(model_or_run_dir: Any, out: Path, format: str, **options: Any) -> dict[str, Any]:
    """zoo.engine.export(...) done by a TensorFlow child: the export is checked there against the same
    model built on TensorFlow. `options` are export()'s keyword arguments; the ExportResult's to_dict()
    comes back (JSON: zoo never unpickles)."""
    with tempfile.TemporaryDirectory(prefix="zoo-convert-") as tmp:
        job_dir = Path(tmp)
        source = model_or_run_dir
        job = {
            "task": "export",
            "model": str(source) if isinstance(source, str | Path) else _save_model(source, job_dir),
            "out": str(out),
            "format": format,
            "calibration": _save_array(options.pop("calibration", None), job_dir / "calibration.npy"),
            "check_inputs": _save_array(options.pop("check_inputs", None), job_dir / "check_inputs.npy"),
            "options": {
                k: None if v is None else (v if isinstance(v, bool | float) else str(v))
                for k, v in options.items()
            },
        }
        return _run_child(job, job_dir)["export"]


def _save_model(model: keras.Model, job_dir: Path) -> str:
    path = job_dir / "model.keras"
    with tensorflow_kept_out():
        model.save(path)
    return str(path)


@contextmanager
def tensorflow_kept_out() -> Iterator[None]:
    """Keras' serializer imports TensorFlow when it is installed, only to ask whether an object is a
    tf.TensorShape (none of a JAX or torch model's are): while serializing, Keras is told TensorFlow is
    absent, so this process never imports it (after torch, that import crashes)."""
    from keras.src.utils import module_utils

    lazy = module_utils.tensorflow
    if "tensorflow" in sys.modules or lazy._available is not None:
        yield
        return
    lazy._available = False
    try:
        yield
    finally:
        lazy._available = None


def _save_array(array: np.ndarray | None, path: Path) -> str | None:
    if array is None:
        return None
    np.save(path, np.asarray(array, dtype=np.float32))
    return str(path)


def _run_child(job: dict[str, Any], job_dir: Path) -> dict[str, Any]:
    """Run the TensorFlow child on `job`; its result, or its ZooError raised here."""
    (job_dir / "job.json").write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    source_root = str(Path(__file__).resolve().parents[2])  # zoo runs from a checkout too
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [source_root, env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "zoo.engine.tf_convert_child", str(job_dir)]
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=False)
    result_file = job_dir / "result.json"
    if not result_file.is_file():
        raise errors.ZooError(
            f"the TensorFlow process converting the model failed (exit status {done.returncode})",
            hint="its messages are above; the same command on `zoo --backend tensorflow` shows them directly",
        )
    result = json.loads(result_file.read_text(encoding="utf-8"))
    if "error" in result:
        raise _rebuilt_error(result)
    return result


def _rebuilt_error(result: dict[str, Any]) -> errors.ZooError:
    kind = getattr(errors, result["error"], errors.ZooError)
    try:
        return kind(result["message"], hint=result["hint"])
    except TypeError:  # an error class with its own constructor: the same message and exit status
        error = errors.ZooError(result["message"], hint=result["hint"])
        error.exit_code = result["exit_code"]
        return error
