"""The model registry: parse and validate registry.yaml into typed records; look up, filter, sort.

This module never imports TensorFlow or pandas: `zoo list` and `zoo info` run on it alone.
The file format is documented in docs/registry.md; `ModelSpec` below is its typed form.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from zoo import config
from zoo.choices import image_size_problem
from zoo.errors import RegistryError, UnknownModel

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

PREPROCESS_MODES = ("caffe", "tf", "torch", "none")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming")
VARIANTS = ("top", "notop")
FIGURE_FIELDS = ("size_mb", "top1", "top5", "params", "depth", "cpu_ms", "gpu_ms")
SOURCE_SCHEMES = ("https://", "http://", "hf://")
# Who vouches for a weight file's checksum: the weights' owner published it (Keras' own file_hash), or this
# registry pinned it from a copy of the file. A file without either is held to what its first pull saw.
CHECKSUM_PUBLISHED = "published"
CHECKSUM_PINNED = "pinned"
CHECKSUM_SOURCES = (CHECKSUM_PUBLISHED, CHECKSUM_PINNED)
WEIGHT_FIELDS = ("file", "size", "sha256", "md5", "checksum_source", "sources")

# libyaml's safe loader when present (7x faster: `zoo list` parses the registry on every call); both
# construct only plain data, never Python objects.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_MD5 = re.compile(r"^[0-9a-f]{32}$")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.\-]*$")
_HF_SOURCE = re.compile(r"^hf://[^/@\s]+/[^/@\s]+/[^@\s]+(@[^@\s]+)?$")


# ---------------------------------------------------------------------------------------------- records
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
    """One downloadable weight file of a model (variant "top": with the classifier, "notop": without)."""

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

    def figures(self, source: str = "keras.io") -> Figures | None:
        """The published figures of one source, or None when that source does not cover the model."""
        return next((f for f in self.published if f.source == source), None)

    def weight(self, variant: str) -> WeightFile:
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


# ------------------------------------------------------------------------------------------ validation
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


def is_bare_file_name(name: str) -> bool:
    """A file name that stays in its folder: no separator, no NUL, not "", "." or ".."."""
    return not any(c in name for c in "/\\\x00") and name not in ("", ".", "..")


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
        "bundle", "override",
    }  # fmt: skip
    unknown = set(raw) - known
    if unknown:
        entry.fail("", f"has unknown fields: {', '.join(sorted(unknown))}")
    arch = entry.get("arch", str, required=True)
    if arch not in KERAS_CONSTRUCTORS:
        close = difflib.get_close_matches(arch, KERAS_CONSTRUCTORS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        entry.fail("arch", f"{arch!r} is not a keras.applications constructor{hint}")
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
        preprocess=entry.choice("preprocess", PREPROCESS_MODES, "none"),
        interpolation=entry.choice("interpolation", INTERPOLATIONS, "bilinear"),
        crop_pct=crop_pct,
        num_classes=num_classes,
        params=params,
        published=published,
        weights=weights,
        bundle=entry.get("bundle", str),
        origin=origin,
    )


# -------------------------------------------------------------------------------------------- registry
class Registry:
    """An ordered, validated set of ModelSpecs with alias lookup."""

    def __init__(self, specs: Iterable[ModelSpec] = ()) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self._names: dict[str, str] = {}  # name or alias -> canonical name
        for spec in specs:
            self.add(spec)

    def add(self, spec: ModelSpec, *, override: bool = False) -> None:
        """Add a spec; a clash of names or aliases is an error unless `override` replaces the old entry."""
        if override and spec.name in self._specs:
            old = self._specs.pop(spec.name)
            for key in (old.name, *old.aliases):
                self._names.pop(key.lower(), None)
        for key in (spec.name, *spec.aliases):
            owner = self._names.get(key.lower())
            if owner is not None:
                what = "name" if key == spec.name else "alias"
                raise RegistryError(
                    f"{spec.origin}: model '{spec.name}': {what} '{key}' is already used by '{owner}'"
                    f" ({self._specs[owner].origin})",
                    hint="a user entry replaces a built-in one only with `override: true`",
                )
        self._specs[spec.name] = spec
        for key in (spec.name, *spec.aliases):
            self._names[key.lower()] = spec.name

    def __iter__(self):
        return iter(self._specs.values())

    def __len__(self) -> int:
        return len(self._specs)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._names

    def names(self) -> list[str]:
        return list(self._specs)

    def get(self, name: str) -> ModelSpec:
        """Resolve a name or alias (case-insensitive); unknown names suggest the closest match."""
        canonical = self._names.get(name.strip().lower())
        if canonical is not None:
            return self._specs[canonical]
        close = difflib.get_close_matches(name.lower(), list(self._names), n=1, cutoff=0.6)
        suggestion = f"; did you mean '{close[0]}'?" if close else ""  # the name or alias the user was near
        raise UnknownModel(
            f"unknown model '{name}'{suggestion}", hint="`zoo list` shows every registered model"
        )

    def select(
        self,
        patterns: Iterable[str] = (),
        *,
        family: str | None = None,
        tag: str | None = None,
        source: str = "keras.io",
        min_top1: float | None = None,
        max_params: float | None = None,
        max_size: float | None = None,
    ) -> list[ModelSpec]:
        """Filter by glob patterns (on names and aliases), family, tag and published figures of `source`."""
        pats = [p.lower() for p in patterns]
        out = []
        for spec in self:
            keys = [spec.name, *spec.aliases]
            if pats and not any(fnmatch.fnmatchcase(k.lower(), p) for p in pats for k in keys):
                continue
            if family and spec.family.lower() != family.lower():
                continue
            if tag and tag.lower() not in (t.lower() for t in spec.tags):
                continue
            figs = spec.figures(source)
            if min_top1 is not None:
                top1 = figs.top1_value if figs else None
                if top1 is None or top1 < (min_top1 / 100 if min_top1 > 1 else min_top1):
                    continue
            if max_params is not None and (spec.params or 0) > max_params:
                continue
            if max_size is not None:
                size = figs.size_mb_value if figs else None
                if size is None or size > max_size:
                    continue
            out.append(spec)
        return out


def builtin_registry_path() -> Path:
    return Path(str(resources.files("zoo") / "registry.yaml"))


def read_registry_file(path: Path) -> list[tuple[ModelSpec, bool]]:
    """Parse one registry file into (spec, override) pairs. Always a safe YAML loader."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise RegistryError(f"cannot read registry file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise RegistryError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        return []
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
        raise RegistryError(f"{path}: expected a top-level mapping with a 'models' mapping")
    out = []
    for name, raw in data["models"].items():
        spec = parse_entry(str(name), raw, origin=str(path))
        override = isinstance(raw, dict) and raw.get("override") is True
        out.append((spec, override))
    return out


