"""A small timm catalogue for tests: keras-hub entries written as scripts/timm_catalogue.py writes them
(docs/registry.md), in a temporary zoo/catalogue/ stand-in that the registry reads as built-in.

`use_catalogue(monkeypatch, directory, models, unsupported)` writes timm.yaml and timm_unsupported.yaml and
points zoo.registry.catalogue_dir() at them for the rest of the test (in this process: the CLI through
`invoke` or `zoo_main`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

RESULTS_CSV = "https://github.com/huggingface/pytorch-image-models/blob/0000000/results/results-imagenet.csv"
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def timm_entry(
    tag: str,
    *,
    family: str,
    params: int,
    top1: str,
    top5: str,
    eval_size: int = 224,
    input_size: int = 224,
    interpolation: str = "bicubic",
    crop_pct: float = 0.95,
) -> dict:
    """One keras-hub entry of layout timm for `tag` ("<arch>.<pretrained tag>")."""
    arch, pretrained = tag.split(".", 1)
    cfg = {
        "tag": pretrained, "input_size": [3, input_size, input_size], "interpolation": interpolation,
        "crop_pct": crop_pct, "mean": IMAGENET_MEAN, "std": IMAGENET_STD, "num_classes": 1000,
    }  # fmt: skip
    return {
        "loader": "keras-hub", "layout": "timm", "arch": arch, "hf_repo": f"timm/{tag}", "family": family,
        "tags": ["imagenet", "timm"], "license": "apache-2.0", "input_size": input_size,
        "preprocess": "normalize", "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
        "interpolation": interpolation, "crop_pct": crop_pct, "num_classes": 1000, "params": params,
        "hub_config": {"architecture": arch, "num_classes": 1000, "pretrained_cfg": cfg},
        "published": [{
            "source": "timm", "label": f"{tag} @ {eval_size}px", "url": RESULTS_CSV,
            "top1": top1, "top5": top5, "params": f"{params / 1e6:.2f}M",
        }],
        "weights": {
            "top": {"file": f"{tag}.safetensors", "sources": [f"hf://timm/{tag}/model.safetensors"]},
            "config": {"file": f"{tag}.config.json", "sources": [f"hf://timm/{tag}/config.json"]},
        },
    }  # fmt: skip


# Figures from timm's results-imagenet.csv (the eval size is the csv's img_size).
MODELS = {
    tag: timm_entry(tag, family=family, params=params, top1=top1, top5=top5, eval_size=eval_size, **cfg)
    for tag, family, params, top1, top5, eval_size, cfg in (
        ("resnet50.a1_in1k", "resnet", 25_557_032, "81.214", "95.486", 288, {}),
        ("resnet18.a1_in1k", "resnet", 11_689_512, "73.158", "91.030", 288, {}),
        ("efficientnet_b0.ra_in1k", "efficientnet", 5_288_548, "78.584", "94.118", 256, {"crop_pct": 0.875}),
        ("efficientnet_b1.ft_in1k", "efficientnet", 7_794_184, "80.418", "95.204", 288,
         {"input_size": 240, "crop_pct": 0.882}),
    )
}  # fmt: skip
UNSUPPORTED = {
    "convnext_tiny.fb_in1k": {"family": "convnext", "reason": "keras-hub has no timm converter for ConvNeXt"},
    "resnet50d.a1_in1k": {
        "family": "resnet",
        "reason": "keras-hub's conversion of the 'd' stem disagrees with timm's forward (docs/catalogue.md)",
    },
}


def use_catalogue(
    monkeypatch: pytest.MonkeyPatch,
    directory: Path,
    models: dict[str, dict] = MODELS,
    unsupported: dict[str, dict] = UNSUPPORTED,
) -> Path:
    """Write a timm catalogue into `directory` and make the registry read it instead of zoo/catalogue/."""
    import zoo.registry

    directory.mkdir(parents=True, exist_ok=True)
    (directory / "timm.yaml").write_text(yaml.safe_dump({"models": models}, sort_keys=False), "utf-8")
    (directory / "timm_unsupported.yaml").write_text(yaml.safe_dump({"unsupported": unsupported}), "utf-8")
    monkeypatch.setattr(zoo.registry, "catalogue_dir", lambda: directory)
    return directory
