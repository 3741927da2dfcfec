"""`zoo list` and `zoo info` through the real Typer app (CliRunner) and through `main` for exit codes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from support import REPO
from support.cli import invoke
from support.registry import write_models

from zoo.cli.app import main
from zoo.registry import load_registry

CLASSIC_REFERENCE = REPO.parent / "shared" / "reference" / "classic_table.md"
FIXTURE_MODEL = "mobilenet_v1_025_224"


def zoo(*args: str) -> str:
    result = invoke(*args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def list_json(*args: str) -> list[dict]:
    return json.loads(zoo("list", "--json", *args))


def names(*args: str) -> list[str]:
    return [row["name"] for row in list_json(*args)]


def table_lines(markdown: str) -> list[str]:
    return [line for line in markdown.splitlines() if line.startswith("|")]


@pytest.fixture
def pulled_fixture(fixture_weights: Path) -> Path:
    """The real MobileNet 0.25 no-top weights, imported into this test's ZOO_HOME cache."""
    from zoo.hub.manage import import_file

    return import_file(fixture_weights, FIXTURE_MODEL, "notop").path


# ------------------------------------------------------------------------------------------- zoo list
def test_list_json_lists_every_registered_model() -> None:
    rows = list_json()
    assert [r["name"] for r in rows] == load_registry().names()
    resnet50 = next(r for r in rows if r["name"] == "resnet50")
    assert resnet50["params"] == 25_636_712
    figures = (resnet50["top1"], resnet50["top5"], resnet50["depth"], resnet50["size_mb"])
    assert figures == (0.749, 0.921, 107, 98)
    assert resnet50["published"]["top1"] == "74.9%" and resnet50["pulled"] is False
    assert list_json() == json.loads(zoo("list", "--format", "json"))


def test_classic_markdown_is_the_classic_table_exactly() -> None:
    printed = zoo("list", "--source", "classic", "--format", "md")
    assert printed == "\n".join(table_lines(printed)) + "\n"  # nothing but the table
    documented = table_lines((REPO / "docs" / "registry.md").read_text())
    assert table_lines(printed) == documented[-12:]
    if CLASSIC_REFERENCE.is_file():  # the shared reference is next to the checkout, not inside it
        assert table_lines(printed) == table_lines(CLASSIC_REFERENCE.read_text())


def test_glob_patterns_match_names_and_aliases() -> None:
    matched = names("efficientnet_b*")
    assert [n for n in matched if "." not in n] == [f"efficientnet_b{i}" for i in range(8)]
    assert "efficientnet_b0.ra_in1k" in matched  # timm's tags match the same glob
    assert names("efficientnetv2s", "vgg1*") == [
        "vgg16", "vgg19", "efficientnet_v2_s",
        "vgg11.tv_in1k", "vgg13.tv_in1k", "vgg16.tv_in1k", "vgg19.tv_in1k",
    ]  # fmt: skip
    assert names("no-such-model*") == []


def test_filters() -> None:
    assert set(names("--family", "densenet")) == {"densenet121", "densenet169", "densenet201"}
    mobile = list_json("--tag", "mobile")
    assert len(mobile) == 16 + 1 + 2 + 1
    assert all(r["family"].startswith(("mobilenet", "nasnet")) for r in mobile)
    assert names("--min-top1", "86") == ["convnext_large", "convnext_xlarge"]
    assert names("--min-top1", "0.86") == names("--min-top1", "86")
    small = list_json("--max-params", "3.6M", "--min-top1", "0.7")
    assert [r["name"] for r in small] == ["mobilenet_v2"]
    assert names("--max-size", "20") == ["mobilenet_v1_100_224", "mobilenet_v2"]


def test_sort_and_desc() -> None:
    by_params = list_json("--sort", "params", "--desc")
    assert by_params[0]["name"] == "convnext_xlarge"
    assert [r["params"] for r in by_params] == sorted((r["params"] for r in by_params), reverse=True)
    by_top1 = list_json("--sort", "top1")
    with_top1 = [r["top1"] for r in by_top1 if r["top1"] is not None]
    assert with_top1 == sorted(with_top1) and by_top1[-1]["top1"] is None  # no figure: last


def test_source_shows_only_its_models_best_first() -> None:
    rows = list_json("--source", "paper")
    assert [r["label"] for r in rows][:2] == ["1.0 MobileNet-224", "1.0 MobileNet-192"]
    assert all(r["family"] == "mobilenet_v1" for r in rows) and len(rows) == 7
    keras_io = list_json("--source", "keras.io")
    assert len(keras_io) == 38 and keras_io[0]["name"] == "convnext_xlarge"


