"""One model's benchmark in its own process: peak RSS belongs to that model, and a crash or a kill is a
reported row, not the end of the whole run.

Parent: `run_worker(job, timeout_s)` writes the job as JSON, starts `python -m zoo.bench.worker JOB OUT`,
and reads OUT back. Child: `main` loads the model once, measures every (runtime, precision, batch) row
and writes the rows plus its own peak RSS to OUT.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STDERR_TAIL_LINES = 3


@dataclass
class WorkerOutcome:
    """What came back from one worker: its output, or why there is none ("crashed: SIGSEGV", ...)."""

    output: dict[str, Any] | None
    failure: str | None = None


def run_worker(
    job: Mapping[str, Any], timeout_s: float | None = None, backend: str | None = None
) -> WorkerOutcome:
    """Run `job` in a fresh Python process (on the Keras `backend`, default the active one) and wait for it
    (killing it after `timeout_s`)."""
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as tmp:
        job_file, out_file, err_file = (Path(tmp) / n for n in ("job.json", "out.json", "stderr.txt"))
        job_file.write_text(json.dumps(job), encoding="utf-8")
        env = {**os.environ}
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        if backend is not None:
            env["KERAS_BACKEND"] = backend
        with err_file.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "zoo.bench.worker", str(job_file), str(out_file)],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                env=env,
            )
            try:
                code = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                return WorkerOutcome(None, f"killed: still running after the {timeout_s:g} s timeout")
        if out_file.is_file():
            return WorkerOutcome(json.loads(out_file.read_text(encoding="utf-8")))
        return WorkerOutcome(None, _describe_exit(code, err_file))


def _describe_exit(code: int, err_file: Path) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"crashed: {name}" + (" (out of memory?)" if -code == signal.SIGKILL else "")
    lines = [ln for ln in err_file.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    tail = " | ".join(lines[-STDERR_TAIL_LINES:]) or "no output"
    return f"crashed: exit code {code}: {tail}"


def peak_rss_mb() -> float:
    """This process's peak resident set size, in MB (10^6 bytes)."""
    import resource

    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes, Linux KiB
    return kib * scale / 1e6


def main(argv: list[str]) -> int:
    job_file, out_file = Path(argv[0]), Path(argv[1])
    job = json.loads(job_file.read_text(encoding="utf-8"))
    from zoo import config
    from zoo.bench.measure import measure_model
    from zoo.errors import ZooError

    try:
        output: dict[str, Any] = {"rows": measure_model(**job)}
    except ZooError as exc:  # e.g. weights unavailable: one clear line for this model
        output = {"rows": [], "error": exc.message}
    output["peak_rss_mb"] = peak_rss_mb()
    output["backend"] = config.keras_backend()  # Keras' own answer once it is imported
    tmp = out_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(output), encoding="utf-8")
    os.replace(tmp, out_file)  # the parent never reads half a result
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
