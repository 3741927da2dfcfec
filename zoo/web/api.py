"""The JSON behind the pages (docs/web.md): /api/models, /api/models/NAME, /api/results."""

from __future__ import annotations

import json
import math
from typing import Any

from zoo.listing import describe
from zoo.registry import ModelSpec
from zoo.web.data import MachineResults, Record


def dumps(data: Any) -> bytes:
    """Strict JSON (a NaN or infinity a hand-edited store may hold becomes null)."""
    return (json.dumps(_finite(data), indent=1, default=str, allow_nan=False) + "\n").encode("utf-8")


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def models_json(rows: list[Record], machine: str) -> bytes:
    """Every registered model: its `zoo list` figures and this machine's measured ones."""
    models = [
        {**row, "card": f"models/{row['name']}.html", "api": f"api/models/{row['name']}.json"} for row in rows
    ]
    return dumps({"machine": machine, "count": len(models), "models": models})


def model_json(spec: ModelSpec, row: Record | None, downloads: dict[str, str | None]) -> bytes:
    """One model: everything `zoo info --json` shows (cache status as flags, not this server's paths),
    this machine's measured figures, and each weight file's download link on this mirror (or null)."""
    data = describe(spec)
    data["cached"] = {variant: path is not None for variant, path in data["cached"].items()}
    data.pop("origin", None)  # a file path on the serving machine
    measured_keys = (
        "images_per_s_measured",
        "ms_per_step_measured",
        "top1_measured",
        "top5_measured",
        "measured_runtime",
        "measured_batch",
    )
    data["measured"] = {k: row[k] for k in measured_keys} if row else None
    data["downloads"] = downloads
    return dumps(data)


def results_json(machines: list[MachineResults]) -> bytes:
    """The results store's readable records, grouped by the machine that measured them."""
    return dumps(
        {
            "machines": [
                {"key": m.key, "label": m.label, "count": len(m.records), "records": m.records}
                for m in machines
            ]
        }
    )


def error_json(message: str) -> bytes:
    return dumps({"error": message})
