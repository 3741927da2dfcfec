"""`zoo predict` / `zoo embed` at a calibrated int8 precision: calibrated on --calibrate-on (or a run
directory's training images), never on the images answered; without a source, a usage error (exit 2).

Real models and real photos: the ImageNet MobileNet 0.25 classifier with its head (as a run directory whose
training images are TrashNet training photos) and the pretrained backbone for embed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from support.cli import zoo_main
from support.realdata import copy_photos, imagenet_classifier, photo_paths
from support.registry import fixture_entry, write_models

from zoo import config
from zoo.engine.bundle import save_bundle
from zoo.engine.labels import imagenet_labels

NAME = "test_mobilenet_int8"


@pytest.fixture(scope="module")
def photos_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("int8-photos")
    return copy_photos(root / "train", 2, "train"), copy_photos(root / "val", 1, "val")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory, photos_dirs: tuple[Path, Path]) -> Path:
    """A run directory holding the real ImageNet classifier, trained (as it says) on 12 TrashNet photos."""
    train, val = photos_dirs
    root = tmp_path_factory.mktemp("int8-run")
    settings = {"data": str(train), "val": str(val), "image_size": 128}
    return save_bundle(root / "run", imagenet_classifier(), imagenet_labels(), {"settings": settings})


@pytest.mark.parametrize(
    ("command", "runtime", "precision"),
    [
        ("predict", "openvino", "int8"),
        ("predict", "litert", "int8-full"),
        ("embed", "onnxruntime", "int8"),
        ("predict", "openvino", "int8+bf16"),
        ("embed", "openvino", "int8-plain+bf16"),
    ],  # fmt: skip
)
def test_calibrated_int8_without_calibration_images_is_a_usage_error(
    command: str,
    runtime: str,
    precision: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich folds a usage error's box at 80 columns
    image = photo_paths(1, "val")[0]
    out = ("--out", str(tmp_path / "f.npy")) if command == "embed" else ()
    code, stdout, err = zoo_main(
        capsys,
        command,
        "mobilenet_v1_025_128",
        str(image),
        *out,
        "--runtime",
        runtime,
        "--precision",
        precision,
    )
    assert code == 2, err
    assert "needs calibration images" in err and "--calibrate-on" in err
    assert stdout == "" and not (tmp_path / "f.npy").exists()


def test_calibrate_on_with_an_uncalibrated_precision_is_a_usage_error(
    photos_dirs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    train, val = photos_dirs
    code, _, err = zoo_main(
        capsys,
        "predict",
        "mobilenet_v1_025_128",
        str(val),
        "--precision",
        "fp32",
        "--calibrate-on",
        str(train),
    )
    assert code == 2 and "--calibrate-on applies to a calibrated int8 precision" in err


def top1(stdout: str) -> list[int]:
    return [answer["top"][0]["index"] for answer in json.loads(stdout)]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("runtime", "precision"), [("openvino", "int8"), ("litert", "int8-full"), ("openvino", "int8+bf16")]
)
def test_predict_a_run_calibrates_on_its_training_images(
    runtime: str, precision: str, run_dir: Path, photos_dirs: tuple[Path, Path], module_home: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    _, val = photos_dirs
    if precision.endswith("+bf16"):
        ov = pytest.importorskip("openvino")
        if "BF16" not in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"):
            pytest.skip("this CPU has no native bf16 (int8+bf16 is refused there)")
    code, fp32_out, err = zoo_main(capsys, "predict", "--model", str(run_dir), str(val), "--json")
    assert code == 0, err
    code, int8_out, err = zoo_main(
        capsys, "predict", "--model", str(run_dir), str(val), "--runtime", runtime, "--precision", precision,
        "--json",
    )  # fmt: skip
    assert code == 0, err
    answers = json.loads(int8_out)
    assert len(answers) == 6 and all(a["error"] is None and len(a["top"]) == 5 for a in answers)
    # fp32's answer is among int8's five for every photo (a random ranking would almost never manage 6)
    fp32_top = top1(fp32_out)
    assert all(t in [r["index"] for r in a["top"]] for t, a in zip(fp32_top, answers, strict=True))
    # a calibrated conversion was cached (int8+bf16: the int8 IR, compiled with another hint)
    assert list(config.converted_dir().glob(f"*{precision.removesuffix('+bf16')}*"))


@pytest.mark.slow
def test_predict_with_calibrate_on_leaves_out_the_images_it_answers(
    run_dir: Path, photos_dirs: tuple[Path, Path], module_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from zoo.data.decode import ResizePolicy
    from zoo.engine.calibration import calibration_images

    train, val = photos_dirs
    # a folder holding both: only the training photos are left to calibrate on
    both = train.parent / "both"
    shutil.copytree(train, both / "train")
    shutil.copytree(val, both / "val")
    found = calibration_images(ResizePolicy(128), calibrate_on=both, scored=sorted(both.glob("val/*/*")))
    assert found.images is not None and len(found.paths) == 12 and len(found.excluded) == 6
    assert all("/train/" in str(p) for p in found.paths)
    model_file = run_dir / "model.keras"  # a bare model file: --calibrate-on is its only source
    code, _, err = zoo_main(
        capsys, "predict", "--model", str(model_file), str(both / "val"), "--runtime", "onnxruntime",
        "--precision", "int8",
    )  # fmt: skip
    assert code == 2 and "--calibrate-on" in err
    code, out, err = zoo_main(
        capsys, "predict", "--model", str(model_file), str(both / "val"), "--runtime", "onnxruntime",
        "--precision", "int8", "--calibrate-on", str(both), "--json",
    )  # fmt: skip
    assert code == 0, err
    assert len(json.loads(out)) == 6


@pytest.mark.slow
def test_embed_int8_calibrated_on_another_folder_keeps_the_features(
    tmp_path: Path, photos_dirs: tuple[Path, Path], fixture_weights: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    registry = write_models(
        tmp_path / "user.yaml", {NAME: fixture_entry(fixture_weights, interpolation="bicubic")}
    )
    monkeypatch.setenv("ZOO_REGISTRY", str(registry))
    train, val = photos_dirs
    common = ("embed", NAME, str(val), "--weights", str(fixture_weights), "--size", "96")
    code, _, err = zoo_main(capsys, *common, "--out", str(tmp_path / "fp32.npy"))
    assert code == 0, err
    code, _, err = zoo_main(
        capsys, *common, "--out", str(tmp_path / "int8.npy"), "--runtime", "openvino", "--precision", "int8",
        "--calibrate-on", str(train),
    )  # fmt: skip
    assert code == 0, err
    fp32, int8 = np.load(tmp_path / "fp32.npy"), np.load(tmp_path / "int8.npy")
    assert fp32.shape == int8.shape == (6, 256)
    cosine = np.sum(fp32 * int8, 1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(int8, axis=1)
    assert cosine.min() > 0.9  # int8 features of the same photo, not another photo's
    others = (
        np.sum(fp32 * np.roll(int8, 1, 0), 1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(int8, axis=1)
    )
    assert others.max() < cosine.min()
