"""`zoo finetune --resume` after a SIGKILL mid-epoch, through real `python -m zoo` processes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest
from support.cli import ZOO, run_zoo
from support.runs import kill_in_stage_2

from zoo.data.synthetic import render_dataset

MODEL = "mobilenet_v1_025_224"


def finetune_cmd(data: Path, weights: Path, out: Path, *extra: str) -> list[str]:
    return [
        *ZOO, "finetune", MODEL, str(data), "--weights", str(weights),
        "--image-size", "64", "--epochs", "2", "--fine-tune-epochs", "3", "--batch-size", "2",
        "--unfreeze", "6", "--no-tensorboard", "--out", str(out), *extra,
    ]  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(900)  # three fine-tuning runs, the first allowed 240 s to reach stage 2
def test_resume_after_sigkill_continues_from_the_last_epoch(fixture_weights: Path, tmp_path: Path) -> None:
    data = render_dataset(tmp_path / "data", per_class=8, size=64, seed=3).root
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}

    # Kill the run once stage 2 has completed one epoch: the next epoch is then in progress.
    killed = tmp_path / "killed"
    state = kill_in_stage_2(finetune_cmd(data, fixture_weights, killed), env, killed)
    assert state["epochs_done"] < 3
    assert not (killed / "model.keras").exists()

    resumed = run_zoo("finetune", "--out", str(killed), "--resume", env=env)  # settings: the run's
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == str(killed)
    rows = list(csv.DictReader((killed / "history.csv").open()))
    assert [(r["epoch"], r["stage"]) for r in rows] == [
        (str(e), str(s)) for e, s in enumerate([1, 1, 2, 2, 2], 1)
    ]

    # An uninterrupted run with the same seed and data ends with the same numbers.
    reference = tmp_path / "reference"
    whole = subprocess.run(
        finetune_cmd(data, fixture_weights, reference), env=env, capture_output=True, text=True
    )
    assert whole.returncode == 0, whole.stderr
    got = json.loads((killed / "metrics.json").read_text())
    want = json.loads((reference / "metrics.json").read_text())
    assert got["val_loss"] == pytest.approx(want["val_loss"], abs=1e-5)
    assert got["val_accuracy"] == pytest.approx(want["val_accuracy"], abs=1e-5)
    want_rows = list(csv.DictReader((reference / "history.csv").open()))
    for a, b in zip(rows, want_rows, strict=True):
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), abs=1e-5)
        assert float(a["val_loss"]) == pytest.approx(float(b["val_loss"]), abs=1e-5)


def test_resume_without_out_is_a_usage_error(tmp_path: Path) -> None:
    done = run_zoo("finetune", MODEL, str(tmp_path), "--resume")
    assert done.returncode == 2
    assert "--resume needs --out" in done.stderr
