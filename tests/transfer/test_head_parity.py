"""Head parity across Keras back-ends on real photos, measured by benchmarks/head_parity.py on a subset:
the same stage 1 (a new head on the real pretrained MobileNet 0.25 backbone, the same seed) on TensorFlow,
JAX and PyTorch, each in its own process computing its own backbone features, reaches validation accuracy
within 2 points of the others. Without dropout (no back-end randomness left) the validation losses agree
closely too, so a trainer that weighs, averages or steps differently on one back-end shows."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from support import REPO
from support.realdata import shared_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def test_a_head_trained_on_each_back_end_reaches_the_same_val_accuracy() -> None:
    shared_file("data", "ZOO_DATA", "trashnet6")  # skips when the photos are absent
    script = REPO / "benchmarks" / "head_parity.py"
    args = ["--train-per-class", "30", "--epochs", "30", "--image-size", "96", "--dropout", "0", "--json"]
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=850)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {row["backend"]: row for row in json.loads(done.stdout.strip().splitlines()[-1])}
    print("\n" + json.dumps(rows, indent=1))
    assert set(rows) == {"tensorflow", "jax", "torch"}
    accuracies = [row["val_accuracy"] for row in rows.values()]
    assert min(accuracies) > 0.3  # 6 classes: about twice chance (1/6), so the heads really learned
    assert max(accuracies) - min(accuracies) <= 0.02
    losses = [row["val_loss"] for row in rows.values()]
    assert max(losses) - min(losses) <= 1e-4 * min(losses)  # measured: 1e-6 apart
