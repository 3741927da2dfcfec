"""What timm publishes: the results csv rows, each tag's pretrained_cfg, and the keras-hub family of an
architecture. No TensorFlow here."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import timm

# keras-hub's TimmPresetLoader picks a converter by architecture prefix, in this order
CONVERTER_PREFIXES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("resnet",), "resnet"),
    (("csp", "dark"), "cspnet"),
    (("densenet",), "densenet"),
    (("mobilenetv5",), "mobilenetv5"),
    (("mobilenet",), "mobilenet"),
    (("vgg",), "vgg"),
    (("efficientnet",), "efficientnet"),
    (("hgnetv2",), "hgnetv2"),
)
HF_CONFIG = "config.json"
HF_WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class Result:
    """One row of results-imagenet.csv: a tag evaluated at one image size."""

    tag: str
    img_size: int
    top1: str
    top5: str
    param_count: str  # millions, as printed (commas removed)

    @property
    def architecture(self) -> str:
        return self.tag.split(".", 1)[0]


def read_results(path: Path) -> list[Result]:
    with path.open(newline="") as handle:
        return [
            Result(
                row["model"],
                int(row["img_size"]),
                row["top1"],
                row["top5"],
                row["param_count"].replace(",", ""),
            )
            for row in csv.DictReader(handle)
        ]


def converter_family(architecture: str) -> str | None:
    """The keras-hub converter that would take the architecture, or None when keras-hub has none."""
    for prefixes, family in CONVERTER_PREFIXES:
        if architecture.startswith(prefixes):
            return family
    return None


def timm_family(architecture: str) -> str:
    """A family name for architectures keras-hub cannot take: timm's own module name (e.g. convnext)."""
    module = timm.models._registry._model_to_module.get(architecture)
    if module:
        return str(module)
    match = re.match(r"[a-z]+", architecture)
    return match.group(0) if match else architecture


def pretrained_cfg(tag: str) -> dict | None:
    try:
        cfg = timm.models.get_pretrained_cfg(tag, allow_unregistered=False)
    except RuntimeError:  # timm raises for a tag it no longer knows
        return None
    return None if cfg is None else cfg.to_dict()


def params_match(exact: int, printed_millions: str) -> bool:
    """True when `exact` rounds to the csv's figure at the decimals it was printed with."""
    printed = Decimal(printed_millions)
    half_step = Decimal(1).scaleb(printed.as_tuple().exponent) / 2
    return abs(Decimal(exact) / Decimal(1_000_000) - printed) <= half_step


def paper(cfg: dict) -> dict[str, str] | None:
    ids = cfg.get("paper_ids") or ()
    ids = [ids] if isinstance(ids, str) else list(ids)
    for paper_id in ids:
        match = re.fullmatch(r"arXiv:(\S+)", str(paper_id).strip())
        if match:
            title = cfg.get("paper_name") or str(paper_id)
            return {"title": str(title), "url": f"https://arxiv.org/abs/{match.group(1)}"}
    return None
