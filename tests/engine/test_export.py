"""Exports: every format is reloaded by its own runtime and checked against the original before it is done.

The agreement of an export is measured on the real pretrained MobileNet backbone on real photos
(tests/support/realdata.py): its outputs differ from photo to photo, so an export giving another photo's
outputs, or one constant output, fails the check (random pixels into a random model would agree with
anything).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
from support.models import tiny_cnn
from support.realdata import photo_paths, photos, pretrained_features, wrong_outputs

from zoo.choices import CALIBRATED_EXPORTS, EXPORT_FORMATS
from zoo.cli.app import main
from zoo.data.decode import ResizePolicy, decode_batch
from zoo.data.folders import load_labelled, stratified_split
from zoo.engine import _export, export
from zoo.engine._export import INT8_FORMATS, require_agreement
from zoo.engine.agreement import compare
from zoo.engine.runtimes import convert_to_litert
from zoo.errors import ExportCheckFailed, InvalidSetting, ZooError

SIZE = 96
NOISE_WARNING = "checked on random inputs: no real images given"


def tiny_model(seed: int = 0) -> keras.Model:
    # 16 5x5 filters, 1200 weights: enough for int8 to quantize it
    return tiny_cnn(16, 3, filters=16, kernel=5, rescale=True, batch_norm=True, seed=seed)


def pixels(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (count, 16, 16, 3)).astype(np.float32)


def reload_outputs(path: Path, format: str, inputs: np.ndarray) -> np.ndarray:
    """Run an exported artefact with its format's own loader, independently of zoo.engine._export."""
    if format == "keras":
        return keras.saving.load_model(path, safe_mode=True).predict(inputs, verbose=0)
    if format == "savedmodel":
        import tensorflow as tf

        (output,) = tf.saved_model.load(str(path)).signatures["serving_default"](tf.constant(inputs)).values()
        return output.numpy()
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: inputs})[0]
    if format.startswith("openvino"):
        import openvino

        compiled = openvino.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        return compiled(inputs)[0]
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(inputs.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, inputs)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.fixture(scope="module")
def features(fixture_weights: Path) -> keras.Model:
    return pretrained_features(fixture_weights, SIZE)


@pytest.fixture(scope="module")
def check_photos() -> np.ndarray:
    return photos(per_class=1, size=SIZE)  # one photo of each of 6 classes


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.mark.slow
@pytest.mark.parametrize("format", EXPORT_FORMATS)
def test_every_format_reproduces_real_features_on_real_photos(
    format: str, features: keras.Model, check_photos: np.ndarray, tmp_path: Path
) -> None:
    out = tmp_path / {"savedmodel": "saved"}.get(
        format, "model.xml" if "openvino" in format else f"model.{format}"
    )
    # openvino-int8 and the plain int8 formats are always calibrated: on training photos, not the check ones
    always = format in CALIBRATED_EXPORTS
    calibration = photos(per_class=2, size=SIZE, split="train") if always else None
    result = export(features, out, format, check_inputs=check_photos, calibration=calibration)

    assert result.path == out and result.format == format and out.exists()
    assert (result.agreement.samples, result.checked_on) == (6, "the inputs given")
    written = ["model.bin", out.name] if "openvino" in format else [out.name]  # an IR's weights: its .bin
    assert sorted(p.name for p in tmp_path.iterdir()) == written  # no staging leftovers

    fresh = photos(per_class=1, size=SIZE, offset=1)  # photos the export check never saw
    expected = features.predict(fresh, verbose=0)
    got = reload_outputs(out, format, fresh)
    across = cosines(expected, np.roll(expected, 1, axis=0))  # how alike two different photos' features are
    assert across.max() < 0.8  # the photos really differ, so the comparisons below mean something
    if format in INT8_FORMATS:
        assert result.agreement.min_cosine >= 0.9 and cosines(got, expected).min() >= 0.9
        assert not np.allclose(got, expected, atol=1e-6)  # really quantized
    else:
        assert result.agreement.max_rel <= 1e-4
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


