"""Multi-view stage-1 features (--views) on real photos (TrashNet) with the real pretrained MobileNet 0.25
backbone: each view has its own feature-cache entry, only the fitted training images get views (never the
inner split or val), tuning records the count it chose in config.json and a repeat uses it, a forced count
is kept, and bad counts are usage errors."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.cli import flat, run_zoo, zoo_main
from support.realdata import photo_paths

from zoo import config
from zoo.data.folders import scan_folders, stratified_split
from zoo.transfer import finetune
from zoo.transfer.features import image_digests
from zoo.transfer.tuning import AUTO_VIEWS
from zoo.transfer.views import view_of

MODEL = "mobilenet_v1_025_224"
pytestmark = pytest.mark.timeout(600)


def _folder(root: Path, per_class: int, split: str) -> Path:
    for path in photo_paths(per_class, split=split):
        (root / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / path.parent.name / path.name)
    return root


def _entries() -> dict[str, set[str]]:
    """Every feature-cache entry: its file -> the image digests it holds."""
    out = {}
    for path in sorted(config.features_dir().rglob("*.npz")):
        with np.load(path) as data:
            out[str(path)] = {str(d) for d in data["digests"]}
    return out


@pytest.fixture
def photos(tmp_path: Path) -> tuple[Path, Path]:
    """(10 training photos a class, 2 val photos a class)."""
    return _folder(tmp_path / "train", 10, "train"), _folder(tmp_path / "val", 2, "val")


@pytest.fixture
def stage1_only(fixture_weights: Path, tmp_path: Path, photos: tuple[Path, Path]) -> Callable[..., Any]:
    """run(name, **settings): a stage-1-only run on `photos` at 96 px into tmp_path/name."""
    train, val = photos

    def run(name: str, **settings: Any) -> Any:
        common = dict(weights=str(fixture_weights), image_size=96, fine_tune_epochs=0, verbose=False)
        return finetune(MODEL, train, val=str(val), out=str(tmp_path / name), **common, **settings)

    return run


@pytest.mark.slow
def test_auto_views_cache_each_view_of_the_fitted_images_only_and_config_json_repeats_the_choice(
    stage1_only: Callable[..., Any], tmp_path: Path, photos: tuple[Path, Path]
) -> None:
    train = photos[0]
    run = stage1_only("a")
    doc = json.loads((run.run_dir / "config.json").read_text())
    chosen = doc["tuning"]["chosen"]["views"]
    assert doc["settings"]["views"] == chosen and chosen in AUTO_VIEWS
    assert sorted({t["views"] for t in doc["tuning"]["trials"]}) == list(AUTO_VIEWS)
    # the inner split tuning scores on (seed + 1, as zoo.transfer.stages draws it) gets no views
    inner = stratified_split(scan_folders(train), 0.2, seed=1)[1]
    fitted = set(image_digests(scan_folders(train).without(inner.paths).paths))
    entries = _entries()
    assert len(entries) == len(AUTO_VIEWS)  # the images, and each extra view: keyed apart
    views = [digests for digests in entries.values() if len(digests) < 60 + 12]  # 60 train, 12 val
    assert len(views) == len(AUTO_VIEWS) - 1
    assert all(digests == fitted for digests in views)  # never an inner-split or val image
    assert doc["tuning"]["fit_images"] == len(fitted) == 48
    stamps = {path: os.stat(path).st_mtime_ns for path in entries}
    again = finetune(config=run.run_dir / "config.json", out=str(tmp_path / "again"), verbose=False)
    assert again.feature_cache_hit is True
    assert {path: os.stat(path).st_mtime_ns for path in _entries()} == stamps  # every view a cache hit
    assert again.config.views == chosen and again.config.tune is False
    assert again.metrics["val_loss"] == run.metrics["val_loss"]


@pytest.mark.slow
def test_a_forced_view_count_is_kept_without_tuning_and_with_it(stage1_only: Callable[..., Any]) -> None:
    plain = stage1_only("a", tune=False, epochs=2)
    assert plain.config.views == 1 and len(_entries()) == 1  # untuned "auto": the images only
    forced = stage1_only("b", tune=False, epochs=2, views=2)
    assert forced.config.views == 2
    assert len(_entries()) == 2  # the flip view of all 60 training images (no inner split untuned)
    assert forced.metrics["train_count"] == 60
    assert forced.history[0]["loss"] != plain.history[0]["loss"]  # stage 1 trained on other rows
    tuned = stage1_only("c", views=1)
    doc = json.loads((tuned.run_dir / "config.json").read_text())
    assert {t["views"] for t in doc["tuning"]["trials"]} == {1} and doc["settings"]["views"] == 1
    assert "views" in doc["settings"]["user_set"]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["--views", "0"], "--views: must be auto or a number from 1 to 3, got 0"),
        (["--views", "4"], "--views: must be auto or a number from 1 to 3, got 4"),
        (["--views", "many"], "--views: must be auto or a number from 1 to 3, got 'many'"),
        (["--views", "2", "--augment", "flip"], "--views: extra views need stage 1 on cached features"),
    ],
)
def test_bad_view_counts_are_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, given: list[str], message: str
) -> None:
    (tmp_path / "data" / "a").mkdir(parents=True)
    code, out, err = zoo_main(capsys, "finetune", MODEL, str(tmp_path / "data"), *given)
    assert code == 2 and message in flat(err) and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_views_flip_and_crop_real_photos_in_place() -> None:
    from support.realdata import photos as real_photos

    pixels = real_photos(1, 64)[:2].round().astype(np.uint8)  # as decode_batch gives them
    assert np.array_equal(view_of(pixels, "flip"), pixels[:, :, ::-1])
    crop = view_of(pixels, "crop")
    assert crop.shape == pixels.shape and crop.dtype == np.uint8
    # the centre, enlarged: its middle pixel is the image's middle pixel, its corner is not the image's
    assert np.abs(crop[:, 32, 32].astype(int) - pixels[:, 32, 32]).max() <= 8
    assert not np.array_equal(crop[:, 0, 0], pixels[:, 0, 0])


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_forced_views_train_on_jax(fixture_weights: Path, tmp_path: Path, photos: tuple[Path, Path]) -> None:
    train, val = photos
    env = {"KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    args = ["finetune", MODEL, str(train), "--val", str(val), "--weights", str(fixture_weights)]
    args += ["--image-size", "96", "--epochs", "2", "--fine-tune-epochs", "0", "--no-tune", "--views", "3"]
    done = run_zoo(*args, "--out", str(tmp_path / "run"), "--no-tensorboard", env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["settings"]["views"] == 3
    assert len(_entries()) == 3 and "crop view" in done.stderr


@pytest.mark.slow
def test_a_resume_after_stage_1_keeps_the_chosen_views(
    fixture_weights: Path, tmp_path: Path, photos: tuple[Path, Path]
) -> None:
    from zoo.transfer import train as train_run
    from zoo.transfer.settings import merge_settings

    train, val = photos
    out = tmp_path / "run"
    given = dict(val=str(val), weights=str(fixture_weights), image_size=96, fine_tune_epochs=1, out=str(out))
    first = train_run(merge_settings(MODEL, train, settings=given), verbose=False, last_stage=1)
    chosen = json.loads((out / "config.json").read_text())["settings"]["views"]
    assert first.config.views == chosen and chosen in AUTO_VIEWS
    stamps = {path: os.stat(path).st_mtime_ns for path in _entries()}
    done = finetune(out=str(out), resume=True, verbose=False)
    assert done.config.views == chosen and done.config.tune is False  # no second search
    assert json.loads((out / "config.json").read_text())["settings"]["views"] == chosen
    assert {path: os.stat(path).st_mtime_ns for path in _entries()} == stamps
    assert [row["stage"] for row in done.history][-1] == 2


def test_the_search_scores_every_view_count_unless_given_one_or_stage_1_runs_no_epochs() -> None:
    from zoo.transfer.settings import FinetuneSettings
    from zoo.transfer.tuning import view_counts

    assert view_counts(FinetuneSettings(MODEL, "data")) == AUTO_VIEWS == (1, 2, 3)
    assert view_counts(FinetuneSettings(MODEL, "data", views="2")) == (2,)  # the CLI's text, as a count
    assert view_counts(FinetuneSettings(MODEL, "data", epochs=0)) == (1,)
