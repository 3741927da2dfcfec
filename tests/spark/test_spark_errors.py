"""--spark's bad input, answered before any JVM starts: no pyspark, an unreachable master, an existing out."""

from __future__ import annotations

import socket
import sys
import time

from support.cli import zoo_main


def test_without_pyspark_exit_2_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyspark", None)  # `import pyspark` fails as on a machine without it
    code, _, err = zoo_main(
        capsys, "embed", "mobilenet_v1_025_224", str(tmp_path), "--out", str(tmp_path / "o"), "--spark"
    )
    assert code == 2
    assert "pip install zoo-hub[spark]" in err and "Traceback" not in err


def test_unreachable_master_is_one_line_within_the_timeout(tmp_path, capsys):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    master = f"spark://127.0.0.1:{port}"
    started = time.monotonic()
    code, _, err = zoo_main(
        capsys,
        "embed",
        "mobilenet_v1_025_224",
        str(tmp_path),
        "--out",
        str(tmp_path / "o"),
        "--spark",
        "--master",
        master,
    )
    assert code == 1
    assert time.monotonic() - started < 60
    assert master in err and "cannot be reached" in err and "Traceback" not in err


def test_existing_output_is_refused_before_spark_starts(tmp_path, capsys):
    (tmp_path / "out.parquet").mkdir()
    code, _, err = zoo_main(
        capsys,
        "embed",
        "mobilenet_v1_025_224",
        str(tmp_path),
        "--out",
        str(tmp_path / "out.parquet"),
        "--spark",
        "--master",
        "spark://127.0.0.1:9",
    )
    assert code == 2 and "already exists" in err and "--overwrite" in err


def test_a_calibrated_int8_is_refused_and_auto_becomes_a_chooser_for_the_executors(tmp_path, capsys):
    from zoo.cli.spark_run import _executor_runtime

    args = ("embed", "mobilenet_v1_025_224", str(tmp_path), "--out", str(tmp_path / "o"), "--spark")
    code, _, err = zoo_main(capsys, *args, "--runtime", "litert", "--precision", "int8-full")
    assert code == 2 and "calibration images" in err and "Traceback" not in err

    from zoo.bench.auto import AutoChooser

    settings = {"runtime": "auto", "precision": "bf16"}
    _executor_runtime(settings)  # auto measures on each executor: it travels as a chooser
    assert isinstance(settings["runtime"], AutoChooser) and settings["runtime"].precisions == ("bf16",)


def test_finetune_spark_without_pyspark_and_with_an_unreachable_master(tmp_path, capsys, monkeypatch):
    from zoo.data.synthetic import render_dataset

    data = tmp_path / "data"
    render_dataset(data, per_class=3, size=32)
    args = ("finetune", "mobilenet_v1_025_224", str(data), "--out", str(tmp_path / "run"), "--spark")
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "pyspark", None)
        code, _, err = zoo_main(capsys, *args)
    assert code == 2 and "pip install zoo-hub[spark]" in err and "Traceback" not in err

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        master = f"spark://127.0.0.1:{probe.getsockname()[1]}"
    started = time.monotonic()
    code, _, err = zoo_main(capsys, *args, "--master", master)
    assert code == 1 and master in err and "cannot be reached" in err and "Traceback" not in err
    assert time.monotonic() - started < 60
    assert not (tmp_path / "run").exists()  # nothing written

    code, _, err = zoo_main(
        capsys, *args, "--strategy", "multi-worker", "--workers", "127.0.0.1:1", "--worker-index", "0"
    )
    assert code == 2 and "barrier tasks" in err
