"""CLI misuse: unknown commands and options, bad numbers, paths that do not exist -> exit 2 with a usage
message, answered fast and before any work (TensorFlow is never imported).

All cases run in ONE fresh interpreter (tests/ is not imported there): the driver calls `zoo.cli.app.main`
for each and records the exit code, stderr, the seconds it took and whether TensorFlow got imported.
Checking `sys.modules` is only meaningful in a process where nothing imported TensorFlow before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from support.cli import WIDE, run_zoo

MODEL = "mobilenet_v1_025_224"
pytestmark = pytest.mark.timeout(300)  # the first test waits for the driver (timeout 180)
SLOW_FOR_A_USAGE_ERROR = 3.0  # seconds; a usage error needs no model, no data and no TensorFlow

DRIVER = r"""
import contextlib, io, json, sys, time
from zoo.cli.app import main

records = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    records.append({"code": code, "stderr": err.getvalue(), "seconds": time.perf_counter() - start,
                    "tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules})
print(json.dumps(records))
"""


def cases(tmp: Path) -> dict[str, tuple[list[str], str]]:
    """id -> (argv, a phrase the usage message must contain)."""
    image, data, missing, not_a_run = tmp / "a.png", tmp / "data", str(tmp / "missing"), tmp / "empty"
    img, dat = str(image), str(data)
    return {
        "unknown command": (["frobnicate"], "No such command"),
        "unknown option": (["predict", MODEL, img, "--no-such-option"], "No such option"),
        "unknown option on list": (["list", "--bogus"], "No such option"),
        "predict batch size 0": (["predict", MODEL, img, "--batch-size", "0"], "--batch-size"),
        "predict top 0": (["predict", MODEL, img, "--top", "0"], "--top"),
        "predict bad runtime": (["predict", MODEL, img, "--runtime", "gpu"], "--runtime"),
        "predict missing image": (["predict", MODEL, missing], "no such file or folder"),
        "predict missing run dir": (["predict", "--model", missing, img], "no such run directory"),
        "predict no image": (["predict", MODEL], "IMAGE"),
        "predict --weights with --model": (["predict", "--model", dat, img, "--weights", img], "--weights"),
        "embed batch size 0": (["embed", MODEL, img, "--out", "f.npy", "--batch-size", "0"], "--batch-size"),
        "embed size 5": (["embed", MODEL, img, "--out", "f.npy", "--size", "5"], "--size"),
        "embed bad output": (["embed", MODEL, img, "--out", "f.txt"], "--out"),
        "embed bad policy": (
            ["embed", MODEL, img, "--out", "f.npy", "--on-bad-image", "maybe"],
            "--on-bad-image",
        ),
        "embed missing weights": (["embed", MODEL, img, "--out", "f.npy", "--weights", missing], "--weights"),
        "evaluate batch size 0": (["evaluate", MODEL, dat, "--batch-size", "0"], "--batch-size"),
        "evaluate limit 0": (["evaluate", MODEL, dat, "--limit", "0"], "--limit"),
        "evaluate missing data": (["evaluate", MODEL, missing], "does not exist"),
        "finetune val split 1.5": (["finetune", MODEL, dat, "--val-split", "1.5"], "--val-split"),
        "finetune batch size 0": (["finetune", MODEL, dat, "--batch-size", "0"], "--batch-size"),
        "finetune epochs -1": (["finetune", MODEL, dat, "--epochs", "-1"], "--epochs"),
        "finetune no epochs at all": (
            ["finetune", MODEL, dat, "--epochs", "0", "--fine-tune-epochs", "0"],
            "at least one epoch",
        ),
        "finetune lr not a number": (["finetune", MODEL, dat, "--lr", "fast"], "--lr"),
        "finetune image size 8": (["finetune", MODEL, dat, "--image-size", "8"], "--image-size"),
        "finetune image size 100000": (["finetune", MODEL, dat, "--image-size", "100000"], "--image-size"),
        "finetune dropout 1": (["finetune", MODEL, dat, "--dropout", "1"], "--dropout"),
        "finetune unfreeze some": (["finetune", MODEL, dat, "--unfreeze", "some"], "--unfreeze"),
        "finetune early stopping 0": (["finetune", MODEL, dat, "--early-stopping", "0"], "--early-stopping"),
        "finetune bad optimizer": (["finetune", MODEL, dat, "--optimizer", "newton"], "--optimizer"),
        "finetune unknown augment": (["finetune", MODEL, dat, "--augment", "warp"], "--augment"),
        "finetune missing data": (["finetune", MODEL, missing], "does not exist"),
        "finetune missing val": (["finetune", MODEL, dat, "--val", missing], "does not exist"),
        "finetune missing weights": (["finetune", MODEL, dat, "--weights", missing], "--weights"),
        "finetune resume without out": (["finetune", "--resume"], "--resume"),
        "benchmark batch size 0": (["benchmark", MODEL, "--batch-size", "0"], "--batch-size"),
        "benchmark iters 0": (["benchmark", MODEL, "--iters", "0"], "--iters"),
        "export missing run dir": (["export", missing, "--out", "x.keras"], "does not exist"),
        "export not a run dir": (["export", str(not_a_run), "--out", "x.keras"], "not a run directory"),
        "export bad format": (["export", str(not_a_run), "--out", "x", "--format", "zip"], "--format"),
        "pull bad mirror": (["pull", MODEL, "--mirror", "ftp://example.org"], "--mirror"),
        "serve missing folder": (["serve", missing], "does not exist"),
        "serve port out of range": (["serve", str(tmp), "--port", "70000"], "--port"),
        "cache import missing file": (["cache", "import", missing, "--name", MODEL], "does not exist"),
        "table bad plot": (["table", "--plot", "x.txt"], "--plot"),
        "list bad max size": (["list", "--max-size", "-1"], "--max-size"),
    }


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("misuse")
    Image.new("RGB", (8, 8)).save(tmp / "a.png")
    for name in ("x", "y"):
        (tmp / "data" / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(tmp / "data" / name / "1.png")
    (tmp / "empty").mkdir()
    table = cases(tmp)
    argvs = [argv for argv, _ in table.values()]
    result = subprocess.run(
        [sys.executable, "-c", DRIVER, json.dumps(argvs)],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp,
        env={**os.environ, **WIDE},  # rich's error box would fold a long temporary path mid-message
    )
    assert result.returncode == 0, result.stderr
    records = json.loads(result.stdout.strip().splitlines()[-1])
    return {name: {**record, "expect": table[name][1]} for name, record in zip(table, records, strict=True)}


CASE_IDS = list(cases(Path("/x")))


@pytest.mark.parametrize("case", CASE_IDS)
def test_misuse_is_a_usage_error_with_a_message(outcomes: dict[str, dict], case: str) -> None:
    record = outcomes[case]
    assert record["code"] == 2, record["stderr"]
    assert record["expect"] in record["stderr"]
    assert "Usage:" in record["stderr"] and "Traceback" not in record["stderr"]


@pytest.mark.parametrize("case", CASE_IDS)
def test_misuse_is_answered_fast_without_tensorflow(outcomes: dict[str, dict], case: str) -> None:
    record = outcomes[case]
    assert not record["tensorflow"] and not record["keras"]
    assert record["seconds"] < SLOW_FOR_A_USAGE_ERROR


def test_a_mistyped_model_name_is_a_usage_error_with_a_suggestion(tmp_path: Path) -> None:
    # a name that is not in the registry is like a path that does not exist: nothing ran (exit 2)
    result = run_zoo("info", "mobilenet_v1_025_22", timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ") and MODEL in result.stderr and "Traceback" not in result.stderr
