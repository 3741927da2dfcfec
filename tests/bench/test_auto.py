"""`--runtime auto` on real small models: the measured choice, its cache, the accuracy gate's restriction,
and the CLI's defaults and misuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import zoo_main
from support.models import tiny_cnn
from support.realdata import photo_paths

from zoo.bench.auto import Candidate, candidate_pairs, candidates, choose, decision_key, fastest
from zoo.bench.gate import GATE_MAX_DROP, auto_dir, read_gate, record_gate, verdict
from zoo.bench.machine import library_versions
from zoo.choices import RUNTIME_PRECISIONS
from zoo.engine.fingerprint import model_fingerprint
from zoo.engine.installed import runtime_pairs


def _names(pairs: list[tuple[str, str]]) -> set[str]:
    """The candidates' names: each pair, and an onnxruntime pair's spinning variant beside it."""
    return {candidate.name for candidate in candidates(pairs)}


def _gate_row(runtime: str, precision: str, drop_points: float) -> dict:
    delta = -drop_points / 100
    return {
        "runtime": runtime,
        "precision": precision,
        "status": "ok",
        "delta_top1": delta,
        "delta_top5": 0.0,
    }


def test_an_onnxruntime_pair_is_two_candidates_spinning_or_not_and_openvino_streams_need_a_batch() -> None:
    pairs = [("keras", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "int8")]
    assert [c.name for c in candidates(pairs, batch_size=1)] == [
        "keras fp32", "onnxruntime fp32", "onnxruntime fp32 (spinning)", "onnxruntime int8",
        "onnxruntime int8 (spinning)", "openvino int8",
    ]  # fmt: skip
    split = [c.name for c in candidates(pairs, batch_size=2)]
    assert split[-2:] == ["openvino int8", "openvino int8 (streams)"]
    assert candidates(pairs) == candidates(pairs, batch_size=32)
    assert fastest({"keras fp32": 100.0, "openvino fp32": 104.0}) == "openvino fp32"


def test_fingerprint_ignores_made_up_layer_names_but_not_weights() -> None:
    first, again, other = tiny_cnn(seed=1), tiny_cnn(seed=1), tiny_cnn(seed=2)
    assert first.layers[1].name != again.layers[1].name  # conv2d vs conv2d_1: Keras numbers them
    assert model_fingerprint(first) == model_fingerprint(again)
    assert model_fingerprint(first) != model_fingerprint(other)


def test_gate_verdict_is_within_one_point_of_fp32() -> None:
    assert GATE_MAX_DROP == 1.0
    assert verdict(_gate_row("litert", "int8", 0.9))[0]
    assert not verdict(_gate_row("litert", "int8", 1.1))[0]
    assert not verdict({**_gate_row("litert", "int8", 0.0), "delta_top5": -0.02})[0]
    assert not verdict({"runtime": "openvino", "precision": "int8", "status": "skipped: no calibration"})[0]


def test_without_a_gate_only_fp32_of_installed_runtimes_is_a_candidate() -> None:
    pairs, why = candidate_pairs("0" * 64, None)
    assert pairs == runtime_pairs(precisions=("fp32",)) and ("keras", "fp32") in pairs
    assert "no accuracy gate" in why


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_off_tensorflow_conversions_are_candidates_while_tensorflow_is_installed(backend: str) -> None:
    # LiteRT, OpenVINO and ONNX convert in a TensorFlow child off TensorFlow: auto and --runtime all try them
    # where TensorFlow is installed, keras alone where it is not. A fresh process: the back-end is fixed
    # once Keras is imported.
    code = (
        "import json, sys; from zoo.engine.installed import runtime_pairs as p; "
        "seen = [p(), p(['litert', 'keras'], ['fp32'])]; sys.modules['tensorflow'] = None; "
        "print(json.dumps([*seen, p()]))"
    )
    env = {**os.environ, "KERAS_BACKEND": backend}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    everything, asked, without_tensorflow = json.loads(out.stdout)
    assert {runtime for runtime, _ in everything} == {"keras", "litert", "onnxruntime", "openvino"}
    assert asked == [["litert", "fp32"], ["keras", "fp32"]]
    # the keras runtime needs the back-end's own library, not TensorFlow: still the candidate it always is
    assert without_tensorflow == [["keras", precision] for precision in RUNTIME_PRECISIONS["keras"]]


def test_a_decision_is_kept_per_back_end() -> None:
    # the same model, batch and candidates: a choice measured on TensorFlow is not reused on JAX or torch
    code = (
        "from zoo.bench.auto import Candidate as C, decision_key\n"
        "print(decision_key('0' * 64, 8, (96, 96, 3), [C('keras', 'fp32'), C('litert', 'fp32')]))"
    )
    keys = set()
    for backend in ("tensorflow", "jax", "torch", "tensorflow"):
        env = {**os.environ, "KERAS_BACKEND": backend}
        done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        keys.add(done.stdout.strip())
    assert len(keys) == 3


def test_auto_measures_once_then_reuses_its_cache() -> None:
    model = tiny_cnn(24, seed=3, batch_norm=True)
    lines: list[str] = []
    runtime, decision = choose(model, 4, report=lines.append)
    assert decision.measured and decision.path.parent == auto_dir()
    assert set(decision.rates) == _names(runtime_pairs(precisions=("fp32",)))
    assert "onnxruntime fp32 (spinning)" in decision.rates
    assert max(decision.rates, key=decision.rates.get) == runtime.label == decision.candidate.name
    stored = json.loads(decision.path.read_text())
    # fp32-only mode runs real fp32 everywhere (OpenVINO with an explicit f32 hint, not its silent bf16)
    assert set(stored["precision_ran_by_candidate"].values()) == {"fp32"}
    assert stored["precision_ran"] == runtime.effective_precision == "fp32"
    before = (decision.path.read_bytes(), decision.path.stat().st_mtime_ns)

    again, second = choose(model, 4, report=lines.append)
    assert not second.measured and (again.name, again.precision) == (runtime.name, runtime.precision)
    assert (decision.path.read_bytes(), decision.path.stat().st_mtime_ns) == before  # nothing re-measured
    assert "from" in second.line() and "measured" in decision.line()
    assert decision.line().startswith(f"auto: {runtime.label} (measured ")
    # another batch size is another key: measured anew
    _, other = choose(model, 1, report=lines.append)
    assert other.measured and other.path != decision.path
    assert len(list(auto_dir().glob("[0-9a-f]*.json"))) == 2


def test_the_cached_choice_rebuilds_the_same_onnxruntime_session_spinning_or_not() -> None:
    model = tiny_cnn(24, seed=7)
    _, decision = choose(model, 2, precisions=("fp32",), report=lambda line: None)
    record = json.loads(decision.path.read_text())
    assert record["spinning"] == decision.spinning
    for spinning in (True, False, True):  # whatever was measured: the cache says which session to build
        record.update(runtime="onnxruntime", precision="fp32", spinning=spinning, streams=False)
        decision.path.write_text(json.dumps(record))
        runtime, cached = choose(model, 2, precisions=("fp32",), report=lambda line: None)
        allow = runtime._session.get_session_options().get_session_config_entry(
            "session.intra_op.allow_spinning"
        )  # fmt: skip
        assert not cached.measured and cached.spinning is spinning
        assert allow == ("1" if spinning else "0")
        assert runtime.label == cached.candidate.name == "onnxruntime fp32" + " (spinning)" * spinning
        assert cached.line().startswith(f"auto: {runtime.label} (")


def test_the_cached_choice_rebuilds_openvino_with_its_batches_split_over_streams_or_not() -> None:
    model = tiny_cnn(24, seed=7)
    _, decision = choose(model, 2, precisions=("fp32",), report=lambda line: None)
    assert "openvino fp32 (streams)" in decision.rates  # timed beside the one-request openvino
    record = json.loads(decision.path.read_text())
    assert record["streams"] == decision.streams
    for streams in (True, False):
        record.update(runtime="openvino", precision="fp32", spinning=False, streams=streams)
        decision.path.write_text(json.dumps(record))
        runtime, cached = choose(model, 2, precisions=("fp32",), report=lambda line: None)
        assert not cached.measured and cached.streams is streams
        assert runtime.label == cached.candidate.name == "openvino fp32" + " (streams)" * streams
        assert (len(runtime._requests) > 1) is streams


@pytest.mark.slow
def test_a_gate_that_fails_int8_keeps_int8_out() -> None:
    model = tiny_cnn(24, seed=4)
    fingerprint = model_fingerprint(model)
    rows = [_gate_row("keras", "fp32", 0), _gate_row("litert", "fp32", 0), _gate_row("litert", "int8", 3.0)]
    record_gate(fingerprint, rows, {"model": "tiny", "dataset": "photos"})
    assert read_gate(fingerprint)["verdicts"]["litert int8"]["passed"] is False
    _, decision = choose(model, 2, report=lambda line: None)
    assert set(decision.rates) == {"keras fp32", "litert fp32"}
    assert decision.precision == "fp32"

    record_gate(fingerprint, [*rows[:2], _gate_row("litert", "int8", 0.5)], {"model": "tiny"})
    _, passed = choose(model, 2, report=lambda line: None)  # a new gate is a new key: measured again
    assert passed.measured and set(passed.rates) == {"keras fp32", "litert fp32", "litert int8"}


@pytest.mark.slow
def test_auto_times_plain_and_searched_int8_when_both_pass_the_gate() -> None:
    from support.realdata import photos

    model = tiny_cnn(24, seed=6)
    fingerprint = model_fingerprint(model)
    calibration = photos(3, 24, "train")
    both = [
        _gate_row("keras", "fp32", 0),
        _gate_row("litert", "int8-full", 0.5),
        _gate_row("litert", "int8-plain", 0),
    ]
    record_gate(fingerprint, both, {"model": "tiny"})
    runtime, decision = choose(model, 2, calibration=calibration, report=lambda line: None)
    assert set(decision.rates) == {"keras fp32", "litert int8-full", "litert int8-plain"}
    assert f"{runtime.name} {runtime.precision}" == fastest(decision.rates)

    record_gate(fingerprint, [*both[:2], _gate_row("litert", "int8-plain", 1.5)], {"model": "tiny"})
    _, failed = choose(model, 2, calibration=calibration, report=lambda line: None)
    assert set(failed.rates) == {"keras fp32", "litert int8-full"}  # plain lost accuracy: not a candidate


@pytest.mark.slow
def test_auto_times_openvino_int8_with_bf16_float_parts_only_where_the_gate_passed_it() -> None:
    from support.realdata import photos

    ov = pytest.importorskip("openvino")
    model = tiny_cnn(24, seed=7)
    fingerprint = model_fingerprint(model)
    calibration = photos(3, 24, "train")
    rows = [
        _gate_row("keras", "fp32", 0),
        _gate_row("openvino", "int8-plain", 0),
        _gate_row("openvino", "int8-plain+bf16", 0.5),
        _gate_row("openvino", "int8+bf16", 1.5),  # lost accuracy: never a candidate
    ]
    record_gate(fingerprint, rows, {"model": "tiny"})
    assert candidate_pairs(fingerprint, None)[0] == [
        ("keras", "fp32"), ("openvino", "int8-plain"), ("openvino", "int8-plain+bf16")
    ]  # fmt: skip
    messages: list[str] = []
    runtime, decision = choose(model, 2, calibration=calibration, report=messages.append)
    timed = {name.removesuffix(" (streams)") for name in decision.rates}  # openvino: streams or not
    if "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
        assert timed == {"keras fp32", "openvino int8-plain", "openvino int8-plain+bf16"}
        with open(decision.path) as record:
            assert json.load(record)["precision_ran_by_candidate"]["openvino int8-plain+bf16"] == "int8+bf16"
    else:  # refused where the CPU has no native bf16: skipped with the reason, the others timed
        assert "no native bfloat16" in decision.skipped["openvino int8-plain+bf16"], messages
        assert timed == {"keras fp32", "openvino int8-plain"}
    assert runtime.label == fastest(decision.rates)


@pytest.mark.slow
def test_cli_predict_defaults_to_auto_and_the_second_call_measures_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZOO_RUNTIME")
    model = tmp_path / "tiny.keras"
    tiny_cnn(32, 3, rescale=True, seed=5).save(model)
    photos = [str(p) for p in photo_paths(1)[:2]]
    code, out, err = zoo_main(capsys, "predict", "--model", str(model), *photos)
    assert code == 0, err
    assert "auto: " in err and "(measured " in err and "x keras fp32; cached in " in err
    decisions = list(auto_dir().glob("[0-9a-f]*.json"))
    assert len(decisions) == 1 and out.count("class_") == 2 * 3
    stored = decisions[0].read_bytes()
    code, again, err = zoo_main(capsys, "predict", "--model", str(model), *photos)
    assert code == 0 and again == out
    assert "; from " in err and "(measured " not in err
    assert decisions[0].read_bytes() == stored


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["predict", "mobilenet_v2", "x.jpg", "--runtime", "all"], "all is for zoo evaluate"),
        (["embed", "mobilenet_v2", "x.jpg", "--out", "f.npy", "--runtime", "all"], "all is for zoo evaluate"),
        (["predict", "mobilenet_v2", "x.jpg", "--runtime", "tvm"], "'tvm' is not one of"),
        (["benchmark", "mobilenet_v2", "--runtime", "tvm"], "tvm is not one of"),
    ],
)
def test_runtime_misuse_is_a_usage_error(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = zoo_main(capsys, *args)
    assert code == 2 and message in " ".join(err.split()), err


def test_a_bad_zoo_runtime_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ZOO_RUNTIME", "tvm")
    code, _, err = zoo_main(capsys, "evaluate", "mobilenet_v2", str(tmp_path))
    assert code == 2 and "ZOO_RUNTIME='tvm'" in err


@pytest.mark.slow
def test_a_candidate_whose_converter_fails_is_skipped_with_the_reason_and_the_others_go_on() -> None:
    import keras

    inputs = keras.Input((16, 16, 3))
    resized = keras.layers.Resizing(8, 8, interpolation="lanczos3")(inputs)  # tf2onnx leaves the op in
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(resized)))
    lines: list[str] = []
    runtime, decision = choose(model, 2, report=lines.append)
    assert "no ScaleAndTranslate op" in decision.skipped["onnxruntime fp32"]
    assert "keras fp32" in decision.rates and "onnxruntime fp32" not in decision.rates
    assert any(line.startswith("auto: skipped onnxruntime fp32: ") for line in lines)
    assert runtime.label in decision.rates
    stored = json.loads(decision.path.read_text())
    assert stored["skipped"] == decision.skipped  # a cached decision still says why


def test_predict_auto_calibrates_its_int8_candidates_on_calibrate_on_only(tmp_path: Path) -> None:
    from support.realdata import copy_photos

    import zoo
    from zoo.bench.auto import AutoChooser

    model = tiny_cnn(24, seed=5)
    fingerprint = model_fingerprint(model)
    rows = [_gate_row("keras", "fp32", 0), _gate_row("litert", "int8-full", 0.5)]
    record_gate(fingerprint, rows, {"model": "tiny"})
    photos, labels = photo_paths(1, "val")[:3], ["a", "b", "c"]

    without = AutoChooser(report=lambda line: None)
    zoo.predict(model, photos, runtime=without, labels=labels, batch_size=2)
    assert without.decision is not None and "litert int8-full" in without.decision.skipped

    calibrate_on = copy_photos(tmp_path / "calibration", 2, "train")
    given = AutoChooser(report=lambda line: None)
    zoo.predict(model, photos, runtime=given, labels=labels, batch_size=2, calibrate_on=calibrate_on)
    assert given.decision is not None and "litert int8-full" in given.decision.rates


@pytest.mark.parametrize(("backend", "library"), [("jax", "jax"), ("jax", "jaxlib"), ("torch", "torch")])
def test_a_decision_is_kept_per_version_of_the_back_ends_library(backend: str, library: str) -> None:
    # an upgraded jax, jaxlib or torch makes the keras runtime another engine: measured anew, not reused
    pairs = [Candidate("keras", "fp32"), Candidate("litert", "fp32")]
    installed = library_versions()
    assert installed[library] != "absent"  # read from the installed metadata, without importing it

    def key(backend: str, **changed: str) -> str:
        return decision_key(
            "0" * 64, 8, (96, 96, 3), pairs, backend=backend, versions={**installed, **changed}
        )

    assert key(backend) == key(backend) != key(backend, **{library: installed[library] + ".post1"})
    # ...and another back-end's library does not decide this one's choice
    other = "tensorflow"
    assert key(other) == key(other, **{library: installed[library] + ".post1"})
