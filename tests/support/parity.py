"""Parity with the original library: references made by tests/support/timm_reference.py (in a subprocess,
because torch/timm/transformers after TensorFlow in one process segfaults), registry entries for them,
and the figure of merit.

A Reference is one folder the subprocess wrote: config.json + model.safetensors (served as a Hub repo by
HfServer), outputs.npz (the original's own outputs on the photos) and meta.json (parameter count, data
config). Nothing here imports torch, TensorFlow or keras.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from zoo.data.decode import ResizePolicy, decode_batch
from zoo.registry import TIMM_FAMILIES

SCRIPT = Path(__file__).with_name("timm_reference.py")
LIBRARIES = ("torch", "timm", "transformers", "safetensors")
BOUND = 1e-4  # max |zoo - original| over max |original|

# The resize policy of each transformers entry (the original image processors squash to 224x224 or resize
# the shorter side to 256 with their own filters, which zoo's timm-style policy does not reproduce, so both
# sides get zoo's pixels; the normalisation is each processor's own).
TRANSFORMERS_POLICY: dict[str, ResizePolicy] = {
    "vit": ResizePolicy(224, "bilinear", 1.0),
    "deit": ResizePolicy(224, "bicubic", 0.875),
    "dinov2": ResizePolicy(224, "bicubic", 0.875),
}


def missing_libraries() -> str | None:
    """Why the references cannot be made here (found without importing torch into this process)."""
    missing = [name for name in LIBRARIES if importlib.util.find_spec(name) is None]
    return f"parity needs {', '.join(missing)} (test dependencies)" if missing else None


@dataclass(frozen=True)
class Reference:
    name: str  # the timm tag, or the transformers model_type
    layout: str  # "timm" | "transformers"
    folder: Path
    photos: tuple[Path, ...]

    @property
    def repo(self) -> str:
        return f"parity/{self.name}"

    @cached_property
    def config(self) -> dict[str, Any]:
        return json.loads((self.folder / "config.json").read_text(encoding="utf-8"))

    @cached_property
    def meta(self) -> dict[str, Any]:
        return json.loads((self.folder / "meta.json").read_text(encoding="utf-8"))

    def output(self, key: str = "logits") -> np.ndarray:
        with np.load(self.folder / "outputs.npz") as arrays:
            return arrays[key]

    def hub_files(self) -> dict[tuple[str, str], bytes]:
        """What HfServer serves for this checkpoint's repository."""
        return {(self.repo, f): (self.folder / f).read_bytes() for f in ("config.json", "model.safetensors")}

    @property
    def arch(self) -> str:
        return self.config["architecture"] if self.layout == "timm" else self.config["model_type"]

    @property
    def family(self) -> str:
        if self.layout == "transformers":
            return self.arch
        return next(family for family, prefixes in TIMM_FAMILIES.items() if self.arch.startswith(prefixes))

    def policy_fields(self) -> dict[str, Any]:
        """input_size, interpolation, crop_pct, mean and std: from the saved pretrained_cfg (timm), or the
        policy and the image processor's normalisation (transformers)."""
        if self.layout == "timm":
            cfg = self.config["pretrained_cfg"]
            height, width = cfg["input_size"][1:]
            assert height == width, f"{self.name}: a square input is assumed, got {cfg['input_size']}"
            return {"input_size": height, "interpolation": cfg["interpolation"], "crop_pct": cfg["crop_pct"],
                    "mean": list(cfg["mean"]), "std": list(cfg["std"])}  # fmt: skip
        policy = TRANSFORMERS_POLICY[self.name]
        return {"input_size": policy.height, "interpolation": policy.interpolation,
                "crop_pct": policy.crop_pct, "mean": self.meta["mean"], "std": self.meta["std"]}  # fmt: skip

    def entry(self, **overrides: Any) -> dict[str, Any]:
        """A user registry entry (loader keras-hub) fetching this checkpoint from hf://parity/NAME."""
        num_classes = self.config.get("num_classes") or len(self.config.get("id2label") or {}) or 1000
        entry = {
            "loader": "keras-hub", "layout": self.layout, "arch": self.arch,
            "family": self.family, "hf_repo": self.repo, "tags": ["parity"],
            "preprocess": "normalize", **self.policy_fields(), "num_classes": num_classes,
            "params": self.meta["params"], "hub_config": self.config,
            "weights": {
                "top": {"file": f"{self.name}.safetensors", "sources": [f"hf://{self.repo}/model.safetensors"]},
                "config": {"file": f"{self.name}.config.json", "sources": [f"hf://{self.repo}/config.json"]},
            },
        }  # fmt: skip
        return entry | overrides


def make_references(
    out: Path, photos: Sequence[Path], timm_tags: Iterable[str] = (), transformers: Iterable[str] = ()
) -> dict[str, Reference]:
    """Every reference in ONE subprocess (importing torch takes seconds), keyed by name."""
    models: list[dict[str, Any]] = [{"kind": "timm", "name": t, "seed": i} for i, t in enumerate(timm_tags)]
    for i, model_type in enumerate(transformers):
        # zoo's decoder and policy make the transformers side's pixels (see TRANSFORMERS_POLICY)
        pixels = out / f"{model_type}.pixels.npy"
        decoded = decode_batch(photos, TRANSFORMERS_POLICY[model_type], on_bad_image="fail")
        np.save(pixels, decoded.images)
        models.append({"kind": "transformers", "name": model_type, "seed": 100 + i, "pixels": str(pixels)})
    job = out / "job.json"
    job.write_text(json.dumps({"out": str(out), "photos": [str(p) for p in photos], "models": models}))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, str(SCRIPT), str(job)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, f"the reference subprocess failed:\n{done.stderr[-3000:]}"
    layouts = {m["name"]: m["kind"] for m in models}
    return {name: Reference(name, layout, out / name, tuple(photos)) for name, layout in layouts.items()}


def relative_error(got: np.ndarray, want: np.ndarray) -> float:
    """max |got - want| / max |want| (the logits' own scale), or inf when the shapes differ."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return float("inf")
    return float(np.abs(got - want).max() / np.abs(want).max())