@lru_cache(maxsize=8)
def _load(paths: tuple[tuple[str, float], ...]) -> Registry:
    registry = Registry()
    for index, (path, _mtime) in enumerate(paths):
        for spec, override in read_registry_file(Path(path)):
            # the built-in file (index 0) never overrides; user files may, when they say so
            registry.add(spec, override=override and index > 0)
    return registry


def load_registry(extra: Iterable[str | Path] = ()) -> Registry:
    """The built-in registry plus user files (ZOO_REGISTRY, ZOO_HOME/registry.d, and `extra`)."""
    files = [builtin_registry_path(), *config.user_registry_paths(), *(Path(p) for p in extra)]
    keyed = []
    for f in files:
        try:
            mtime = f.stat().st_mtime
        except OSError:
            mtime = -1.0  # read_registry_file reports the missing file
        keyed.append((str(f), mtime))
    return _load(tuple(keyed))


def get(name: str, extra: Iterable[str | Path] = ()) -> ModelSpec:
    """Shortcut: resolve one model name through the full registry."""
    return load_registry(extra).get(name)


def resolve(name_or_spec: str | ModelSpec, extra: Iterable[str | Path] = ()) -> ModelSpec:
    """A ModelSpec as-is, or a name or alias looked up (an unknown name suggests the closest one)."""
    return name_or_spec if isinstance(name_or_spec, ModelSpec) else get(name_or_spec, extra)
