"""The onnxruntime runtime: fp32 and int8 on the real ImageNet classifier and real photos, cache, refusals.

Agreement is measured on the real ImageNet MobileNet (alpha 0.25, 128x128, with its 1000-class head) on
real photos (tests/support/realdata.py); int8 is calibrated on training photos and scored on validation
photos, never the ones it was calibrated on.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from support.cli import invoke, zoo_main
from support.models import tiny_cnn
from support.realdata import imagenet_classifier, photos, wrong_outputs

from zoo import config
from zoo.engine import runtime_onnx
from zoo.engine.agreement import compare
from zoo.engine.runtime_onnx import OnnxRuntime
from zoo.engine.runtimes import KerasRuntime, make_runtime
from zoo.errors import RuntimeUnavailable

SIZE = 128


@pytest.fixture(scope="module")
def classifier() -> keras.Model:
    return imagenet_classifier()


@pytest.fixture(scope="module")
def val_photos() -> np.ndarray:
    return photos(per_class=10, size=SIZE, split="val")  # 60 photos, 6 classes


@pytest.fixture(scope="module")
def reference(classifier: keras.Model, val_photos: np.ndarray) -> np.ndarray:
    return KerasRuntime(classifier).predict(val_photos)


def convert_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A list that gets an entry each time zoo converts (tf2onnx) or quantizes (onnxruntime)."""
    calls: list[str] = []
    convert, quantize = runtime_onnx.convert_to_onnx, runtime_onnx.quantize_int8
    monkeypatch.setattr(runtime_onnx, "convert_to_onnx", lambda *a: (calls.append("fp32"), convert(*a))[1])
    monkeypatch.setattr(runtime_onnx, "quantize_int8", lambda *a: (calls.append("int8"), quantize(*a))[1])
    return calls


@pytest.mark.slow
def test_fp32_matches_keras_on_real_photos(
    classifier: keras.Model, val_photos: np.ndarray, reference: np.ndarray, module_home: Path
) -> None:
    runtime = make_runtime(classifier, "onnxruntime", "fp32")
    assert runtime.name == "onnxruntime" and runtime.effective_precision == "fp32"
    agreement = compare(reference, runtime.predict(val_photos))
    print(f"\nonnxruntime fp32 vs keras fp32 on {len(val_photos)} val photos: {agreement}")
    assert agreement.max_rel <= 1e-4 and agreement.top1_agreement == 1.0  # measured max_rel about 1e-5
    for what, wrong in wrong_outputs(reference).items():
        assert compare(reference, wrong).max_rel > 1e-4, what


@pytest.mark.slow
def test_int8_calibrated_on_train_photos_keeps_top1_on_val_photos(
    classifier: keras.Model, val_photos: np.ndarray, reference: np.ndarray, module_home: Path
) -> None:
    train_photos = photos(per_class=17, size=SIZE, split="train")  # 102 photos, none of them scored
    runtime = make_runtime(classifier, "onnxruntime", "int8", calibration=train_photos)
    assert runtime.effective_precision == "int8"
    int8 = runtime.predict(val_photos)
    top1 = float(np.mean(int8.argmax(1) == reference.argmax(1)))
    in_top5 = float(
        np.mean([r in np.argsort(-p)[:5] for r, p in zip(reference.argmax(1), int8, strict=True)])
    )
    max_abs = float(np.abs(int8 - reference).max())
    print(
        f"\nonnxruntime int8 vs keras fp32 on {len(val_photos)} val photos: top-1 agreement {top1:.3f}, "
        f"fp32 top-1 within int8 top-5 {in_top5:.3f}, max abs probability difference {max_abs:.3f}"
    )
    # Measured on these 60 photos: 0.90 / 0.98 / 0.12; without bias correction (zoo.engine.onnx_bias) top-1
    # agreement fell to about 0.6 on 234 photos; per-tensor weights (a broken quantization of this
    # depthwise model) gave 0.02 / 0.05 / 0.78.
    assert top1 >= 0.8 and in_top5 >= 0.95 and max_abs <= 0.25


