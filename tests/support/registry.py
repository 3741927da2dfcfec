"""Registry helpers: user registry files, entries for the real fixture, and (for the hub tests) weight
payloads with ModelSpecs pointing at loopback servers.

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
    checksum_source: str = "published",
    name: str = "tiny",
    file: str = FILE,
    variant: str = "top",
    size: int | None = -1,
) -> ModelSpec:
    """A ModelSpec with one weight file; `checksum` is "sha256", "md5" or None (none in the registry),
    vouched for by `checksum_source` ("published" by the weights' owner or "pinned" by the registry)."""
    weight = WeightFile(
        variant,
        file,
        size=len(data) if size == -1 else size,
        sha256=sha256(data) if checksum == "sha256" else None,
        md5=md5(data) if checksum == "md5" else None,
        sources=tuple(sources),
        checksum_source=checksum_source if checksum else None,
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
    return write_models(path, {spec.name: entry})


def write_models(path: Path, models: dict[str, dict]) -> Path:
    """A registry YAML file holding `models` (name -> entry, spelled as in registry.yaml)."""
    path.write_text(yaml.safe_dump({"models": models}, sort_keys=False), encoding="utf-8")
    return path


def fixture_entry(weights: Path, *, pinned: bool = False, **fields: object) -> dict:
    """A user entry for the real MobileNet (alpha 0.25, 224, no top) fixture file `weights`, overriding the
    built-in one; `pinned` records the file's size and sha256; `fields` add to or replace the defaults."""
    notop: dict[str, object] = {"file": weights.name}
    if pinned:
        notop |= {"size": weights.stat().st_size, "sha256": sha256(weights.read_bytes())}
    entry = {
        "override": True, "arch": "MobileNet", "args": {"alpha": 0.25}, "module": "mobilenet",
        "input_size": 224, "preprocess": "tf", "crop_pct": 0.875, "weights": {"notop": notop},
    }  # fmt: skip
    return entry | fields
