"""keras-hub entries (`loader: keras-hub`): a timm or transformers checkpoint converted by keras-hub's code.

zoo writes nothing of the architecture. It pulls the entry's `config` (config.json) and `top`
(model.safetensors) files through its own hub (verified, cached), checks the config names the entry's
architecture, lays both out as a temporary keras-hub preset folder and builds with keras-hub's public
`from_preset`. With weights=None the registry's own copy of the config (`hub_config`) is built with
`load_weights=False`, so no network is needed.

`network(spec, weights, include_top=..., pooling=...)` returns the keras-hub network `zoo.load` asks for,
fed already-normalised pixels:
- include_top: the pretrained classifier (logits; keras-hub classifiers have no softmax);
- otherwise the backbone as a flat functional model (its own layers, then the pooling), so
  `backbone.layers[-N:]` are its last layers, as for keras.applications.
`zoo.engine.build` puts the input and the preprocessing layer in front.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import struct
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from zoo.engine.hub_config import keras_hub_config
from zoo.errors import ModelConfigError, ZooError
from zoo.registry import ModelSpec
from zoo.registry._hub_schema import check_fetched_config

if TYPE_CHECKING:
    import keras


PRESET_CONFIG = "config.json"
PRESET_WEIGHTS = "model.safetensors"
# safetensors dtypes that hold weights; timm's BatchNorm `num_batches_tracked` counters are int64
_FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")
# transformers model types keras-hub converts as a backbone only (DINOv2: self-supervised features)
_BACKBONE_ONLY = ("dinov2",)


# ---------------------------------------------------------------------------------------- the network
def network(
    spec: ModelSpec, weights: str | Path | None, *, include_top: bool, pooling: str | None
) -> keras.Model:
    """The keras-hub classifier (include_top) or the pooled flat backbone; weights "imagenet" (pulled),
    None (random) or a Keras weights file of that network."""
    import keras

    if include_top and spec.arch in _BACKBONE_ONLY:
        raise ModelConfigError(
            f"{spec.name}: keras-hub converts {spec.arch} checkpoints without their classifier",
            hint="load its features (`include_top=False`) or give it a new head (`num_classes=N`)",
        )
    weights_file: Path | None = None
    if weights == "imagenet":
        config = read_config(spec, _pull(spec, "config"))
        weights_file = _pull(spec, "top")
    else:
        config = dict(spec.hub_config)
    shapes = None if weights_file is None else _tensor_shapes(spec, weights_file)
    config = keras_hub_config(config, shapes)
    with _preset(config, weights_file) as preset:
        loading = weights_file is not None
        built = _from_preset(spec, preset, config, with_head=include_top, load_weights=loading)
    if loading and spec.layout == "timm":
        check_tensor_count(spec, weights_file, built)
    if include_top:  # a plain functional model: no keras-hub Task (its compile settings) to save
        net = keras.Model(built.inputs, built.outputs, name=f"{model_name(spec)}_classifier")
    else:
        backbone = built if isinstance(built, keras_hub_backbone_class()) else built.backbone
        net = flat_backbone(spec, backbone, pooling)
    if weights not in (None, "imagenet"):
        _load_weights_file(spec, net, Path(weights))
    return net


def keras_hub_backbone_class() -> type:
    import keras_hub

    return keras_hub.models.Backbone


def flat_backbone(spec: ModelSpec, backbone: keras.Model, pooling: str | None) -> keras.Model:
    """The backbone's own layers (not the Backbone nested as one), then `pooling` ("avg", "max", None)."""
    import keras

    x = backbone.output
    if pooling is not None:
        pool_1d = len(x.shape) == 3  # a transformer's token sequence
        layers = keras.layers
        if pool_1d:
            layer = layers.GlobalAveragePooling1D if pooling == "avg" else layers.GlobalMaxPooling1D
        else:
            layer = layers.GlobalAveragePooling2D if pooling == "avg" else layers.GlobalMaxPooling2D
        x = layer(name=f"{pooling}_pool")(x)
    return keras.Model(backbone.input, x, name=f"{model_name(spec)}_backbone")


def model_name(spec: ModelSpec) -> str:
    """A Keras model name for the entry ("resnet50.a1_in1k" -> "resnet50_a1_in1k")."""
    return re.sub(r"[^A-Za-z0-9_]", "_", spec.name)


def trainable_count(model: keras.Model) -> int:
    """The parameters as timm counts them (BatchNorm's moving statistics are buffers there, not params)."""
    import math

    return sum(math.prod(w.shape) for w in model.trainable_weights)


def _from_preset(
    spec: ModelSpec, preset: Path, config: Mapping[str, Any], *, with_head: bool, load_weights: bool
) -> keras.Model:
    """keras-hub's classifier (timm checkpoints always: it converts the whole file) or backbone."""
    import keras_hub

    classifier = with_head or spec.layout == "timm"
    try:
        with _quiet_stdout():  # some converters print every tensor they port; zoo's stdout is data
            if classifier:
                return keras_hub.models.ImageClassifier.from_preset(
                    str(preset),
                    preprocessor=None,
                    load_weights=load_weights,
                    **_head_size(config, load_weights),
                )
            return keras_hub.models.Backbone.from_preset(str(preset), load_weights=load_weights)
    except ZooError:
        raise
    except Exception as exc:  # keras-hub's converters raise anything from KeyError to SafetensorError
        if not load_weights:
            problem = f"{spec.name}: keras-hub cannot build {spec.arch}: {_first_line(exc)}"
            raise ModelConfigError(problem) from None
        _forget(spec)
        _refuse(spec, f"{spec.weight('top').file} does not fit the {spec.arch} config ({_first_line(exc)})")


