"""The accuracy gate on real photos: a real fine-tuned run (MobileNet 0.25 on TrashNet), every runtime x
precision against fp32 keras, calibration never on the scored images, and an export refused atomically."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.cli import zoo_main
from support.realdata import CLASSES, photo_paths

import zoo
from zoo.choices import RUNTIME_PRECISIONS, RUNTIMES
from zoo.engine.bundle import load_model_safely
from zoo.transfer import finetune

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]
TRAIN, VAL = 16, 10  # photos per class


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, fixture_weights: Path) -> Iterator[tuple[Path, Path]]:
    """A run fine-tuned on TRAIN TrashNet training photos per class (128 px) and VAL val photos per class."""
    root = tmp_path_factory.mktemp("gate")
    with pytest.MonkeyPatch.context() as patch:
        for var in ("ZOO_HOME", "KERAS_HOME", "HF_HOME"):
            patch.setenv(var, str(root / var.lower()))
        for split, per_class in (("train", TRAIN), ("val", VAL)):
            for photo in photo_paths(per_class, split):
                (root / split / photo.parent.name).mkdir(parents=True, exist_ok=True)
                shutil.copy(photo, root / split / photo.parent.name / photo.name)
        finetune(
            "mobilenet_v1_025_224", root / "train", val=str(root / "val"), out=str(root / "run"),
            weights=str(fixture_weights), image_size=128, epochs=3, batch_size=16, verbose=False, tune=False,
        )  # fmt: skip
        yield root / "run", root / "val"


def test_every_runtime_and_precision_is_scored_against_fp32_keras(run: tuple[Path, Path]) -> None:
    run_dir, val = run
    frame = zoo.evaluate(run_dir, val, runtime="all", record=False)
    rows = {(r.runtime, r.precision): r for r in frame.itertuples()}
    assert set(rows) == {(r, p) for r in RUNTIMES for p in RUNTIME_PRECISIONS[r]}
    for runtime, precision in [("keras", "fp32"), ("keras", "bf16"), ("litert", "fp32"), ("litert", "fp16"),
                               ("litert", "int8"), ("litert", "int8-full"),
                               ("litert", "int8-plain")]:  # fmt: skip
        row = rows[(runtime, precision)]
        assert row.status == "ok", (runtime, precision, row.status)
        assert row.images == VAL * len(CLASSES)
        assert 0 <= row.top1 <= row.top5 <= 1 and 0 <= row.agreement <= 1
        print(f"{runtime:8} {precision:9} top1 {row.top1:.3f} top5 {row.top5:.3f} agree {row.agreement:.3f}"
              f" d1 {row.delta_top1 * 100:+.1f} d5 {row.delta_top5 * 100:+.1f}")  # fmt: skip
    if _native_bf16():  # OpenVINO int8 with bf16 float parts: scored like the others, reported as it ran
        for precision in ("int8+bf16", "int8-plain+bf16"):
            row = rows[("openvino", precision)]
            assert row.status == "ok" and row.precision_ran == "int8+bf16", (precision, row.status)
            assert 0 <= row.top1 <= row.top5 <= 1 and 0 <= row.agreement <= 1
            assert row.delta_top1 == row.top1 - reference_top1(rows)
            print(f"openvino {precision} top1 {row.top1:.3f} top5 {row.top5:.3f} agree {row.agreement:.3f}"
                  f" d1 {row.delta_top1 * 100:+.1f} d5 {row.delta_top5 * 100:+.1f}")  # fmt: skip
    reference = rows[("keras", "fp32")]
    assert reference.agreement == 1 and reference.delta_top1 == 0 and reference.delta_top5 == 0
    assert rows[("litert", "fp32")].agreement == 1  # the same function: the same top-1 everywhere
    # calibrated on the run's training photos, none of them scored
    calibration = {Path(p).resolve() for p in frame.attrs["calibration_files"]}
    scored = {Path(p).resolve() for p in frame.attrs["scored_files"]}
    assert len(calibration) == TRAIN * len(CLASSES) and len(scored) == VAL * len(CLASSES)
    assert not calibration & scored
    assert all("/train/" in str(p) for p in calibration)


def _native_bf16() -> bool:
    try:
        import openvino
    except ImportError:
        return False
    return "BF16" in openvino.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


def reference_top1(rows: dict) -> float:
    return rows[("keras", "fp32")].top1


def test_int8_rows_say_why_without_calibration_images(run: tuple[Path, Path]) -> None:
    run_dir, val = run
    labels = json.loads((run_dir / "labels.json").read_text())  # a bare model file: no training images
    model = load_model_safely(run_dir / "model.keras")
    frame = zoo.evaluate(model, val, labels=labels, runtime="all", record=False)
    calibrated = [("litert", "int8-full"), ("litert", "int8-plain")]
    if _native_bf16():
        calibrated += [("openvino", "int8+bf16"), ("openvino", "int8-plain+bf16")]
    for runtime, precision in calibrated:
        row = frame[(frame.runtime == runtime) & (frame.precision == precision)].iloc[0]
        assert row.status.startswith("skipped") and "calibrat" in row.status, (precision, row.status)
    assert frame.attrs["calibration_files"] == []


def test_calibrating_on_the_scored_folder_leaves_nothing_to_calibrate_on(run: tuple[Path, Path]) -> None:
    run_dir, val = run
    frame = zoo.evaluate(run_dir, val, runtime="all", calibrate_on=val, record=False)
    full = frame[(frame.runtime == "litert") & (frame.precision == "int8-full")].iloc[0]
    assert full.status.startswith("skipped") and "also scored" in full.status


def test_cli_evaluate_all_prints_every_row_and_auto_then_picks_only_what_passed(
    run: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, val = run
    code, out, err = zoo_main(capsys, "evaluate", str(run_dir), str(val), "--runtime", "all")
    assert code == 0, err
    for word in ("int8-full", "bf16", "fp16", "agree", "Δtop-1", "int8-plain+bf16"):
        assert word in out
    # the rows are kept as this model's accuracy gate, which `--runtime auto` (the default) picks within
    (gate,) = (Path(os.environ["ZOO_HOME"]) / "auto").glob("gate-*.json")
    verdicts = json.loads(gate.read_text())["verdicts"]
    assert len(verdicts) == sum(len(RUNTIME_PRECISIONS[r]) for r in RUNTIMES)
    assert verdicts["keras fp32"]["passed"] and not verdicts["keras fp16"]["passed"]  # fp16: not on a CPU
    monkeypatch.delenv("ZOO_RUNTIME")
    code, out, err = zoo_main(capsys, "evaluate", str(run_dir), str(val), "--json")
    assert code == 0, err
    row = json.loads(out)
    assert verdicts[f"{row['runtime']} {row['precision']}"]["passed"], (row, verdicts)
    assert row["auto_choice"].startswith(f"{row['runtime']} {row['precision']}")
    assert "auto: " in err and "x keras fp32" in err
    print([line for line in err.splitlines() if line.startswith("auto: ")], row["top1"], row["top5"])


def test_export_passes_the_gate_and_is_written(
    run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, val = run
    out = tmp_path / "model.tflite"
    code, _, err = zoo_main(capsys, "export", str(run_dir), "--format", "litert-int8", "--out", str(out),
                            "--check-on", str(val), "--max-drop", "100")  # fmt: skip
    assert code == 0, err
    err = " ".join(err.split())
    assert out.is_file() and f"accuracy gate on {VAL * len(CLASSES)} images" in err
    assert f"calibration: {TRAIN * len(CLASSES)} training images of the run" in err
    assert "top-1 agreement with fp32" in err


def test_export_that_drops_accuracy_is_refused_and_nothing_is_written(
    run: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, _ = run
    out = tmp_path / "model.tflite"
    code, _, err = zoo_main(capsys, "export", str(run_dir), "--format", "litert-int8", "--out", str(out),
                            "--check-on", "val", "--max-drop", "-1")  # fmt: skip
    assert code == 1, err
    err = " ".join(err.split())
    assert "nothing written" in err and "top-1" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
