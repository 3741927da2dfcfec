"""`zoo export RUN --format openvino-int8`: an NNCF-quantized OpenVINO IR calibrated on the run's training
images (or --calibrate-on), measured by the --check-on accuracy gate before anything is written.

The run is real: the pretrained MobileNet 0.25 backbone (96 px) with a 6-class head fitted on the features
of TrashNet training photos; it is checked on TrashNet validation photos.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from support.cli import zoo_main
from support.realdata import CLASSES, copy_photos, photos, pretrained_features

from zoo.engine.bundle import save_bundle

pytest.importorskip("openvino")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
TRAIN, VAL, SIZE = 6, 4, 96  # photos per class


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, fixture_weights: Path) -> tuple[Path, Path]:
    """A run directory (the backbone + a head fitted on its training photos' features) and its val folder."""
    root = tmp_path_factory.mktemp("ov-int8")
    train, val = copy_photos(root / "train", TRAIN, "train"), copy_photos(root / "val", VAL, "val")
    keras.utils.set_random_seed(0)
    backbone = pretrained_features(fixture_weights, SIZE)
    features = backbone.predict(photos(TRAIN, SIZE, "train"), verbose=0)
    head = keras.Sequential([keras.Input((features.shape[1],)), keras.layers.Dense(len(CLASSES))])
    head.compile(optimizer=keras.optimizers.Adam(0.01), loss=keras.losses.SparseCategoricalCrossentropy(True))
    head.fit(features, np.repeat(np.arange(len(CLASSES)), TRAIN), epochs=60, verbose=0)
    inputs = keras.Input((SIZE, SIZE, 3))
    model = keras.Model(inputs, head(backbone(inputs)))
    settings = {"data": str(train), "val": str(val), "image_size": SIZE}
    return save_bundle(root / "run", model, list(CLASSES), {"settings": settings}), val


def test_openvino_int8_export_is_quantized_calibrated_on_training_images_and_gated(
    run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import openvino as ov

    run_dir, _ = run
    out = tmp_path / "model.xml"
    args = ("export", str(run_dir), "--format", "openvino-int8", "--out", str(out), "--check-on", "val")
    code, stdout, err = zoo_main(capsys, *args, "--max-drop", "100")
    assert code == 0, err
    err = " ".join(err.split())
    assert stdout.strip() == str(out), repr(stdout[:600])
    assert out.is_file() and out.with_suffix(".bin").is_file()
    assert f"accuracy gate on {VAL * len(CLASSES)} validation images of the run" in err
    assert f"calibration: {TRAIN * len(CLASSES)} training images of the run" in err
    ops = {op.get_type_name() for op in ov.Core().read_model(str(out)).get_ops()}
    assert "FakeQuantize" in ops  # a quantized IR, not the fp32 one
    print(err)


def test_openvino_int8_export_without_a_gate_calibrates_on_another_folder(
    run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, val = run
    out = tmp_path / "model.xml"
    code, _, err = zoo_main(capsys, "export", str(run_dir), "--format", "openvino-int8", "--out", str(out),
                            "--calibrate-on", str(val))  # fmt: skip
    assert code == 0, err
    assert out.is_file() and "checked on 4 inputs" in " ".join(err.split())


def test_openvino_int8_export_that_drops_accuracy_writes_nothing(
    run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, _ = run
    out = tmp_path / "model.xml"
    code, _, err = zoo_main(capsys, "export", str(run_dir), "--format", "openvino-int8", "--out", str(out),
                            "--check-on", "val", "--max-drop", "-1")  # fmt: skip
    assert code == 1, err
    assert "nothing written" in " ".join(err.split())
    assert list(tmp_path.iterdir()) == []  # neither the .xml nor its .bin, nor a staging file
