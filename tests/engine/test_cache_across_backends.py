"""One model, one identity on every Keras back-end: the same .keras file or .h5 weights loaded on
TensorFlow, JAX and PyTorch has one fingerprint (zoo.bench.auto's decisions and gates) and one digest (the
conversion cache's key when no cache_key is given), so a conversion of an ad-hoc model made on TensorFlow
is found by a torch process without starting a TensorFlow child. Each back-end in its own child process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import child_env
from support.realdata import CLASSIFIER_FILE, shared_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def probe(backend: str, home: Path, job: dict, job_file: Path) -> dict:
    """support.fingerprint_probe on `backend`, its answer."""
    job_file.write_text(json.dumps(job), encoding="utf-8")
    env = child_env(ZOO_HOME=str(home), KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    command = [sys.executable, "-m", "support.fingerprint_probe", str(job_file)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_file_has_one_identity_and_one_conversion_on_every_back_end(tmp_path: Path) -> None:
    home = tmp_path / "zoo_home"
    weights = str(shared_file("fixtures", "ZOO_FIXTURES", CLASSIFIER_FILE))
    job = {"file": str(tmp_path / "classifier.keras"), "weights": weights, "runtime": "litert"}
    # TensorFlow saves the file and converts it without a cache_key (the key is then the model's digest)
    made = probe("tensorflow", home, {**job, "save": True}, tmp_path / "tensorflow.json")
    converted = Path(made["converted"])
    assert converted.is_file() and converted.parent == home / "converted"
    jax = probe("jax", home, {**job, "runtime": None}, tmp_path / "jax.json")
    torch = probe("torch", home, job, tmp_path / "torch.json")
    assert [made["backend"], jax["backend"], torch["backend"]] == ["tensorflow", "jax", "torch"]
    for seen in (jax, torch):
        assert seen["file"] == made["file"] and seen["weights"] == made["weights"], seen["backend"]
    assert made["file"][0] != made["weights"][0]  # the file has a raw-RGB input layer in front
    # torch finds TensorFlow's conversion itself: no TensorFlow child, no TensorFlow import
    assert torch["converted"] == str(converted)
    assert (torch["tensorflow_imported"], torch["tensorflow_children"]) == (False, 0)
    assert [p.name for p in (home / "converted").glob("*.tflite")] == [converted.name]