def test_int8_calibrates_by_min_max_and_leaves_the_output_head_in_float(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import onnx
    from onnxruntime import quantization

    asked: dict = {}
    real = quantization.quantize_static
    monkeypatch.setattr(quantization, "quantize_static", lambda *a, **k: (asked.update(k), real(*a, **k))[1])
    body = tiny_cnn(32, 3, seed=0)
    model = keras.Model(body.input, keras.layers.Softmax()(body.output))
    calibration = photos(per_class=2, size=32, split="train")
    graph = onnx.load(str(make_runtime(model, "onnxruntime", "int8", calibration=calibration).path)).graph
    assert asked["calibrate_method"] == quantization.CalibrationMethod.MinMax
    (softmax,) = [node for node in graph.node if node.op_type == "Softmax"]
    (logits,) = [node for node in graph.node if node.op_type in ("MatMul", "Gemm")]  # the Dense layer
    assert asked["nodes_to_exclude"][:1] == [softmax.name] and logits.name in asked["nodes_to_exclude"]
    assert [output.name for output in graph.output] == list(softmax.output)  # not quantized after
    quantized = {name for node in graph.node if node.op_type == "QuantizeLinear" for name in node.input}
    assert not quantized & {*logits.output, *softmax.input}  # the logits stay float
    assert any(node.op_type == "QuantizeLinear" for node in graph.node)  # the rest is int8


def test_int8_without_calibration_is_refused_before_converting() -> None:
    with pytest.raises(RuntimeUnavailable, match="calibration images") as refused:
        make_runtime(tiny_cnn(16, 3), "onnxruntime", "int8")
    assert "fp32" in (refused.value.hint or "")
    assert not list(config.converted_dir().glob("*.onnx"))


def test_conversions_are_cached_and_keyed_by_calibration(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_cnn(16, 3, seed=0)
    images = np.random.default_rng(0).uniform(0, 1, (8, 16, 16, 3)).astype(np.float32)
    calls = convert_calls(monkeypatch)
    first = make_runtime(model, "onnxruntime", "fp32")
    again = make_runtime(model, "onnxruntime", "fp32")
    assert calls == ["fp32"] and first.path == again.path and first.path.suffix == ".onnx"
    np.testing.assert_allclose(
        again.predict(images), KerasRuntime(model).predict(images), rtol=1e-4, atol=1e-6
    )
    int8 = make_runtime(model, "onnxruntime", "int8", calibration=images)
    make_runtime(model, "onnxruntime", "int8", calibration=images)
    assert calls == ["fp32", "int8"] and int8.path != first.path
    make_runtime(model, "onnxruntime", "int8", calibration=images[:4])
    assert calls == ["fp32", "int8", "int8"]
    other_weights = make_runtime(tiny_cnn(16, 3, seed=1), "onnxruntime", "fp32")
    assert calls[-1] == "fp32" and other_weights.path != first.path


def test_an_unreadable_cache_entry_is_converted_again(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_cnn(16, 3, seed=0)
    path = make_runtime(model, "onnxruntime", "fp32").path
    path.write_bytes(b"not an onnx file")
    calls = convert_calls(monkeypatch)
    assert make_runtime(model, "onnxruntime", "fp32").path == path and calls == ["fp32"]


def resizing_model(interpolation: str) -> keras.Model:
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Resizing(8, 8, interpolation=interpolation)(inputs)
    return keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(x)))


@pytest.mark.parametrize(
    ("interpolation", "why"),
    [
        ("lanczos3", "no ScaleAndTranslate op"),  # tf2onnx leaves the op in; onnxruntime refuses the file
        ("area", "computes something else"),  # tf2onnx converts it, to a different function
    ],
)
def test_a_model_tf2onnx_cannot_convert_is_refused_with_the_reason(interpolation: str, why: str) -> None:
    with pytest.raises(RuntimeUnavailable, match=why):
        make_runtime(resizing_model(interpolation), "onnxruntime", "fp32")
    assert not list(config.converted_dir().glob("*.onnx"))  # nothing wrong is cached


def test_missing_onnxruntime_names_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    with pytest.raises(RuntimeUnavailable, match="needs onnxruntime") as refused:
        make_runtime(tiny_cnn(16, 3), "onnxruntime", "fp32")
    assert "pip install" in (refused.value.hint or "")
    model = tmp_path / "tiny.keras"
    tiny_cnn(16, 3).save(model)
    images = tmp_path / "images"
    images.mkdir()
    keras.utils.save_img(images / "a.png", np.zeros((16, 16, 3)))
    code, _, err = zoo_main(capsys, "predict", str(model), str(images), "--runtime", "onnxruntime")
    assert code == 2 and "needs onnxruntime" in err and "pip install" in err, err


def session_settings(runtime: OnnxRuntime) -> tuple[int, str]:
    """(intra-op threads, allow_spinning) of the session onnxruntime really built."""
    options = runtime._session.get_session_options()
    return options.intra_op_num_threads, options.get_session_config_entry("session.intra_op.allow_spinning")


def test_the_session_uses_onnxruntimes_own_thread_pool_without_spinning_unless_told() -> None:
    path = make_runtime(tiny_cnn(16, 3), "onnxruntime", "fp32").path
    if len(os.sched_getaffinity(0)) == os.cpu_count():  # ORT's default pool: a pinned thread per core
        assert session_settings(OnnxRuntime(path, "fp32")) == (0, "0")
    assert session_settings(OnnxRuntime(path, "fp32", num_threads=1)) == (1, "0")


def test_a_spinning_session_is_asked_for_and_named_and_computes_the_same() -> None:
    model = tiny_cnn(16, 3)
    quiet = make_runtime(model, "onnxruntime", "fp32")
    spinning = make_runtime(model, "onnxruntime", "fp32", spinning=True)
    assert spinning.path == quiet.path  # one conversion: spinning is a session setting, not another file
    assert session_settings(quiet)[1] == "0" and session_settings(spinning)[1] == "1"
    assert (quiet.label, spinning.label) == ("onnxruntime fp32", "onnxruntime fp32 (spinning)")
    assert "(spinning)" in repr(spinning)
    images = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3)).astype(np.float32)
    np.testing.assert_array_equal(quiet.predict(images), spinning.predict(images))


