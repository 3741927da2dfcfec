"""Milliseconds per image of a candidate on this machine: a stored timing row when one matches, else a
short measurement (zoo.bench.measure, the code `zoo benchmark` runs) of the network already built for
scoring, stored for next time. With `--runtime auto` the measurement picks the fastest runtime
(zoo.bench.auto, as `zoo benchmark --runtime auto` does) and the row says which ran.

What is timed is the candidate's feature extractor: the backbone and its global pooling, raw RGB in
(TIMED). A model fine-tuned from it adds one dense layer, a rounding error beside the backbone, so that
is what the fine-tuned model costs; it is not `zoo benchmark`'s full ImageNet classifier, so the rows are
stored apart (kind KIND, `timed` saying what ran) and `zoo benchmark` rows are never taken for them.

A stored row matches on model, input size, what was timed, runtime, precision (fp32), batch size and the
machine (host, CPU model, usable cores); the newest wins. Speed does not depend on the weights' values,
so a random-init candidate's row serves a pretrained one and back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zoo.bench.machine import machine_info
from zoo.bench.results import append_results, read_results, stamp
from zoo.choices import AUTO
from zoo.errors import ZooError
from zoo.selection.candidates import Candidate, Constraints

if TYPE_CHECKING:
    from zoo.selection.scoring import Built

KIND = "select-timing"
TIMED = "backbone + pooling"
PRECISION = "fp32"
MEASURE_WARMUP = 2
MEASURE_ITERS = 10
_MACHINE_KEYS = ("host", "cpu", "cores")


@dataclass(frozen=True)
class Latency:
    ms_per_image: float | None
    source: str  # "stored", "measured", or why there is no figure
    runtime: str  # the runtime that ran
    timed: str = TIMED  # what ran, and in which precision: "backbone + pooling, fp32"


def concrete_runtime(runtime: str, row: dict[str, Any]) -> str:
    """The runtime a timing row ran: `runtime`, or for `auto` the one its measurement chose (the
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
    """The newest matching timing row measured on this machine, or None."""
    rows = read_results(kind=KIND) if records is None else records
    found = None
    for row in rows:
        if (
            row.get("kind") == KIND
            and row.get("timed") == TIMED
            and row.get("status", "ok") == "ok"
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


def measured_row(candidate: Candidate, built: Built, runtime: str, batch_size: int) -> dict[str, Any]:
    """Time `built`'s feature extractor here, store the row (kind KIND), and return it."""
    from zoo.bench.measure import measure_network

    extractor = built.network.extractor
    common = {
        "model": candidate.model,
        "image_size": candidate.image_size,
        "timed": TIMED,
        "params": int(extractor.count_params()),
    }
    rows = measure_network(
        extractor, common, batch_sizes=(batch_size,), pairs=((runtime, PRECISION),),
        warmup=MEASURE_WARMUP, iters=MEASURE_ITERS, share_of_peak=False,
    )  # fmt: skip
    ok = [row for row in rows if row.get("status") == "ok"]
    append_results(stamp({"kind": KIND, **row}) for row in ok)
    if not ok:
        raise ZooError(f"timing failed: {rows[0].get('status') if rows else 'no rows'}")
    return ok[0]


def stored_latency(candidate: Candidate, constraints: Constraints) -> Latency | None:
    row = stored_row(candidate, constraints.runtime, constraints.batch_size)
    return None if row is None else _latency(row, "stored", constraints.runtime)


def measured_latency(candidate: Candidate, built: Built, constraints: Constraints) -> Latency:
    row = measured_row(candidate, built, constraints.runtime, constraints.batch_size)
    return _latency(row, "measured", constraints.runtime)


def _latency(row: dict[str, Any], source: str, runtime: str) -> Latency:
    ran = row.get("precision_ran") or PRECISION
    return Latency(
        1e3 / float(row["images_per_s"]), source, concrete_runtime(runtime, row), f"{TIMED}, {ran}"
    )
