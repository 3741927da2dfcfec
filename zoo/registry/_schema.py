"""The registry schema: what an entry may contain, and the validation of one raw entry into a ModelSpec.

Behind the face `zoo.registry`; import from there. Every problem is a RegistryError naming the file, the
entry and the field (docs/registry.md).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

from zoo.choices import image_size_problem
from zoo.errors import RegistryError
from zoo.registry import _hub_schema as hub
from zoo.registry._records import (
    CHECKSUM_PINNED,
    CHECKSUM_SOURCES,
    LOADER_KERAS_APPLICATIONS,
    LOADER_KERAS_HUB,
    LOADERS,
    Figures,
    ModelSpec,
    WeightFile,
    is_bare_file_name,
    parse_accuracy,
    parse_count,
    parse_number,
)

# keras.applications constructors a registry entry may name. A registry file can only pick one of these:
# it can never make zoo import or run anything else. tests/test_registry.py checks this list against keras.
KERAS_CONSTRUCTORS: frozenset[str] = frozenset(
    {
        "Xception", "VGG16", "VGG19",
        "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2",
        "InceptionV3", "InceptionResNetV2",
        "MobileNet", "MobileNetV2", "MobileNetV3Small", "MobileNetV3Large",
        "DenseNet121", "DenseNet169", "DenseNet201",
        "NASNetMobile", "NASNetLarge",
        "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
        "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
        "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
        "EfficientNetV2S", "EfficientNetV2M", "EfficientNetV2L",
        "ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge",
    }
)  # fmt: skip

# keras.applications submodules that hold each family's preprocess_input / decode_predictions.
KERAS_MODULES: frozenset[str] = frozenset(
    {
        "xception", "vgg16", "vgg19", "resnet", "resnet_v2", "inception_v3", "inception_resnet_v2",
        "mobilenet", "mobilenet_v2", "mobilenet_v3", "densenet", "nasnet", "efficientnet",
        "efficientnet_v2", "convnext",
    }
)  # fmt: skip

# Keyword arguments an entry may pass to its constructor (plain values only; the engine adds include_top,
# weights, pooling and classes itself).
CONSTRUCTOR_ARGS: frozenset[str] = frozenset(
    {"alpha", "depth_multiplier", "dropout", "input_shape", "minimalistic", "include_preprocessing"}
)

PREPROCESS_MODES = ("caffe", "tf", "torch", "normalize", "none")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
VARIANTS = ("top", "notop", "config")
FIGURE_FIELDS = ("size_mb", "top1", "top5", "params", "depth", "cpu_ms", "gpu_ms")
SOURCE_SCHEMES = ("https://", "http://", "hf://")
WEIGHT_FIELDS = ("file", "size", "sha256", "md5", "checksum_source", "sources")

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
_HF_REPO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_HF_SOURCE = re.compile(r"^hf://[^/@\s]+/[^/@\s]+/[^@\s]+(@[^@\s]+)?$")


class _Entry:
    """Reads one raw entry, raising RegistryError that names the entry, the field and the file."""

    def __init__(self, name: str, raw: Any, origin: str) -> None:
        self.name, self.raw, self.origin = name, raw, origin
        if not isinstance(raw, dict):
            self.fail("", f"must be a mapping, got {type(raw).__name__}")

    def fail(self, key: str, problem: str) -> None:
        where = f"field '{key}' " if key else ""
        raise RegistryError(f"{self.origin}: model '{self.name}': {where}{problem}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, *, required: bool = False):
        if key not in self.raw or self.raw[key] is None:
            if required:
                self.fail(key, "is missing")
            return default
        value = self.raw[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
            want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(key, f"must be {want}, got {type(value).__name__} {value!r}")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        values = self.get(key, list, [])
        for v in values:
            if not isinstance(v, str):
                self.fail(key, f"must be a list of strings, got {v!r}")
        return tuple(values)

    def choice(self, key: str, choices: Iterable[str], default: str | None = None) -> str:
        value = self.get(key, str, default, required=default is None)
        if value not in choices:
            self.fail(key, f"must be one of {', '.join(choices)}; got {value!r}")
        return value


def _parse_figures(entry: _Entry, raw: Any, index: int) -> Figures:
    key = f"published[{index}]"
    if not isinstance(raw, dict):
        entry.fail(key, "must be a mapping")
    source = raw.get("source")
    if not isinstance(source, str) or not source:
        entry.fail(f"{key}.source", "is missing")
    unknown = set(raw) - {"source", "label", "url", *FIGURE_FIELDS}
    if unknown:
        entry.fail(key, f"has unknown keys: {', '.join(sorted(unknown))}")
    values: dict[str, str | None] = {}
    for name in ("label", "url", *FIGURE_FIELDS):
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            # Figures keep the exact published text: 0.790 as a YAML number would become "0.79".
            entry.fail(f"{key}.{name}", f"must be a quoted string exactly as published, got {value!r}")
        values[name] = value
    for name, parse in _FIGURE_PARSERS.items():
        text = values[name]
        if text is not None and text.strip() != "-" and parse(text) is None:
            entry.fail(f"{key}.{name}", f"{text!r} is not a number as published")
    return Figures(source=source, **values)


_FIGURE_PARSERS = {
    "size_mb": parse_number,
    "top1": parse_accuracy,
    "top5": parse_accuracy,
    "params": parse_count,
    "depth": parse_number,
    "cpu_ms": parse_number,
    "gpu_ms": parse_number,
}


def _parse_aliases(entry: _Entry) -> tuple[str, ...]:
    aliases = entry.strings("aliases")
    for alias in aliases:
        if not _NAME.match(alias):
            entry.fail("aliases", f"{alias!r} must be lowercase letters, digits, '_', '-' or '.'")
    return aliases


def _parse_args(entry: _Entry, input_size: int) -> dict[str, Any]:
    """Constructor arguments: known names, plain values, and an input_shape that agrees with input_size."""
    args = entry.get("args", dict, {})
    for name, value in args.items():
        if name not in CONSTRUCTOR_ARGS:
            entry.fail(f"args.{name}", f"is not allowed (allowed: {', '.join(sorted(CONSTRUCTOR_ARGS))})")
        plain = isinstance(value, (int, float, bool, str))
        shape = isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        if not (plain or shape):
            entry.fail(f"args.{name}", f"must be a number, string, boolean or list of ints, got {value!r}")
    shape = args.get("input_shape")
    want = [input_size, input_size, 3]
    if shape is not None and shape != want:
        entry.fail("args.input_shape", f"must be {want} to match input_size, got {shape!r}")
    return dict(args)


def _parse_weight(entry: _Entry, variant: str, raw: Any) -> WeightFile:
    key = f"weights.{variant}"
    if variant not in VARIANTS:
        entry.fail("weights", f"unknown variant {variant!r} (expected {', '.join(VARIANTS)})")
    if not isinstance(raw, dict):
        entry.fail(key, "must be a mapping")
    unknown = set(raw) - set(WEIGHT_FIELDS)
    if unknown:
        entry.fail(key, f"has unknown keys: {', '.join(sorted(map(str, unknown)))}")
    sub = _Entry(entry.name, raw, entry.origin)
    sub.fail = lambda k, problem: entry.fail(f"{key}.{k}" if k else key, problem)  # type: ignore[method-assign]
    file = sub.get("file", str, required=True)
    if not is_bare_file_name(file):
        sub.fail("file", f"must be a bare file name, got {file!r}")
    size = sub.get("size", int)
    if size is not None and size <= 0:
        sub.fail("size", f"must be positive, got {size}")
    sha256 = sub.get("sha256", str)
    if sha256 is not None and not _SHA256.match(sha256):
        sub.fail("sha256", f"must be 64 lowercase hex digits, got {sha256!r}")
    md5 = sub.get("md5", str)
    if md5 is not None and not _MD5.match(md5):
        sub.fail("md5", f"must be 32 lowercase hex digits, got {md5!r}")
    checksum_source = _parse_checksum_source(sub, has_checksum=bool(sha256 or md5))
    sources = sub.strings("sources")
    for src in sources:
        if not src.startswith(SOURCE_SCHEMES):
            sub.fail("sources", f"{src!r} is not an https://, http:// or hf:// URL")
        if src.startswith("hf://") and not _HF_SOURCE.match(src):
            sub.fail("sources", f"{src!r} must look like hf://org/repo/path/to/file[@revision]")
    return WeightFile(variant, file, size, sha256, md5, sources, checksum_source)


def _parse_checksum_source(sub: _Entry, *, has_checksum: bool) -> str | None:
    """Who vouches for the entry's checksum; unstated means pinned (only the owner can publish one)."""
    value = sub.get("checksum_source", str)
    if value is None:
        return CHECKSUM_PINNED if has_checksum else None
    if value not in CHECKSUM_SOURCES:
        sub.fail("checksum_source", f"must be one of {', '.join(CHECKSUM_SOURCES)}; got {value!r}")
    if not has_checksum:
        sub.fail("checksum_source", "names who vouches for a checksum, but the entry gives no sha256 or md5")
    return value