def test_csv_and_table_formats() -> None:
    rows = list(csv.reader(io.StringIO(zoo("list", "resnet50", "mobilenet_v1_025_128", "--format", "csv"))))
    header = ["Model", "Family", "From", "Params", "Size (MB)", "Top-1", "Top-5", "Depth", "Input", "Pulled"]
    assert rows[0] == header
    assert rows[1] == ["resnet50", "resnet", "keras", "25.6M", "98", "74.9%", "92.1%", "107", "224", ""]
    assert rows[2] == ["mobilenet_v1_025_128", "mobilenet_v1", "keras", "0.5M", "-", "-", "-", "-", "128", ""]
    table = zoo("list", "inception_resnet_v2")
    header, row = table.splitlines()
    assert header.split() == [
        "Model", "Family", "From", "Params", "Size", "(MB)", "Top-1", "Top-5", "Depth", "Input", "Pulled"
    ]  # fmt: skip
    assert row.split() == [
        "inception_resnet_v2", "inception_resnet_v2", "keras", "55.9M", "215", "80.3%", "95.3%", "449", "299"
    ]  # fmt: skip


def test_pulled_column_and_filter(pulled_fixture: Path) -> None:
    assert pulled_fixture.is_file()
    assert names("--pulled") == [FIXTURE_MODEL]
    assert FIXTURE_MODEL not in names("--not-pulled") and "resnet50" in names("--not-pulled")
    assert zoo("list", FIXTURE_MODEL, "--format", "csv").splitlines()[1].endswith(",yes")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["--max-params", "lots"], "not a parameter count"),
        (["--source", "wikipedia"], "unknown source 'wikipedia'"),
        (["--sort", "speed"], "--sort"),
        (["--format", "xml"], "--format"),
        (["--min-top1", "120"], "--min-top1"),
        (["--registry", "/no/such/registry.yaml"], "--registry"),
    ],
)
def test_bad_options_are_usage_errors(args: list[str], complaint: str) -> None:
    result = invoke("list", *args)
    assert result.exit_code == 2
    assert complaint in result.output and "Traceback" not in result.output


# ------------------------------------------------------------------------------------------- zoo info
def test_unknown_model_is_a_usage_error_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "resnt50"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "Error: unknown model 'resnt50'; did you mean 'resnet50'?"


def test_info_text() -> None:
    out = zoo("info", "mobilenet")
    assert out.startswith("mobilenet_v1_100_224  (MobileNet, mobilenet_v1)")
    expected = [
        "keras.applications.MobileNet(alpha=1.0)", "4,253,864", "classic", "17MB", "70.4%",
        "1.0 MobileNet-224", "mobilenet_1_0_224_tf.h5", "no (zoo pull mobilenet_v1_100_224)",
    ]  # fmt: skip
    for text in expected:
        assert text in out, text


def test_info_json_has_every_source_and_cache_status(pulled_fixture: Path) -> None:
    data = json.loads(zoo("info", FIXTURE_MODEL, "--json"))
    assert data["name"] == FIXTURE_MODEL and data["params"] == 475_544 and data["args"] == {"alpha": 0.25}
    assert [f["source"] for f in data["published"]] == ["paper"]
    notop = data["weights"]["notop"]
    assert notop["sha256"] == "dbdb03ee2a22fd895301636cd328b234bb3a9952358f436d82f46b81e0d5b0bf"
    assert data["cached"] == {"top": None, "notop": str(pulled_fixture)} and data["pulled"] is True
    resnet = json.loads(zoo("info", "resnet50", "--json"))
    assert {f["source"]: f["top1"] for f in resnet["published"]} == {"keras.io": "74.9%", "classic": "0.759"}
    assert resnet["weights"]["top"]["md5"] == "2cb95161c43110f7111970584f804107"


# ----------------------------------------------------------------------------------------- --registry
def user_registry(tmp_path: Path, **changes: object) -> Path:
    base = yaml.safe_load((REPO / "registry.yaml").read_text())["models"]["mobilenet_v1_025_224"]
    entry = {**base, "family": "mine", "aliases": ["tiny"], "published": [], **changes}
    return write_models(tmp_path / "mine.yaml", {"my_mobilenet": entry})


def test_registry_option_adds_user_entries(tmp_path: Path) -> None:
    path = user_registry(tmp_path)
    assert names("--registry", str(path), "--family", "mine") == ["my_mobilenet"]
    data = json.loads(zoo("info", "tiny", "--registry", str(path), "--json"))
    assert data["name"] == "my_mobilenet" and data["origin"] == str(path)
    assert "my_mobilenet" not in names()  # only where asked for


def test_malformed_user_registry_exits_1_naming_entry_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = user_registry(tmp_path, preprocess="inception")
    assert main(["list", "--registry", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"Error: {path}: model 'my_mobilenet': field 'preprocess' must be one of" in err
    assert "Traceback" not in err


def test_help_has_examples() -> None:
    for command in ("list", "info"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Examples" in result.output
        assert f"zoo {command} " in result.output
