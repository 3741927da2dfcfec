"""Stage 2's unfreeze (zoo.transfer.network.unfreeze_top) keeps every normalisation layer frozen, whatever
its kind: keras' own, a subclass of one, one that only is named like one, and those nested inside a layer
that is unfrozen as a whole (keras-hub's ViT encoder holds every block's layer norms)."""

from __future__ import annotations

from zoo.transfer.network import unfreeze_top, weighted_layers

SIZE = 16


def _backbone():  # noqa: ANN202 - a keras.Model
    """A small real backbone with batch, layer and group norms, a keras-hub-like block holding a layer norm
    of its own, a norm layer that subclasses none of keras', and a spectrally normalised convolution."""
    import keras

    @keras.saving.register_keras_serializable(package="zoo_tests")
    class Block(keras.layers.Layer):
        """A residual MLP block with its own LayerNormalization, as keras-hub's blocks are built."""

        def __init__(self, **kwargs) -> None:  # noqa: ANN003
            super().__init__(**kwargs)
            self.norm = keras.layers.LayerNormalization(name="inner_norm")
            self.dense = keras.layers.Dense(8, name="inner_dense")

        def call(self, x):  # noqa: ANN001, ANN201
            return x + self.dense(self.norm(x))

    @keras.saving.register_keras_serializable(package="zoo_tests")
    class ChannelScaleNormalization(keras.layers.Layer):
        """A norm layer of a library's own: subclasses no keras normalisation class."""

        def build(self, input_shape) -> None:  # noqa: ANN001
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

        def call(self, x):  # noqa: ANN001, ANN201
            return x / (keras.ops.std(x, axis=-1, keepdims=True) + 1e-5) * self.scale

    class FrozenStatsNorm(keras.layers.BatchNormalization):
        """A subclass of BatchNormalization under a name that does not say so."""

    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn1")(x)
    x = keras.layers.SpectralNormalization(keras.layers.Conv2D(8, 3, name="sn_conv"), name="sn")(x)
    x = FrozenStatsNorm(name="bn_sub")(x)
    x = keras.layers.GroupNormalization(groups=2, name="gn")(x)
    x = keras.layers.Conv2D(8, 1, name="conv2")(x)
    x = keras.layers.LayerNormalization(name="ln")(x)
    x = Block(name="block")(x)
    x = ChannelScaleNormalization(name="own_norm")(x)
    x = keras.layers.Conv2D(8, 1, name="conv3")(x)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x), name="tiny_backbone")


def _trainable(model) -> set[str]:  # noqa: ANN001
    return {v.path for v in model.trainable_weights}


def test_all_unfrozen_trains_every_weight_except_the_normalisations() -> None:
    model = _backbone()
    assert unfreeze_top(model, "all") == 5  # conv1, sn, conv2, block, conv3
    assert _trainable(model) == {
        "conv1/kernel", "conv1/bias", "sn/sn_conv/kernel", "sn/sn_conv/bias", "conv2/kernel", "conv2/bias",
        "block/inner_dense/kernel", "block/inner_dense/bias", "conv3/kernel", "conv3/bias",
    }  # fmt: skip
    frozen = {v.path for v in model.weights} - _trainable(model)
    for norm in ("bn1", "bn_sub", "gn", "ln", "block/inner_norm", "own_norm"):
        assert any(path.startswith(f"{norm}/") for path in frozen), norm


def test_the_top_n_counts_layers_with_weights_from_the_output_side() -> None:
    model = _backbone()
    # the last four weighted layers: ln, block, own_norm, conv3; two of them are norms and stay frozen
    assert unfreeze_top(model, 4) == 2
    assert _trainable(model) == {
        "block/inner_dense/kernel", "block/inner_dense/bias", "conv3/kernel", "conv3/bias"
    }  # fmt: skip
    assert unfreeze_top(model, 0) == 0 and _trainable(model) == set()
    everything = _trainable(model) if unfreeze_top(model, "all") else set()
    more = len(weighted_layers(model)) + 1  # more than there are: all of them
    assert unfreeze_top(model, more) == 5 and _trainable(model) == everything


def test_keras_hub_vit_keeps_every_layer_norm_frozen() -> None:
    import keras
    import keras_hub

    backbone = keras_hub.models.ViTBackbone(
        image_shape=(SIZE, SIZE, 3), patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32
    )
    unfreeze_top(backbone, "all")
    layers = [layer for layer in backbone._flatten_layers(include_self=False) if layer.weights]
    norms = [layer for layer in layers if isinstance(layer, keras.layers.LayerNormalization)]
    assert len(norms) == 2 * 2 + 1  # two per encoder block, one after the encoder
    norm_ids = {id(v) for layer in norms for v in layer.weights}
    trainable_ids = {id(v) for v in backbone.trainable_weights}
    assert not norm_ids & trainable_ids
    # everything else trains: the patch embedding, attention and MLP weights
    assert trainable_ids == {id(v) for v in backbone.weights if id(v) not in norm_ids}
    assert len(trainable_ids) > 10
