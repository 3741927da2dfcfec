"""The empirical verdict: does keras-hub's conversion of a timm architecture reproduce timm's logits?

A randomly initialised timm model (BatchNorm statistics randomised too, so a mis-ported BN shows) is saved
in the Hugging Face layout, loaded back through `keras_hub.models.ImageClassifier.from_preset`, and both
forwards run on the same normalised input (NCHW for timm, NHWC for Keras). Supported means
max|diff| / max|timm logits| <= TOLERANCE and equal trainable parameter counts.

torch and timm must be imported before TensorFlow in one process (the other order segfaults), so this
module imports them at the top and keras_hub only inside the check.
"""

from __future__ import annotations

import contextlib
import io
import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import safetensors
import timm
import torch
from timm.models._hub import save_for_hf

from zoo.engine.hub_config import keras_hub_config

TOLERANCE = 1e-4


@dataclass(frozen=True)
class Verdict:
    supported: bool
    reason: str | None  # why not, one line; None when supported
    relative_error: float | None
    timm_params: int | None
    keras_params: int | None

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def _randomise_batchnorm(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Non-trivial running statistics and affine terms: a BN ported wrongly (or not at all) changes logits."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.running_mean is not None:
            count = module.num_features
            with torch.no_grad():
                module.running_mean.copy_(torch.randn(count, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(count, generator=generator) * 0.5 + 0.75)
                if module.weight is not None:
                    module.weight.copy_(torch.rand(count, generator=generator) * 0.5 + 0.75)
                    module.bias.copy_(torch.randn(count, generator=generator) * 0.1)


def _converter_rejects(architecture: str) -> str | None:
    """keras-hub's own config conversion, run first: it refuses most architectures without building any."""
    from keras_hub.src.utils.timm.preset_loader import TimmPresetLoader

    try:
        converter = TimmPresetLoader(None, {"architecture": architecture}).converter
    except ValueError as error:
        return " ".join(str(error).split())
    try:
        converter.convert_backbone_config({"architecture": architecture})
    except (ValueError, KeyError):  # "Currently, the architecture X is not supported." or a config look-up
        name = converter.__name__.rsplit(".", 1)[-1].removeprefix("convert_")
        return f"keras-hub's {name} converter does not support {architecture}"
    return None


def _tensor_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    with safetensors.safe_open(str(path), framework="pt") as weights:
        return {key: tuple(weights.get_slice(key).get_shape()) for key in weights.keys()}  # noqa: SIM118


def check(architecture: str, size: int, representative_tag: str | None = None, seed: int = 0) -> Verdict:
    """The verdict for `architecture` at `size` pixels; the model carries `representative_tag`'s
    pretrained_cfg, since keras-hub reads some of it (hgnetv2 builds differently for "ssld" tags)."""
    rejected = _converter_rejects(architecture)
    if rejected is not None:
        return Verdict(False, rejected, None, None, None)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = timm.create_model(representative_tag or architecture, pretrained=False, num_classes=1000).eval()
    _randomise_batchnorm(model, generator)
    timm_params = sum(p.numel() for p in model.parameters())
    pixels = torch.randn(1, 3, size, size, generator=generator)
    with torch.no_grad():
        expected = model(pixels).numpy()
    with tempfile.TemporaryDirectory() as folder:
        save_for_hf(model, folder, safe_serialization=True)
        del model
        config_path = Path(folder) / "config.json"
        config = json.loads(config_path.read_text())
        corrected = keras_hub_config(config, _tensor_shapes(Path(folder) / "model.safetensors"))
        config_path.write_text(json.dumps(corrected))
        return _compare(folder, pixels.numpy(), expected, timm_params)


def _compare(folder: str, pixels: np.ndarray, expected: np.ndarray, timm_params: int) -> Verdict:
    import keras
    import keras_hub

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # keras-hub prints a line per ported tensor
            classifier = keras_hub.models.ImageClassifier.from_preset(folder)
    except (ValueError, KeyError) as error:
        return Verdict(
            False, "keras-hub cannot load it: " + " ".join(str(error).split())[:300], None, timm_params, None
        )
    keras_params = sum(int(np.prod(w.shape)) for w in classifier.trainable_weights)
    actual = keras.ops.convert_to_numpy(classifier(np.transpose(pixels, (0, 2, 3, 1)), training=False))
    keras.backend.clear_session()
    if actual.shape != expected.shape:
        return Verdict(
            False,
            f"conversion gives logits of shape {actual.shape}, timm {expected.shape}",
            None,
            timm_params,
            keras_params,
        )
    error = float(np.max(np.abs(actual - expected)) / np.max(np.abs(expected)))
    if keras_params != timm_params:
        reason = f"conversion has {keras_params:,} parameters, timm {timm_params:,}"
        return Verdict(False, reason, error, timm_params, keras_params)
    if not error <= TOLERANCE:
        reason = f"conversion disagrees with timm: max relative logit error {error:.1e}"
        return Verdict(False, reason, error, timm_params, keras_params)
    return Verdict(True, None, error, timm_params, keras_params)
