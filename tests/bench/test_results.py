"""The results store: append-only JSON lines, safe across processes, tolerant of a truncated line."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path

from zoo import config
from zoo.bench.results import append_results, read_results, stamp


def test_records_go_to_zoo_home_and_carry_machine_versions_and_time() -> None:
    path = append_results([stamp({"kind": "benchmark", "model": "m", "images_per_s": 12.5})])
    assert path == config.results_path()
    (record,) = read_results()
    assert record["model"] == "m" and record["images_per_s"] == 12.5
    assert record["machine"]["cores"] >= 1 and record["machine"]["cpu"]
    assert record["versions"]["tensorflow"] and record["versions"]["python"]
    assert record["time"].endswith("+00:00")


def test_a_truncated_last_line_is_skipped_and_the_next_append_stays_readable(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    append_results([{"kind": "evaluate", "n": 1}], path)
    with path.open("a") as f:
        f.write('{"kind": "evaluate", "n": 2, "top1"')  # a writer killed mid-line
    append_results([{"kind": "evaluate", "n": 3}], path)
    assert [r["n"] for r in read_results(path)] == [1, 3]
    assert [r["n"] for r in read_results(path, kind="benchmark")] == []


def _append_many(args: tuple[str, int]) -> None:
    path, worker = args
    for i in range(50):
        append_results([{"kind": "benchmark", "worker": worker, "i": i, "pad": "x" * 5000}], Path(path))


def test_concurrent_appends_from_processes_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        pool.map(_append_many, [(str(path), w) for w in range(3)])
    lines = path.read_text().splitlines()
    assert len(lines) == 150
    records = [json.loads(line) for line in lines]  # every line is whole
    assert sorted((r["worker"], r["i"]) for r in records) == [(w, i) for w in range(3) for i in range(50)]
