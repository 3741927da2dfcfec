"""Milliseconds per image of a candidate on this machine: a stored benchmark row when one matches, else
a short measurement (zoo.bench.measure, the code `zoo benchmark` runs) that is stored for next time.
With `--runtime auto` the measurement picks the fastest runtime (zoo.bench.auto, as `zoo benchmark
--runtime auto` does) and the row says which ran.

A stored row matches on model, input size, runtime, precision (fp32), batch size and the machine (host,
CPU model, usable cores); the newest wins. Speed does not depend on the weights' values, so the
measurement builds the model with random weights (no download).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from zoo.bench.machine import machine_info
from zoo.bench.results import append_results, read_results, stamp
from zoo.choices import AUTO
from zoo.errors import ZooError
from zoo.selection.candidates import Candidate, Constraints

PRECISION = "fp32"
MEASURE_WARMUP = 2
MEASURE_ITERS = 10
_MACHINE_KEYS = ("host", "cpu", "cores")


@dataclass(frozen=True)
class Latency:
    ms_per_image: float | None
    source: str  # "stored", "measured", or why there is no figure
    runtime: str  # the runtime that ran


def concrete_runtime(runtime: str, row: dict[str, Any]) -> str:
    """The runtime a benchmark row ran: `runtime`, or for `auto` the one its measurement chose (the
    fastest on this machine for the model and batch size; zoo.bench.auto caches that choice)."""
    choice = row.get("auto_choice") if runtime == AUTO else None
    return str(choice).split()[0] if choice else runtime


def same_machine(record: dict[str, Any]) -> bool:
    here = machine_info()
    there = record.get("machine") or {}
    return all(there.get(key) == here.get(key) for key in _MACHINE_KEYS)


def stored_row(
    candidate: Candidate, runtime: str, batch_size: int, records: Iterable[dict[str, Any]] | None = None
) -> dict[str, Any] | None:
    """The newest matching benchmark row measured on this machine, or None."""
    rows = read_results(kind="benchmark") if records is None else records
    found = None
    for row in rows:
        if (
            row.get("status", "ok") == "ok"
            and row.get("model") == candidate.model
            and row.get("image_size") == candidate.image_size
            and row.get("runtime") == runtime
            and row.get("precision") == PRECISION
            and row.get("batch_size") == batch_size
            and row.get("images_per_s")
            and same_machine(row)
        ):
            found = row  # records are oldest first: the last match wins
    return found


def measured_row(candidate: Candidate, runtime: str, batch_size: int) -> dict[str, Any]:
    """Measure here (random weights), store the benchmark row, and return it."""
    from zoo.bench.measure import measure_model

    rows = measure_model(
        candidate.model,
        weights="none",
        image_size=candidate.image_size,
        batch_sizes=(batch_size,),
        pairs=((runtime, PRECISION),),
        warmup=MEASURE_WARMUP,
        iters=MEASURE_ITERS,
    )
    ok = [row for row in rows if row.get("status") == "ok"]
    append_results(stamp({"kind": "benchmark", **row}) for row in ok)
    if not ok:
        raise ZooError(f"timing failed: {rows[0].get('status') if rows else 'no rows'}")
    return ok[0]


def latency_of(candidate: Candidate, constraints: Constraints) -> Latency:
    runtime, batch_size = constraints.runtime, constraints.batch_size
    row, source = stored_row(candidate, runtime, batch_size), "stored"
    if row is None:
        row, source = measured_row(candidate, runtime, batch_size), "measured"
    return Latency(1e3 / float(row["images_per_s"]), source, concrete_runtime(runtime, row))
