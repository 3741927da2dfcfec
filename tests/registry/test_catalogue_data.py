"""The generated timm catalogue (scripts/timm_catalogue.py) as data: it parses, every shipped entry carries
timm's published figures and fetches only config.json and model.safetensors from the Hub, and the docs
count what the YAML ships."""

from __future__ import annotations

import re

import pytest
import yaml
from support import REPO

CATALOGUE = REPO / "zoo" / "catalogue"
HUB_FILES = {"config.json", "model.safetensors"}
FIGURE = re.compile(r"\d+(\.\d+)?")


@pytest.fixture(scope="module")
def shipped() -> dict[str, dict]:
    return yaml.safe_load((CATALOGUE / "timm.yaml").read_text())["models"]


@pytest.fixture(scope="module")
def unsupported() -> dict[str, dict]:
    return yaml.safe_load((CATALOGUE / "timm_unsupported.yaml").read_text())["unsupported"]


def test_every_shipped_entry_has_timm_figures_with_the_eval_size(shipped: dict[str, dict]) -> None:
    assert shipped
    for tag, entry in shipped.items():
        timm_rows = [row for row in entry["published"] if row["source"] == "timm"]
        assert timm_rows, tag
        for row in timm_rows:
            for key in ("top1", "top5"):
                assert isinstance(row[key], str) and FIGURE.fullmatch(row[key]), (tag, key, row[key])
            assert re.fullmatch(r"\d+(\.\d+)?M", row["params"]), (tag, row["params"])
            assert re.fullmatch(re.escape(tag) + r" @ \d+px", row["label"]), (tag, row["label"])


def test_entries_name_their_files_by_tag_and_fetch_only_config_and_safetensors(
    shipped: dict[str, dict],
) -> None:
    for tag, entry in shipped.items():
        weights = entry["weights"]
        assert set(weights) == {"top", "config"}, tag
        assert weights["top"]["file"] == f"{tag}.safetensors"
        assert weights["config"]["file"] == f"{tag}.config.json"
        for variant, hub_file in (("top", "model.safetensors"), ("config", "config.json")):
            for source in weights[variant]["sources"]:
                assert source.startswith("hf://") and source.rsplit("/", 1)[-1] == hub_file, (tag, source)
                assert source.rsplit("/", 1)[-1] in HUB_FILES


def test_entries_describe_the_keras_hub_build(shipped: dict[str, dict]) -> None:
    for tag, entry in shipped.items():
        assert (entry["loader"], entry["layout"], entry["num_classes"]) == ("keras-hub", "timm", 1000), tag
        assert entry["hub_config"]["architecture"] == entry["arch"] == tag.split(".")[0]
        assert entry["hub_config"]["pretrained_cfg"]["input_size"][-1] == entry["input_size"]
        assert isinstance(entry["params"], int) and entry["params"] > 0


def test_no_tag_is_both_shipped_and_unsupported(shipped: dict[str, dict], unsupported: dict) -> None:
    assert not set(shipped) & set(unsupported)
    for tag, why in unsupported.items():
        assert why["family"] and why["reason"] and "\n" not in why["reason"], tag


def test_the_docs_count_what_the_catalogue_ships(shipped: dict[str, dict], unsupported: dict) -> None:
    text = (REPO / "docs" / "catalogue.md").read_text()
    counted = re.search(r"^(\d+) timm tags ship\b", text, re.MULTILINE)
    assert counted and int(counted.group(1)) == len(shipped)
    assert f"{len(unsupported)} tags of that file do not ship" in text
