"""zoo.load and the preprocessing layer, on the real pretrained fixture (MobileNet alpha 0.25, no top)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from support.registry import fixture_entry, write_models

from zoo import config, registry
from zoo.data.decode import ResizePolicy, decode_batch
from zoo.engine.build import backbone_and_head, load, plan
from zoo.engine.preprocessing import ImagenetPreprocessing, preprocessing_layer
from zoo.errors import ModelConfigError, UnknownModel, WeightsUnavailable

NAME = "test_mobilenet_025"  # a user entry, so these tests do not depend on registry.yaml's contents

# One keras.applications module per preprocess mode; `none` models rescale inside.
MODULE_OF_MODE = {"caffe": "vgg16", "tf": "mobilenet", "torch": "densenet", "none": "efficientnet"}


@pytest.fixture
def user_registry(tmp_path, monkeypatch, fixture_weights) -> Path:
    entry = fixture_entry(
        fixture_weights, pinned=True, aliases=["test-mobilenet-quarter"], interpolation="bilinear"
    )
    path = write_models(tmp_path / "user.yaml", {NAME: entry})
    monkeypatch.setenv("ZOO_REGISTRY", str(path))
    return path


@pytest.fixture(scope="module")
def raw_images(tmp_path_factory) -> np.ndarray:
    """Four real photos-like images decoded by zoo's decoder at 224 (gradients + noise, varied sizes)."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(7)
    paths = []
    for i, (h, w) in enumerate([(240, 320), (300, 300), (200, 260), (256, 512)]):
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([xx * 255 / w, yy * 255 / h, (xx + yy) * 127 / (h + w)], axis=-1)
        pixels = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
        paths.append(folder / f"{i}.png")
        Image.fromarray(pixels).save(paths[-1])
    return decode_batch(paths, ResizePolicy(224, "bilinear", 0.875)).images


# ------------------------------------------------------------------------------ the preprocessing layer
@pytest.mark.parametrize("mode", sorted(MODULE_OF_MODE))
def test_layer_matches_keras_preprocess_input_for_each_mode(mode):
    x = np.random.default_rng(1).uniform(0, 255, (2, 5, 7, 3)).astype("float32")
    expected = getattr(keras.applications, MODULE_OF_MODE[mode]).preprocess_input(x.copy())
    got = keras.ops.convert_to_numpy(ImagenetPreprocessing(mode)(x))
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    if mode != "none":
        assert np.abs(got - x).max() > 1  # the comparison can fail: the layer really transforms


def test_layer_matches_every_registered_model():
    x = np.random.default_rng(2).uniform(0, 255, (1, 4, 4, 3)).astype("float32")
    checked = 0
    for spec in registry.load_registry():
        if not spec.module:
            continue
        expected = getattr(keras.applications, spec.module).preprocess_input(x.copy())
        layer = preprocessing_layer(spec.preprocess)
        got = x if layer is None else keras.ops.convert_to_numpy(layer(x))
        np.testing.assert_allclose(got, expected, atol=1e-4, err_msg=f"{spec.name} ({spec.preprocess})")
        checked += 1
    if checked == 0:
        pytest.skip("registry.yaml has no entries with a keras module yet")


def test_layer_accepts_uint8_and_rejects_unknown_modes():
    x = np.full((1, 2, 2, 3), 255, dtype=np.uint8)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ImagenetPreprocessing("tf")(x)), 1.0)
    with pytest.raises(ValueError, match="mode must be one of"):
        ImagenetPreprocessing("inception")
    assert preprocessing_layer("none") is None