def parse_entry(name: str, raw: Any, origin: str = "registry") -> ModelSpec:
    """Validate one raw entry into a ModelSpec."""
    entry = _Entry(name, raw, origin)
    if not _NAME.match(name):
        entry.fail("", "name must be lowercase letters, digits, '_', '-' or '.'")
    known = {
        "arch", "args", "module", "family", "aliases", "tags", "license", "paper", "input_size",
        "preprocess", "interpolation", "crop_pct", "num_classes", "params", "published", "weights",
        "bundle", "override", *_HUB_FIELDS, "loader",
    }  # fmt: skip
    unknown = set(raw) - known
    if unknown:
        entry.fail("", f"has unknown fields: {', '.join(sorted(unknown))}")
    loader = entry.choice("loader", LOADERS, LOADER_KERAS_APPLICATIONS)
    arch = entry.get("arch", str, required=True)
    if loader == LOADER_KERAS_APPLICATIONS:
        _check_keras_arch(entry, arch)
    module = entry.get("module", str, "")
    if module and module not in KERAS_MODULES:
        entry.fail("module", f"{module!r} is not a keras.applications module")
    paper = entry.get("paper", (dict, str), {})
    if isinstance(paper, str):
        paper = {"url": paper}
    input_size = entry.get("input_size", int, 224)
    if problem := image_size_problem(input_size):
        entry.fail("input_size", problem)
    crop_pct = entry.get("crop_pct", float, 0.875)
    if not 0.0 < crop_pct <= 1.0:
        entry.fail("crop_pct", f"must be in (0, 1], got {crop_pct}")
    num_classes = entry.get("num_classes", int, 1000)
    if num_classes < 1:
        entry.fail("num_classes", f"must be at least 1, got {num_classes}")
    params = entry.get("params", int)
    published = tuple(_parse_figures(entry, f, i) for i, f in enumerate(entry.get("published", list, [])))
    sources = [f.source for f in published]
    for src in sources:
        if sources.count(src) > 1:
            entry.fail("published", f"source {src!r} appears more than once")
    entry.get("override", bool, False)
    weights_raw = entry.get("weights", dict, {})
    weights = {variant: _parse_weight(entry, variant, w) for variant, w in weights_raw.items()}
    preprocess = entry.choice("preprocess", PREPROCESS_MODES, "none")
    hub_fields = (
        _parse_hub_fields(entry, arch, num_classes, preprocess, weights)
        if loader == LOADER_KERAS_HUB
        else _refuse_hub_fields(entry, preprocess, weights)
    )
    return ModelSpec(
        name=name,
        arch=arch,
        args=_parse_args(entry, input_size),
        module=module,
        family=entry.get("family", str, ""),
        aliases=_parse_aliases(entry),
        tags=entry.strings("tags"),
        license=entry.get("license", str, ""),
        paper=dict(paper),
        input_size=input_size,
        preprocess=preprocess,
        interpolation=entry.choice("interpolation", INTERPOLATIONS, "bilinear"),
        crop_pct=crop_pct,
        num_classes=num_classes,
        params=params,
        published=published,
        weights=weights,
        bundle=entry.get("bundle", str),
        origin=origin,
        loader=loader,
        **hub_fields,
    )


