"""The openvino runtime: agreement with keras fp32 on real photos, the precision that really ran, the IR
cache, the OpenVINO export, and what happens without openvino.

Accuracy is measured on the real ImageNet MobileNet (alpha 0.25, 128x128) classifier with its head, on real
TrashNet photos (tests/support/realdata.py); int8 is calibrated on TRAIN photos and scored on VAL photos.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image
from support.cli import invoke, zoo_main
from support.models import colour_classifier, tiny_cnn
from support.realdata import imagenet_classifier, photos, wrong_outputs

from zoo.engine import runtime_openvino
from zoo.engine.agreement import compare
from zoo.engine.runtimes import KerasRuntime, make_runtime
from zoo.errors import RuntimeUnavailable

ov = pytest.importorskip("openvino")

SIZE = 128  # the classifier's input size


def has_native_bf16() -> bool:
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@pytest.fixture(scope="module")
def classifier() -> keras.Model:
    return imagenet_classifier()


@pytest.fixture(scope="module")
def val_photos() -> np.ndarray:
    return photos(per_class=8, size=SIZE, split="val")  # 48 held-out photos, 6 classes


@pytest.fixture(scope="module")
def train_photos() -> np.ndarray:
    return photos(per_class=10, size=SIZE, split="train")  # 60 calibration photos, never scored


@pytest.fixture(scope="module")
def reference(classifier: keras.Model, val_photos: np.ndarray) -> np.ndarray:
    return KerasRuntime(classifier).predict(val_photos)


def report(name: str, reference: np.ndarray, outputs: np.ndarray) -> None:
    agreement = compare(reference, outputs)
    print(
        f"\nopenvino {name} vs keras fp32 on {len(reference)} real val photos: "
        f"top-1 agreement {agreement.top1_agreement:.3f}, max |prob diff| {agreement.max_abs:.2e}, "
        f"max_rel {agreement.max_rel:.2e}, min cosine {agreement.min_cosine:.4f}"
    )


@pytest.mark.slow
def test_fp32_matches_keras_on_real_photos_and_really_runs_fp32(
    classifier: keras.Model, val_photos: np.ndarray, reference: np.ndarray, module_home: Path
) -> None:
    runtime = make_runtime(classifier, "openvino", "fp32")
    outputs = runtime.predict(val_photos)
    report("fp32", reference, outputs)
    agreement = compare(reference, outputs)
    assert runtime.effective_precision == "fp32" and runtime.inference_precision == "f32"
    assert agreement.max_rel <= 2e-5 and agreement.top1_agreement == 1.0
    for wrong in wrong_outputs(reference).values():  # the bound refuses outputs a broken IR could give
        assert compare(reference, wrong).max_rel > 2e-5


@pytest.mark.slow
def test_bf16_reports_bf16_as_what_ran_and_agrees_loosely(
    classifier: keras.Model, val_photos: np.ndarray, reference: np.ndarray, module_home: Path
) -> None:
    if not has_native_bf16():
        with pytest.raises(RuntimeUnavailable, match="no native bfloat16"):
            make_runtime(classifier, "openvino", "bf16")
        pytest.skip("this CPU has no native bf16 (refused, as it should be)")
    runtime = make_runtime(classifier, "openvino", "bf16")
    outputs = runtime.predict(val_photos)
    report("bf16", reference, outputs)
    agreement = compare(reference, outputs)
    assert runtime.effective_precision == "bf16" and runtime.inference_precision == "bf16"
    assert agreement.max_rel > 1e-4  # it did not quietly compute in fp32
    # softmax outputs of a weak model on out-of-domain photos: many top-1s are near-ties (measured 0.71
    # agreement, mean cosine 0.94); outputs of other photos stay far below both
    assert agreement.mean_cosine >= 0.9 and agreement.top1_agreement >= 0.6
    for wrong in wrong_outputs(reference).values():
        assert compare(reference, wrong).mean_cosine < 0.9 or compare(reference, wrong).top1_agreement < 0.6


@pytest.mark.slow
def test_int8_calibrated_on_train_photos_keeps_val_predictions_close(
    classifier: keras.Model,
    val_photos: np.ndarray,
    train_photos: np.ndarray,
    reference: np.ndarray,
    module_home: Path,
) -> None:
    runtime = make_runtime(classifier, "openvino", "int8", calibration=train_photos)
    outputs = runtime.predict(val_photos)
    report("int8", reference, outputs)
    agreement = compare(reference, outputs)
    assert runtime.effective_precision == "int8"
    assert agreement.max_rel > 1e-4  # quantized, not a float graph
    # MobileNet 0.25's top-1 is often a near-tie (measured: 0.81 agreement, mean cosine 0.96). NNCF's
    # fast bias correction gave 0.58 and 0.87 here: the bounds refuse that, and outputs of other photos
    assert agreement.top1_agreement >= 0.7 and agreement.mean_cosine >= 0.93
    for wrong in wrong_outputs(reference).values():
        assert compare(reference, wrong).mean_cosine < 0.93 or compare(reference, wrong).top1_agreement < 0.7


@pytest.mark.slow
@pytest.mark.parametrize(("precision", "ir_of"), [("int8+bf16", "int8"), ("int8-plain+bf16", "int8-plain")])
def test_int8_with_bf16_float_parts_compiles_the_cached_int8_ir_and_reports_int8_bf16(
    precision: str,
    ir_of: str,
    classifier: keras.Model,
    val_photos: np.ndarray,
    train_photos: np.ndarray,
    reference: np.ndarray,
    module_home: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if not has_native_bf16():
        with pytest.raises(RuntimeUnavailable, match="no native bfloat16") as caught:
            make_runtime(classifier, "openvino", precision, calibration=train_photos)
        assert caught.value.hint == f"use precision={ir_of!r}"
        pytest.skip("this CPU has no native bf16 (refused, as it should be)")
    int8 = make_runtime(classifier, "openvino", ir_of, calibration=train_photos)

    def no_conversion(*args: object, **kwargs: object) -> None:
        raise AssertionError("converted (and quantized) again although the int8 IR is cached")

    monkeypatch.setattr(runtime_openvino, "convert_to_openvino", no_conversion)
    mixed = make_runtime(classifier, "openvino", precision, calibration=train_photos)
    assert mixed.path == int8.path  # one IR, one NNCF run: only the compile hint differs
    assert int8.inference_precision == "f32" and int8.effective_precision == "int8"
    assert mixed.inference_precision == "bf16" and mixed.effective_precision == "int8+bf16"
    outputs, int8_outputs = mixed.predict(val_photos), int8.predict(val_photos)
    report(precision, reference, outputs)
    assert np.abs(outputs - int8_outputs).max() > 1e-4  # its float parts did not quietly run in fp32
    # measured on these 48 photos: top-1 agreement 0.79 for both (int8 alone 0.85), min cosine 0.77 / 0.75
    agreement = compare(reference, outputs)
    assert agreement.top1_agreement >= 0.6 and agreement.mean_cosine >= 0.9
    for wrong in wrong_outputs(reference).values():
        assert compare(reference, wrong).mean_cosine < 0.9 or compare(reference, wrong).top1_agreement < 0.6


def test_bf16_compute_is_refused_without_native_bf16_naming_what_to_use_instead() -> None:
    capabilities = [c for c in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES") if c != "BF16"]
    for precision, instead in [("bf16", "'fp32' or 'int8'"), ("int8+bf16", "'int8'"),
                               ("int8-plain+bf16", "'int8-plain'")]:  # fmt: skip
        refusal = runtime_openvino.bf16_refusal(precision, capabilities)
        assert refusal is not None and refusal.exit_code == 2
        assert refusal.message.startswith(f"precision {precision!r} is refused: this CPU has no native bf")
        assert refusal.hint == f"use precision={instead}"
        assert runtime_openvino.bf16_refusal(precision, [*capabilities, "BF16"]) is None


def test_int8_without_calibration_is_refused_before_converting() -> None:
    with pytest.raises(RuntimeUnavailable, match="needs calibration images") as caught:
        make_runtime(tiny_cnn(16, seed=0), "openvino", "int8")
    assert "calibration=" in (caught.value.hint or "")
    assert not (Path(os.environ["ZOO_HOME"]) / "converted").exists()


def test_the_ir_is_cached_and_not_converted_again(monkeypatch: pytest.MonkeyPatch) -> None:
    model = tiny_cnn(16, seed=0, batch_norm=True)
    images = np.random.default_rng(0).uniform(0, 255, (5, 16, 16, 3)).astype(np.float32)
    first = make_runtime(model, "openvino", "fp32", cache_key="tiny-abc")
    assert first.path.name == "model.xml" and first.path.with_suffix(".bin").is_file()
    assert first.path.parent.parent == Path(os.environ["ZOO_HOME"]) / "converted"
    assert first.path.parent.name.startswith("tiny-abc-openvino-fp32-")
    written = first.path.stat().st_mtime_ns

    def no_conversion(*args: object, **kwargs: object) -> None:
        raise AssertionError("converted again although the IR is cached")

    monkeypatch.setattr(runtime_openvino, "convert_to_openvino", no_conversion)
    second = make_runtime(model, "openvino", "fp32", cache_key="tiny-abc")
    assert second.path == first.path and second.path.stat().st_mtime_ns == written
    np.testing.assert_array_equal(second.predict(images), first.predict(images))
    # another precision or other weights are another conversion
    with pytest.raises(AssertionError, match="converted again"):
        make_runtime(model, "openvino", "bf16" if has_native_bf16() else "int8", cache_key="tiny-abc",
                     calibration=images)  # fmt: skip
    with pytest.raises(AssertionError, match="converted again"):
        make_runtime(tiny_cnn(16, seed=1, batch_norm=True), "openvino", "fp32")
    leftovers = [p.name for p in first.path.parent.parent.iterdir() if ".partial" in p.name]
    assert leftovers == []


def test_any_batch_size_runs_on_one_compiled_ir() -> None:
    model = tiny_cnn(16, seed=0)
    runtime = make_runtime(model, "openvino", "fp32")
    images = np.random.default_rng(1).uniform(0, 255, (7, 16, 16, 3)).astype(np.float32)
    expected = KerasRuntime(model).predict(images)
    for batch in (1, 7, 3):
        np.testing.assert_allclose(runtime.predict(images[:batch]), expected[:batch], rtol=1e-4, atol=1e-5)


def test_streams_split_a_batch_over_requests_and_keep_each_image_its_own_output() -> None:
    model = tiny_cnn(16, seed=0)
    plain = make_runtime(model, "openvino", "fp32")
    split = make_runtime(model, "openvino", "fp32", streams=True)
    assert split.path == plain.path  # one conversion: streams are a compile setting, not another IR
    assert (plain.label, split.label) == ("openvino fp32", "openvino fp32 (streams)")
    assert split._compiled.get_property("PERFORMANCE_HINT") == "THROUGHPUT"
    assert len(split._requests) == int(split._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
    images = np.random.default_rng(2).uniform(0, 255, (7, 16, 16, 3)).astype(np.float32)
    expected = plain.predict(images)
    assert split.predict(images[:0]).shape == (0, expected.shape[1])  # no images: no slices, no error
    for batch in (1, 2, 7):  # fewer images than requests, as many, more (uneven slices)
        np.testing.assert_allclose(split.predict(images[:batch]), expected[:batch], rtol=1e-5, atol=1e-6)
    slices = [len(part) for part in np.array_split(images, len(split._requests))]
    assert [request.get_input_tensor(0).shape[0] for request in split._requests] == slices  # each ran one
    # each image's row is its own, not a neighbour's: reversed input, reversed output
    np.testing.assert_allclose(split.predict(images[::-1]), expected[::-1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("runtime", ["keras", "litert", "onnxruntime"])
def test_streams_are_refused_for_a_runtime_without_them(runtime: str) -> None:
    with pytest.raises(RuntimeUnavailable, match=f"the {runtime} runtime has none"):
        make_runtime(tiny_cnn(16, 3), runtime, "fp32", streams=True)


def test_keras_and_litert_report_the_precision_they_were_given() -> None:
    assert KerasRuntime(tiny_cnn(16, seed=0)).effective_precision == "fp32"


def test_without_openvino_the_runtime_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # `import openvino` raises ImportError
    with pytest.raises(RuntimeUnavailable, match="openvino package") as caught:
        make_runtime(tiny_cnn(16, seed=0), "openvino", "fp32")
    assert caught.value.hint == "pip install zoo-hub[openvino]"
    assert RuntimeUnavailable.exit_code == 2


def _red_and_blue(tmp_path: Path) -> list[Path]:
    files = []
    for name, colour in [("r.png", (250, 10, 10)), ("b.png", (10, 10, 250))]:
        files.append(tmp_path / name)
        Image.new("RGB", (20, 20), colour).save(files[-1])
    return files


@pytest.fixture
def colour_run(tmp_path: Path) -> Path:
    from zoo.engine.bundle import save_bundle

    model = colour_classifier(np.eye(3, 3, dtype="float32") * 4, 16)
    return save_bundle(tmp_path / "run", model, ["red", "green", "blue"], {"image_size": 16})


def test_cli_predict_runs_on_openvino(
    colour_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    files = _red_and_blue(tmp_path)
    code, out, err = zoo_main(capsys, "predict", "--model", str(colour_run), *map(str, files),
                              "--top", "1", "--runtime", "openvino", "--json")  # fmt: skip
    assert code == 0, err
    answers = json.loads(out)
    assert [a["top"][0]["label"] for a in answers] == ["red", "blue"]


def test_cli_without_openvino_exits_2_naming_the_extra(
    colour_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)
    files = _red_and_blue(tmp_path)
    code, out, err = zoo_main(capsys, "predict", "--model", str(colour_run), str(files[0]),
                              "--runtime", "openvino")  # fmt: skip
    assert code == 2 and out == ""
    assert "pip install zoo-hub[openvino]" in err and "Traceback" not in err


def test_export_writes_an_ir_that_reloads_and_agrees(tmp_path: Path) -> None:
    from zoo.engine import export

    model = tiny_cnn(16, seed=0, batch_norm=True)
    images = np.random.default_rng(2).uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    result = export(model, tmp_path / "tiny.xml", format="openvino", check_inputs=images)
    assert result.path == tmp_path / "tiny.xml" and result.agreement.max_rel <= 1e-4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.bin", "tiny.xml"]  # no staging left
    compiled = ov.Core().compile_model(str(result.path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    np.testing.assert_allclose(compiled(images)[0], KerasRuntime(model).predict(images), rtol=1e-4, atol=1e-5)
    with pytest.raises(Exception, match="already exists"):
        export(model, tmp_path / "tiny.xml", format="openvino", check_inputs=images)


def test_export_refuses_an_out_that_is_not_an_xml(tmp_path: Path) -> None:
    from zoo.engine import export
    from zoo.errors import InvalidSetting

    with pytest.raises(InvalidSetting, match=r"must end in \.xml"):
        export(tiny_cnn(16, seed=0), tmp_path / "tiny.bin", format="openvino")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cli_benchmark_row_reports_the_precision_that_ran(tmp_path: Path) -> None:
    path = tmp_path / "tiny.keras"
    tiny_cnn(16, 4, padding="same").save(path)
    args = ["benchmark", str(path), "--runtime", "openvino", "--precision", "fp32", "--weights", "none",
            "-b", "2", "--iters", "3", "--json"]  # fmt: skip
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert row["runtime"] == "openvino" and row["precision"] == "fp32"
    assert row["status"] == "ok" and row["images_per_s"] > 0
    assert row["precision_ran"] == "fp32"
