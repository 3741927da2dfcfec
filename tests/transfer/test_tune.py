"""Tuned fine-tuning (the default) on real photos (TrashNet) with the real pretrained MobileNet 0.25
backbone: the search looks only at the training images, and config.json repeats the tuned run exactly."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from support.realdata import photo_paths

from zoo.data.folders import LabelledImages
from zoo.transfer import finetune
from zoo.transfer.settings import FinetuneSettings, merge_settings
from zoo.transfer.tuning import AUTO_VIEWS, LEARNING_RATES, TUNED_RECIPE, WEIGHT_DECAYS, with_tune_defaults

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
    assert len(tuning["trials"]) == len(LEARNING_RATES) * len(WEIGHT_DECAYS) * len(AUTO_VIEWS)
    assert (settings["fine_tune_schedule"], settings["warmup_epochs"], settings["inner_split"]) == (
        "cosine", 1, 0.2,
    )  # fmt: skip
    # 72 photos: 12 held out as val (2 a class), the 60 training ones split 48 + 12 (inner)
    assert (run.metrics["val_count"], tuning["fit_images"], tuning["inner_images"]) == (12, 48, 12)
    assert run.metrics["train_count"] == 48
    stage2 = [row for row in run.history if row["stage"] == 2]
    assert all("inner_loss" in row for row in run.history)
    assert stage2[0]["learning_rate"] == pytest.approx(TUNED_RECIPE["fine_tune_lr"])  # warmed up ...
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


def _images(per_class: dict[str, int]) -> LabelledImages:
    classes = tuple(sorted(per_class))
    labels = tuple(i for i, name in enumerate(classes) for _ in range(per_class[name]))
    return LabelledImages(tuple(Path(f"{n}.jpg") for n in range(len(labels))), labels, classes)


def test_tuning_is_the_default_and_keeps_every_setting_the_user_gave() -> None:
    given = {"epochs": 3, "fine_tune_lr": 1e-5, "inner_split": 0.3}  # fine_tune_lr given at its default
    cfg, why_not = with_tune_defaults(
        merge_settings(MODEL, "data", settings=given), _images({"a": 9, "b": 9})
    )
    assert (cfg.tune, why_not) == (True, "")
    assert (cfg.epochs, cfg.fine_tune_lr, cfg.inner_split) == (3, 1e-5, 0.3)  # as given
    recipe = {k: v for k, v in TUNED_RECIPE.items() if k not in given}
    assert {k: getattr(cfg, k) for k in recipe} == recipe  # the rest: the tuned recipe
    assert recipe["unfreeze"] == "all" and TUNED_RECIPE["fine_tune_lr"] > FinetuneSettings.fine_tune_lr


def test_no_tune_and_data_too_small_to_tune_run_the_fixed_recipe() -> None:
    fixed = FinetuneSettings(MODEL, "data", tune=False, views=1)  # untuned views "auto": the image alone
    assert with_tune_defaults(replace(fixed, views="auto"), _images({"a": 9, "b": 9})) == (fixed, "")
    assert with_tune_defaults(fixed, _images({"a": 9, "b": 9})) == (fixed, "")
    small, why_not = with_tune_defaults(FinetuneSettings(MODEL, "data"), _images({"a": 9, "b": 4}))
    assert small == fixed
    assert (
        why_not
        == "no tuning: class 'b' has 4 training images (an inner split needs 5); the fixed recipe runs"
    )
    augmented, why_not = with_tune_defaults(
        FinetuneSettings(MODEL, "data", augment=("flip",)), _images({"a": 9})
    )
    assert not augmented.tune and "stage 1 augments" in why_not


def test_a_config_written_before_tuning_existed_repeats_its_fixed_recipe(tmp_path: Path) -> None:
    settings = FinetuneSettings(MODEL, "data").to_dict()
    del settings["tune"], settings["user_set"]
    (tmp_path / "config.json").write_text(json.dumps({"settings": settings}))
    assert FinetuneSettings.load(tmp_path / "config.json").tune is False