@pytest.mark.parametrize("format", EXPORT_FORMATS)
def test_the_check_refuses_outputs_of_other_photos_or_a_constant(
    format: str, features: keras.Model, check_photos: np.ndarray
) -> None:
    reference = features.predict(check_photos, verbose=0)
    require_agreement(format, compare(reference, reference), "same")  # the right outputs pass
    for what, wrong in wrong_outputs(reference).items():
        with pytest.raises(ExportCheckFailed, match="does not reproduce"):
            require_agreement(format, compare(reference, wrong), what)


def constant_model(output: np.ndarray) -> keras.Model:
    """A model of the backbone's input and output shape whose output is `output` whatever the image."""
    inputs = keras.Input((SIZE, SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    head = keras.layers.Dense(len(output))
    model = keras.Model(inputs, head(pooled))
    head.set_weights([np.zeros((3, len(output)), np.float32), output.astype(np.float32)])
    return model


def test_an_export_whose_file_computes_something_else_is_refused(
    features: keras.Model, check_photos: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the writer saves a real LiteRT file, of a model that always answers the average photo's features
    average = features.predict(check_photos, verbose=0).mean(0)
    wrong = convert_to_litert(constant_model(average), "fp32")
    writer = lambda model, path, calibration: path.write_bytes(wrong)  # noqa: E731
    monkeypatch.setitem(_export._FORMATS, "litert-int8", (writer, _export._FORMATS["litert-int8"][1]))
    with pytest.raises(ExportCheckFailed, match="does not reproduce"):
        export(features, tmp_path / "m.tflite", "litert-int8", check_inputs=check_photos)
    assert list(tmp_path.iterdir()) == []


def two_class_photos(data: Path) -> Path:
    """data/cardboard and data/glass, 5 real photos each."""
    for path in photo_paths(per_class=5, split="train")[:10]:
        (data / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, data / path.parent.name / path.name)
    return data


@pytest.mark.slow
def test_a_run_directory_is_checked_on_its_own_validation_images(
    features: keras.Model, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from zoo.engine.bundle import save_bundle

    data = two_class_photos(tmp_path / "data")
    labels = [f"feature{i}" for i in range(256)]
    settings = {"data": str(data), "val": None, "val_split": 0.4, "seed": 3, "image_size": SIZE}
    config = {"image_size": SIZE, "settings": settings}  # the layout `zoo finetune` writes
    run_dir = save_bundle(tmp_path / "run", features, labels, config)

    result = export(run_dir, tmp_path / "run.tflite", "litert-int8")
    assert result.checked_on == f"4 validation images of {data}"
    assert NOISE_WARNING not in capfd.readouterr().err
    # the same measure, computed here on the 4 photos the run held out for validation (seed 3)
    held_out = stratified_split(load_labelled(data), 0.4, seed=3)[1]
    images = decode_batch(held_out.paths, ResizePolicy(SIZE)).images.astype(np.float32)
    exported = reload_outputs(result.path, "litert-int8", images)
    expected = compare(features.predict(images, verbose=0), exported)
    assert result.agreement.samples == 4
    assert result.agreement.max_abs == pytest.approx(expected.max_abs, rel=1e-5)
    assert result.agreement.mean_cosine == pytest.approx(expected.mean_cosine, rel=1e-6)

    # `zoo export` prints the same one line as before, now about those real images
    capfd.readouterr()
    assert main(["export", str(run_dir), "--format", "litert", "--out", str(tmp_path / "cli.tflite")]) == 0
    lines = capfd.readouterr().err.splitlines()
    checked = [line for line in lines if line.startswith("checked on")]
    assert len(checked) == 1, lines
    assert re.fullmatch(r"checked on 4 inputs: top-1 agreement 100%, max abs difference \S+", checked[0])
    assert not any(NOISE_WARNING in line for line in lines)


def test_random_inputs_are_the_last_resort_and_say_so(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from zoo.engine.bundle import save_bundle

    gone = {"image_size": 16, "settings": {"data": str(tmp_path / "deleted"), "val_split": 0.2, "seed": 0}}
    run_dir = save_bundle(tmp_path / "run", tiny_model(), ["cat", "dog", "fox"], gone)
    result = export(run_dir, tmp_path / "run.keras", "keras")
    assert result.checked_on == "random inputs"
    assert NOISE_WARNING in capfd.readouterr().err
    result = export(tiny_model(), tmp_path / "model.keras", "keras")  # a bare model, nothing given
    assert result.checked_on == "random inputs"
    assert NOISE_WARNING in capfd.readouterr().err
    export(tiny_model(), tmp_path / "given.keras", "keras", check_inputs=pixels(2, seed=0))
    assert NOISE_WARNING not in capfd.readouterr().err


def test_calibration_gives_a_fully_int8_litert_export(tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    calibration = photos(per_class=3, size=16)
    result = export(tiny_model(), tmp_path / "m.tflite", "litert-int8", calibration=calibration)
    interpreter = Interpreter(model_path=str(result.path))
    types = {d["dtype"] for d in interpreter.get_tensor_details()}
    assert np.int8 in types
    assert interpreter.get_input_details()[0]["dtype"] == np.float32  # float wrapper kept
    assert (result.checked_on, result.agreement.samples) == ("calibration images", 4)


def test_a_run_directory_exports_with_its_labels(tmp_path: Path) -> None:
    from zoo.engine.bundle import save_bundle

    run_dir = save_bundle(tmp_path / "run", tiny_model(), ["cat", "dog", "fox"], {"image_size": 16})
    result = export(run_dir, tmp_path / "out" / "pets.tflite", "litert")
    assert result.path.is_file()
    assert result.labels_path == tmp_path / "out" / "pets.tflite.labels.json"
    assert json.loads(result.labels_path.read_text()) == ["cat", "dog", "fox"]
    assert result.agreement.max_rel <= 1e-4
    # a TensorFlow child answers its JAX or torch parent in JSON (zoo never unpickles): nothing is lost
    assert _export.ExportResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def test_an_existing_output_is_kept_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "model.keras"
    out.write_text("precious")
    with pytest.raises(ZooError, match="already exists"):
        export(tiny_model(), out, "keras")
    assert out.read_text() == "precious"
    export(tiny_model(), out, "keras", overwrite=True)
    assert keras.saving.load_model(out).count_params() == tiny_model().count_params()


def test_unknown_formats_and_non_run_directories_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidSetting, match="unknown export format 'pt'") as caught:
        export(tiny_model(), tmp_path / "m.pt", "pt")
    assert "onnx" in caught.value.hint
    with pytest.raises(ZooError, match="not a run directory"):
        export(tmp_path, tmp_path / "m.keras", "keras")


def cancelling_model() -> keras.Model:
    """Output = x @ A - x @ (A + 1e-4 noise): tiny in float, pure rounding noise once A is int8."""
    rng = np.random.default_rng(0)
    kernel = rng.normal(0, 1, (64, 32)).astype(np.float32)
    inputs = keras.Input((64,))
    first, second = keras.layers.Dense(32, use_bias=False), keras.layers.Dense(32, use_bias=False)
    model = keras.Model(inputs, keras.layers.Subtract()([first(inputs), second(inputs)]))
    first.set_weights([kernel])
    second.set_weights([kernel + rng.normal(0, 1e-4, kernel.shape).astype(np.float32)])
    return model


def test_an_export_that_does_not_agree_is_refused_and_not_written(tmp_path: Path) -> None:
    out = tmp_path / "bad.tflite"
    inputs = np.random.default_rng(1).normal(0, 1, (4, 64)).astype(np.float32)
    with pytest.raises(ExportCheckFailed, match="does not reproduce the original"):
        export(cancelling_model(), out, "litert-int8", check_inputs=inputs)
    assert list(tmp_path.iterdir()) == []
    # the same model exports fine in fp32: the check measures the format, not the model
    assert export(cancelling_model(), out, "litert", check_inputs=inputs).agreement.max_rel <= 1e-4


@pytest.mark.slow
def test_a_finetuned_run_is_checked_on_the_photos_it_held_out(
    fixture_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import zoo

    data = two_class_photos(tmp_path / "data")
    run = zoo.finetune(
        "mobilenet_v1_025_224", data, weights=str(fixture_weights), image_size=32, epochs=1,
        fine_tune_epochs=0, batch_size=4, tensorboard=False, out=str(tmp_path / "run"), verbose=False,
    )  # fmt: skip
    capsys.readouterr()
    result = export(run.run_dir, tmp_path / "run.keras", "keras")
    assert result.checked_on == f"2 validation images of {data}"  # val_split 0.2 of 5: one per class
    assert NOISE_WARNING not in capsys.readouterr().err
