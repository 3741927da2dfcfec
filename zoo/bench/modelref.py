"""What `zoo benchmark` and `zoo evaluate` measure: a registry name, a saved `.keras` file or a run directory.

`resolve` checks the reference without TensorFlow (so a typo fails before any work); `load_model` builds
or reads the model and says which weights it carries (a checksum, for the results store).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from zoo import registry
from zoo.errors import UnknownModel

if TYPE_CHECKING:
    import keras

    from zoo.registry import ModelSpec

RefKind = Literal["registry", "file", "bundle", "object"]
WEIGHT_CHOICES = ("none", "imagenet")


@dataclass(frozen=True)
class ModelRef:
    """A checked model reference. `name` is the canonical registry name, or the resolved path."""

    kind: RefKind
    name: str
    spec: ModelSpec | None = None


@dataclass
class LoadedModel:
    """A model ready to run, with its class names (when known) and the checksum of its weights."""

    ref: ModelRef
    model: keras.Model
    labels: list[str] | None
    weights: str  # "none", "imagenet", "file" or "object"
    weights_sha256: str | None
    spec: ModelSpec | None  # the registry entry that decides preprocessing / resize policy


def resolve(text: str) -> ModelRef:
    """A `.keras` file or a run directory when `text` is such a path, else a registry name or alias."""
    path = Path(text).expanduser()
    if path.is_dir():
        from zoo.engine.bundle import is_bundle

        if not is_bundle(path):
            raise UnknownModel(
                f"{path} is a folder but not a run directory (no model.keras + labels.json)",
                hint="pass a registry name, a .keras file or a run directory written by `zoo finetune`",
            )
        return ModelRef("bundle", str(path.resolve()))
    if path.suffix == ".keras":
        if not path.is_file():
            raise UnknownModel(f"{path}: no such model file")
        return ModelRef("file", str(path.resolve()))
    spec = registry.get(text)
    if spec.bundle:
        return ModelRef("bundle", spec.bundle, spec)
    return ModelRef("registry", spec.name, spec)


def load_model(
    ref: ModelRef, weights: str = "imagenet", image_size: int | None = None, *, unsafe: bool = False
) -> LoadedModel:
    """Build (registry) or read (file, run directory) the model. `weights` applies to registry models;
    `unsafe=True` lets a model file run the code it stores (dangerous: only for files you trust)."""
    from zoo.engine.bundle import load_bundle, load_model_safely
    from zoo.hashing import hash_file

    if ref.kind == "bundle":
        bundle = load_bundle(ref.name, unsafe=unsafe)
        sha = hash_file(Path(ref.name) / "model.keras").sha256
        return LoadedModel(ref, bundle.model, list(bundle.labels), "file", sha, bundle.spec or ref.spec)
    if ref.kind == "file":
        model = load_model_safely(Path(ref.name), unsafe=unsafe)
        return LoadedModel(ref, model, None, "file", hash_file(Path(ref.name)).sha256, None)
    return _load_registered(ref, weights, image_size)


def in_memory(model: keras.Model, labels: Sequence[str] | None) -> LoadedModel:
    """A keras.Model given directly (Python API): its name stands for it in results."""
    if labels is not None and len(labels) != model.output_shape[-1]:
        raise ValueError(
            f"the model has {model.output_shape[-1]} outputs but {len(labels)} labels were given"
        )
    ref = ModelRef("object", model.name)
    return LoadedModel(ref, model, None if labels is None else list(labels), "object", None, None)


def _load_registered(ref: ModelRef, weights: str, image_size: int | None) -> LoadedModel:
    import zoo.engine
    from zoo.hub.cache import read_manifest

    spec = ref.spec
    assert spec is not None
    if weights not in WEIGHT_CHOICES:
        raise ValueError(f"weights must be one of {', '.join(WEIGHT_CHOICES)}, got {weights!r}")
    size = image_size or spec.input_size
    with_top = size == spec.input_size
    model = zoo.engine.load(
        spec.name,
        weights=None if weights == "none" else "imagenet",
        include_top=with_top,
        input_shape=(size, size, 3),
    )
    sha = None
    if weights == "imagenet":
        manifest = read_manifest(spec.name, "top" if with_top else "notop")
        sha = manifest.sha256 if manifest else None
    labels = _imagenet_labels() if with_top else None
    return LoadedModel(ref, model, labels, weights, sha, spec)


def _imagenet_labels() -> list[str]:
    from zoo.engine.labels import imagenet_labels

    return list(imagenet_labels())


def input_size(model: Any, default: int = 224) -> tuple[int, int]:
    """The model's (height, width), or `default` square where the model accepts any size."""
    shape = model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    height, width = shape[1], shape[2]
    return (int(height or default), int(width or default))
