"""The model registry: parse and validate registry.yaml into typed records; look up, filter, sort.

This module never imports TensorFlow or pandas: `zoo list` and `zoo info` run on it alone.
The file format is documented in docs/registry.md; `ModelSpec` is its typed form. The records live in
_records.py and the schema and its validation in _schema.py, both re-exported here.
"""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Iterable
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from zoo import config
from zoo.errors import RegistryError, UnknownModel, UnsupportedModel
from zoo.registry._hub_schema import LAYOUTS, TIMM_FAMILIES, TRANSFORMERS_MODEL_TYPES, supported_families
from zoo.registry._records import (
    CHECKSUM_PINNED,
    CHECKSUM_PUBLISHED,
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
from zoo.registry._schema import (
    CONSTRUCTOR_ARGS,
    FIGURE_FIELDS,
    INTERPOLATIONS,
    KERAS_CONSTRUCTORS,
    KERAS_MODULES,
    PREPROCESS_MODES,
    SOURCE_SCHEMES,
    VARIANTS,
    WEIGHT_FIELDS,
    parse_entry,
)

__all__ = [
    "CHECKSUM_PINNED", "CHECKSUM_PUBLISHED", "CHECKSUM_SOURCES", "CONSTRUCTOR_ARGS", "FIGURE_FIELDS",
    "INTERPOLATIONS", "KERAS_CONSTRUCTORS", "KERAS_MODULES", "PREPROCESS_MODES", "SOURCE_SCHEMES", "VARIANTS",
    "WEIGHT_FIELDS", "Figures", "ModelSpec", "Registry", "WeightFile", "builtin_registry_path", "get",
    "is_bare_file_name", "load_registry", "parse_accuracy", "parse_count", "parse_entry", "parse_number",
    "read_registry_file", "resolve", "LAYOUTS", "TIMM_FAMILIES", "TRANSFORMERS_MODEL_TYPES", "LOADERS",
    "LOADER_KERAS_APPLICATIONS", "LOADER_KERAS_HUB", "builtin_registry_paths", "supported_families",
    "unsupported_reason", "catalogue_dir",
]  # fmt: skip

# libyaml's safe loader when present (7x faster: `zoo list` parses the registry on every call); both
# construct only plain data, never Python objects.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


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
        if (why := unsupported_reason(name.strip())) is not None:
            raise UnsupportedModel(f"{name.strip()} is not in zoo's catalogue: {why}", hint=_SUPPORTED_HINT)
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
        source: str | None = "keras.io",
        min_top1: float | None = None,
        max_params: float | None = None,
        max_size: float | None = None,
    ) -> list[ModelSpec]:
        """Filter by glob patterns (on names and aliases), family, tag and published figures of `source`
        (None: each entry's own, ModelSpec.home_figures)."""
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
            figs = spec.figures(source) if source is not None else spec.home_figures()
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


def catalogue_dir() -> Path:
    """zoo/catalogue/: the generated catalogues. One function, so a test can point zoo at its own."""
    return Path(str(resources.files("zoo") / "catalogue"))


def builtin_registry_paths() -> list[Path]:
    """registry.yaml (keras.applications, kept by hand), then the generated catalogues (zoo/catalogue/)."""
    catalogue = catalogue_dir()
    return [builtin_registry_path(), *sorted(p for p in catalogue.glob("*.yaml") if p.stem in _CATALOGUES)]


_CATALOGUES = ("timm",)  # zoo/catalogue/<name>.yaml holds models; <name>_unsupported.yaml what was left out
_SUPPORTED_HINT = (
    "zoo's timm catalogue holds the families " + ", ".join(TIMM_FAMILIES)
    + " (`zoo list --source timm`); docs/catalogue.md lists every tag left out, and why"
)  # fmt: skip


@lru_cache(maxsize=2)
def _unsupported(directory: Path) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name in _CATALOGUES:
        path = directory / f"{name}_unsupported.yaml"
        if path.is_file():
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER) or {}
            out.update(data.get("unsupported") or {})
    return out


def unsupported_reason(name: str) -> str | None:
    """Why a known weight set (a timm tag) is not in the catalogue, or None when zoo has never heard of it."""
    unsupported = _unsupported(catalogue_dir())
    found = unsupported.get(name) or unsupported.get(name.lower())
    if not isinstance(found, dict):
        return None
    return f"the {found.get('family', '?')} family: {found.get('reason', 'not converted')}"


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
def _load(paths: tuple[tuple[str, float], ...], builtin_count: int = 1) -> Registry:
    registry = Registry()
    for index, (path, _mtime) in enumerate(paths):
        for spec, override in read_registry_file(Path(path)):
            # built-in files never override; user files may, when they say so
            registry.add(spec, override=override and index >= builtin_count)
    return registry


def load_registry(extra: Iterable[str | Path] = ()) -> Registry:
    """The built-in registry plus user files (ZOO_REGISTRY, ZOO_HOME/registry.d, and `extra`)."""
    files = [*builtin_registry_paths(), *config.user_registry_paths(), *(Path(p) for p in extra)]
    keyed = []
    for f in files:
        try:
            mtime = f.stat().st_mtime
        except OSError:
            mtime = -1.0  # read_registry_file reports the missing file
        keyed.append((str(f), mtime))
    return _load(tuple(keyed), len(builtin_registry_paths()))


def get(name: str, extra: Iterable[str | Path] = ()) -> ModelSpec:
    """Shortcut: resolve one model name through the full registry."""
    return load_registry(extra).get(name)


def resolve(name_or_spec: str | ModelSpec, extra: Iterable[str | Path] = ()) -> ModelSpec:
    """A ModelSpec as-is, or a name or alias looked up (an unknown name suggests the closest one)."""
    return name_or_spec if isinstance(name_or_spec, ModelSpec) else get(name_or_spec, extra)
