"""`zoo finetune --tune` on real photos (TrashNet) with the real pretrained MobileNet 0.25 backbone: the
search looks only at the training images, and config.json repeats the tuned run exactly."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.realdata import photo_paths

from zoo.transfer import finetune
from zoo.transfer.tuning import LEARNING_RATES, WEIGHT_DECAYS

MODEL = "mobilenet_v1_025_224"
pytestmark = pytest.mark.timeout(600)


def _folder(root: Path, per_class: int, split: str, offset: int = 0) -> Path:
    for path in photo_paths(per_class, split=split, offset=offset):
        (root / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / path.parent.name / path.name)
    return root


@pytest.mark.slow
def test_tune_chooses_on_the_inner_split_and_config_json_repeats_the_run(
    fixture_weights: Path, tmp_path: Path
) -> None:
    data = _folder(tmp_path / "train", 12, "train")
    common = dict(weights=str(fixture_weights), image_size=96, fine_tune_epochs=2, verbose=False)
    run = finetune(MODEL, data, tune=True, out=str(tmp_path / "tuned"), **common)
    doc = json.loads((run.run_dir / "config.json").read_text())
    settings, tuning = doc["settings"], doc["tuning"]
    assert settings["tune"] is False  # the choice is made: a repeat does not search again
    assert (settings["lr"], settings["weight_decay"], settings["epochs"]) == tuple(
        tuning["chosen"][k] for k in ("lr", "weight_decay", "epochs")
    )
    assert settings["lr"] in LEARNING_RATES and settings["weight_decay"] in WEIGHT_DECAYS
    assert len(tuning["trials"]) == len(LEARNING_RATES) * len(WEIGHT_DECAYS)
    assert (settings["fine_tune_schedule"], settings["warmup_epochs"], settings["inner_split"]) == (
        "cosine", 1, 0.2,
    )  # fmt: skip
    # 72 photos: 12 held out as val (2 a class), the 60 training ones split 48 + 12 (inner)
    assert (run.metrics["val_count"], tuning["fit_images"], tuning["inner_images"]) == (12, 48, 12)
    assert run.metrics["train_count"] == 48
    stage2 = [row for row in run.history if row["stage"] == 2]
    assert all("inner_loss" in row for row in run.history)
    assert stage2[0]["learning_rate"] == pytest.approx(1e-5)  # warmed up to fine_tune_lr ...
    assert stage2[-1]["learning_rate"] == pytest.approx(0.0)  # ... then cosine-decayed to 0
    again = finetune(config=run.run_dir / "config.json", out=str(tmp_path / "again"), verbose=False)
    assert again.metrics["val_loss"] == run.metrics["val_loss"]
    assert again.history == [
        {**row, "seconds": again.history[i]["seconds"]} for i, row in enumerate(run.history)
    ]


@pytest.mark.slow
def test_the_search_never_looks_at_the_validation_folder(fixture_weights: Path, tmp_path: Path) -> None:
    data = _folder(tmp_path / "train", 10, "train")
    common = dict(weights=str(fixture_weights), image_size=64, fine_tune_epochs=0, tune=True, verbose=False)
    chosen = []
    for name, offset in (("a", 0), ("b", 5)):
        val = _folder(tmp_path / f"val_{name}", 5, "val", offset=offset)
        run = finetune(MODEL, data, val=str(val), out=str(tmp_path / name), **common)
        chosen.append(json.loads((run.run_dir / "config.json").read_text())["tuning"])
    assert chosen[0]["trials"] == chosen[1]["trials"]  # other val photos: the very same search


def test_tune_refuses_stage1_augmentation() -> None:
    from zoo.transfer.settings import FinetuneSettings

    problems = FinetuneSettings(MODEL, "data", tune=True, augment=("flip",)).problems()
    assert problems == ["tune: searches on cached features, so stage 1 cannot augment"]
