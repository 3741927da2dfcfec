"""zoo.finetune end to end on rendered images and the real fixture backbone (MobileNet alpha 0.25)."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from support.cli import invoke

import zoo
from zoo.data.synthetic import render_dataset
from zoo.errors import BadDataset, BadImage, InvalidSetting, RegistryError, RunDirError
from zoo.transfer import FinetuneResult, finetune
from zoo.transfer.network import unfreeze_top, weighted_layers
from zoo.transfer.settings import FinetuneSettings

MODEL = "mobilenet_v1_025_224"
pytestmark = pytest.mark.timeout(600)  # module fixtures fine-tune several runs


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Module-wide ZOO_HOME/KERAS_HOME (the per-test autouse fixture does not cover module fixtures)."""
    root = tmp_path_factory.mktemp("module_home")
    with pytest.MonkeyPatch.context() as patch:
        for var in ("ZOO_HOME", "KERAS_HOME", "HF_HOME"):
            patch.setenv(var, str(root / var.lower()))
        yield root


@pytest.fixture(scope="module")
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 classes (circle, square, triangle) x 12 images, 64 px, random colours."""
    return render_dataset(tmp_path_factory.mktemp("shapes") / "data", per_class=12, size=64, seed=5).root


@pytest.fixture(scope="module")
def two_runs(
    module_home: Path, shapes: Path, fixture_weights: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[FinetuneResult, FinetuneResult]:
    """The same small two-stage run twice: the first computes the features, the second must reuse them
    (the fixed recipe, whose layout the tests below check)."""
    out = tmp_path_factory.mktemp("runs")
    settings = dict(
        weights=str(fixture_weights), image_size=64, epochs=2, fine_tune_epochs=1, batch_size=8,
        verbose=False, tune=False,
    )  # fmt: skip
    first = finetune(MODEL, shapes, out=str(out / "first"), **settings)
    second = finetune(MODEL, shapes, out=str(out / "second"), **settings)
    return first, second


@pytest.mark.slow
def test_pretrained_backbone_beats_random_init_on_shapes(fixture_weights: Path, tmp_path: Path) -> None:
    """Task: circles vs squares vs triangles, each image with a random background and a random foreground
    colour, so colour and brightness alone cannot separate the classes. Same recipe (stage 1, a new head
    on the frozen backbone, 15 epochs, 96 px) with ImageNet weights vs random init: the pretrained
    backbone must win by at least 10 accuracy points."""
    data = render_dataset(tmp_path / "data", per_class=30, size=96, seed=1).root
    common = dict(image_size=96, epochs=15, fine_tune_epochs=0, batch_size=16, val_split=0.3, verbose=False)
    pretrained = finetune(MODEL, data, weights=str(fixture_weights), out=str(tmp_path / "pre"), **common)
    random_init = finetune(MODEL, data, weights="none", out=str(tmp_path / "rand"), **common)
    assert pretrained.val_accuracy >= random_init.val_accuracy + 0.10, (
        pretrained.metrics,
        random_init.metrics,
    )
    assert pretrained.val_accuracy >= 0.7


@pytest.mark.slow
def test_run_directory_holds_everything(two_runs: tuple[FinetuneResult, FinetuneResult]) -> None:
    result = two_runs[0]
    run = result.run_dir
    for name in ("model.keras", "labels.json", "config.json", "history.csv", "metrics.json", "history.png",
                 "confusion.png", "skipped.txt"):  # fmt: skip
        assert (run / name).is_file(), name
    assert list((run / "tensorboard" / "train").iterdir())
    assert (run / "checkpoints" / "stage1").is_dir() and (run / "checkpoints" / "stage2").is_dir()
    assert json.loads((run / "labels.json").read_text()) == ["circle", "square", "triangle"]
    rows = list(csv.DictReader((run / "history.csv").open()))
    assert [(r["epoch"], r["stage"]) for r in rows] == [("1", "1"), ("2", "1"), ("3", "2")]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["val_count"] == 6 and metrics["train_count"] == 30  # 12 per class, 20% held out
    assert set(metrics["per_class"]) == {"circle", "square", "triangle"}
    assert np.asarray(metrics["confusion"]).sum() == 6
    assert metrics["val_accuracy"] == pytest.approx(result.history[-1]["val_accuracy"], abs=1e-6)
    # config.json repeats the run: every setting is there
    repeated = FinetuneSettings.load(run / "config.json")
    assert repeated == result.config
    assert repeated.epochs == 2 and repeated.fine_tune_epochs == 1 and repeated.image_size == 64


@pytest.mark.slow
def test_second_run_hits_the_feature_cache_and_reproduces_the_metrics(
    two_runs: tuple[FinetuneResult, FinetuneResult],
) -> None:
    first, second = two_runs
    assert first.feature_cache_hit is False
    assert second.feature_cache_hit is True
    for a, b in zip(first.history, second.history, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert a[key] == pytest.approx(b[key], abs=1e-5), key
    assert first.metrics["val_loss"] == pytest.approx(second.metrics["val_loss"], abs=1e-5)
    np.testing.assert_array_equal(first.metrics["confusion"], second.metrics["confusion"])


@pytest.mark.slow
def test_changed_image_content_misses_the_cache(
    two_runs: tuple[FinetuneResult, FinetuneResult],
    module_home: Path,
    fixture_weights: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ZOO_HOME", str(module_home / "zoo_home"))  # the cache two_runs filled
    data = tmp_path / "data"
    render_dataset(data, per_class=12, size=64, seed=5)
    settings = dict(weights=str(fixture_weights), image_size=64, epochs=1, fine_tune_epochs=0, verbose=False)
    same = finetune(MODEL, data, out=str(tmp_path / "same"), **settings)
    assert same.feature_cache_hit is True  # identical bytes to the module's shapes: the same content
    render_dataset(data, classes=("circle",), per_class=1, size=64, seed=99)  # overwrite circle_000.jpg
    changed = finetune(MODEL, data, out=str(tmp_path / "changed"), **settings)
    assert changed.feature_cache_hit is False


@pytest.mark.slow
def test_early_stopping_stops_and_restores_the_best_epoch(
    two_runs: tuple[FinetuneResult, FinetuneResult],
    module_home: Path,
    shapes: Path,
    fixture_weights: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SGD at learning rate 5 makes the validation loss jump around: the run stops after 2 epochs
    without a new best, and the final model is the best epoch's (its val loss is the metrics' val loss)."""
    monkeypatch.setenv("ZOO_HOME", str(module_home / "zoo_home"))  # cached features: fast
    result = finetune(
        MODEL, shapes, weights=str(fixture_weights), image_size=64, epochs=30, fine_tune_epochs=0,
        optimizer="sgd", lr=5.0, early_stopping=2, batch_size=8, out=str(tmp_path / "run"), verbose=False,
    )  # fmt: skip
    assert result.feature_cache_hit is True
    # a tuned run (the default) watches its inner split's loss, an untuned one the val loss
    watched = [row.get("inner_loss", row["val_loss"]) for row in result.history]
    assert len(watched) < 30
    best = int(np.argmin(watched))
    assert len(watched) == best + 1 + 2  # stopped two epochs after the best one
    assert result.metrics["best_epoch"] == best + 1
    assert result.metrics["val_loss"] == pytest.approx(result.history[best]["val_loss"], rel=1e-6)  # float32


