"""The results store: one JSON object per line at zoo.config.results_path(), append-only.

Appends are atomic across processes (a file lock, one write of one whole line), and a reader skips a
truncated or corrupt line (a process killed mid-write) instead of failing on it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from zoo import config
from zoo.bench.machine import library_versions, machine_info


def stamp(record: Mapping[str, Any]) -> dict[str, Any]:
    """The record plus when, where and with which libraries it was measured (existing keys win)."""
    return {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": library_versions(),
        **record,
    }


def append_results(records: Iterable[Mapping[str, Any]], path: Path | None = None) -> Path:
    """Append records (one JSON line each) to the store; returns the store's path."""
    from filelock import FileLock

    path = Path(path) if path is not None else config.results_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r, default=str, sort_keys=True) + "\n" for r in records)
    if not lines:
        return path
    with FileLock(str(path) + ".lock"):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            if _ends_without_newline(path):
                # a writer was killed mid-line: start on a fresh line so our record stays readable
                lines = "\n" + lines
            os.write(fd, lines.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
    return path


def _ends_without_newline(path: Path) -> bool:
    size = path.stat().st_size
    if size == 0:
        return False
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) != b"\n"


def read_results(path: Path | None = None, kind: str | None = None) -> list[dict[str, Any]]:
    """Every readable record, oldest first (optionally only one `kind`: "benchmark" or "evaluate")."""
    path = Path(path) if path is not None else config.results_path()
    if not path.is_file():
        return []
    records = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a truncated line from a killed writer
            if isinstance(record, dict) and (kind is None or record.get("kind") == kind):
                records.append(record)
    return records