def test_model_with_the_layer_round_trips_through_safe_mode(tmp_path):
    inputs = keras.Input((4, 4, 3))
    outputs = keras.layers.Dense(2)(ImagenetPreprocessing("caffe")(inputs))
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.random.default_rng(3).uniform(0, 255, (2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(again(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-6
    )
    assert isinstance(again.layers[1], ImagenetPreprocessing) and again.layers[1].mode == "caffe"


# ----------------------------------------------------------------------------------------------- load
@pytest.mark.slow
def test_raw_input_model_equals_keras_on_preprocessed_images(fixture_weights, raw_images):
    # the built-in registry entry of the fixture's weight set
    model = load("mobilenet_v1_025_224", weights=fixture_weights, include_top=False, raw_input=True)
    reference = keras.applications.MobileNet(
        alpha=0.25, include_top=False, weights=str(fixture_weights), input_shape=(224, 224, 3), pooling="avg"
    )
    ours = keras.ops.convert_to_numpy(model(raw_images))
    theirs = keras.ops.convert_to_numpy(
        reference(keras.applications.mobilenet.preprocess_input(raw_images.astype("float32")))
    )
    assert ours.shape == (4, 256)
    assert theirs.std() > 0.1  # real pretrained features, not zeros
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)
    plain = load("mobilenet_v1_025_224", weights=fixture_weights, include_top=False, raw_input=False)
    assert not any(isinstance(layer, ImagenetPreprocessing) for layer in plain.layers)
    assert len(plain.layers) == len(reference.layers) == len(model.layers) - 1


def test_imagenet_weights_come_through_the_hub(user_registry, fixture_weights, monkeypatch):
    # A file with a published checksum in Keras' own cache is adopted without any network call.
    keras_models = config.keras_models_dir()
    keras_models.mkdir(parents=True)
    shutil.copy(fixture_weights, keras_models / fixture_weights.name)
    monkeypatch.setenv("ZOO_OFFLINE", "1")
    model = load(NAME, include_top=False, input_shape=96)
    expected = load(NAME, weights=fixture_weights, include_top=False, input_shape=96)
    x = np.random.default_rng(4).uniform(0, 255, (1, 96, 96, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(expected(x)), atol=1e-6
    )


def test_new_head_outputs_logits_on_the_pretrained_backbone(user_registry, fixture_weights):
    model = load(
        "test-mobilenet-quarter", weights=fixture_weights, num_classes=3, input_shape=96, dropout=0.3
    )
    features = load(NAME, weights=fixture_weights, include_top=False, input_shape=96)
    assert model.output_shape == (None, 3)
    assert model.get_layer("logits").activation is keras.activations.linear
    assert model.get_layer("dropout").rate == 0.3
    x = np.random.default_rng(5).uniform(0, 255, (2, 96, 96, 3)).astype("float32")
    backbone = model.layers[2]
    np.testing.assert_allclose(backbone(model.layers[1](x)), features(x), atol=1e-5)


def test_backbone_and_head_shares_the_backbone(user_registry, fixture_weights):
    model, backbone = backbone_and_head(NAME, 5, weights=fixture_weights, input_shape=64)
    assert backbone in model.layers and model.output_shape == (None, 5)
    backbone.trainable = False
    assert [w.name for w in model.trainable_weights] == ["kernel", "bias"]  # only the head trains


def test_random_init_allows_the_classifier_at_any_size(user_registry):
    model = load(NAME, weights=None, include_top=True, input_shape=128, raw_input=False)
    assert model.output_shape == (None, 1000)


# -------------------------------------------------------------------------------- refused before build
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"include_top": True, "input_shape": 96}, "the pretrained classifier needs input 224x224"),
        ({"include_top": False, "input_shape": 16}, "needs inputs of at least 32x32"),
        ({"include_top": False, "num_classes": 10}, "contradictory"),
        ({"num_classes": 10, "pooling": None}, "needs pooling"),
        ({"include_top": False, "pooling": "mean"}, "pooling must be"),
        ({"include_top": False, "dropout": 0.5}, "dropout applies to a new head only"),
        ({"include_top": False, "input_shape": (96, 96, 1)}, "input_shape must be"),
    ],
)
def test_impossible_combinations_are_refused(user_registry, fixture_weights, kwargs, message):
    with pytest.raises(ModelConfigError, match=message):
        plan(NAME, weights=fixture_weights, **kwargs)


def test_bad_names_and_weights(user_registry, tmp_path):
    with pytest.raises(UnknownModel, match=f"did you mean '{NAME}'"):
        load("test_mobilenet_25")
    with pytest.raises(ModelConfigError, match="weights must be 'imagenet', None or a .h5"):
        load(NAME, weights=tmp_path / "model.keras", include_top=False)
    with pytest.raises(WeightsUnavailable, match="weights file not found"):
        load(NAME, weights=tmp_path / "missing.h5", include_top=False)
    with pytest.raises(ModelConfigError, match="publishes no 'top' weights"):
        load(NAME)  # the entry only has notop weights


# ----------------------------------------------------------------------------- imports and registration
def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.timeout(300)  # the child is allowed 120 s
def test_importing_the_engine_package_does_not_load_keras():
    result = run_python("import sys, zoo, zoo.engine; print('keras' in sys.modules, callable(zoo.load))")
    assert result.stdout.split() == ["False", "True"], result.stderr


@pytest.mark.slow
@pytest.mark.timeout(300)  # the child is allowed 120 s
def test_a_fresh_process_loads_saved_models_with_the_layer_in_safe_mode(tmp_path):
    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(ImagenetPreprocessing("torch")(inputs)))
    model.save(tmp_path / "m.keras")
    code = (
        "from pathlib import Path; from zoo.engine.bundle import load_model_safely; "
        f"m = load_model_safely(Path({str(tmp_path / 'm.keras')!r})); "
        "print(type(m.layers[1]).__name__, m.layers[1].mode)"
    )
    result = run_python(code)
    assert result.stdout.split()[-2:] == ["ImagenetPreprocessing", "torch"], result.stderr


# --------------------------------------------------------------------------------- model references
def test_reference_says_what_each_model_argument_is_without_tensorflow(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.keras").write_bytes(b"")  # resolve checks which files are there, it reads none
    (run / "labels.json").write_text('["a"]')
    (tmp_path / "m.keras").write_bytes(b"")
    code = f"""
import sys
from pathlib import Path
from zoo.engine.reference import resolve
from zoo.errors import RunDirError, UnknownModel
tmp = Path({str(tmp_path)!r})
def kind(arg):
    ref = resolve(arg)
    return [ref.kind, ref.name, ref.spec.name if ref.spec else None]
def error(arg):
    try:
        resolve(arg)
    except (UnknownModel, RunDirError) as exc:
        return type(exc).__name__ + ": " + str(exc)
print(kind("mobilenetv2"))
print(kind(str(tmp / "run")), kind(tmp / "run"), kind(str(tmp / "m.keras")))
print(error("mobilenet_v3"), "|", error(str(tmp)), "|", error(tmp / "gone.keras"))
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""
    result = run_python(code)
    lines = result.stdout.splitlines()
    assert lines[0] == "['registry', 'mobilenet_v2', 'mobilenet_v2']", result.stderr
    run_ref = f"['bundle', '{run.resolve()}', None]"
    assert lines[1] == f"{run_ref} {run_ref} ['file', '{(tmp_path / 'm.keras').resolve()}', None]"
    assert lines[2] == (
        "UnknownModel: unknown model 'mobilenet_v3'; did you mean 'mobilenet_v2'? | "
        f"RunDirError: {tmp_path.resolve()}: not a run directory (model.keras is missing) | "
        f"UnknownModel: {tmp_path / 'gone.keras'}: no such model file"
    )
    assert lines[3] == "False False"
