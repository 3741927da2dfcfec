"""The network a run trains: the registry backbone with a new head, the views of it the stages train
(raw RGB -> features, features -> logits), the augmenters, and which backbone layers stage 2 unfreezes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

    from zoo.registry import ModelSpec
    from zoo.transfer.settings import FinetuneSettings


@dataclass
class Network:
    """The classifier (raw RGB -> logits) and views of it that share its layers."""

    classifier: keras.Model
    backbone: keras.Model  # the pooled keras.applications model, nested in the classifier
    extractor: keras.Model  # raw RGB -> pooled features
    head: keras.Model  # pooled features -> logits
    augmenters: dict[int, keras.Model | None]

    def tracked_variables(self, stage: int) -> list:
        """What a checkpoint of `stage` must hold: the weights that stage changes, and the dropout and
        augmentation RNG states. Stage 1 never changes the frozen backbone (it is rebuilt identically
        from its weights and seed on resume), so its checkpoints hold the head only: small and fast."""
        extra = [v for model in self.augmenters.values() if model is not None for v in model.variables]
        changed = self.head.variables if stage == 1 else self.classifier.variables
        return [*changed, *extra]


@contextlib.contextmanager
def dtype_policy(precision: str) -> Iterator[None]:
    import keras

    previous = keras.config.dtype_policy()
    if precision == "bf16":
        keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_network(cfg: FinetuneSettings, spec: ModelSpec, image_size: int, num_classes: int) -> Network:
    import keras

    from zoo.engine import backbone_and_head

    weights = None if cfg.weights == "none" else cfg.weights
    classifier, backbone = backbone_and_head(
        spec, num_classes, weights=weights, input_shape=image_size, dropout=cfg.dropout
    )
    backbone.trainable = False
    seed_head(classifier.get_layer("logits"), cfg.seed)
    # the backbone's output inside the classifier graph (backbone.output is its own inner graph's)
    features_out = classifier.get_layer("dropout" if cfg.dropout else "logits").input
    extractor = keras.Model(classifier.input, features_out, name="extractor")
    features_in = keras.Input(shape=features_out.shape[1:], name="features")
    x = classifier.get_layer("dropout")(features_in) if cfg.dropout else features_in
    head = keras.Model(features_in, classifier.get_layer("logits")(x), name="head")
    augmenters = {stage: make_augmenter(cfg.stage_augment(stage), cfg.seed + stage) for stage in (1, 2)}
    return Network(classifier, backbone, extractor, head, augmenters)


def seed_head(logits: keras.layers.Dense, seed: int) -> None:
    """Start the new head from the same weights on every back-end: Glorot-uniform (Keras' default) drawn
    by numpy from the run's seed, bias 0. Keras' own initialisers draw differently per back-end, so the
    same seed would start TensorFlow, JAX and PyTorch runs from different heads."""
    fan_in, fan_out = logits.kernel.shape
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    kernel = np.random.default_rng([seed, fan_in, fan_out]).uniform(-limit, limit, (fan_in, fan_out))
    logits.kernel.assign(kernel.astype(np.float32))


def make_augmenter(names: tuple[str, ...], seed: int) -> keras.Model | None:
    """Keras preprocessing layers on raw RGB 0-255, applied inside the train step."""
    if not names:
        return None
    import keras

    factories = {
        "flip": lambda: keras.layers.RandomFlip("horizontal", seed=seed),
        "rotate": lambda: keras.layers.RandomRotation(0.1, seed=seed + 1),
        "zoom": lambda: keras.layers.RandomZoom(0.1, seed=seed + 2),
        "contrast": lambda: keras.layers.RandomContrast(0.2, value_range=(0, 255), seed=seed + 3),
    }
    return keras.Sequential([factories[name]() for name in names], name="augment")


def weighted_layers(model: keras.Model) -> list:
    """The leaf layers that hold weights, in order (nested models flattened)."""
    out = []
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            out.extend(weighted_layers(layer))
        elif layer.weights:
            out.append(layer)
    return out


def unfreeze_top(backbone: keras.Model, count: int | str) -> int:
    """Make the last `count` weighted layers trainable (all with "all"); normalisation layers stay frozen,
    also those nested inside an unfrozen layer (a keras-hub transformer block holds its layer norms).

    Returns how many layers became trainable."""
    backbone.trainable = True
    layers = weighted_layers(backbone)
    # more than there are: all of them (a plain negative slice start would keep only the last few)
    chosen = layers if count == "all" else layers[max(0, len(layers) - int(count)) :] if int(count) else []
    for layer in layers:
        layer.trainable = False
    trainable = 0
    for layer in chosen:
        layer.trainable = not is_normalization(layer)
        if layer.trainable:
            for inner in _sublayers(layer):
                if is_normalization(inner):
                    inner.trainable = False
        trainable += layer.trainable
    return trainable


# keras' normalisation layers that normalise activations (SpectralNormalization is a Wrapper: the weights
# it holds are the wrapped layer's kernel, which trains).
_NORMALIZATIONS = ("BatchNormalization", "LayerNormalization", "GroupNormalization", "RMSNormalization")
_NORMALIZATION_NAMES = ("Normalization", "Norm")


def is_normalization(layer: keras.layers.Layer) -> bool:
    """Whether stage 2 keeps `layer` frozen: a keras normalisation layer or a subclass of one, or any layer
    whose class is named like one (a library's own norm layer that subclasses none of keras')."""
    import keras

    if isinstance(layer, keras.layers.Wrapper):
        return False
    classes = tuple(getattr(keras.layers, name) for name in _NORMALIZATIONS if hasattr(keras.layers, name))
    return isinstance(layer, classes) or type(layer).__name__.endswith(_NORMALIZATION_NAMES)


def _sublayers(layer: keras.layers.Layer) -> list:
    """Every layer a layer holds, recursively (keras tracks them; a plain Layer has no public `layers`)."""
    return list(layer._flatten_layers(include_self=False, recursive=True))