@pytest.mark.parametrize("runtime", ["keras", "litert", "openvino"])
def test_spinning_is_refused_for_a_runtime_without_it(runtime: str) -> None:
    with pytest.raises(RuntimeUnavailable, match=f"the {runtime} runtime has none"):
        make_runtime(tiny_cnn(16, 3), runtime, "fp32", spinning=True)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs two CPUs to restrict the process to one")
def test_a_restricted_cpu_affinity_sets_the_thread_count_explicitly() -> None:
    path = make_runtime(tiny_cnn(16, 3), "onnxruntime", "fp32").path
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(allowed)})
    try:
        runtime = OnnxRuntime(path, "fp32")
    finally:
        os.sched_setaffinity(0, allowed)
    assert session_settings(runtime) == (1, "0")


@pytest.mark.slow
def test_cli_benchmark_runs_onnxruntime_and_reports_a_model_it_cannot_convert(tmp_path: Path) -> None:
    args = ["-b", "2", "--iters", "2", "--warmup", "1", "--json", "--weights", "none"]
    result = invoke("benchmark", "mobilenet_v2", "--image-size", "64", "--runtime", "onnxruntime", *args)
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["runtime"] == "onnxruntime" and row["status"] == "ok" and row["images_per_s"] > 0

    unconvertible = tmp_path / "lanczos.keras"
    resizing_model("lanczos3").save(unconvertible)
    result = invoke("benchmark", str(unconvertible), "--runtime", "keras,onnxruntime", *args)
    assert result.exit_code == 0, result.output
    keras_row, onnx_row = json.loads(result.stdout)
    assert keras_row["status"] == "ok"
    assert onnx_row["status"].startswith("unsupported: ") and "ScaleAndTranslate" in onnx_row["status"]


def test_int8_bias_correction_puts_each_convolutions_mean_output_on_fp32s(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import onnx

    from zoo.engine import onnx_bias

    seen: dict[str, Path] = {}
    real = onnx_bias.correct_biases

    def keeping_files(fp32: Path, int8: Path, calibration: np.ndarray, options: object) -> int:
        seen["fp32"], seen["before"] = tmp_path / "fp32.onnx", tmp_path / "before.onnx"
        seen["fp32"].write_bytes(Path(fp32).read_bytes())
        seen["before"].write_bytes(Path(int8).read_bytes())
        seen["corrected"] = real(fp32, int8, calibration, options)
        return seen["corrected"]

    monkeypatch.setattr(runtime_onnx, "correct_biases", keeping_files)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    biased = {"bias_initializer": "random_normal"}  # tf2onnx leaves zero biases out: nothing to correct
    scaled = keras.layers.Rescaling(1 / 127.5, offset=-1)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu6", **biased)(scaled)
    x = keras.layers.DepthwiseConv2D(3, activation="relu6", **biased)(x)
    x = keras.layers.Conv2D(8, 1, **biased)(x)
    model = keras.Model(inputs, keras.layers.Softmax()(keras.layers.Dense(3)(keras.layers.Flatten()(x))))
    calibration = photos(per_class=4, size=32, split="train")
    after = make_runtime(model, "onnxruntime", "int8", calibration=calibration).path
    assert seen["corrected"] == 3
    reference, before, corrected = (onnx.load(str(p)) for p in (seen["fp32"], seen["before"], after))
    names = {node.name: node.output[0] for node in reference.graph.node}
    convs = [node for node in corrected.graph.node if node.op_type == "Conv"]
    options = runtime_onnx.session_options()

    def means(model: object, names: list[str]) -> list[np.ndarray]:
        return onnx_bias.channel_means(model, names, calibration, options)

    expected = means(reference, [names[conv.name] for conv in convs])
    outputs = [conv.output[0] for conv in convs]
    shifts = {
        label: [np.abs(m - e).max() for m, e in zip(means(q, outputs), expected, strict=True)]
        for label, q in (("before", before), ("after", corrected))
    }
    scales = [s for _, _, s in onnx_bias._quantized_biases(corrected, set(names))]
    print(f"\nlargest per-channel mean shift per conv: {shifts}")
    for shift, scale in zip(shifts["after"], scales, strict=True):
        assert shift <= scale.max() * 0.51 + 1e-6  # half a step of the int32 bias: all that rounding leaves
    assert max(shifts["before"]) > 10 * max(shifts["after"])


def test_the_int8_recipe_is_part_of_the_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    model, images = tiny_cnn(16, 3, seed=0), photos(per_class=1, size=16, split="train")
    before = runtime_onnx.onnx_path(model, "int8", calibration=images)
    assert runtime_onnx.onnx_path(model, "int8", calibration=images) == before
    monkeypatch.setattr(runtime_onnx, "INT8_RECIPE", runtime_onnx.INT8_RECIPE + "-changed")
    assert runtime_onnx.onnx_path(model, "int8", calibration=images) != before  # files of the old recipe
    assert "bias-corrected" in runtime_onnx.INT8_RECIPE and "minmax" in runtime_onnx.INT8_RECIPE