def _head_size(config: Mapping[str, Any], load_weights: bool) -> dict[str, Any]:
    """Without weights, keras-hub still reads the head from the file unless told its size; the same sizes
    its timm loader gives a classifier it loads (MobileNet's head also takes num_features)."""
    if load_weights or "num_classes" not in config:
        return {}
    size = {"num_classes": config["num_classes"]}
    if "num_features" in config and "mobilenet" in str(config.get("architecture", "")):
        size["num_features"] = config["num_features"]
    return size


# ------------------------------------------------------------------------------------------ the files
def read_config(spec: ModelSpec, path: Path) -> dict[str, Any]:
    """The fetched config.json, checked against the entry; a bad one is refused and dropped from the cache."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        _forget(spec, "config")
        _refuse(spec, f"{path.name} is not JSON ({_first_line(exc)})")
    if not isinstance(config, dict):
        _forget(spec, "config")
        _refuse(spec, f"{path.name} is not a JSON object")

    class _Entry:
        def fail(self, key: str, problem: str) -> NoReturn:
            _forget(spec, "config")
            _refuse(spec, f"{path.name} {problem.replace('the entry', 'the registry')}")

    check_fetched_config(_Entry(), spec.layout or "timm", spec.arch, spec.num_classes, config)
    return config


def check_tensor_count(spec: ModelSpec, path: Path, built: keras.Model) -> None:
    """Every weight of the file must land in the network: keras-hub converts by name and ignores tensors
    it never asks for, so a larger model's file (resnet34 for resnet18) would otherwise load silently."""
    held = sum(count for _, count in _float_tensors(spec, path))
    used = int(built.count_params())
    if held != used:
        _forget(spec)
        _refuse(spec, f"{spec.weight('top').file} holds {held:,} weights, the {spec.arch} network {used:,}")


def _tensor_shapes(spec: ModelSpec, path: Path) -> dict[str, tuple[int, ...]]:
    """name -> shape of every tensor of the safetensors file, from its header."""
    return {name: tuple(t["shape"]) for name, t in _header(spec, path).items()}


def _float_tensors(spec: ModelSpec, path: Path) -> list[tuple[str, int]]:
    """(name, element count) of the file's floating-point tensors."""
    import math

    return [(k, math.prod(t["shape"])) for k, t in _header(spec, path).items() if t["dtype"] in _FLOAT_DTYPES]


def _header(spec: ModelSpec, path: Path) -> dict[str, Any]:
    """The tensors a safetensors file describes (name -> dtype, shape, offsets); checks the file's size."""
    file = spec.weight("top").file
    size = path.stat().st_size
    try:
        with path.open("rb") as handle:
            (header_size,) = struct.unpack("<Q", handle.read(8))
            if header_size > size - 8:
                raise ValueError("header longer than the file")
            header = json.loads(handle.read(header_size))
        described = {k: t for k, t in header.items() if k != "__metadata__"}
        end = max((int(t["data_offsets"][1]) for t in described.values()), default=0)
        for tensor in described.values():
            if not (isinstance(tensor.get("dtype"), str) and isinstance(tensor.get("shape"), list)):
                raise ValueError("a tensor without its dtype or shape")
    except (struct.error, ValueError, KeyError, TypeError, IndexError) as exc:
        _forget(spec)
        _refuse(spec, f"{file} is not a safetensors file ({_first_line(exc)})")
    if (described_size := 8 + header_size + end) != size:
        _forget(spec)
        _refuse(spec, f"{file} is {size:,} bytes, its header describes {described_size:,} (truncated?)")
    return described


@contextlib.contextmanager
def _preset(config: Mapping[str, Any], weights_file: Path | None) -> Iterator[Path]:
    """A temporary keras-hub preset folder: config.json, and model.safetensors linked to the cached file."""
    with tempfile.TemporaryDirectory(prefix="zoo-keras-hub-") as folder:
        preset = Path(folder)
        (preset / PRESET_CONFIG).write_text(json.dumps(config), encoding="utf-8")
        if weights_file is not None:
            try:
                os.symlink(weights_file, preset / PRESET_WEIGHTS)
            except OSError:  # file systems without symlinks
                shutil.copyfile(weights_file, preset / PRESET_WEIGHTS)
        yield preset


def _pull(spec: ModelSpec, variant: str) -> Path:
    from zoo.hub.pull import pull

    return pull(spec, variant)


def _forget(spec: ModelSpec, variant: str | None = None) -> None:
    """Drop the entry's cached files (one variant, or all), so the next pull fetches them again."""
    from zoo.hub.manage import remove

    remove(spec.name, variant)


def _load_weights_file(spec: ModelSpec, net: keras.Model, path: Path) -> None:
    try:
        net.load_weights(str(path))
    except (ValueError, OSError) as exc:
        raise ModelConfigError(
            f"{path}: not Keras weights of {spec.name}'s network ({_first_line(exc)})",
            hint="pass a .weights.h5 file saved from this model's keras-hub network",
        ) from None


def _refuse(spec: ModelSpec, problem: str) -> NoReturn:
    raise ModelConfigError(
        f"{spec.name}: {problem}", hint=f"`zoo pull {spec.name}` fetches the files again; check the sources"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def _quiet_stdout() -> Iterator[None]:
    with contextlib.redirect_stdout(io.StringIO()):
        yield
