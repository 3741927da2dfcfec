"""Stage 2 of `zoo finetune` keeps BatchNorm frozen, end to end: the saved model's backbone BatchNorm
layers hold exactly the pretrained gamma, beta and moving statistics, while stage 2 did train the
unfrozen convolutions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from support.cli import invoke

from zoo.data.synthetic import render_dataset

MODEL = "mobilenet_v1_025_224"
SIZE = 64
BN_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")


def _leaf_layers(model) -> dict:  # noqa: ANN001 - a keras.Model
    """Every leaf layer by name, nested models flattened."""
    out = {}
    for layer in model.layers:
        if getattr(layer, "layers", None):
            out.update(_leaf_layers(layer))
        else:
            out[layer.name] = layer
    return out


def test_stage_2_trains_convolutions_and_leaves_every_batchnorm_pretrained(
    fixture_weights: Path, tmp_path: Path
) -> None:
    import keras

    data = render_dataset(tmp_path / "data", per_class=4, size=SIZE, seed=11).root
    run = tmp_path / "run"
    args = ["finetune", MODEL, str(data), "--weights", str(fixture_weights), "--image-size", str(SIZE),
            "--epochs", "1", "--fine-tune-epochs", "1", "--unfreeze", "all", "--fine-tune-lr", "0.01",
            "--batch-size", "4", "--no-tensorboard", "--out", str(run)]  # fmt: skip
    result = invoke(*args)
    assert result.exit_code == 0, result.output

    trained = _leaf_layers(keras.saving.load_model(run / "model.keras"))
    pretrained = _leaf_layers(
        keras.applications.MobileNet(
            input_shape=(SIZE, SIZE, 3), alpha=0.25, include_top=False, weights=str(fixture_weights)
        )
    )
    batchnorms = [n for n, layer in pretrained.items() if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(batchnorms) == 27  # MobileNet v1: one after each of its 27 convolutions
    changed = [
        f"{name}.{weight}"
        for name in batchnorms
        for weight in BN_WEIGHTS
        if not np.array_equal(
            getattr(trained[name], weight).numpy(), getattr(pretrained[name], weight).numpy()
        )
    ]
    assert changed == []

    # stage 2 ran: with every layer unfrozen at a high learning rate, the convolutions moved
    convolutions = [n for n, layer in pretrained.items() if isinstance(layer, keras.layers.Conv2D)]
    moved = [
        n for n in convolutions
        if np.max(np.abs(trained[n].weights[0].numpy() - pretrained[n].weights[0].numpy())) > 1e-4
    ]  # fmt: skip
    assert len(moved) >= len(convolutions) // 2, moved
