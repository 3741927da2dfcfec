"""The registry's typed records (ModelSpec, WeightFile, Figures) and the parsers of published figure text.

Behind the face `zoo.registry`; import from there.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zoo.errors import UnknownModel

# Who vouches for a weight file's checksum: the weights' owner published it (Keras' own file_hash), or this
# registry pinned it from a copy of the file. A file without either is held to what its first pull saw.
CHECKSUM_PUBLISHED = "published"
CHECKSUM_PINNED = "pinned"
CHECKSUM_SOURCES = (CHECKSUM_PUBLISHED, CHECKSUM_PINNED)

# How an entry becomes a Keras model: a keras.applications constructor, or keras-hub's converter of a
# timm / transformers checkpoint.
LOADER_KERAS_APPLICATIONS = "keras.applications"
LOADER_KERAS_HUB = "keras-hub"
LOADERS = (LOADER_KERAS_APPLICATIONS, LOADER_KERAS_HUB)
# The source of the figures zoo's own views (`zoo list`, `zoo table`) show for an entry of each loader.
HOME_SOURCES = {LOADER_KERAS_APPLICATIONS: "keras.io", LOADER_KERAS_HUB: "timm"}


@dataclass(frozen=True)
class Figures:
    """One source's published figures, kept as the exact text the source printed ("25.6M", "74.9%")."""

    source: str  # "keras.io", "classic", "paper", ...
    label: str | None = None  # the model's row name in that source ("ResNet-50")
    url: str | None = None
    size_mb: str | None = None
    top1: str | None = None
    top5: str | None = None
    params: str | None = None
    depth: str | None = None
    cpu_ms: str | None = None
    gpu_ms: str | None = None

    @property
    def top1_value(self) -> float | None:
        return parse_accuracy(self.top1)

    @property
    def top5_value(self) -> float | None:
        return parse_accuracy(self.top5)

    @property
    def size_mb_value(self) -> float | None:
        return parse_number(self.size_mb)

    @property
    def params_value(self) -> int | None:
        return parse_count(self.params)

    @property
    def depth_value(self) -> int | None:
        value = parse_number(self.depth)
        return None if value is None else int(value)


@dataclass(frozen=True)
class WeightFile:
    """One downloadable file of a model: variant "top" (with the classifier), "notop" (without), or
    "config" (a keras-hub entry's config.json)."""

    variant: str
    file: str  # the canonical file name (also Keras' own cache name)
    size: int | None = None
    sha256: str | None = None
    md5: str | None = None
    sources: tuple[str, ...] = ()
    checksum_source: str | None = None  # CHECKSUM_SOURCES; None without a checksum

    @property
    def has_checksum(self) -> bool:
        return bool(self.sha256 or self.md5)

    @property
    def checksum_trust(self) -> str | None:
        """Who vouches for the checksum ("published" or "pinned"), None when there is none to vouch for.

        A checksum whose source nobody stated counts as pinned: only the weights' owner can publish one."""
        if not self.has_checksum:
            return None
        return self.checksum_source or CHECKSUM_PINNED


@dataclass(frozen=True)
class ModelSpec:
    """Everything the registry knows about one weight set."""

    name: str
    arch: str
    args: Mapping[str, Any] = field(default_factory=dict)
    module: str = ""
    family: str = ""
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    license: str = ""
    paper: Mapping[str, str] = field(default_factory=dict)
    input_size: int = 224
    preprocess: str = "none"
    interpolation: str = "bilinear"
    crop_pct: float = 0.875
    num_classes: int = 1000
    params: int | None = None  # exact parameter count of the full (top) model
    published: tuple[Figures, ...] = ()
    weights: Mapping[str, WeightFile] = field(default_factory=dict)
    bundle: str | None = None  # a run directory (models added by `zoo register`)
    origin: str = "built-in"  # which file defined the entry
    # keras-hub entries (loader "keras-hub"): weights converted by keras-hub from a timm or transformers
    # checkpoint (config.json + model.safetensors); `arch` is then the timm architecture / model_type.
    loader: str = LOADER_KERAS_APPLICATIONS
    layout: str | None = None  # "timm" | "transformers" for keras-hub entries
    hf_repo: str | None = None  # where the checkpoint lives on the Hugging Face Hub (informational)
    mean: tuple[float, float, float] | None = None  # preprocess "normalize": x / 255, minus mean, over std
    std: tuple[float, float, float] | None = None
    hub_config: Mapping[str, Any] = field(default_factory=dict)  # the checkpoint's config.json content

    @property
    def is_keras_hub(self) -> bool:
        return self.loader == LOADER_KERAS_HUB

    def figures(self, source: str = "keras.io") -> Figures | None:
        """The published figures of one source, or None when that source does not cover the model."""
        return next((f for f in self.published if f.source == source), None)

    def home_figures(self) -> Figures | None:
        """The figures zoo's own views show: its loader's home source (keras.io for keras.applications,
        timm for keras-hub); a keras-hub entry timm does not cover falls back to its first source."""
        home = self.figures(HOME_SOURCES[self.loader])
        if home is None and self.is_keras_hub and self.published:
            return self.published[0]
        return home

    def weight(self, variant: str) -> WeightFile:
        if variant == "notop" and self.is_keras_hub and "notop" not in self.weights:
            variant = "top"  # one safetensors file holds backbone and classifier; the loader drops the head
        try:
            return self.weights[variant]
        except KeyError:
            have = ", ".join(self.weights) or "none"
            raise UnknownModel(f"model '{self.name}' has no '{variant}' weights (it has: {have})") from None


# -------------------------------------------------------------------------------- parsing published text
def parse_accuracy(text: str | None) -> float | None:
    """'74.9%' -> 0.749; '0.759' -> 0.759; '75.6' (a percentage printed without its sign) -> 0.756."""
    value = parse_number(text)
    if value is None:
        return None
    if str(text).strip().endswith("%") or value > 1.0:
        return round(value / 100.0, 6)
    return value


def parse_number(text: str | None) -> float | None:
    """'98' -> 98.0; '99MB' -> 99.0; '1,234.5' -> 1234.5; '-' -> None."""
    if text is None:
        return None
    m = re.search(r"-?[0-9][0-9,]*(\.[0-9]+)?", str(text))
    return float(m.group(0).replace(",", "")) if m else None


def parse_count(text: str | None) -> int | None:
    """'25.6M' -> 25_600_000; '25,636,712' -> 25636712; '5.3K' -> 5300."""
    if text is None:
        return None
    s = str(text).strip().upper()
    scale = {"K": 1e3, "M": 1e6, "B": 1e9, "G": 1e9}.get(s[-1:], 1)
    value = parse_number(s)
    return None if value is None else int(round(value * scale))


def is_bare_file_name(name: str) -> bool:
    """A file name that stays in its folder: no separator, no NUL, not "", "." or ".."."""
    return not any(c in name for c in "/\\\x00") and name not in ("", ".", "..")
