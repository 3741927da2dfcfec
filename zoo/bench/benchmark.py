"""`zoo.benchmark`: speed, memory and arithmetic of models, each measured in its own worker process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import config
from zoo.bench.results import append_results, stamp
from zoo.bench.worker import run_worker
from zoo.choices import ALL, AUTO, PRECISIONS, RUNTIMES, SPINNING_RUNTIMES, WEIGHT_CHOICES, image_size_problem
from zoo.engine.reference import resolve
from zoo.errors import InvalidSetting

if TYPE_CHECKING:
    import pandas as pd

OUT_SUFFIXES = (".csv", ".json")

# Column order of the returned table (rows may lack figures: a failed row has only its status).
COLUMNS = (
    "model", "runtime", "precision", "variant", "batch_size", "backend", "image_size", "status",
    "precision_ran", "auto_choice", "images_per_s", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms",
    "peak_rss_mb", "params", "gmacs", "gflops", "achieved_gflops", "peak_precision", "peak_gflops", "peak_by",
    "peak_share", "weights", "weights_sha256", "iters",
)  # fmt: skip


def benchmark(
    models: str | Sequence[str],
    *,
    batch_sizes: Sequence[int] = (1, 8, 32),
    image_size: int | None = None,
    runtimes: Sequence[str] = ("keras",),
    precisions: Sequence[str] | None = None,
    warmup: int = 3,
    iters: int = 20,
    weights: str = "none",
    out: str | Path | None = None,
    timeout_s: float | None = None,
    record: bool = True,
    on_model: Callable[[str], None] | None = None,
    backends: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Benchmark each model in its own process; one row per (model, runtime, precision, batch size).

    backends: Keras back-ends to measure each model on, one process per (model, back-end); default the
    active one (KERAS_BACKEND, keras.json). The `backend` column says which ran.
    `runtimes` may hold "all" (every installed runtime x precision, timed interleaved in one run) and
    "auto" (zoo.bench.auto's choice for each batch size). `precisions` defaults to fp32 for named
    runtimes and to every precision for "all" and "auto" (where it restricts what auto may pick).
    Each row's share of peak is against the peak of the precision that really ran (`peak_precision`).

    Every model is checked before the first one starts. A model whose process crashes, is killed or
    exceeds `timeout_s` gets rows whose `status` says so; the others are unaffected. Rows with
    status "ok" go to the results store (unless `record=False`); `out` (.csv or .json) gets the table.
    """
    import pandas as pd

    names = [models] if isinstance(models, str) else list(models)
    check_options(batch_sizes, image_size, runtimes, precisions or (), warmup, iters, weights, out)
    pairs = benchmark_pairs(runtimes, precisions)
    refs = [resolve(name) for name in names]  # unknown names fail here, before any work
    chosen_backends = list(backends) if backends else [config.keras_backend()]
    for backend in chosen_backends:
        config.check_backend(backend)
    config.check_keras_settings()  # the workers' keras.json too: one refusal rather than a failed row each
    rows: list[dict[str, Any]] = []
    for ref, backend in ((ref, backend) for ref in refs for backend in chosen_backends):
        if on_model is not None:
            on_model(ref.name if backends is None else f"{ref.name} on {backend}")
        job = {
            "model": ref.name,
            "weights": weights,
            "image_size": image_size,
            "batch_sizes": list(batch_sizes),
            "pairs": [list(pair) for pair in pairs],
            "warmup": warmup,
            "iters": iters,
        }
        outcome = run_worker(job, timeout_s, backend=backend)
        rows.extend({"backend": backend, **row} for row in _rows_of(job, outcome))
    if record:
        append_results(stamp({"kind": "benchmark", **row}) for row in rows if row["status"] == "ok")
    table = pd.DataFrame(rows)
    table = table.reindex(columns=[c for c in COLUMNS if c in table.columns or c == "status"])
    if out is not None:
        write_table(table, Path(out))
    return table


def _rows_of(job: dict[str, Any], outcome: Any) -> list[dict[str, Any]]:
    """The worker's rows with its peak RSS, or one failed row per requested combination."""
    output = outcome.output
    if output is not None and output["rows"]:
        # the back-end the worker really ran on, as Keras in it reports
        ran = {"peak_rss_mb": output["peak_rss_mb"], "backend": output.get("backend")}
        return [{**row, **ran} for row in output["rows"]]
    reason = outcome.failure or f"failed: {output.get('error', 'no rows')}"
    return [
        {"model": job["model"], "runtime": pair[0], "precision": pair[1], "batch_size": b, "status": reason}
        | ({"variant": pair[2]} if len(pair) > 2 else {})
        for pair in job["pairs"]
        for b in job["batch_sizes"]
    ]


def benchmark_pairs(
    runtimes: Sequence[str], precisions: Sequence[str] | None
) -> list[tuple[str | None, ...]]:
    """The (runtime, precision) rows to time: "all" expands to every installed runtime's precisions (and
    (runtime, precision, "spinning") beside each pair of a runtime that spins or not, as auto times
    both), a named runtime takes each precision (fp32 by default), "auto" one row per precision (None:
    any)."""
    from zoo.engine.installed import runtime_pairs

    pairs: list[tuple[str | None, ...]] = []
    for runtime in runtimes:
        if runtime == ALL:
            for pair in runtime_pairs(precisions=precisions):
                pairs.extend([pair, (*pair, "spinning")] if pair[0] in SPINNING_RUNTIMES else [pair])
        elif runtime == AUTO:
            pairs.extend((AUTO, p) for p in (precisions or [None]))
        else:
            pairs.extend((runtime, p) for p in (precisions or ["fp32"]))
    return list(dict.fromkeys(pairs))


def check_options(
    batch_sizes: Sequence[int],
    image_size: int | None,
    runtimes: Sequence[str],
    precisions: Sequence[str],
    warmup: int,
    iters: int,
    weights: str,
    out: str | Path | None,
) -> None:
    """Refuse impossible settings before any model is loaded (InvalidSetting names the setting)."""
    if not batch_sizes or any(int(b) < 1 for b in batch_sizes):
        raise InvalidSetting(f"batch sizes must be positive integers, got {list(batch_sizes)}")
    if image_size is not None and (problem := image_size_problem(image_size)):
        raise InvalidSetting(f"image size {problem}")
    checks = (
        (runtimes, (*RUNTIMES, ALL, AUTO), "runtime", False),
        (precisions, PRECISIONS, "precision", True),
    )
    for value, allowed, what, may_be_empty in checks:
        bad = [v for v in value if v not in allowed]
        if bad or not (value or may_be_empty):
            raise InvalidSetting(
                f"unknown {what} {', '.join(bad) or '(none)'}; choose from {', '.join(allowed)}"
            )
    if warmup < 0 or iters < 1:
        raise InvalidSetting(f"need warmup >= 0 and iters >= 1, got warmup={warmup}, iters={iters}")
    if weights not in WEIGHT_CHOICES:
        raise InvalidSetting(f"weights must be one of {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
    if out is not None and Path(out).suffix.lower() not in OUT_SUFFIXES:
        raise InvalidSetting(f"the output file must end in {' or '.join(OUT_SUFFIXES)}, got {out}")


def write_table(table: pd.DataFrame, path: Path) -> None:
    """The table as CSV or JSON records, by the file's suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        table.to_csv(path, index=False)
    else:
        table.to_json(path, orient="records", indent=2)
