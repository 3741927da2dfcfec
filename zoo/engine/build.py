"""Build ready Keras models from registry entries: `load`, and `backbone_and_head` for transfer learning.

Every model comes from its `keras.applications` constructor or, for keras-hub entries, from keras-hub's
converter of the timm / transformers checkpoint (zoo.engine.hub_models); zoo never rewrites an
architecture. What zoo adds: the name resolves through the registry, the weight file comes verified from
the hub, the registry's preprocessing sits in front as a layer (`raw_input=True`: the model takes RGB
0-255), new heads output logits, and impossible combinations are refused with ModelConfigError before
anything is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from zoo import choices, config
from zoo.choices import POOLINGS
from zoo.errors import ModelConfigError, WeightsUnavailable
from zoo.registry import ModelSpec, resolve

if TYPE_CHECKING:
    import keras

Weights = Literal["imagenet"] | str | os.PathLike[str] | None
Pooling = choices.Pooling | None

WEIGHT_SUFFIXES = (".h5", ".weights.h5", ".hdf5")

# The smallest input side each keras.applications family accepts (its `obtain_input_shape(min_size=...)`).
MIN_INPUT_SIZE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71}
DEFAULT_MIN_INPUT_SIZE = 32


# ----------------------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class BuildPlan:
    """What `load` will build, decided and validated before any Keras work."""

    spec: ModelSpec
    input_shape: tuple[int, int, int]
    include_top: bool  # the constructor's own 1000-class classifier
    new_head: int | None  # classes of a fresh logits head on the pooled backbone, or None
    pooling: Pooling
    dropout: float
    weights: Weights
    raw_input: bool

    @property
    def variant(self) -> str:
        return "top" if self.include_top else "notop"


def plan(
    name: str | ModelSpec,
    weights: Weights = "imagenet",
    num_classes: int | None = None,
    include_top: bool | None = None,
    input_shape: int | tuple[int, ...] | None = None,
    pooling: Pooling = "avg",
    dropout: float = 0.0,
    raw_input: bool = True,
) -> BuildPlan:
    """Validate a `load` call into a BuildPlan; raises ModelConfigError for impossible combinations."""
    spec = resolve(name)
    shape = _input_shape(spec, input_shape)
    if pooling is not None and pooling not in POOLINGS:
        allowed = ", ".join(map(repr, POOLINGS))
        raise ModelConfigError(f"pooling must be {allowed} or None, got {pooling!r}")
    if not 0.0 <= dropout < 1.0:
        raise ModelConfigError(f"dropout must be in [0, 1), got {dropout}")
    if num_classes is not None and num_classes < 1:
        raise ModelConfigError(f"num_classes must be at least 1, got {num_classes}")
    fresh = num_classes is not None and num_classes != spec.num_classes
    if fresh and include_top is False:
        raise ModelConfigError(
            f"include_top=False with num_classes={num_classes} is contradictory",
            hint="num_classes adds a new head; leave include_top unset (or True) for that",
        )
    if fresh and pooling is None:
        raise ModelConfigError("a new head needs pooling='avg' or 'max'")
    keras_top = not fresh and (include_top if include_top is not None else True)
    if dropout and not fresh:
        raise ModelConfigError("dropout applies to a new head only (give num_classes)")
    weights = _check_weights(weights)
    if keras_top and weights is not None and shape[:2] != (spec.input_size, spec.input_size):
        raise ModelConfigError(
            f"{spec.name}: the pretrained classifier needs input {spec.input_size}x{spec.input_size}, "
            f"got {shape[0]}x{shape[1]}",
            hint="use include_top=False (features) or num_classes=N (a new head) for other sizes",
        )
    return BuildPlan(
        spec, shape, keras_top, num_classes if fresh else None, pooling, dropout, weights, raw_input
    )


def _input_shape(spec: ModelSpec, input_shape: int | tuple[int, ...] | None) -> tuple[int, int, int]:
    if input_shape is None:
        shape: tuple[int, ...] = (spec.input_size, spec.input_size, 3)
    elif isinstance(input_shape, int):
        shape = (input_shape, input_shape, 3)
    else:
        shape = tuple(int(s) for s in input_shape)
        if len(shape) == 2:
            shape = (*shape, 3)
    if len(shape) != 3 or shape[2] != 3:
        raise ModelConfigError(f"input_shape must be (height, width, 3) or a size, got {input_shape!r}")
    minimum = MIN_INPUT_SIZE.get(spec.arch, DEFAULT_MIN_INPUT_SIZE)
    if min(shape[:2]) < minimum:
        raise ModelConfigError(
            f"{spec.name} ({spec.arch}) needs inputs of at least {minimum}x{minimum}, "
            f"got {shape[0]}x{shape[1]}"
        )
    return shape  # type: ignore[return-value]


def _check_weights(weights: Weights) -> Weights:
    if weights is None or weights == "imagenet":
        return weights
    path = Path(weights).expanduser()
    if not str(path).endswith(WEIGHT_SUFFIXES):
        raise ModelConfigError(
            f"weights must be 'imagenet', None or a .h5 / .weights.h5 file, got {str(weights)!r}",
            hint="a whole saved model (.keras) is a run directory: use `zoo predict --model RUN_DIR`",
        )
    if not path.is_file():
        raise WeightsUnavailable(f"weights file not found: {path}")
    return path


# ------------------------------------------------------------------------------------------ building
def load(
    name: str | ModelSpec,
    weights: Weights = "imagenet",
    num_classes: int | None = None,
    include_top: bool | None = None,
    input_shape: int | tuple[int, ...] | None = None,
    pooling: Pooling = "avg",
    dropout: float = 0.0,
    raw_input: bool = True,
) -> keras.Model:
    """A ready keras.Model for a registered model name, alias or ModelSpec.

    - weights: "imagenet" (pulled and verified through the hub: the `top` file for the classifier, else
      `notop`), a path to a .h5 / .weights.h5 file, or None (random initialisation).
    - num_classes: None or the registry's count keeps the pretrained classifier (softmax, as Keras gives
      it); any other count puts a fresh Dense head (+ optional dropout) on the pooled pretrained
      backbone, outputting LOGITS (`zoo.predict` applies softmax).
    - include_top=False: the pooled features (`pooling` "avg", "max", or None for the feature map).
    - input_shape: a size, (h, w) or (h, w, 3); other than the registry size only without the classifier.
    - raw_input=True: the model takes RGB 0-255 (the registry's preprocessing is a layer in front);
      False: exactly what the keras.applications constructor returns.

    A registered run directory (`zoo register`) loads as saved; the other arguments must stay default.
    """
    spec = resolve(name)
    if spec.bundle:
        return _load_registered_bundle(spec, num_classes, include_top, input_shape)
    chosen = plan(spec, weights, num_classes, include_top, input_shape, pooling, dropout, raw_input)
    if chosen.new_head is not None:
        model, _ = _backbone_and_head(chosen)
        return model
    return _build(chosen, flat_preprocessing=raw_input)


def backbone_and_head(
    name: str | ModelSpec,
    num_classes: int,
    weights: Weights = "imagenet",
    input_shape: int | tuple[int, ...] | None = None,
    pooling: choices.Pooling = "avg",
    dropout: float = 0.0,
    raw_input: bool = True,
) -> tuple[keras.Model, keras.Model]:
    """(model, backbone) for transfer learning: raw RGB -> preprocessing -> backbone -> dropout -> logits.

    `backbone` is the pooled keras.applications model (no classifier), nested in `model` as one layer
    and called with training=False, so BatchNorm stays in inference mode even when its layers are
    unfrozen. Freeze it with `backbone.trainable = False`; unfreeze the top N with
    `for layer in backbone.layers[-N:]: layer.trainable = True`. The head layers are named "dropout"
    (when dropout > 0) and "logits". num_classes may be anything >= 1 here, 1000 included.
    """
    chosen = plan(name, weights, None, False, input_shape, pooling, 0.0, raw_input)
    if num_classes < 1:
        raise ModelConfigError(f"num_classes must be at least 1, got {num_classes}")
    if not 0.0 <= dropout < 1.0:
        raise ModelConfigError(f"dropout must be in [0, 1), got {dropout}")
    if pooling is None:
        raise ModelConfigError("a new head needs pooling='avg' or 'max'")
    head_plan = BuildPlan(
        chosen.spec, chosen.input_shape, False, num_classes, pooling, dropout, chosen.weights, raw_input
    )
    return _backbone_and_head(head_plan)


def _backbone_and_head(chosen: BuildPlan) -> tuple[keras.Model, keras.Model]:
    import keras

    backbone = _build(chosen, flat_preprocessing=False)
    inputs = keras.Input(shape=chosen.input_shape, name="image")
    x = _preprocess(chosen, inputs)
    x = backbone(x, training=False)
    if chosen.dropout:
        x = keras.layers.Dropout(chosen.dropout, name="dropout")(x)
    outputs = keras.layers.Dense(chosen.new_head, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"{chosen.spec.name}_classifier"), backbone


def _build(chosen: BuildPlan, *, flat_preprocessing: bool) -> keras.Model:
    """The network a plan asks for; with flat_preprocessing, fed by the preprocessing layer."""
    config.prepare_keras_backend()  # before Keras is imported: an unusable back-end is one clear line
    if not chosen.spec.is_keras_hub:
        return _build_keras(chosen, _weights_path(chosen), flat_preprocessing=flat_preprocessing)
    import keras

    from zoo.engine.hub_models import model_name, network

    net = network(chosen.spec, chosen.weights, include_top=chosen.include_top, pooling=chosen.pooling)
    if not flat_preprocessing:
        return net
    inputs = keras.Input(shape=chosen.input_shape, name="image")
    return keras.Model(inputs, net(_preprocess(chosen, inputs)), name=model_name(chosen.spec))


def _build_keras(chosen: BuildPlan, weights_path: Path | None, *, flat_preprocessing: bool) -> keras.Model:
    """The keras.applications constructor; with flat_preprocessing, fed by the preprocessing layer."""
    import keras

    constructor = getattr(keras.applications, chosen.spec.arch)
    kwargs = dict(chosen.spec.args)
    kwargs.update(
        include_top=chosen.include_top,
        weights=None if weights_path is None else str(weights_path),
        input_shape=chosen.input_shape,
        pooling=chosen.pooling,
    )
    if chosen.include_top:
        kwargs["classes"] = chosen.spec.num_classes
    inputs = keras.Input(shape=chosen.input_shape, name="image")
    if flat_preprocessing:
        kwargs["input_tensor"] = _preprocess(chosen, inputs)
    try:
        model = constructor(**kwargs)
    except ValueError as exc:
        raise ModelConfigError(f"{chosen.spec.name}: keras.applications.{chosen.spec.arch}: {exc}") from None
    except OSError as exc:  # h5py cannot open the weights file: not HDF5, truncated, unreadable
        if weights_path is None:
            raise
        raise ModelConfigError(
            f"{weights_path}: not a readable Keras weights file ({str(exc).strip() or type(exc).__name__})",
            hint="pass a .h5 / .weights.h5 file that Keras saved for this architecture",
        ) from None
    if flat_preprocessing:
        # keras.applications declares inputs=[tensor] when given input_tensor; rewrap so the model takes a
        # plain tensor (no "structure of inputs" warning on every call), sharing the same layers.
        model = keras.Model(inputs, model.output, name=model.name)
    return model


def _preprocess(chosen: BuildPlan, inputs):
    from zoo.engine.preprocessing import preprocessing_layer

    spec = chosen.spec
    layer = preprocessing_layer(spec.preprocess, mean=spec.mean, std=spec.std) if chosen.raw_input else None
    return inputs if layer is None else layer(inputs)


def _weights_path(chosen: BuildPlan) -> Path | None:
    if chosen.weights is None:
        return None
    if chosen.weights != "imagenet":
        return Path(chosen.weights)
    if chosen.variant not in chosen.spec.weights:
        raise ModelConfigError(
            f"{chosen.spec.name} publishes no '{chosen.variant}' weights",
            hint="use weights=None (random init) or a weights file, or the other head setting",
        )
    from zoo.hub.pull import pull

    return pull(chosen.spec, chosen.variant)


def _load_registered_bundle(spec: ModelSpec, num_classes, include_top, input_shape) -> keras.Model:
    if num_classes is not None or include_top is not None or input_shape is not None:
        raise ModelConfigError(
            f"{spec.name} is a saved run directory ({spec.bundle}); it loads as saved",
            hint="fine-tune it again with `zoo finetune` to change its head or input size",
        )
    from zoo.engine.bundle import load_bundle

    return load_bundle(spec.bundle).model
