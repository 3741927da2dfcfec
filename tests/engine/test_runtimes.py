"""Runtimes: agreement on real pretrained features, the keras graph, LiteRT precisions, the conversion cache.

Agreement is measured on the real ImageNet MobileNet (alpha 0.25) backbone at 96x96 on real photos
(tests/support/realdata.py), never on random weights or random pixels: those outputs are near-constant, so the
outputs of other inputs, or one constant output, would agree with them too. Each bound below is checked to
refuse such wrong outputs (`wrong_outputs`).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np
import pytest
from support.models import tiny_cnn
from support.realdata import photos, pretrained_features, wrong_outputs

from zoo.engine.agreement import compare
from zoo.engine.folding import Passthrough, fold_batch_norms
from zoo.engine.runtimes import (
    PREDICT_CHUNK,
    KerasRuntime,
    LiteRTRuntime,
    RuntimeUnavailable,
    converted_path,
    make_runtime,
)
from zoo.errors import ZooError

SIZE = 96
CLASSES = 6  # the photos' classes (tests/support/realdata.py)


@pytest.fixture(scope="module")
def backbone(fixture_weights: Path) -> keras.Model:
    """The real pretrained backbone taking raw RGB 0-255 (MobileNet's [-1, 1] scaling in front), pooled."""
    return pretrained_features(fixture_weights, SIZE)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return photos(per_class=6, size=SIZE)  # 36 real photos, 6 classes


def matched(reference: np.ndarray, candidate: np.ndarray) -> float:
    """The share of outputs whose nearest reference output (by cosine) is their own input's."""
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    return float(np.mean(np.argmax(unit(candidate) @ unit(reference).T, axis=1) == np.arange(len(reference))))


@pytest.fixture(scope="module")
def reference(backbone: keras.Model) -> KerasRuntime:
    return make_runtime(backbone, "keras", "fp32")


@pytest.fixture(scope="module")
def litert_fp32(backbone: keras.Model, module_home: Path) -> LiteRTRuntime:
    return make_runtime(backbone, "litert", "fp32", cache_key="mobilenet_025-fixture")


@pytest.fixture(scope="module")
def litert_int8(backbone: keras.Model, module_home: Path) -> LiteRTRuntime:
    return make_runtime(backbone, "litert", "int8", cache_key="mobilenet_025-fixture")


def tiny_model(seed: int = 0) -> keras.Model:
    """A small hand-built CNN: converts in about a second."""
    return tiny_cnn(16, 5, seed=seed)


# ----------------------------------------------------------------------------- agreement, real features


@pytest.mark.slow
def test_litert_fp32_features_match_keras_within_1e4_relative(
    reference: KerasRuntime, litert_fp32: LiteRTRuntime, images: np.ndarray
) -> None:
    agreement = litert_fp32.agreement(reference, images)
    assert agreement.samples == len(images)
    assert agreement.max_rel <= 1e-4
    assert agreement.min_cosine >= 0.99999
    # the features are not trivially small: the comparison is meaningful
    assert np.abs(reference.predict(images)).max() > 1.0


@pytest.mark.slow
def test_dynamic_range_int8_features_stay_close_per_image(
    reference: KerasRuntime, litert_fp32: LiteRTRuntime, litert_int8: LiteRTRuntime, images: np.ndarray
) -> None:
    expected, got = reference.predict(images), litert_int8.predict(images)
    agreement = compare(expected, got)
    # MobileNet alpha 0.25 is the most quantization-sensitive ImageNet model Keras ships: dynamic-range
    # int8 reaches a mean cosine of about 0.986 on these photos, 0.94 for the worst (docs/runtimes.md)
    assert agreement.mean_cosine >= 0.98
    assert agreement.min_cosine >= 0.92
    assert matched(expected, got) == 1.0  # every photo's features are still nearest its own
    assert agreement.max_abs > 0  # really quantized, not a float model under another name
    assert litert_int8.path.stat().st_size < 0.5 * litert_fp32.path.stat().st_size  # int8 weights
    for wrong in wrong_outputs(expected).values():  # the same bounds refuse wrong outputs
        refused = compare(expected, wrong)
        assert refused.mean_cosine < 0.98 and refused.min_cosine < 0.92 and matched(expected, wrong) < 0.5


def train_softmax_head(
    features: np.ndarray, labels: np.ndarray, classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by full-batch gradient descent (standardised inputs folded back)."""
    mean, std = features.mean(0), features.std(0) + 1e-6
    x = (features - mean) / std
    weights = np.zeros((x.shape[1], classes))
    bias = np.zeros(classes)
    onehot = np.eye(classes)[labels]
    for _ in range(300):
        logits = x @ weights + bias
        probs = np.exp(logits - logits.max(1, keepdims=True))
        probs /= probs.sum(1, keepdims=True)
        grad = (probs - onehot) / len(x)
        weights -= 0.5 * (x.T @ grad + 1e-3 * weights)
        bias -= 0.5 * grad.sum(0)
    # fold the standardisation into the layer: (f - mean) / std @ W + b
    folded = weights / std[:, None]
    return folded.astype(np.float32), (bias - mean / std @ weights).astype(np.float32)


@pytest.mark.slow
def test_a_head_on_real_features_gives_the_same_top1_in_litert(
    backbone: keras.Model, reference: KerasRuntime, module_home: Path
) -> None:
    train_labels = np.repeat(np.arange(CLASSES), 16)
    train_features = reference.predict(photos(per_class=16, size=SIZE, split="train"))
    kernel, bias = train_softmax_head(train_features, train_labels, CLASSES)
    head = keras.layers.Dense(CLASSES)
    classifier = keras.Model(backbone.inputs, head(backbone.outputs[0]))
    head.set_weights([kernel, bias])

    test_images = photos(per_class=17, size=SIZE, offset=6)  # 102 validation photos `images` leaves out
    test_labels = np.repeat(np.arange(CLASSES), 17)
    keras_fp32 = make_runtime(classifier, "keras", "fp32")
    expected = keras_fp32.predict(test_images)
    accuracy = np.mean(np.argmax(expected, 1) == test_labels)
    assert accuracy >= 0.4  # the head learned the materials (chance is 1/6): its decisions mean something

    fp32 = make_runtime(classifier, "litert", "fp32").agreement(keras_fp32, test_images)
    int8 = make_runtime(classifier, "litert", "int8").agreement(keras_fp32, test_images)
    assert fp32.samples == 102
    assert fp32.top1_agreement == 1.0
    # dynamic-range int8 moves the decision on about 1 photo in 8 (measured 87%): a real cost of int8 on
    # this model; another photo's logits, or constant ones, agree on at most a third
    assert int8.top1_agreement >= 0.8
    assert all(compare(expected, wrong).top1_agreement < 0.4 for wrong in wrong_outputs(expected).values())


# ------------------------------------------------------------------------------------- keras graph


def test_keras_fp32_is_a_frozen_graph_equal_to_the_model_for_any_batch_size() -> None:
    model = tiny_model()
    runtime = make_runtime(model)
    assert runtime.frozen and not runtime._graph.graph.variables  # weights are constants in one graph
    rng = np.random.default_rng(0)
    for batch in (1, 3, 7):
        x = rng.uniform(0, 1, (batch, 16, 16, 3)).astype(np.float32)
        out = runtime.predict(x)
        assert isinstance(out, np.ndarray) and out.dtype == np.float32
        np.testing.assert_allclose(out, model(x).numpy(), rtol=1e-5, atol=1e-6)


def test_keras_bf16_computes_in_bfloat16_and_returns_float32(
    backbone: keras.Model, reference: KerasRuntime, images: np.ndarray
) -> None:
    runtime = make_runtime(backbone, "keras", "bf16")
    convolutions = [
        layer for layer in runtime.model._flatten_layers() if isinstance(layer, keras.layers.Conv2D)
    ]
    assert convolutions and all(layer.compute_dtype == "bfloat16" for layer in convolutions)
    assert all(layer.compute_dtype == "float32" for layer in backbone._flatten_layers())  # original untouched
    out = runtime.predict(images[:8])
    assert out.dtype == np.float32
    agreement = runtime.agreement(reference, images[:8])
    assert agreement.max_abs > 0 and agreement.min_cosine >= 0.97


def test_keras_bf16_clones_a_model_with_ops_in_its_graph() -> None:
    # MobileNetV3's hard-swish is `x + 3.0` etc.: keras.ops nodes, not layers, that take no dtype policy
    model = keras.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), classes=3)
    operations = [op for op in model.operations if not isinstance(op, keras.layers.Layer)]
    assert operations
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    runtime = make_runtime(model, "keras", "bf16")
    assert {layer.compute_dtype for layer in runtime.model.layers if layer.weights} == {"bfloat16"}
    agreement = runtime.agreement(make_runtime(model, "keras", "fp32"), images)
    assert agreement.max_abs > 0 and agreement.min_cosine >= 0.99


def batch_norms(model: keras.Model) -> list[keras.layers.Layer]:
    return [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]


def test_bf16_runs_with_batch_norms_folded_into_the_convolutions(backbone: keras.Model) -> None:
    assert len(batch_norms(backbone)) == 27
    assert batch_norms(make_runtime(backbone, "keras", "bf16").model) == []


def test_folding_the_real_backbone_keeps_its_features(backbone: keras.Model, images: np.ndarray) -> None:
    folded = fold_batch_norms(backbone)  # plain and depthwise convolutions, inside a nested model
    assert batch_norms(folded) == [] and batch_norms(backbone)
    assert compare(backbone.predict(images, verbose=0), folded.predict(images, verbose=0)).max_rel <= 1e-4


def test_only_batch_norms_right_after_a_plain_convolution_are_folded() -> None:
    keras.utils.set_random_seed(5)
    inputs = keras.Input((8, 8, 3))
    plain = keras.layers.BatchNormalization(name="after_plain")(
        keras.layers.Conv2D(4, 3, use_bias=False)(inputs)
    )
    activated = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    after_relu = keras.layers.BatchNormalization(name="after_relu")(activated)
    shared = keras.layers.Conv2D(4, 3)(inputs)  # feeds a batch norm and something else
    after_shared = keras.layers.BatchNormalization(name="after_shared")(shared)
    merged = keras.layers.Concatenate()([plain, after_relu, after_shared, shared])
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(merged))
    rng = np.random.default_rng(0)
    for norm in batch_norms(model):  # non-trivial statistics, as after training
        norm.set_weights(
            [rng.uniform(0.5, 2, 4), rng.normal(0, 1, 4), rng.normal(0, 1, 4), rng.uniform(0.5, 2, 4)]
        )

    folded = fold_batch_norms(model)
    assert [layer.name for layer in batch_norms(folded)] == ["after_relu", "after_shared"]
    assert [layer.name for layer in folded.layers if isinstance(layer, Passthrough)] == ["after_plain"]
    x = rng.uniform(0, 1, (3, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(folded(x).numpy(), model(x).numpy(), rtol=1e-5, atol=1e-5)


def test_a_model_without_batch_norms_is_returned_as_is() -> None:
    model = tiny_model()
    assert fold_batch_norms(model) is model


def test_predict_splits_big_arrays_into_chunks_with_the_same_results() -> None:
    runtime = make_runtime(tiny_model())
    x = np.random.default_rng(1).uniform(0, 1, (PREDICT_CHUNK + 6, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(runtime.predict(x), runtime.model(x).numpy(), rtol=1e-5, atol=1e-6)


def test_a_batch_of_the_wrong_shape_is_refused_with_the_expected_shape() -> None:
    with pytest.raises(ValueError, match=r"\(N, 16, 16, 3\)"):
        make_runtime(tiny_model()).predict(np.zeros((2, 8, 8, 3), np.float32))


# ----------------------------------------------------------------------------------- refused choices


@pytest.mark.parametrize(
    ("runtime", "precision", "message"),
    [
        ("keras", "fp16", "no fast half-precision CPU kernels"),
        ("keras", "int8", "keras runtime has no int8"),
        ("litert", "bf16", "litert runtime has no bf16"),
        ("litert", "int8+bf16", r"litert runtime has no int8\+bf16"),
        ("onnx", "fp32", "unknown runtime 'onnx'"),
        ("keras", "fp8", "unknown precision 'fp8'"),
    ],
)
def test_unsupported_choices_are_refused_with_a_hint(runtime: str, precision: str, message: str) -> None:
    with pytest.raises(RuntimeUnavailable, match=message) as caught:
        make_runtime(tiny_model(), runtime, precision)
    assert isinstance(caught.value, ZooError) and caught.value.hint


def test_int8_full_without_calibration_is_refused_before_converting() -> None:
    with pytest.raises(RuntimeUnavailable, match="needs calibration") as caught:
        make_runtime(tiny_model(), "litert", "int8-full")
    assert "int8" in caught.value.hint
    assert not list(Path(os.environ["ZOO_HOME"]).rglob("*.tflite"))


def test_models_with_two_outputs_are_refused() -> None:
    inputs = keras.Input((4,))
    model = keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(3)(inputs)])
    with pytest.raises(RuntimeUnavailable, match="one input and one output"):
        make_runtime(model)


# -------------------------------------------------------------------------------- LiteRT and cache


def test_litert_handles_changing_batch_sizes() -> None:
    model = tiny_model()
    runtime = make_runtime(model, "litert", "fp32")
    x = np.random.default_rng(2).uniform(0, 1, (6, 16, 16, 3)).astype(np.float32)
    whole = runtime.predict(x)
    pieces = np.concatenate([runtime.predict(x[:1]), runtime.predict(x[1:4]), runtime.predict(x[4:])])
    np.testing.assert_allclose(pieces, whole, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(whole, model(x).numpy(), rtol=1e-4, atol=1e-5)


def test_a_model_of_any_image_size_runs_at_several_sizes() -> None:
    inputs = keras.Input((None, None, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3, activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4)(features))
    keras_runtime, litert = make_runtime(model), make_runtime(model, "litert", "fp32")
    assert litert.input_shape == keras_runtime.input_shape == (None, None, 3)
    for size in (16, 40):
        x = np.random.default_rng(size).uniform(0, 1, (2, size, size, 3)).astype(np.float32)
        np.testing.assert_allclose(keras_runtime.predict(x), model(x).numpy(), rtol=1e-5, atol=1e-6)
        assert litert.agreement(keras_runtime, x).max_rel <= 1e-5


def test_conversions_are_cached_by_weights_and_settings() -> None:
    model = tiny_model(seed=0)
    first = make_runtime(model, "litert", "fp32")
    assert first.path.parent == Path(os.environ["ZOO_HOME"]) / "converted"
    stamp = first.path.stat().st_mtime_ns

    again = make_runtime(model, "litert", "fp32")
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp  # reused, not reconverted

    other_weights = tiny_model(seed=1)
    assert converted_path(other_weights, "fp32") != first.path
    assert converted_path(model, "int8") != first.path
    assert not list(first.path.parent.glob("*.tmp"))


def test_a_cache_key_names_the_file_and_keys_precision_and_calibration() -> None:
    model = tiny_model()
    calibration = np.random.default_rng(3).uniform(0, 1, (8, 16, 16, 3)).astype(np.float32)
    path = converted_path(model, "int8-full", calibration=calibration, cache_key="tiny/v1 sha:abc")
    assert path.name.startswith("tiny_v1_sha_abc-int8-full-") and path.suffix == ".tflite"
    assert (
        converted_path(model, "int8-full", calibration=calibration[:4], cache_key="tiny/v1 sha:abc") != path
    )
    assert converted_path(model, "int8", cache_key="tiny/v1 sha:abc") != path


def test_an_unreadable_cache_entry_is_converted_again() -> None:
    model = tiny_model()
    path = converted_path(model, "fp32")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a flatbuffer")
    runtime = make_runtime(model, "litert", "fp32")
    x = np.ones((2, 16, 16, 3), np.float32)
    np.testing.assert_allclose(runtime.predict(x), model(x).numpy(), rtol=1e-4, atol=1e-5)
    assert path.stat().st_size > 1000


@pytest.mark.slow
def test_full_int8_calibrates_on_real_photos_and_keeps_a_float_interface(
    backbone: keras.Model, reference: KerasRuntime, images: np.ndarray, module_home: Path
) -> None:
    calibration = photos(per_class=4, size=SIZE, split="train")
    runtime = make_runtime(backbone, "litert", "int8-full", calibration=calibration)
    assert runtime._interpreter.get_input_details()[0]["dtype"] == np.float32
    assert np.int8 in {d["dtype"] for d in runtime._interpreter.get_tensor_details()}
    expected, got = reference.predict(images), runtime.predict(images)
    agreement = compare(expected, got)
    # measured: mean cosine 0.969, worst photo 0.916; every photo still nearest its own features
    assert agreement.mean_cosine >= 0.96 and agreement.min_cosine >= 0.9 and agreement.max_abs > 0
    assert matched(expected, got) == 1.0


# ------------------------------------------------------------------------------------------ compare


def test_compare_reports_the_documented_measures() -> None:
    reference = np.array([[1.0, 0.0, 3.0], [0.0, 2.0, 0.0]])
    same = compare(reference, reference)
    assert (same.max_abs, same.max_rel, same.top1_agreement) == (0.0, 0.0, 1.0)
    assert same.min_cosine == pytest.approx(1.0)

    candidate = np.array([[1.0, 0.0, 2.7], [0.0, 0.0, 2.0]])  # second row: orthogonal, argmax moved
    result = compare(reference, candidate)
    assert result.max_abs == pytest.approx(2.0)
    assert result.max_rel == pytest.approx(2.0 / 3.0)
    assert result.min_cosine == pytest.approx(0.0)
    assert result.top1_agreement == 0.5
    assert result.samples == 2

    with pytest.raises(ValueError, match="shapes differ"):
        compare(reference, reference[:1])
