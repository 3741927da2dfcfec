"""What the pages show, as plain data: model rows, this machine's measurements, results per machine, runs.

No pandas and no back-end here: the models page and the JSON API are built from these on every request.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo import config
from zoo.bench.machine import machine_info
from zoo.bench.results import read_results
from zoo.bench.tables import measured_rows
from zoo.listing import model_rows
from zoo.registry import ModelSpec, Registry

Record = dict[str, Any]

# The pictures of a run directory the runs page shows (zoo finetune writes them, docs/finetune.md).
RUN_PICTURES = ("history.png", "confusion.png")
_RUN_CONFIG, _RUN_METRICS, _RUN_HISTORY = "config.json", "metrics.json", "history.csv"


# ------------------------------------------------------------------------------------------ results
class ResultsCache:
    """The results store's readable records, read again only when the file changed (size, mtime)."""

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._key: tuple[int, int] | None = None
        self._records: list[Record] = []
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        return self._path if self._path is not None else config.results_path()

    def records(self) -> list[Record]:
        try:
            st = self.path.stat()
            key = (st.st_size, st.st_mtime_ns)
        except OSError:
            return []
        with self._lock:
            if key != self._key:
                self._records = usable_records(read_results(self.path))
                self._key = key
            return self._records

    @property
    def version(self) -> tuple[int, int] | None:
        """Changes whenever the records do (after `records()` has read them)."""
        return self._key


def usable_records(records: Iterable[Any]) -> list[Record]:
    """Records a page can show: mappings that name their model (a hand-edited store may hold anything)."""
    return [r for r in records if isinstance(r, dict) and isinstance(r.get("model"), str) and r["model"]]


def machine_label(machine: Any) -> str:
    """A machine as people name it: 'host (CPU model, N cores)'; 'unknown machine' without the record."""
    if not isinstance(machine, dict) or not machine.get("host"):
        return "unknown machine"
    details = ", ".join(
        str(part)
        for part in (machine.get("cpu"), machine.get("cores") and f"{machine['cores']} cores")
        if part
    )
    return f"{machine['host']} ({details})" if details else str(machine["host"])


def machine_key(machine: Any) -> str:
    """A short stable id of a machine (host and CPU), for file names and anchors."""
    if not isinstance(machine, dict) or not machine.get("host"):
        return "unknown"
    identity = f"{machine.get('host')}|{machine.get('cpu')}"
    return hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()[:12]


def this_machine_key() -> str:
    return machine_key(machine_info())


@dataclass
class MachineResults:
    key: str
    label: str
    records: list[Record] = field(default_factory=list)


def by_machine(records: Iterable[Record]) -> list[MachineResults]:
    """The records grouped by the machine that measured them, this machine first, then by label."""
    groups: dict[str, MachineResults] = {}
    for record in records:
        key = machine_key(record.get("machine"))
        group = groups.setdefault(key, MachineResults(key, machine_label(record.get("machine"))))
        group.records.append(record)
    here = this_machine_key()
    return sorted(groups.values(), key=lambda g: (g.key != here, g.label))


def measured_here(records: Iterable[Record]) -> dict[str, Record]:
    """Model -> this machine's measured figures (zoo.table's rule for which record counts)."""
    here = this_machine_key()
    return measured_rows(r for r in records if machine_key(r.get("machine")) == here)


# ------------------------------------------------------------------------------------------- models
def catalogue_rows(registry: Registry, records: list[Record], name: str | None = None) -> list[Record]:
    """One row per registered model (or only the model `name`): `zoo list`'s row plus this machine's
    measured figures."""
    measured = measured_here(records)
    rows = []
    for row in model_rows([name] if name else (), registry=registry):
        if name and row["name"] != name:  # the pattern also matches another model's alias
            continue
        mine = measured.get(row["name"], {})
        rows.append(
            {
                "name": row["name"],
                "label": row["label"],
                "family": row["family"],
                "from": row["from"],
                "source": row["source"],
                "params": row["params"],
                "size_mb": row["size_mb"],
                "top1": row["top1"],
                "top5": row["top5"],
                "input_size": row["input_size"],
                "cached": row["pulled"],
                "images_per_s_measured": _number(mine.get("images_per_s_measured")),
                "ms_per_step_measured": _number(mine.get("ms_per_step_measured")),
                "top1_measured": _number(mine.get("top1_measured")),
                "top5_measured": _number(mine.get("top5_measured")),
                "measured_runtime": mine.get("measured_runtime"),
                "measured_batch": mine.get("measured_batch"),
            }
        )
    return rows


def _number(value: Any) -> float | None:
    """A measured figure as a float; anything a hand-edited store holds that is not a number: None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


# --------------------------------------------------------------------------------------------- runs
@dataclass
class Run:
    """A run directory registered with `zoo register`, as far as it could be read."""

    name: str
    spec: ModelSpec
    run_dir: Path
    config: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    pictures: tuple[str, ...] = ()
    problems: list[str] = field(default_factory=list)


def registered_runs(registry: Registry) -> list[Run]:
    return [read_run(spec) for spec in registry if spec.bundle]


def read_run(spec: ModelSpec) -> Run:
    run = Run(spec.name, spec, Path(str(spec.bundle)))
    if not run.run_dir.is_dir():
        run.problems.append(f"the run directory {run.run_dir} is missing")
        return run
    run.config = _json_object(run, _RUN_CONFIG)
    run.metrics = _json_object(run, _RUN_METRICS)
    history = run.run_dir / _RUN_HISTORY
    if history.is_file():
        try:
            with open(history, encoding="utf-8", errors="replace", newline="") as f:
                run.history = [dict(row) for row in csv.DictReader(f)]
        except (OSError, csv.Error) as exc:
            run.problems.append(f"{_RUN_HISTORY} is unreadable: {exc}")
    run.pictures = tuple(p for p in RUN_PICTURES if (run.run_dir / p).is_file())
    return run


def _json_object(run: Run, name: str) -> dict[str, Any] | None:
    path = run.run_dir / name
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError) as exc:
        run.problems.append(f"{name} is unreadable: {exc}")
        return None
    if not isinstance(data, dict):
        run.problems.append(f"{name} does not hold a JSON object")
        return None
    return data
