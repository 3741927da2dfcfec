"""The run-directory bundle: save, load, safe loading, and the errors readers see."""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pytest
from support.models import tiny_cnn

from zoo.engine.bundle import is_bundle, load_bundle, save_bundle
from zoo.errors import RunDirError, UnsafeModelError


def tiny_classifier(num_classes: int = 3) -> keras.Model:
    return tiny_cnn(8, num_classes, filters=4, activation=None, rescale=True)


def test_save_then_load_round_trips_model_labels_config(tmp_path: Path) -> None:
    model = tiny_classifier()
    config = {"model": "nope", "image_size": 8}
    run = save_bundle(tmp_path / "run", model, ["a", "b", "c"], config, {"acc": 1})
    assert is_bundle(run)
    bundle = load_bundle(run)
    x = np.random.default_rng(0).uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(bundle.model.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert bundle.labels == ["a", "b", "c"]
    assert bundle.config == {"model": "nope", "image_size": 8}
    assert bundle.metrics == {"acc": 1}
    assert bundle.spec is None  # "nope" is not a registered model
    assert bundle.image_size == 8
    assert not list(run.glob(".*"))  # no temporary files left behind


def test_lambda_layer_is_refused_not_run(tmp_path: Path) -> None:
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda t: t * 2.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(outputs))
    run = save_bundle(tmp_path / "run", model, ["x", "y"], {})
    with pytest.raises(UnsafeModelError, match="unsafe deserialization"):
        load_bundle(run)


def test_missing_files_and_mismatched_labels(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="no such run directory"):
        load_bundle(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunDirError, match="model.keras is missing"):
        load_bundle(tmp_path / "empty")
    run = save_bundle(tmp_path / "run", tiny_classifier(2), ["a", "b"], {})
    (run / "labels.json").write_text(json.dumps(["a", "b", "c"]))
    with pytest.raises(RunDirError, match="2 outputs but labels.json has 3"):
        load_bundle(run)
    (run / "labels.json").write_text("{not json")
    with pytest.raises(RunDirError, match="not valid JSON"):
        load_bundle(run)
    with pytest.raises(ValueError, match="2 outputs but 3 labels"):
        save_bundle(tmp_path / "other", tiny_classifier(2), ["a", "b", "c"], {})
