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


def test_a_calibrated_int8_is_refused_and_auto_runs_keras_on_the_executors(tmp_path, capsys):
    from zoo.cli.spark_run import _executor_runtime

    args = ("embed", "mobilenet_v1_025_224", str(tmp_path), "--out", str(tmp_path / "o"), "--spark")
    code, _, err = zoo_main(capsys, *args, "--runtime", "litert", "--precision", "int8-full")
    assert code == 2 and "calibration images" in err and "Traceback" not in err

    settings = {"runtime": "auto", "precision": None}
    _executor_runtime(settings)  # the default runtime, auto, is measured on one machine only
    assert settings == {"runtime": "keras", "precision": "fp32"}
