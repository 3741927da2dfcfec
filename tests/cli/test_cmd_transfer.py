"""`zoo finetune / register / export` through the Typer app: usage errors first, then a real tiny run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.cli import flat, invoke, run_zoo

from zoo.data.synthetic import render_dataset

MODEL = "mobilenet_v1_025_224"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return render_dataset(tmp_path / "data", per_class=5, size=40, seed=4).root


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch-size", "0"], "--batch-size: must be at least 1"),
        (["--val-split", "1.5"], "--val-split: must be between 0 and 1"),
        (["--lr", "-1"], "--lr: must be positive"),
        (["--epochs", "0", "--fine-tune-epochs", "0"], "at least one epoch"),
        (["--unfreeze", "top"], "'all'"),
        (["--augment", "flip,blur"], "unknown blur"),
        (["--optimizer", "lion"], "lion"),
        (["--weights", "missing.h5"], "neither imagenet, none, nor an existing weights file"),
        (["--val", "no/such/folder"], "does not exist"),
        (["--early-stopping", "0"], "patience must be at least 1"),
    ],
)
def test_bad_options_exit_2_before_any_work(
    data: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "run"
    result = invoke("finetune", MODEL, str(data), "--out", str(out), *args)
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)
    assert not out.exists()


def test_missing_data_dir_and_missing_arguments_exit_2(tmp_path: Path) -> None:
    assert invoke("finetune", MODEL, str(tmp_path / "nope")).exit_code == 2
    no_data = invoke("finetune", MODEL)
    assert no_data.exit_code == 2 and "DATA_DIR" in no_data.output


def test_data_error_is_a_runtime_error_with_a_hint(tmp_path: Path) -> None:
    one = render_dataset(tmp_path / "one", classes=("circle",), per_class=2, size=32).root
    done = run_zoo("finetune", MODEL, str(one), "--weights", "none", "--out", str(tmp_path / "r"))
    assert done.returncode == 1
    assert "Error:" in done.stderr and "at least two classes" in done.stderr and "Hint:" in done.stderr
    assert "Traceback" not in done.stderr


def test_unknown_model_suggests_a_name(data: Path) -> None:
    result = invoke("finetune", "mobilenet_v1_025_22", str(data))
    assert result.exit_code == 1
    assert "did you mean" in str(result.exception)


@pytest.mark.slow
def test_tuning_is_the_default_and_no_tune_runs_the_fixed_recipe(tmp_path: Path) -> None:
    data = render_dataset(tmp_path / "data", per_class=10, size=40, seed=4).root  # 8 a class to train on
    common = ["--weights", "none", "--image-size", "40", "--epochs", "1", "--fine-tune-epochs", "1"]
    docs = {}
    for name, extra in (("tuned", []), ("fixed", ["--no-tune"])):
        result = invoke("finetune", MODEL, str(data), *common, "--out", str(tmp_path / name), *extra)
        assert result.exit_code == 0, result.output
        docs[name] = json.loads((tmp_path / name / "config.json").read_text())
    tuned, fixed = docs["tuned"]["settings"], docs["fixed"]["settings"]
    assert "tuning" in docs["tuned"] and "tuning" not in docs["fixed"]
    # the tuned recipe, but the epochs given on the command line stay as given
    assert (tuned["unfreeze"], tuned["inner_split"]) == ("all", 0.2)
    assert (tuned["epochs"], tuned["fine_tune_epochs"]) == (1, 1)
    assert (fixed["tune"], fixed["unfreeze"], fixed["inner_split"], fixed["fine_tune_schedule"]) == (
        False, 20, None, "constant",
    )  # fmt: skip


@pytest.mark.slow
def test_finetune_json_then_repeat_from_config_then_register_and_export_errors(
    data: Path, fixture_weights: Path, tmp_path: Path
) -> None:
    first = tmp_path / "first"
    args = ["finetune", MODEL, str(data), "--weights", str(fixture_weights), "--image-size", "40",
            "--epochs", "2", "--fine-tune-epochs", "0", "--batch-size", "4", "--seed", "7",
            "--optimizer", "sgd", "--momentum", "0.8", "--nesterov", "--label-smoothing", "0.1",
            "--out", str(first), "--json"]  # fmt: skip
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["run_dir"] == str(first)
    assert [row["stage"] for row in report["history"]] == [1, 1]

    # --config repeats every setting; options typed on the command line override it
    second = tmp_path / "second"
    again = invoke("finetune", "--config", str(first / "config.json"), "--out", str(second))
    assert again.exit_code == 0, again.output
    assert again.stdout.strip() == str(second)
    settings = json.loads((second / "config.json").read_text())["settings"]
    assert settings["optimizer"] == "sgd" and settings["nesterov"] is True and settings["seed"] == 7
    assert settings["label_smoothing"] == 0.1 and settings["out"] == str(second)
    repeated = json.loads((second / "metrics.json").read_text())
    assert repeated["val_loss"] == pytest.approx(report["metrics"]["val_loss"], abs=1e-5)

    rerun = invoke(*args)
    assert rerun.exit_code == 1 and "already holds a run" in str(rerun.exception)

    registered = invoke("register", str(first), "--name", "cli-shapes")
    assert registered.exit_code == 0, registered.output
    assert Path(registered.stdout.strip()).name == "cli-shapes.yaml"
    bad_name = invoke("register", str(first), "--name", "Bad Name")
    assert bad_name.exit_code == 1
    not_a_run = invoke("export", str(tmp_path), "--out", str(tmp_path / "m.tflite"))
    assert not_a_run.exit_code == 2 and "not a run directory" in flat(not_a_run.output)
    bad_format = invoke("export", str(first), "--format", "pickle", "--out", "x")
    assert bad_format.exit_code == 2
    exported = invoke("export", str(first), "--format", "keras", "--out", str(tmp_path / "m.keras"))
    assert exported.exit_code == 0, exported.output
    assert exported.stdout.strip() == str(tmp_path / "m.keras") and (tmp_path / "m.keras").is_file()
    clash = invoke("export", str(first), "--out", str(tmp_path / "m.keras"))
    assert clash.exit_code == 2 and "already exists" in flat(clash.output)
