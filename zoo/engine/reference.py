"""What a model argument is, and how it becomes a model: the one place that decides.

A model argument is a registry name or alias (or its ModelSpec), a run directory registered with
`zoo register` (its entry's `bundle`), a run directory, a `.keras` file, a loaded Bundle or a keras.Model.

    resolve(arg) -> ModelRef   what the argument names; TensorFlow-free, so a typo fails before any work
    load(arg)    -> Loaded     the model, its class names, the registry entry that decides its resize
                               policy, and its weights' checksum (for the results store)

predict, embed, benchmark, evaluate and export all go through here; a new model source (other weights,
other back-ends) is a new kind here.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from zoo import config
from zoo.errors import ModelConfigError, UnknownModel
from zoo.registry import ModelSpec

if TYPE_CHECKING:
    import keras

    from zoo.data.decode import ResizePolicy
    from zoo.engine.bundle import Bundle

RefKind = Literal["registry", "bundle", "file", "object"]
# What `weights` may be for a registry model: "imagenet", "none" (or None: random), or a weights file.
Weights = str | os.PathLike[str] | None


@dataclass(frozen=True)
class ModelRef:
    """A checked model argument. `name` is the canonical registry name, the resolved path of a run
    directory or `.keras` file, or a keras.Model's own name; `spec` the registry entry it was named by."""

    kind: RefKind
    name: str
    spec: ModelSpec | None = None
    obj: Any = field(default=None, compare=False, repr=False)  # the Bundle or keras.Model given

    @property
    def path(self) -> Path:
        return Path(self.name)


@dataclass
class Loaded:
    """A model ready to run, with what the callers need to know about it."""

    ref: ModelRef
    model: keras.Model
    labels: list[str] | None  # class names in output order, when known
    spec: ModelSpec | None  # the registry entry whose resize policy applies, when known
    weights: str  # "none", "imagenet", "file" or "object"
    bundle: Bundle | None = None
    weights_file: Path | None = None  # hashed on demand for weights_sha256
    pulled_sha256: str | None = None  # a pulled file's checksum, from the hub's manifest

    @property
    def name(self) -> str:
        return self.ref.name

    @cached_property
    def weights_sha256(self) -> str | None:
        """The checksum of the weights the model carries (None: random or an in-memory model)."""
        if self.weights_file is None:
            return self.pulled_sha256
        from zoo.hashing import hash_file

        return hash_file(self.weights_file).sha256

    def resize_policy(self, size: tuple[int, int], crop_pct: float) -> ResizePolicy:
        """The registry entry's policy at `size`; without an entry, bilinear with `crop_pct`."""
        from zoo.data.decode import ResizePolicy

        if self.spec is not None:
            return ResizePolicy.from_spec(self.spec, size=size)
        return ResizePolicy(size, "bilinear", crop_pct)


# ------------------------------------------------------------------------------------------ resolve
def resolve(model: Any) -> ModelRef:
    """What `model` names (see the module's docstring); checks paths and names without TensorFlow.

    A str is a run directory or `.keras` file when it names one, else a registry name or alias."""
    from zoo.engine.bundle import Bundle

    if isinstance(model, ModelRef):
        return model
    if isinstance(model, Bundle):
        return ModelRef("bundle", str(model.run_dir), model.spec, model)
    if isinstance(model, ModelSpec):
        return _registry_ref(model)
    if isinstance(model, os.PathLike):
        return _path_ref(Path(model), must_be_path=True)
    if isinstance(model, str):
        return _path_ref(Path(model), must_be_path=False) or _registry_ref(model)
    return ModelRef("object", str(getattr(model, "name", "model")), obj=model)


def spec_of(name: str | ModelSpec) -> ModelSpec:
    """The registry entry of a name or alias (a ModelSpec as it is); unknown names suggest the closest."""
    from zoo import registry

    return registry.resolve(name)


def _registry_ref(name: str | ModelSpec) -> ModelRef:
    spec = spec_of(name)
    if spec.bundle:  # a run directory registered with `zoo register`
        return ModelRef("bundle", spec.bundle, spec)
    return ModelRef("registry", spec.name, spec)


def _path_ref(path: Path, *, must_be_path: bool) -> ModelRef | None:
    from zoo.engine.bundle import check_run_dir

    path = path.expanduser()
    if path.suffix == ".keras":
        if not path.is_file():
            raise UnknownModel(f"{path}: no such model file")
        return ModelRef("file", str(path.resolve()))
    if must_be_path or path.is_dir():
        return ModelRef("bundle", str(check_run_dir(path)))
    return None


