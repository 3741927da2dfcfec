"""Published and measured figures joined, in every output format, and the accuracy-vs-speed plot."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from support.cli import invoke

from zoo.bench.results import append_results, stamp
from zoo.bench.tables import measured_frame, measured_rows, render, table

RECORDS = [
    {"kind": "benchmark", "model": "resnet50", "runtime": "keras", "precision": "fp32", "batch_size": 1,
     "latency_p50_ms": 40.0, "images_per_s": 25.0, "gmacs": 3.86, "status": "ok"},
    {"kind": "benchmark", "model": "resnet50", "runtime": "keras", "precision": "fp32", "batch_size": 32,
     "latency_p50_ms": 640.0, "images_per_s": 50.0, "gmacs": 3.86, "status": "ok"},
    {"kind": "benchmark", "model": "resnet50", "runtime": "litert", "precision": "int8", "batch_size": 32,
     "latency_p50_ms": 100.0, "images_per_s": 320.0, "gmacs": 3.86, "status": "ok"},
    {"kind": "evaluate", "model": "resnet50", "top1": 0.70, "top5": 0.90, "images": 100},
    {"kind": "evaluate", "model": "resnet50", "top1": 0.74, "top5": 0.91, "images": 1000},  # latest wins
    {"kind": "evaluate", "model": "/runs/flowers", "top1": 0.95, "top5": 1.0, "images": 40},
]  # fmt: skip


def test_join_puts_published_and_measured_side_by_side() -> None:
    frame = table(["resnet50", "mobilenet_v2"], records=RECORDS).set_index("model")
    resnet = frame.loc["resnet50"]
    assert resnet["top1_published"] == pytest.approx(0.749)  # keras.io: 74.9%
    assert resnet["top5_published"] == pytest.approx(0.921)
    assert resnet["ms_per_step_published"] == pytest.approx(58.2)
    assert resnet["images_per_s_published"] == pytest.approx(32 / 0.0582)
    assert resnet["top1_measured"] == pytest.approx(0.74) and resnet["eval_images"] == 1000
    # keras fp32 at keras.io's batch of 32 is the comparable row, not the faster int8 one
    assert resnet["ms_per_step_measured"] == 640.0 and resnet["measured_runtime"] == "keras/fp32"
    assert resnet["params"] == 25_636_712
    assert frame.loc["mobilenet_v2"].isna()["top1_measured"]
    assert "/runs/flowers" not in frame.index  # the pattern selects by name


def test_classic_source_and_measured_only_rows() -> None:
    frame = table(records=RECORDS, source="classic").set_index("model")
    assert frame.loc["resnet50", "top1_published"] == pytest.approx(0.759)
    assert frame.loc["/runs/flowers", "top1_measured"] == pytest.approx(0.95)
    assert frame.index[-1] == "/runs/flowers"  # after the registry's models


def test_every_format_renders_the_same_figures() -> None:
    frame = table(["resnet50"], records=RECORDS)
    md = render(frame, "md").splitlines()
    assert md[0].startswith("| model | top1_published") and md[1].startswith("|---|---:")
    assert md[2].startswith("| resnet50 | 0.749 | 0.74 |")
    (row,) = csv.DictReader(io.StringIO(render(frame, "csv")))
    assert row["top1_measured"] == "0.74" and row["params"] == "25636712"
    (record,) = json.loads(render(frame, "json"))
    assert record["top5_measured"] == 0.91 and record["measured_batch"] == 32
    assert record["images_per_s_measured"] == 50.0
    html = render(frame, "html")
    assert "<table" in html and "resnet50" in html and "0.749" in html
    assert "resnet50" in render(frame, "table")


def test_cli_reads_the_store_and_plots(tmp_path: Path) -> None:
    append_results(stamp(r) for r in RECORDS)
    result = invoke("table", "resnet50", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["top1_measured"] == 0.74
    plot = tmp_path / "speed.png"
    result = invoke("table", "resnet*", "--format", "md", "--plot", str(plot))
    assert result.exit_code == 0, result.output
    assert "| resnet50 |" in result.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 10_000


def test_cli_refuses_bad_formats_before_work() -> None:
    assert invoke("table", "--format", "xml").exit_code == 2
    assert invoke("table", "--plot", "out.txt").exit_code == 2
    assert invoke("table", "--source", "paper").exit_code == 2


def test_a_benchmark_record_without_runtime_or_precision_still_tables() -> None:
    """An older or hand-edited store: the row says what it does not know instead of failing."""
    rows = measured_rows([{"kind": "benchmark", "model": "resnet50", "images_per_s": 12.0, "batch_size": 32}])
    assert rows["resnet50"]["measured_runtime"] == "?/?" and rows["resnet50"]["images_per_s_measured"] == 12.0
    assert list(measured_rows(RECORDS)) == list(measured_frame(RECORDS)["model"])  # one rule, two shapes
