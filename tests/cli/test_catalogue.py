"""`zoo list`, `zoo info`, `zoo pull` and `zoo table` on the timm catalogue (keras-hub entries), with a small
catalogue of real entries in a temporary zoo/catalogue/ (tests/support/catalogue.py)."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from support.catalogue import MODELS, use_catalogue
from support.cli import zoo_main

from zoo.registry import load_registry

TIMM_HEADER = ["model", "img_size", "top1", "top5", "param_count"]


@pytest.fixture
def catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return use_catalogue(monkeypatch, tmp_path / "catalogue")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, out, err = zoo_main(capsys, *args)
    assert code == 0, err
    return out


def list_json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict]:
    return json.loads(run(capsys, "list", "--json", *args))


def names(capsys: pytest.CaptureFixture[str], *args: str) -> list[str]:
    return [row["name"] for row in list_json(capsys, *args)]


# ------------------------------------------------------------------------------------------- zoo list
def test_source_timm_lists_the_timm_entries_in_timms_own_columns(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = run(capsys, "list", "--source", "timm").splitlines()
    assert len(lines) == len(MODELS) + 1  # `zoo list --source timm | wc -l`: one header line
    assert lines[0].split() == TIMM_HEADER
    assert [line.split() for line in lines[1:]] == [  # best top-1 first, the csv's text as printed
        ["resnet50.a1_in1k", "288", "81.214", "95.486", "25.56M"],
        ["efficientnet_b1.ft_in1k", "288", "80.418", "95.204", "7.79M"],
        ["efficientnet_b0.ra_in1k", "256", "78.584", "94.118", "5.29M"],
        ["resnet18.a1_in1k", "288", "73.158", "91.030", "11.69M"],
    ]
    rows = list(csv.reader(io.StringIO(run(capsys, "list", "--source", "timm", "--format", "csv"))))
    assert rows[0] == TIMM_HEADER and len(rows) == len(MODELS) + 1
    assert {row["from"] for row in list_json(capsys, "--source", "timm")} == {"timm"}


def test_other_sources_are_unchanged_by_the_catalogue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    without = {}
    use_catalogue(monkeypatch, tmp_path / "empty", models={}, unsupported={})
    for source in ("keras.io", "classic", "paper", "keras-docs"):
        without[source] = run(capsys, "list", "--source", source, "--format", "md")
    use_catalogue(monkeypatch, tmp_path / "timm")
    for source, printed in without.items():
        assert run(capsys, "list", "--source", source, "--format", "md") == printed, source
    assert len(without["keras.io"].splitlines()) == 38 + 2  # markdown: header and rule


def test_default_list_shows_every_entry_with_where_it_comes_from(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = list_json(capsys)
    assert [r["name"] for r in rows] == load_registry().names()
    assert len(rows) == 55 + len(MODELS)
    assert {r["from"] for r in rows} == {"keras", "timm"}
    printed = run(capsys, "list", "resnet50", "resnet50.a1_in1k", "--format", "csv")
    assert list(csv.reader(io.StringIO(printed))) == [
        ["Model", "Family", "From", "Params", "Size (MB)", "Top-1", "Top-5", "Depth", "Input", "Pulled"],
        ["resnet50", "resnet", "keras", "25.6M", "98", "74.9%", "92.1%", "107", "224", ""],
        ["resnet50.a1_in1k", "resnet", "timm", "25.6M", "-", "81.2%", "95.5%", "-", "224", ""],
    ]
    timm_row = next(r for r in rows if r["name"] == "resnet50.a1_in1k")
    assert (timm_row["top1"], timm_row["label"]) == (0.81214, "resnet50.a1_in1k @ 288px")
    assert timm_row["source"] == "timm"


def test_a_keras_hub_entry_shows_timms_figures_else_its_first_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    paper = {"source": "paper", "label": "ResNet-18", "top1": "69.8%", "top5": "89.1%"}
    both, paper_only = MODELS["resnet18.a1_in1k"], MODELS["resnet50.a1_in1k"]
    models = {
        "resnet18.a1_in1k": both | {"published": [paper, *both["published"]]},
        "resnet50.a1_in1k": paper_only | {"published": [paper | {"label": "ResNet-50", "top1": "76.1%"}]},
    }
    use_catalogue(monkeypatch, tmp_path / "catalogue", models=models)
    rows = {r["name"]: r for r in list_json(capsys, "resnet*.a1_in1k")}
    assert (rows["resnet18.a1_in1k"]["source"], rows["resnet18.a1_in1k"]["top1"]) == ("timm", 0.73158)
    assert (rows["resnet50.a1_in1k"]["source"], rows["resnet50.a1_in1k"]["top1"]) == ("paper", 0.761)


def test_family_globs_and_figure_filters_cover_both_loaders(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert names(capsys, "--family", "resnet") == [
        "resnet50", "resnet101", "resnet152", "resnet50.a1_in1k", "resnet18.a1_in1k"
    ]  # fmt: skip
    assert names(capsys, "efficientnet_b*") == [
        *(f"efficientnet_b{i}" for i in range(8)), "efficientnet_b0.ra_in1k", "efficientnet_b1.ft_in1k"
    ]  # fmt: skip
    assert names(capsys, "resnet50.*") == ["resnet50.a1_in1k"]  # a timm tag's dot is a plain character
    assert names(capsys, "*.a1_in1k", "--source", "timm") == ["resnet50.a1_in1k", "resnet18.a1_in1k"]
    # a timm entry is filtered on timm's figures, a keras.applications one on keras.io's
    assert names(capsys, "--family", "resnet", "--min-top1", "80") == ["resnet50.a1_in1k"]
    assert names(capsys, "--family", "resnet", "--min-top1", "76.5") == ["resnet152", "resnet50.a1_in1k"]
    assert names(capsys, "--family", "resnet", "--max-params", "12M") == ["resnet18.a1_in1k"]


# ------------------------------------------------------------------------------------------- zoo info
def _checkpoint_files(directory: Path) -> tuple[Path, Path]:
    """A real safetensors file and the config.json of resnet50.a1_in1k."""
    from safetensors.numpy import save_file

    directory.mkdir(exist_ok=True)
    weights = directory / "model.safetensors"
    save_file({"fc.weight": np.zeros((4, 2), np.float32)}, str(weights))
    config = directory / "config.json"
    config.write_text(json.dumps(MODELS["resnet50.a1_in1k"]["hub_config"]), encoding="utf-8")
    return weights, config


def test_info_shows_figures_files_preprocessing_and_cache_of_both_files(
    catalogue: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from zoo.hub.manage import import_file

    out = run(capsys, "info", "resnet50.a1_in1k")
    assert out.startswith("resnet50.a1_in1k  (resnet50, resnet)")
    for text in (
        "keras-hub, from a timm checkpoint (config.json + model.safetensors)",
        "timm/resnet50.a1_in1k", "25,557,032", "224 x 224", "bicubic, crop_pct 0.95",
        "normalize: x / 255, minus mean (0.485, 0.456, 0.406), over std (0.229, 0.224, 0.225)",
        "resnet50.a1_in1k @ 288px", "81.214", "95.486", "25.56M",
        "resnet50.a1_in1k.safetensors", "hf://timm/resnet50.a1_in1k/model.safetensors",
        "resnet50.a1_in1k.config.json", "hf://timm/resnet50.a1_in1k/config.json",
        "no (zoo pull resnet50.a1_in1k)",
    ):  # fmt: skip
        assert text in out, text
    assert re.search(r"^architecture +resnet50 *$", out, re.M)  # the column width follows the longest key
    assert "keras.applications" not in out

    weights, config = _checkpoint_files(tmp_path / "checkpoint")
    config_blob = import_file(config, "resnet50.a1_in1k", "config").path
    data = json.loads(run(capsys, "info", "resnet50.a1_in1k", "--json"))
    assert data["cached"] == {"top": None, "config": str(config_blob)}
    assert data["pulled"] is False  # the config alone cannot be loaded
    assert not names(capsys, "--pulled")
    weights_blob = import_file(weights, "resnet50.a1_in1k", "top").path
    data = json.loads(run(capsys, "info", "resnet50.a1_in1k", "--json"))
    assert data["cached"] == {"top": str(weights_blob), "config": str(config_blob)} and data["pulled"] is True
    assert names(capsys, "--pulled") == ["resnet50.a1_in1k"]
    assert str(weights_blob) in run(capsys, "info", "resnet50.a1_in1k").replace("\n", "")


def test_info_json_has_the_keras_hub_fields(catalogue: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(run(capsys, "info", "efficientnet_b1.ft_in1k", "--json"))
    assert (data["loader"], data["layout"], data["arch"], data["from"]) == (
        "keras-hub", "timm", "efficientnet_b1", "timm"
    )  # fmt: skip
    assert data["hf_repo"] == "timm/efficientnet_b1.ft_in1k"
    assert data["mean"] == [0.485, 0.456, 0.406] and data["std"] == [0.229, 0.224, 0.225]
    assert (data["input_size"], data["interpolation"], data["crop_pct"]) == (240, "bicubic", 0.882)
    assert data["hub_config"]["pretrained_cfg"]["input_size"] == [3, 240, 240]
    assert data["published"] == [MODELS["efficientnet_b1.ft_in1k"]["published"][0]]
    assert set(data["weights"]) == {"top", "config"}
    assert data["weights"]["config"]["sources"] == ["hf://timm/efficientnet_b1.ft_in1k/config.json"]
    assert data["cached"] == {"top": None, "config": None} and data["pulled"] is False


# ----------------------------------------------------------------------------- names zoo does not ship
@pytest.mark.parametrize(
    ("args", "family", "reason"),
    [
        (["info", "convnext_tiny.fb_in1k"], "convnext", "keras-hub has no timm converter for ConvNeXt"),
        (["pull", "resnet50d.a1_in1k"], "resnet", "conversion of the 'd' stem disagrees"),
    ],
)
def test_a_timm_tag_zoo_does_not_ship_exits_2_naming_family_reason_and_what_works(
    catalogue: Path, capsys: pytest.CaptureFixture[str], args: list[str], family: str, reason: str
) -> None:
    from zoo import config

    code, out, err = zoo_main(capsys, *args)
    assert code == 2 and out == ""
    first, hint = err.splitlines()[:2]
    assert first.startswith(f"Error: {args[1]} is not in zoo's catalogue: the {family} family: ")
    assert reason in first
    assert hint.startswith("Hint: zoo's timm catalogue holds the families resnet, efficientnet, mobilenet, ")
    assert "Traceback" not in err
    assert not any(config.zoo_home().rglob("*.safetensors"))


def test_a_wrong_name_gets_the_nearest_timm_tag(catalogue: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = zoo_main(capsys, "info", "resnet50.a1_in1")
    assert code == 2
    assert err.splitlines()[0] == "Error: unknown model 'resnet50.a1_in1'; did you mean 'resnet50.a1_in1k'?"
    code, _, err = zoo_main(capsys, "pull", "efficientnet_b0.ra_in1")
    assert code == 2 and "did you mean 'efficientnet_b0.ra_in1k'?" in err
    code, _, err = zoo_main(capsys, "info", "convnext_tiny.fb_in22k")  # neither shipped nor listed
    assert code == 2 and err.startswith("Error: unknown model 'convnext_tiny.fb_in22k'")


# ------------------------------------------------------------------------------------------ zoo table
RECORDS = [
    {"kind": "evaluate", "model": "resnet50.a1_in1k", "top1": 0.80, "top5": 0.95, "images": 500},
    {"kind": "evaluate", "model": "resnet50", "top1": 0.74, "top5": 0.91, "images": 500},
]


def test_table_puts_timms_figures_beside_the_measured_ones(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from zoo.bench.results import append_results, stamp

    append_results(stamp(r) for r in RECORDS)
    rows = {r["model"]: r for r in json.loads(run(capsys, "table", "resnet50", "resnet50.*", "--json"))}
    assert list(rows) == ["resnet50", "resnet50.a1_in1k"]
    timm_row = rows["resnet50.a1_in1k"]
    assert (timm_row["top1_published"], timm_row["top5_published"]) == (0.81214, 0.95486)
    assert (timm_row["top1_measured"], timm_row["published_source"]) == (0.80, "timm")
    assert timm_row["params"] == 25_557_032
    assert (rows["resnet50"]["top1_published"], rows["resnet50"]["published_source"]) == (0.749, "keras.io")

    printed = run(capsys, "table", "resnet50", "resnet50.*", "--source", "timm", "--json")
    only_timm = {r["model"]: r for r in json.loads(printed)}
    assert only_timm["resnet50.a1_in1k"]["top1_published"] == 0.81214
    assert only_timm["resnet50"]["top1_published"] is None  # keras.applications' models: not in timm's csv
    assert only_timm["resnet50"]["top1_measured"] == 0.74
    (classic,) = json.loads(run(capsys, "table", "resnet50", "--source", "classic", "--json"))
    assert (classic["top1_published"], classic["published_source"]) == (0.759, "classic")