@pytest.mark.slow
def test_bad_images_are_skipped_and_listed(
    fixture_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = render_dataset(tmp_path / "data", per_class=6, size=48, seed=2).root
    (data / "circle" / "empty.jpg").write_bytes(b"")
    (data / "square" / "text.png").write_text("not an image")
    settings = dict(weights=str(fixture_weights), image_size=48, epochs=1, fine_tune_epochs=0, verbose=False)
    monkeypatch.chdir(tmp_path)
    result = finetune(MODEL, "data", out="run", **settings)  # relative paths are saved absolute
    assert result.run_dir == tmp_path / "run"
    assert FinetuneSettings.load(result.run_dir / "config.json").data == str(data)
    listed = (result.run_dir / "skipped.txt").read_text().splitlines()
    assert sorted(Path(line.split("\t")[0]).name for line in listed) == ["empty.jpg", "text.png"]
    assert result.metrics["skipped"] == 2
    with pytest.raises(BadImage):
        finetune(MODEL, data, out=str(tmp_path / "strict"), on_bad_image="fail", **settings)


def test_data_errors_stop_the_run_before_training(tmp_path: Path) -> None:
    one = render_dataset(tmp_path / "one", classes=("circle",), per_class=3, size=32).root
    with pytest.raises(BadDataset, match="at least two classes"):
        finetune(MODEL, one, out=str(tmp_path / "r1"), weights="none", verbose=False)
    empty = render_dataset(tmp_path / "empty", per_class=3, size=32).root
    (empty / "hexagon").mkdir()
    with pytest.raises(BadDataset, match="'hexagon' has no images"):
        finetune(MODEL, empty, out=str(tmp_path / "r2"), weights="none", verbose=False)
    train = render_dataset(tmp_path / "train", classes=("circle", "square"), per_class=3, size=32).root
    val = render_dataset(tmp_path / "val", classes=("circle", "star"), per_class=2, size=32).root
    with pytest.raises(BadDataset, match="lacks: star"):
        finetune(MODEL, train, val=str(val), out=str(tmp_path / "r3"), weights="none", verbose=False)
    assert not any((tmp_path / r).exists() for r in ("r1", "r2", "r3"))
    with pytest.raises(InvalidSetting, match="batch_size: must be at least 1"):
        finetune(MODEL, train, batch_size=0, verbose=False)


def test_resume_and_existing_run_dir_errors(tmp_path: Path) -> None:
    data = render_dataset(tmp_path / "data", per_class=3, size=32).root
    with pytest.raises(RunDirError, match="nothing to resume"):
        finetune(MODEL, data, out=str(tmp_path / "fresh"), resume=True, verbose=False)
    with pytest.raises(RunDirError, match="nothing to resume"):
        finetune(out=str(tmp_path / "fresh"), resume=True, verbose=False)
    (tmp_path / "used" / "checkpoints").mkdir(parents=True)
    (tmp_path / "used" / "checkpoints" / "state.json").write_text(json.dumps({"stage": 1, "epochs_done": 1}))
    with pytest.raises(RunDirError, match="already holds a run"):
        finetune(MODEL, data, out=str(tmp_path / "used"), verbose=False)


def test_unfreeze_top_counts_weighted_layers_and_keeps_batchnorm_frozen() -> None:
    import keras

    backbone = keras.applications.MobileNet(
        input_shape=(32, 32, 3), alpha=0.25, include_top=False, weights=None, pooling="avg"
    )
    backbone.trainable = False
    layers = weighted_layers(backbone)
    assert len(layers) == 27 + 27  # 27 convolutions, each followed by a BatchNorm
    assert unfreeze_top(backbone, 4) == 2  # the last four: conv, BN, conv, BN -> two convolutions
    trainable = [layer.name for layer in layers if layer.trainable]
    assert trainable == [layers[-4].name, layers[-2].name]
    assert all(not isinstance(layer, keras.layers.BatchNormalization) for layer in layers if layer.trainable)
    assert unfreeze_top(backbone, "all") == 27
    assert unfreeze_top(backbone, 0) == 0


@pytest.mark.slow
def test_register_makes_the_run_a_model(
    two_runs: tuple[FinetuneResult, FinetuneResult], module_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZOO_HOME", str(module_home / "zoo_home"))
    run = two_runs[0].run_dir
    path = zoo.register(run, "shapes-demo")
    assert path.parent.name == "registry.d"
    spec = zoo.info("shapes-demo")
    assert spec.bundle == str(run.resolve()) and spec.num_classes == 3 and spec.input_size == 64
    model = zoo.load("shapes-demo")
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(
        model.predict(x, verbose=0), two_runs[0].model.predict(x, verbose=0), atol=1e-5
    )
    listing = invoke("list")
    assert listing.exit_code == 0 and "shapes-demo" in listing.output
    with pytest.raises(RegistryError, match="already registered"):
        zoo.register(run, "shapes-demo")
    assert zoo.register(run, "shapes-demo", force=True) == path
    with pytest.raises(RegistryError, match="already the name of a registered model"):
        zoo.register(run, MODEL)
    with pytest.raises(RunDirError, match="not a finished run directory"):
        zoo.register(run / "checkpoints", "other")
