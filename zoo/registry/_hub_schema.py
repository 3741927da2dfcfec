"""The rules of a keras-hub entry (loader: keras-hub): which checkpoints it may name, and how.

Behind the face `zoo.registry`; `_schema.parse_entry` calls `check_keras_hub_entry` for such entries.
A registry file can only choose among the architectures below, all converted by keras-hub's own code from
a config.json and a model.safetensors: it can never make zoo import or run anything else, and never load a
pickle. Families whose conversion disagrees with the original (docs/catalogue.md) are not on the list.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol

LAYOUTS = ("timm", "transformers")

# timm families keras-hub converts and zoo ships, with the architecture prefixes of each (keras-hub picks
# its converter by the architecture's prefix the same way).
TIMM_FAMILIES: Mapping[str, tuple[str, ...]] = {
    "resnet": ("resnet",),
    "efficientnet": ("efficientnet",),
    "mobilenetv3": ("mobilenetv3",),
    "cspnet": ("cspresnet", "cspresnext", "cspdarknet", "darknet"),
    "vgg": ("vgg",),
}
# transformers `model_type`s keras-hub converts to image models zoo loads.
TRANSFORMERS_MODEL_TYPES = ("vit", "deit", "dinov2")

WEIGHTS_SUFFIX = ".safetensors"
CONFIG_SUFFIX = ".json"
HUB_VARIANTS = {"top": WEIGHTS_SUFFIX, "config": CONFIG_SUFFIX}

# Keys of a config.json that would make keras-hub deserialize a Keras object instead of converting.
_FORBIDDEN_CONFIG_KEYS = ("registered_name", "class_name", "module")


class _Fails(Protocol):
    def fail(self, key: str, problem: str) -> None: ...


def family_of(layout: str, arch: str) -> str | None:
    """The family an architecture belongs to, or None when zoo does not load it."""
    if layout == "transformers":
        return arch if arch in TRANSFORMERS_MODEL_TYPES else None
    return next((family for family, prefixes in TIMM_FAMILIES.items() if arch.startswith(prefixes)), None)


def supported_families() -> list[str]:
    return [*TIMM_FAMILIES, *TRANSFORMERS_MODEL_TYPES]


def check_arch(entry: _Fails, layout: str, arch: str) -> None:
    if family_of(layout, arch) is None:
        known = ", ".join(TIMM_FAMILIES if layout == "timm" else TRANSFORMERS_MODEL_TYPES)
        problem = f"{arch!r} is not a {layout} architecture zoo loads through keras-hub (families: {known})"
        entry.fail("arch", problem)


def parse_mean_std(entry: _Fails, key: str, value: Any) -> tuple[float, float, float]:
    if not (isinstance(value, list) and len(value) == 3):
        entry.fail(key, f"must be a list of 3 numbers, got {value!r}")
    numbers = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            entry.fail(key, f"must be a list of 3 numbers, got {value!r}")
        numbers.append(float(v))
    if key == "std" and min(numbers) <= 0:
        entry.fail(key, f"must be positive, got {value!r}")
    return numbers[0], numbers[1], numbers[2]


def check_hub_config(entry: _Fails, layout: str, arch: str, num_classes: int, config: Any) -> dict[str, Any]:
    """The checkpoint's config.json as plain JSON data naming the entry's own architecture."""
    if not isinstance(config, dict) or not config:
        entry.fail("hub_config", "must be the checkpoint's config.json as a mapping")
    _check_plain(entry, "hub_config", config)
    check_fetched_config(entry, layout, arch, num_classes, config)
    return dict(config)


def check_fetched_config(entry: _Fails, layout: str, arch: str, num_classes: int, config: Mapping) -> None:
    """What a config.json must say to be converted as this entry (also run on the file a pull fetched)."""
    for key in _FORBIDDEN_CONFIG_KEYS:
        if key in config:
            problem = f"holds {key!r}: a serialized Keras object, not a {layout} checkpoint config"
            entry.fail("hub_config", problem)
    named_key = "architecture" if layout == "timm" else "model_type"
    named = config.get(named_key)
    if named != arch:
        entry.fail("hub_config", f"names {named_key} {named!r}, not the entry's arch {arch!r}")
    if layout == "timm" and config.get("num_classes", num_classes) != num_classes:
        entry.fail("hub_config", f"has num_classes {config.get('num_classes')!r}, the entry {num_classes}")


def check_weight_file(entry: _Fails, variant: str, file: str, sources: tuple[str, ...]) -> None:
    """A keras-hub entry fetches a .safetensors (top) and a config.json (config), nothing else."""
    suffix = HUB_VARIANTS.get(variant)
    key = f"weights.{variant}"
    if suffix is None:
        entry.fail("weights", f"a keras-hub entry has 'top' and 'config' files, not {variant!r}")
    if not file.endswith(suffix):
        entry.fail(f"{key}.file", f"must end with {suffix} (zoo loads no pickled weights), got {file!r}")
    want = "model.safetensors" if variant == "top" else "config.json"
    for src in sources:
        if not src.split("@", 1)[0].endswith(suffix if src.startswith("http") else want):
            entry.fail(f"{key}.sources", f"{src!r} must name a {want} file")


def check_hub_weights(entry: _Fails, variants: list[str]) -> None:
    missing = [v for v in HUB_VARIANTS if v not in variants]
    if missing:
        entry.fail("weights", f"a keras-hub entry needs {' and '.join(missing)} files")


def _check_plain(entry: _Fails, key: str, value: Any) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                entry.fail(key, f"has a non-text key {k!r}")
            _check_plain(entry, f"{key}.{k}", v)
    elif isinstance(value, list):
        for v in value:
            _check_plain(entry, key, v)
    elif not (value is None or isinstance(value, (str, int, float, bool))):
        entry.fail(key, f"must hold plain JSON values, got {type(value).__name__}")