def _check_keras_arch(entry: _Entry, arch: str) -> None:
    if arch not in KERAS_CONSTRUCTORS:
        close = difflib.get_close_matches(arch, KERAS_CONSTRUCTORS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        entry.fail("arch", f"{arch!r} is not a keras.applications constructor{hint}")


_HUB_FIELDS = ("layout", "hf_repo", "mean", "std", "hub_config")


def _parse_hub_fields(
    entry: _Entry, arch: str, num_classes: int, preprocess: str, weights: dict[str, WeightFile]
) -> dict[str, Any]:
    """The fields of a keras-hub entry (see _hub_schema): the checkpoint, its layout and its normalisation."""
    layout = entry.choice("layout", hub.LAYOUTS)
    hub.check_arch(entry, layout, arch)
    if preprocess != "normalize":
        entry.fail("preprocess", f"must be 'normalize' (by mean and std) here, not {preprocess!r}")
    for variant, weight in weights.items():
        hub.check_weight_file(entry, variant, weight.file, weight.sources)
    hub.check_hub_weights(entry, list(weights))
    hf_repo = entry.get("hf_repo", str)
    if hf_repo is not None and not _HF_REPO.match(hf_repo):
        entry.fail("hf_repo", f"must look like org/name, got {hf_repo!r}")
    return {
        "layout": layout,
        "hf_repo": hf_repo,
        "mean": hub.parse_mean_std(entry, "mean", entry.get("mean", list, required=True)),
        "std": hub.parse_mean_std(entry, "std", entry.get("std", list, required=True)),
        "hub_config": hub.check_hub_config(
            entry, layout, arch, num_classes, entry.get("hub_config", dict, {})
        ),
    }


def _refuse_hub_fields(entry: _Entry, preprocess: str, weights: dict[str, WeightFile]) -> dict[str, Any]:
    for key in _HUB_FIELDS:
        if key in entry.raw:
            entry.fail(key, "belongs to a keras-hub entry (`loader: keras-hub`)")
    if preprocess == "normalize":
        entry.fail("preprocess", "'normalize' (with mean and std) belongs to a keras-hub entry")
    if "config" in weights:
        entry.fail("weights", "a keras.applications entry has 'top' and 'notop' files, not 'config'")
    return {}