# --------------------------------------------------------------------------------------------- load
def load(
    model: Any,
    *,
    weights: Weights = "imagenet",
    image_size: int | None = None,
    features: str | None = None,
    labels: Sequence[str] | None = None,
    unsafe: bool = False,
) -> Loaded:
    """Build (registry) or read (run directory, `.keras` file) the model `model` names.

    - weights (registry models): "imagenet" (pulled and verified), "none"/None (random) or a weights file.
    - image_size (registry models): other than the registry's own, the model loses its classifier.
    - features: a pooling ("avg", "max"): the pooled features instead of the classes (a run directory
      is cut at its "logits" head).
    - labels: class names in output order, overriding the model's own.
    - unsafe=True lets a model file run the code it stores (Lambda layers): dangerous, only for files
      you trust.
    """
    ref = resolve(model)
    config.prepare_keras_backend()  # before Keras is imported: an unusable back-end is one clear line
    if ref.kind == "registry":
        loaded = _load_registered(ref, weights, image_size, features)
    elif ref.kind == "object":
        loaded = Loaded(ref, ref.obj, None, None, "object")
    else:
        loaded = _load_saved(ref, unsafe)
        if features is not None:
            loaded.model = _features_of(loaded.model, ref)
    if labels is not None:
        from zoo.engine.bundle import check_labels

        loaded.labels = check_labels(loaded.model, labels)
    return loaded


def _load_saved(ref: ModelRef, unsafe: bool) -> Loaded:
    from zoo.engine.bundle import MODEL_FILE, load_bundle, load_model_safely

    if ref.kind == "file":
        return Loaded(ref, load_model_safely(ref.path, unsafe=unsafe), None, None, "file", None, ref.path)
    bundle = ref.obj if ref.obj is not None else load_bundle(ref.path, unsafe=unsafe)
    spec = bundle.spec or ref.spec
    return Loaded(ref, bundle.model, list(bundle.labels), spec, "file", bundle, bundle.run_dir / MODEL_FILE)


def _load_registered(ref: ModelRef, weights: Weights, image_size: int | None, features: str | None) -> Loaded:
    from zoo.engine.build import load as build

    spec = ref.spec
    assert spec is not None
    if weights is None or weights == "none":
        weights, kind = None, "none"
    else:
        kind = "imagenet" if weights == "imagenet" else "file"
    size = image_size or spec.input_size
    with_top = features is None and size == spec.input_size
    options = {"pooling": features} if features is not None else {}
    model = build(spec, weights=weights, include_top=with_top, input_shape=(size, size, 3), **options)
    labels = _imagenet_labels(spec) if with_top else None
    loaded = Loaded(ref, model, labels, spec, kind)
    if kind == "file":
        loaded.weights_file = Path(weights).expanduser()  # type: ignore[arg-type]
    elif kind == "imagenet":
        loaded.pulled_sha256 = pulled_sha256(spec, "top" if with_top else "notop")
    return loaded


def pulled_sha256(spec: ModelSpec, variant: str) -> str | None:
    """The checksum the hub recorded for a pulled weight file (None when it is not in the cache)."""
    from zoo.hub.cache import read_manifest

    if spec.is_keras_hub:
        variant = spec.weight(variant).variant  # one safetensors file serves with and without the head
    manifest = read_manifest(spec.name, variant)
    return manifest.sha256 if manifest else None


def _features_of(model: keras.Model, ref: ModelRef) -> keras.Model:
    """A saved model's pooled backbone features: everything up to its "logits" head."""
    import keras

    name = ref.spec.name if ref.spec is not None else model.name
    try:
        head = model.get_layer("logits")
    except ValueError:
        raise ModelConfigError(f"{name}: the saved model has no 'logits' layer to cut its head at") from None
    return keras.Model(model.inputs, head.input, name=f"{name}_features")


def _imagenet_labels(spec: ModelSpec) -> list[str] | None:
    """The ImageNet class names for a 1000-class classifier (other counts: classes by index)."""
    from zoo.engine.labels import NUM_IMAGENET_CLASSES, imagenet_labels

    return list(imagenet_labels()) if spec.num_classes == NUM_IMAGENET_CLASSES else None


def input_size(model: Any, default: int = 224) -> tuple[int, int]:
    """The model's (height, width), or `default` square where the model accepts any size."""
    shape = model.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    height, width = shape[1], shape[2]
    return (int(height or default), int(width or default))
