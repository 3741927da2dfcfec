"""The PyTorch side of the parity tests: randomly initialised timm / transformers checkpoints in the Hub
layout, and the original library's own outputs on real photos.

Run as a SUBPROCESS, never imported by pytest: torch, timm and transformers import triton, and importing
that after TensorFlow in one process segfaults. It needs numpy, Pillow, torch, timm, transformers and
safetensors, nothing of zoo.

    python tests/support/timm_reference.py JOB.json

JOB.json: {"out": DIR, "photos": [jpg, ...], "models": [MODEL, ...]} where each MODEL is
- {"kind": "timm", "name": "resnet18.a1_in1k", "seed": 0}: timm's architecture created under its real tag
  (pretrained=False), so the saved pretrained_cfg carries that tag's mean, std, crop_pct and interpolation;
  its outputs come from timm's own preprocessing (resolve_data_config + create_transform) of the photos;
- {"kind": "transformers", "name": "vit" | "deit" | "dinov2", "seed": 0, "pixels": NPY}: a small random
  transformers model; NPY holds uint8 RGB images (N, H, W, 3) already decoded and resized by zoo.
Writes DIR/NAME/: config.json + model.safetensors (what a Hub repo serves), outputs.npz (named float32
arrays; "logits" is what zoo's model must reproduce), meta.json (params, data config, ...).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

# The real checkpoints' image processors (preprocessor_config.json of google/vit-base-patch16-224,
# facebook/deit-base-distilled-patch16-224 and facebook/dinov2-small) normalise with these.
_HALF = [0.5, 0.5, 0.5]
_IMAGENET_MEAN = [0.485, 0.456, 0.406]
_IMAGENET_STD = [0.229, 0.224, 0.225]
# Small transformers configs: enough layers and heads to exercise every converted tensor, fast on a CPU.
_SMALL = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "image_size": 224}


def randomise_norms(model: torch.nn.Module, seed: int) -> None:
    """Give every BatchNorm random running statistics and affine terms (fresh ones are the identity, which
    would hide a converter that drops or swaps them); also undoes timm's zero-init of residual branches."""
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=gen) * 0.2)
                module.running_var.copy_(torch.rand(n, generator=gen) * 1.5 + 0.5)
                if module.affine:
                    module.weight.copy_(torch.rand(n, generator=gen) + 0.5)
                    module.bias.copy_(torch.randn(n, generator=gen) * 0.2)


def param_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def timm_reference(name: str, seed: int, photos: list[str], out: Path) -> dict[str, Any]:
    import timm
    from PIL import Image
    from timm.models import _hub

    torch.manual_seed(seed)
    model = timm.create_model(name, pretrained=False).eval()
    randomise_norms(model, seed)
    _hub.save_for_hf(model, str(out), safe_serialization=True)
    data_config = timm.data.resolve_data_config({}, model=model)
    transform = timm.data.create_transform(**data_config)
    batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in photos])
    with torch.no_grad():
        logits = model(batch)
    np.savez(out / "outputs.npz", logits=logits.numpy())
    return {"data_config": data_config, "params": param_count(model), "architecture": name.split(".")[0]}


def _transformers_model(name: str) -> tuple[Any, Any, dict[str, Any]]:
    """(model, image processor, what the entry needs) for one model_type."""
    import transformers as tf

    if name == "vit":
        config = tf.ViTConfig(**_SMALL, intermediate_size=128, num_labels=10, patch_size=16)
        model = tf.ViTForImageClassification(config)
        processor = tf.ViTImageProcessor(image_mean=_HALF, image_std=_HALF)
    elif name == "deit":
        # keras-hub's DeiT converter reads the distilled checkpoint's `cls_classifier` (the class
        # DeiTForImageClassificationWithTeacher; DeiTForImageClassification names its head `classifier`).
        config = tf.DeiTConfig(**_SMALL, intermediate_size=128, num_labels=10, patch_size=16)
        model = tf.DeiTForImageClassificationWithTeacher(config)
        processor = tf.DeiTImageProcessor(image_mean=_IMAGENET_MEAN, image_std=_IMAGENET_STD)
    elif name == "dinov2":
        # keras-hub converts DINOv2's backbone only (no head), so the features are what is compared.
        config = tf.Dinov2Config(**_SMALL, mlp_ratio=2, patch_size=14, layerscale_value=0.5)
        model = tf.Dinov2Model(config)
        processor = tf.BitImageProcessor(image_mean=_IMAGENET_MEAN, image_std=_IMAGENET_STD)
    else:
        raise SystemExit(f"unknown transformers model {name!r} (vit, deit, dinov2)")
    return model.eval(), processor, {"mean": processor.image_mean, "std": processor.image_std}


def transformers_reference(name: str, seed: int, pixels: str, out: Path) -> dict[str, Any]:
    torch.manual_seed(seed)
    model, processor, meta = _transformers_model(name)
    scales = ("layernorm.weight", "norm1.weight", "norm2.weight", "lambda1")
    shifts = ("layernorm.bias", "norm1.bias", "norm2.bias", "_token", "position_embeddings")
    with torch.no_grad():  # layer-scale and norm terms start at constants: make them matter
        for key, value in model.state_dict().items():
            if key.endswith(scales):
                value.copy_(torch.rand(value.shape) + 0.5)
            elif key.endswith(shifts):
                value.copy_(torch.randn(value.shape) * 0.2)
    model.save_pretrained(out, safe_serialization=True)
    images = np.load(pixels)
    # Same pixels as zoo (zoo's decoder and resize policy made them): the processor only rescales and
    # normalises here, because its resizes (squash to 224x224, shortest edge) are not zoo's policy.
    inputs = processor(list(images), do_resize=False, do_center_crop=False, return_tensors="pt")
    with torch.no_grad():
        result = model(pixel_values=inputs["pixel_values"])
    arrays = {k: v.numpy() for k, v in result.items() if isinstance(v, torch.Tensor)}
    if name == "deit":  # keras-hub's classifier is the class-token head alone; transformers averages two
        arrays["averaged_logits"] = arrays.pop("logits")
        arrays["logits"] = arrays["cls_logits"]
    np.savez(out / "outputs.npz", **arrays)
    return meta | {"params": param_count(model), "model_type": model.config.model_type}


def main(job_file: str) -> None:
    job = json.loads(Path(job_file).read_text(encoding="utf-8"))
    torch.set_num_threads(2)
    for spec in job["models"]:
        out = Path(job["out"]) / spec["name"]
        out.mkdir(parents=True, exist_ok=True)
        if spec["kind"] == "timm":
            meta = timm_reference(spec["name"], spec.get("seed", 0), job["photos"], out)
        else:
            meta = transformers_reference(spec["name"], spec.get("seed", 0), spec["pixels"], out)
        (out / "meta.json").write_text(json.dumps(meta, indent=1, default=list), encoding="utf-8")
        print(f"{spec['name']}: {meta['params']} parameters", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
