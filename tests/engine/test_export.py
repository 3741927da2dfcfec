"""Exports: every format is reloaded by its own runtime and checked against the original before it is done."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from support.models import tiny_cnn

from zoo.engine.export import FORMATS, ExportCheckFailed, export
from zoo.errors import ZooError


def tiny_model(seed: int = 0) -> keras.Model:
    # 16 5x5 filters, 1200 weights: enough for int8 to quantize it
    return tiny_cnn(16, 3, filters=16, kernel=5, rescale=True, batch_norm=True, seed=seed)


def pixels(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (count, 16, 16, 3)).astype(np.float32)


def reload_outputs(path: Path, format: str, inputs: np.ndarray) -> np.ndarray:
    """Run an exported artefact with its format's own loader, independently of zoo.engine.export."""
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
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    index = interpreter.get_input_details()[0]["index"]
    interpreter.resize_tensor_input(index, list(inputs.shape))
    interpreter.allocate_tensors()
    interpreter.set_tensor(index, inputs)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


@pytest.mark.parametrize("format", FORMATS)
def test_every_format_is_checked_and_reproduces_the_model(format: str, tmp_path: Path) -> None:
    model = tiny_model()
    out = tmp_path / {"savedmodel": "saved"}.get(format, f"model.{format}")
    result = export(model, out, format)

    assert result.path == out and result.format == format and out.exists()
    assert result.agreement.samples == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no staging leftovers

    fresh = pixels(5, seed=7)  # inputs the export check never saw
    expected = model.predict(fresh, verbose=0)
    got = reload_outputs(out, format, fresh)
    if format == "litert-int8":
        cosines = np.sum(got * expected, 1) / np.linalg.norm(got, axis=1) / np.linalg.norm(expected, axis=1)
        assert result.agreement.min_cosine >= 0.9 and cosines.min() >= 0.9
        assert not np.allclose(got, expected, atol=1e-6)  # really quantized
    else:
        assert result.agreement.max_rel <= 1e-4
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_calibration_gives_a_fully_int8_litert_export(tmp_path: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    result = export(tiny_model(), tmp_path / "m.tflite", "litert-int8", calibration=pixels(16, seed=1))
    interpreter = Interpreter(model_path=str(result.path))
    types = {d["dtype"] for d in interpreter.get_tensor_details()}
    assert np.int8 in types
    assert interpreter.get_input_details()[0]["dtype"] == np.float32  # float wrapper kept
    assert result.agreement.min_cosine >= 0.9


def test_a_run_directory_exports_with_its_labels(tmp_path: Path) -> None:
    from zoo.engine.bundle import save_bundle

    run_dir = save_bundle(tmp_path / "run", tiny_model(), ["cat", "dog", "fox"], {"image_size": 16})
    result = export(run_dir, tmp_path / "out" / "pets.tflite", "litert")
    assert result.path.is_file()
    assert result.labels_path == tmp_path / "out" / "pets.tflite.labels.json"
    assert json.loads(result.labels_path.read_text()) == ["cat", "dog", "fox"]
    assert result.agreement.max_rel <= 1e-4


def test_an_existing_output_is_kept_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "model.keras"
    out.write_text("precious")
    with pytest.raises(ZooError, match="already exists"):
        export(tiny_model(), out, "keras")
    assert out.read_text() == "precious"
    export(tiny_model(), out, "keras", overwrite=True)
    assert keras.saving.load_model(out).count_params() == tiny_model().count_params()


def test_unknown_formats_and_non_run_directories_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ZooError, match="unknown export format 'pt'") as caught:
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
def test_the_real_pretrained_backbone_exports_to_onnx(fixture_weights: Path, tmp_path: Path) -> None:
    backbone = keras.applications.MobileNet(
        alpha=0.25, include_top=False, weights=str(fixture_weights), input_shape=(96, 96, 3), pooling="avg"
    )
    inputs = np.random.default_rng(2).uniform(-1, 1, (4, 96, 96, 3)).astype(np.float32)
    result = export(backbone, tmp_path / "mobilenet.onnx", "onnx", check_inputs=inputs)
    assert result.agreement.max_rel <= 1e-4 and result.agreement.min_cosine >= 0.99999
