"""The TensorFlow side of zoo.engine.tf_convert:
`KERAS_BACKEND=tensorflow python -m zoo.engine.tf_convert_child JOB_DIR` builds the model its JAX or torch
parent saved and converts it (a runtime's cached file, or an export), answering in JOB_DIR/result.json (an
export's ExportResult as its to_dict()). Nothing imports this module.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from zoo import errors


def _child_task(job: dict[str, Any]) -> dict[str, Any]:
    def array(key: str) -> np.ndarray | None:
        return None if job[key] is None else np.load(job[key], allow_pickle=False)

    if job["task"] == "export":
        from zoo.engine._export import export

        result = export(
            job["model"], job["out"], job["format"], calibration=array("calibration"),
            check_inputs=array("check_inputs"), **job["options"],
        )  # fmt: skip
        return {"path": str(result.path), "export": result.to_dict()}
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
        result = _child_task(job)
    except errors.ZooError as exc:
        kind = type(exc).__name__
        result = {"error": kind, "message": exc.message, "hint": exc.hint, "exit_code": exc.exit_code}
    (job_dir / "result.json").write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
