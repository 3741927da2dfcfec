"""LiteRT/ONNX/OpenVINO conversions of a model built on JAX or PyTorch, done by a TensorFlow child process.

Every converter starts from a TensorFlow graph, and Keras on JAX or torch gives none that converts (see
zoo.engine.backend). So the model goes to a temporary back-end-neutral .keras file, and
`KERAS_BACKEND=tensorflow python -m zoo.engine.tf_convert JOB_DIR` builds the same model from it and
converts it there: a runtime's file lands in zoo's conversion cache (atomic, keyed as on TensorFlow), an
export at its `out`. This process then runs the converted file with the runtime's own library (ai_edge_litert,
onnxruntime, openvino: none of them imports TensorFlow). A child process because TensorFlow must never be
imported into a process that has imported torch (it crashes), and a process has one Keras back-end.

JOB_DIR/job.json: {"task": "runtime"|"export", "model": a .keras file, run directory or name, ...};
the child answers in JOB_DIR/result.json ({"path": ...} or {"error": ..., "message": ..., "hint": ...})
and, for an export, JOB_DIR/result.pickle (the ExportResult).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import errors

if TYPE_CHECKING:
    import keras

    from zoo.engine._export import ExportResult
    from zoo.engine.runtime_base import Runtime


def tensorflow_installed() -> bool:
    """Is TensorFlow importable here (without importing it)?"""
    return importlib.util.find_spec("tensorflow") is not None


def runtime_via_tensorflow(
    model: keras.Model,
    runtime: str,
    precision: str,
    *,
    calibration: np.ndarray | None,
    cache_key: str | None,
    num_threads: int | None,
) -> Runtime:
    """make_runtime(model, runtime, precision) for a model built off TensorFlow: converted (or found in the
    conversion cache) by a TensorFlow child, run here by the runtime's own library."""
    with tempfile.TemporaryDirectory(prefix="zoo-convert-") as tmp:
        job_dir = Path(tmp)
        job = {
            "task": "runtime",
            "model": _save_model(model, job_dir),
            "runtime": runtime,
            "precision": precision,
            "cache_key": cache_key,
            "calibration": _save_array(calibration, job_dir / "calibration.npy"),
        }
        path = Path(_run_child(job, job_dir)["path"])
    return _runtime_class(runtime)(path, precision, num_threads=num_threads)


def export_via_tensorflow(model_or_run_dir: Any, out: Path, format: str, **options: Any) -> ExportResult:
    """zoo.engine.export(...) done by a TensorFlow child: the export is checked there against the same
    model built on TensorFlow. `options` are export()'s keyword arguments."""
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
        _run_child(job, job_dir)
        with open(job_dir / "result.pickle", "rb") as file:
            return pickle.load(file)  # noqa: S301 -- written just now by our own child process


def _runtime_class(runtime: str) -> Any:
    if runtime == "onnxruntime":
        from zoo.engine.runtime_onnx import OnnxRuntime

        return OnnxRuntime
    if runtime == "openvino":
        from zoo.engine.runtime_openvino import OpenVINORuntime

        return OpenVINORuntime
    from zoo.engine.runtimes import LiteRTRuntime

    return LiteRTRuntime


def _save_model(model: keras.Model, job_dir: Path) -> str:
    path = job_dir / "model.keras"
    with _tensorflow_kept_out():
        model.save(path)
    return str(path)


@contextmanager
def _tensorflow_kept_out() -> Iterator[None]:
    """Keras' serializer imports TensorFlow when it is installed, only to ask whether an object is a
    tf.TensorShape (none of a JAX or torch model's are): while saving, Keras is told TensorFlow is absent,
    so this process never imports it (after torch, that import crashes)."""
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
    command = [sys.executable, "-m", "zoo.engine.tf_convert", str(job_dir)]
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


# ------------------------------------------------------------------------------- the TensorFlow child


def _child_task(job: dict[str, Any], job_dir: Path) -> dict[str, Any]:
    def array(key: str) -> np.ndarray | None:
        return None if job[key] is None else np.load(job[key])

    if job["task"] == "export":
        from zoo.engine._export import export

        result = export(
            job["model"], job["out"], job["format"], calibration=array("calibration"),
            check_inputs=array("check_inputs"), **job["options"],
        )  # fmt: skip
        (job_dir / "result.pickle").write_bytes(pickle.dumps(result))
        return {"path": str(result.path)}
    from zoo.engine.reference import load
    from zoo.engine.runtimes import make_runtime

    model = load(job["model"], unsafe=True).model  # unsafe: the file this process's parent just wrote
    runtime = make_runtime(
        model, job["runtime"], job["precision"], calibration=array("calibration"), cache_key=job["cache_key"]
    )
    return {"path": str(runtime.path)}  # type: ignore[attr-defined]


def main(argv: list[str]) -> int:
    job_dir = Path(argv[0])
    job = json.loads((job_dir / "job.json").read_text(encoding="utf-8"))
    try:
        result = _child_task(job, job_dir)
    except errors.ZooError as exc:
        kind = type(exc).__name__
        result = {"error": kind, "message": exc.message, "hint": exc.hint, "exit_code": exc.exit_code}
    (job_dir / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
