"""Helpers for the hub tests: payloads, ModelSpecs pointing at loopback servers, a user registry file.

(tests/conftest.py isolates ZOO_HOME, KERAS_HOME and HF_HOME for every test.)
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import yaml

from zoo.registry import ModelSpec, WeightFile

FILE = "tiny_weights.h5"


def payload(size: int = 300_000, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def make_spec(
    data: bytes,
    sources: list[str] = (),  # type: ignore[assignment]
    *,
    checksum: str | None = "sha256",
    name: str = "tiny",
    file: str = FILE,
    variant: str = "top",
    size: int | None = -1,
) -> ModelSpec:
    """A ModelSpec with one weight file; `checksum` is "sha256", "md5" or None (nothing published)."""
    weight = WeightFile(
        variant,
        file,
        size=len(data) if size == -1 else size,
        sha256=sha256(data) if checksum == "sha256" else None,
        md5=md5(data) if checksum == "md5" else None,
        sources=tuple(sources),
    )
    return ModelSpec(name=name, arch="MobileNet", args={"alpha": 0.25}, weights={variant: weight})


def write_registry(path: Path, spec: ModelSpec) -> Path:
    """A user registry YAML holding `spec` (for the CLI, which looks models up by name)."""
    weights = {
        v: {k: val for k, val in w.__dict__.items() if k != "variant" and val is not None}
        for v, w in spec.weights.items()
    }
    for w in weights.values():
        w["sources"] = list(w.get("sources", ()))
    entry = {"arch": spec.arch, "args": dict(spec.args), "preprocess": "tf", "weights": weights}
    path.write_text(yaml.safe_dump({"models": {spec.name: entry}}), encoding="utf-8")
    return path
