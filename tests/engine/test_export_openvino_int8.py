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


# ------------------------------------------------------------------ the plain int8 formats (no search)
PLAIN_FORMATS = {"litert-int8-plain": ("litert", ".tflite"), "openvino-int8-plain": ("openvino", ".xml")}


def _reload(path: Path, images: np.ndarray) -> np.ndarray:
    from zoo.engine.runtime_openvino import predict_ir
    from zoo.engine.runtimes import LiteRTRuntime

    if path.suffix == ".xml":
        return predict_ir(path, images)
    return LiteRTRuntime(path, "exported").predict(images)


@pytest.mark.parametrize("format", list(PLAIN_FORMATS))
def test_a_plain_int8_export_is_the_file_the_int8_plain_runtime_runs_not_the_searched_one(
    format: str, run: tuple[Path, Path], tmp_path: Path, module_home: Path
) -> None:
    from zoo.engine import export
    from zoo.engine.bundle import load_model_safely
    from zoo.engine.runtimes import make_runtime

    run_dir, _ = run
    runtime, suffix = PLAIN_FORMATS[format]
    calibration = photos(TRAIN, SIZE, "train")
    scored = photos(VAL, SIZE, "val")
    out = tmp_path / f"model{suffix}"
    result = export(run_dir, out, format=format, calibration=calibration, check_on="val", max_drop=100)
    assert result.path == out and out.is_file() and result.accuracy is not None
    model = load_model_safely(run_dir / "model.keras")
    exported = _reload(out, scored)
    plain = make_runtime(model, runtime, "int8-plain", calibration=calibration).predict(scored)
    searched_precision = "int8" if runtime == "openvino" else "int8-full"
    searched = make_runtime(model, runtime, searched_precision, calibration=calibration).predict(scored)
    # the same quantization as the runtime's int8-plain (deterministic), which the searched int8 is not
    np.testing.assert_allclose(exported, plain, atol=1e-6)
    assert np.abs(exported - searched).max() > 1e-3
    print(format, "max |exported - searched|:", float(np.abs(exported - searched).max()))


@pytest.mark.parametrize("format", list(PLAIN_FORMATS))
def test_a_plain_int8_export_goes_through_the_gate_and_calibrates_without_one(
    format: str, run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, val = run
    out = tmp_path / f"model{PLAIN_FORMATS[format][1]}"
    code, _, err = zoo_main(capsys, "export", str(run_dir), "--format", format, "--out", str(out),
                            "--check-on", "val", "--max-drop", "-1")  # fmt: skip
    assert code == 1, err
    err = " ".join(err.split())
    assert "nothing written" in err and f"the {format} export" in err
    assert list(tmp_path.iterdir()) == []
    # without a gate it is calibrated all the same (on --calibrate-on here), reloaded and checked
    code, stdout, err = zoo_main(capsys, "export", str(run_dir), "--format", format, "--out", str(out),
                                 "--calibrate-on", str(val))  # fmt: skip
    assert code == 0, err
    assert stdout.strip() == str(out) and "checked on 4 inputs" in " ".join(err.split())
