"""Accuracy-gate verdicts: which runtime x precision kept a model's accuracy on the user's own photos.

`zoo evaluate MODEL DATA --runtime all` scores every runtime x precision against fp32 keras; a pair
passes when neither its top-1 nor its top-5 drops by more than GATE_MAX_DROP points. The verdicts are
kept in ZOO_HOME/auto/gate-<model fingerprint>.json (zoo.engine.fingerprint.model_fingerprint: the model's
architecture and weights, so a retrained model has no verdict until it is evaluated again), and
`--runtime auto` (zoo.bench.auto) picks only among the pairs that passed.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zoo import config
from zoo.atomic import atomic_write_text

GATE_MAX_DROP = 1.0  # points of top-1 or top-5 a precision may lose against fp32 keras


def auto_dir() -> Path:
    """ZOO_HOME/auto: --runtime auto's decisions, the accuracy-gate verdicts and the measured peaks."""
    return config.zoo_home() / "auto"


def gate_path(fingerprint: str) -> Path:
    return auto_dir() / f"gate-{fingerprint[:32]}.json"


def verdict(row: Mapping[str, Any], max_drop: float = GATE_MAX_DROP) -> tuple[bool, str]:
    """(passed, why) for one `evaluate --runtime all` row."""
    if row.get("status") != "ok":
        return False, str(row.get("status"))
    drops = [-float(row[k]) * 100 for k in ("delta_top1", "delta_top5")]
    worst = max(drops)
    if worst > max_drop:
        return False, f"loses {worst:.1f} points (top-1 {-drops[0]:+.1f}, top-5 {-drops[1]:+.1f})"
    return True, f"within {max_drop:g} point (top-1 {-drops[0]:+.1f}, top-5 {-drops[1]:+.1f})"


def record_gate(fingerprint: str, rows: Iterable[Mapping[str, Any]], about: Mapping[str, Any]) -> Path:
    """Write the verdict of every row (runtime, precision, status, deltas) for the model `fingerprint`;
    `about` says what was evaluated (model, dataset, images ...)."""
    verdicts = {}
    for row in rows:
        passed, why = verdict(row)
        verdicts[f"{row['runtime']} {row['precision']}"] = {
            "runtime": row["runtime"],
            "precision": row["precision"],
            "precision_ran": row.get("precision_ran"),
            "passed": passed,
            "why": why,
        }
    record = {
        "fingerprint": fingerprint,
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "max_drop": GATE_MAX_DROP,
        **dict(about),
        "verdicts": verdicts,
    }
    path = gate_path(fingerprint)
    atomic_write_text(path, json.dumps(record, indent=1, default=str) + "\n")
    return path


def read_gate(fingerprint: str) -> dict[str, Any] | None:
    """The recorded gate of the model `fingerprint`, or None when it was never evaluated (or unreadable)."""
    try:
        record = json.loads(gate_path(fingerprint).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("fingerprint") != fingerprint:
        return None
    return record


def passing_pairs(record: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (runtime, precision) pairs a gate record lets through."""
    return [(v["runtime"], v["precision"]) for v in record.get("verdicts", {}).values() if v.get("passed")]
