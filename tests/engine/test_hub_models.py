"""keras-hub entries through every engine entry point, on a real (randomly initialised) timm checkpoint.

timm makes a resnet18 in a subprocess (torch must not load in this process after TensorFlow) and saves it
in the Hub layout (config.json + model.safetensors); a loopback HTTP server serves the files to a user
registry entry, so `zoo.load` pulls, verifies and converts them as it would timm's own.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.registry import write_models
from support.servers import FaultServer

from zoo.engine import export, predict
from zoo.engine.build import backbone_and_head, load
from zoo.engine.hub_models import trainable_count
from zoo.engine.labels import imagenet_labels
from zoo.engine.reference import load as load_reference
from zoo.errors import ModelConfigError
from zoo.hub import cache
from zoo.registry import resolve

NAME = "test_resnet18.hub"
ARCH = "resnet18"
SIZE = 96  # the entry's input size: small, so building and predicting stay quick

MAKE_CHECKPOINT = textwrap.dedent(
    """
    import sys, timm, torch
    from timm.models._hub import save_for_hf
    torch.manual_seed(0)
    model = timm.create_model(sys.argv[1], pretrained=False, num_classes=1000)
    save_for_hf(model, sys.argv[2], safe_serialization=True)
    print(sum(p.numel() for p in model.parameters()))
    """
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[Path, int]:
    """A random timm resnet18 in the Hub layout, and timm's own parameter count of it."""
    folder = tmp_path_factory.mktemp("timm") / ARCH
    done = subprocess.run(
        [sys.executable, "-c", MAKE_CHECKPOINT, ARCH, str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return folder, int(done.stdout.strip().splitlines()[-1])


def serve_entry(monkeypatch, tmp_path, server: FaultServer, config: bytes, weights: bytes) -> str:
    """A user registry entry whose config and safetensors files come from `server` (pinned by sha256)."""
    stem = NAME.replace(".", "_")
    server.httpd.files.update({f"{stem}.config.json": config, f"{stem}.safetensors": weights})
    expected = json.loads(config) if config.startswith(b"{") else {}
    hub_config = {"architecture": ARCH, "num_classes": 1000, "num_features": 512, "global_pool": "avg"}
    hub_config |= {k: v for k, v in expected.items() if k == "pretrained_cfg"}

    def weight(file: str, data: bytes) -> dict:
        sha = hashlib.sha256(data).hexdigest()
        return {"file": file, "size": len(data), "sha256": sha, "sources": [server.file_url(file)]}

    entry = {
        "loader": "keras-hub", "layout": "timm", "arch": ARCH, "family": "resnet", "tags": ["timm"],
        "input_size": SIZE, "preprocess": "normalize", "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225], "interpolation": "bicubic", "crop_pct": 0.95, "num_classes": 1000,
        "hub_config": hub_config,
        "weights": {
            "top": weight(f"{stem}.safetensors", weights), "config": weight(f"{stem}.config.json", config),
        },
    }  # fmt: skip
    monkeypatch.setenv("ZOO_REGISTRY", str(write_models(tmp_path / "user.yaml", {NAME: entry})))
    return NAME


@pytest.fixture(scope="module")
def server():
    with FaultServer({}) as srv:
        yield srv


@pytest.fixture
def served(checkpoint, server, monkeypatch, tmp_path) -> str:
    folder, _ = checkpoint
    config, weights = (folder / "config.json").read_bytes(), (folder / "model.safetensors").read_bytes()
    return serve_entry(monkeypatch, tmp_path, server, config, weights)


def is_cached(variant: str) -> bool:
    spec = resolve(NAME)
    return cache.cached_path(spec, variant) is not None or cache.read_manifest(spec.name, variant) is not None


def images(folder: Path, count: int = 3) -> list[Path]:
    rng = np.random.default_rng(3)
    paths = []
    for i in range(count):
        paths.append(folder / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (120, 150, 3), dtype=np.uint8)).save(paths[-1])
    return paths


# ------------------------------------------------------------------------------------------- building
@pytest.mark.slow
def test_pretrained_classifier_features_and_new_head(served, capfd) -> None:
    classifier = load(served)
    assert classifier.input_shape == (None, SIZE, SIZE, 3) and classifier.output_shape == (None, 1000)
    assert classifier.layers[1].name == "preprocessing"
    x = np.random.default_rng(0).uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    logits = classifier.predict(x, verbose=0)
    assert not np.allclose(logits.sum(axis=1), 1.0), "keras-hub classifiers give logits, not softmax"

    features = load(served, include_top=False)
    assert features.output_shape == (None, 512)
    feature_map = load(served, include_top=False, pooling=None, input_shape=128)
    assert feature_map.output_shape == (None, 4, 4, 512)

    model, backbone = backbone_and_head(served, 5, dropout=0.1)
    assert model.output_shape == (None, 5) and model.get_layer("logits").units == 5
    assert model.get_layer(backbone.name) is backbone  # nested as one layer, so it can be frozen
    assert backbone.layers[-1].name == "avg_pool" and len(backbone.layers) > 20  # its own layers, flat
    assert capfd.readouterr().out == "", "keras-hub's chatter must not reach stdout"


@pytest.mark.slow
def test_weights_none_builds_from_the_registry_config_with_timms_parameter_count(
    checkpoint, served, server
) -> None:
    server.httpd.seen.clear()
    model = load(served, weights=None)
    assert trainable_count(model) == checkpoint[1]
    assert not server.seen, "weights=None builds from hub_config, without any download"
    assert not is_cached("config") and not is_cached("top")


def test_the_pretrained_classifier_keeps_its_input_size(served) -> None:
    with pytest.raises(ModelConfigError, match="needs input 96x96"):
        load(served, input_shape=128)


@pytest.mark.slow
def test_predict_names_imagenet_classes_and_reference_records_the_pulled_file(served, tmp_path) -> None:
    loaded = load_reference(served)
    assert (
        loaded.labels == imagenet_labels() and loaded.pulled_sha256 == cache.read_manifest(NAME, "top").sha256
    )
    results = predict(served, images(tmp_path), top=3)
    names = set(imagenet_labels())
    assert len(results) == 3 and all(len(r.top) == 3 and r.top[0].label in names for r in results)
    assert all(abs(sum(t.probability for t in r.top) - 1) < 1 for r in results)
    features = load_reference(served, features="avg")
    assert features.labels is None and features.pulled_sha256 == loaded.pulled_sha256


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["keras", "litert"])
def test_export_passes_its_agreement_check(served, tmp_path, fmt) -> None:
    result = export(served, tmp_path / f"model.{'keras' if fmt == 'keras' else 'tflite'}", fmt)
    assert result.path.exists() and result.agreement.max_rel < 1e-4
    if fmt == "keras":  # a fresh interpreter: Keras itself imports keras_hub for the layers it names
        code = "import sys; from zoo.engine.bundle import load_model_safely; load_model_safely(sys.argv[1])"
        done = subprocess.run([sys.executable, "-c", code, str(result.path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-1500:]


# ------------------------------------------------------------------------------------------ bad files
@pytest.mark.slow
def test_a_config_naming_another_architecture_is_refused_and_not_kept(
    checkpoint, server, monkeypatch, tmp_path
):
    folder, _ = checkpoint
    config = json.loads((folder / "config.json").read_text())
    wrong = json.dumps({**config, "architecture": "resnet34"}).encode()
    serve_entry(monkeypatch, tmp_path, server, wrong, (folder / "model.safetensors").read_bytes())
    with pytest.raises(ModelConfigError) as caught:
        load(NAME)
    message = str(caught.value)
    assert "config.json names architecture 'resnet34'" in message and "\n" not in message
    assert not is_cached("config") and not is_cached("top"), "the config is checked before the weights"


@pytest.mark.slow
def test_a_config_that_is_not_json_is_refused(checkpoint, server, monkeypatch, tmp_path):
    serve_entry(monkeypatch, tmp_path, server, b"<html>", (checkpoint[0] / "model.safetensors").read_bytes())
    with pytest.raises(ModelConfigError, match=r"config\.json is not JSON"):
        load(NAME)
    assert not is_cached("config")


def rewritten(folder: Path, change) -> bytes:
    """The checkpoint's safetensors with `change(tensors)` applied (the safetensors library's numpy API)."""
    from safetensors.numpy import load_file, save

    tensors = load_file(str(folder / "model.safetensors"))
    change(tensors)
    return save(tensors)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    ["truncated", "extra tensor", "wrong shape"],
)
def test_weights_that_do_not_fit_the_config_are_refused_and_dropped(
    checkpoint, server, monkeypatch, tmp_path, case
):
    folder, _ = checkpoint
    whole = (folder / "model.safetensors").read_bytes()
    weights = {
        "truncated": lambda: whole[: len(whole) // 2],
        # keras-hub reads tensors by name: one it never asks for (a bigger model's) would load silently
        "extra tensor": lambda: rewritten(folder, lambda t: t.update(extra=np.ones((7, 7), "float32"))),
        "wrong shape": lambda: rewritten(folder, lambda t: t.update({"fc.bias": np.zeros(10, "float32")})),
    }[case]()
    serve_entry(monkeypatch, tmp_path, server, (folder / "config.json").read_bytes(), weights)
    with pytest.raises(ModelConfigError, match=f"{NAME}: {NAME.replace('.', '_')}.safetensors") as caught:
        load(NAME, include_top=False)
    assert "\n" not in str(caught.value)
    assert not is_cached("top") and not is_cached("config"), "nothing stays cached as usable"


@pytest.mark.slow
def test_finetune_two_stages_on_a_keras_hub_backbone(served: str, tmp_path: Path) -> None:
    """`zoo finetune`'s recipe on a keras-hub backbone, on real photos: stage 1 trains the head on cached
    features, stage 2 unfreezes the top of the backbone, its BatchNormalization layers staying frozen."""
    import keras
    from support.realdata import CLASSES, photo_paths

    from zoo.transfer import finetune

    data = tmp_path / "data"
    for path in photo_paths(5, split="train"):
        label = path.parent.name
        if label in CLASSES[:2]:
            (data / label).mkdir(parents=True, exist_ok=True)
            (data / label / path.name).symlink_to(path)
    result = finetune(
        served, data, out=str(tmp_path / "run"), epochs=1, fine_tune_epochs=1, unfreeze=12, batch_size=4,
        val_split=0.2, verbose=False,
    )  # fmt: skip
    assert result.labels == list(CLASSES[:2])
    assert [h["stage"] for h in result.history] == [1, 2]
    backbone = next(layer for layer in result.model.layers if isinstance(layer, keras.Model))
    top = backbone.layers[-12:]
    norms = [layer for layer in top if isinstance(layer, keras.layers.BatchNormalization)]
    convs = [layer for layer in top if isinstance(layer, keras.layers.Conv2D)]
    assert norms and convs
    assert not any(layer.trainable for layer in norms)
    assert all(layer.trainable for layer in convs)
    reloaded = load_reference(str(result.run_dir))
    assert reloaded.labels == list(CLASSES[:2])
