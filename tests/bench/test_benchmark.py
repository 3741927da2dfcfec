"""Benchmarks of tiny real models in worker processes: consistent figures, and failures reported per model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import invoke, run_zoo
from support.models import tiny_cnn

from zoo.bench.results import read_results
from zoo.bench.worker import run_worker

HAND_MACS = 16 * 16 * 8 * (3 * 3 * 3) + 8 * 4  # Conv2D 3x3 'same' on 16x16x3 -> 16x16x8; Dense 8 -> 4


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.keras"
    tiny_cnn(16, 4, padding="same").save(path)
    return path


@pytest.mark.slow
def test_tiny_model_figures_are_internally_consistent(tiny_model: Path, tmp_path: Path) -> None:
    from zoo.bench import benchmark

    out = tmp_path / "rows.csv"
    frame = benchmark(str(tiny_model), batch_sizes=[1, 4], iters=30, warmup=2, out=out)
    assert list(frame["status"]) == ["ok", "ok"]
    for row in frame.itertuples():
        assert row.images_per_s == pytest.approx(row.batch_size / (row.latency_p50_ms / 1e3), rel=0.1)
        assert row.latency_p50_ms <= row.latency_p90_ms <= row.latency_p99_ms
        assert row.gmacs * 1e9 == pytest.approx(HAND_MACS) and row.gflops == pytest.approx(2 * row.gmacs)
        assert row.achieved_gflops == pytest.approx(row.gflops * row.images_per_s)
        assert row.peak_share == pytest.approx(row.achieved_gflops / row.peak_gflops)
        assert row.peak_gflops > 1 and 50 < row.peak_rss_mb < 20_000
        assert row.params == 3 * 3 * 3 * 8 + 8 + 8 * 4 + 4
    assert out.read_text().splitlines()[0].startswith("model,runtime,precision,batch_size")
    records = read_results(kind="benchmark")
    assert [r["batch_size"] for r in records] == [1, 4]
    assert records[0]["runtime"] == "keras" and records[0]["versions"]["keras"]


@pytest.mark.slow
def test_a_failing_model_is_reported_and_the_others_still_run(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zoo.bench import benchmark

    monkeypatch.setenv("ZOO_OFFLINE", "1")  # imagenet weights cannot be fetched: that model fails
    frame = benchmark(["mobilenet_v1_025_128", str(tiny_model)], batch_sizes=[2], iters=3, weights="imagenet")
    failed, ok = frame.iloc[0], frame.iloc[1]
    assert failed["model"] == "mobilenet_v1_025_128" and failed["status"].startswith("failed: ")
    assert "offline" in failed["status"].lower()
    assert ok["status"] == "ok" and ok["images_per_s"] > 0


@pytest.mark.slow
def test_worker_crash_and_timeout_kill_are_reported() -> None:
    crashed = run_worker({"model": "x", "no_such_option": 1}, timeout_s=120)
    assert crashed.output is None
    assert crashed.failure.startswith("crashed: exit code 1") and "no_such_option" in crashed.failure
    # a real model: the worker must import TensorFlow and build it, which takes far longer than 0.5 s
    killed = run_worker({"model": "mobilenet_v1_025_224", "iters": 1000}, timeout_s=0.5)
    assert killed.output is None and killed.failure.startswith("killed:")


def test_cli_usage_errors_exit_2_before_any_work(tiny_model: Path) -> None:
    for args in (
        ["--batch-size", "1,x"],
        ["--batch-size", "0"],
        ["--runtime", "onnx"],
        ["--precision", "fp8"],
        ["--out", "rows.txt"],
        ["--iters", "0"],
        ["--weights", "random"],
    ):
        result = invoke("benchmark", str(tiny_model), *args)
        assert result.exit_code == 2, (args, result.output)


@pytest.mark.timeout(300)  # the child is allowed 120 s
def test_unknown_model_is_a_usage_error_with_a_suggestion() -> None:
    proc = run_zoo("benchmark", "resnet5O", timeout=120)
    assert proc.returncode == 2
    assert "Error: unknown model 'resnet5O'" in proc.stderr and "resnet50" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_cli_json_rows_report_unsupported_combinations(tiny_model: Path) -> None:
    args = ["benchmark", str(tiny_model), "-b", "2", "--iters", "3", "--precision", "fp32,fp16", "--json"]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    fp32, fp16 = json.loads(result.stdout)
    assert fp32["batch_size"] == 2 and fp32["status"] == "ok" and fp32["images_per_s"] > 0
    assert fp16["status"].startswith("unsupported: ") and "fp16" in fp16["status"]
    assert fp16["images_per_s"] is None
    assert [r["precision"] for r in read_results(kind="benchmark")] == ["fp32"]  # only measured rows


def test_runtime_all_times_an_onnxruntime_session_spinning_beside_each_onnxruntime_pair() -> None:
    from zoo.bench.benchmark import benchmark_pairs
    from zoo.engine.installed import runtime_pairs

    pairs = benchmark_pairs(["all", "onnxruntime"], ["fp32"])
    expected = [(r, "fp32", "spinning") for r, _ in runtime_pairs(precisions=["fp32"]) if r == "onnxruntime"]
    assert [pair for pair in pairs if len(pair) == 3] == expected and expected
    assert pairs.index(expected[0]) == pairs.index(("onnxruntime", "fp32")) + 1
    assert benchmark_pairs(["onnxruntime"], None) == [("onnxruntime", "fp32")]  # named: zoo's default session
