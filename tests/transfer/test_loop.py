"""The tf.distribute training loop on tiny hand-built Keras models, and the validation scores."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from zoo.transfer.loop import OptimizerSettings, Trainer, epoch_order, make_optimizer
from zoo.transfer.scores import classification_scores


def blobs(n_per_class: int = 30, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well separated Gaussian clusters in 4-d."""
    rng = np.random.default_rng(seed)
    centres = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], np.float32)
    x = np.concatenate([c + rng.normal(0, 0.5, (n_per_class, 4)) for c in centres]).astype(np.float32)
    y = np.repeat(np.arange(3), n_per_class).astype(np.int32)
    return x, y


def linear_model(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(3)(inputs))


def test_trainer_learns_separable_blobs() -> None:
    x, y = blobs()
    model = linear_model()
    trainer = Trainer(model, make_optimizer(OptimizerSettings("adam", 0.05)), num_classes=3)
    before, _ = trainer.evaluate(x, y, 16)
    for epoch in range(1, 6):
        stats = trainer.train_epoch(x, y, 16, epoch_order(len(y), 0, 1, epoch))
        assert stats.count == len(y)
    after, logits = trainer.evaluate(x, y, 16)
    assert after.loss < before.loss / 2
    assert after.accuracy == 1.0
    assert logits.shape == (90, 3)
    np.testing.assert_allclose(logits, model.predict(x, verbose=0), atol=1e-5)


def test_class_weights_scale_the_gradient() -> None:
    """With SGD, doubling every class weight doubles the update: the loss is weighted per example."""
    x, y = blobs(4)
    deltas = []
    for weight in (1.0, 2.0):
        model = linear_model(seed=3)
        start = [w.copy() for w in model.get_weights()]
        trainer = Trainer(
            model,
            make_optimizer(OptimizerSettings("sgd", 0.1, momentum=0.0)),
            num_classes=3,
            class_weight=np.full(3, weight, np.float32),
        )
        trainer.train_epoch(x, y, len(y), np.arange(len(y)))
        deltas.append(model.get_weights()[0] - start[0])
    np.testing.assert_allclose(deltas[1], 2 * deltas[0], rtol=1e-4, atol=1e-7)


def test_label_smoothing_matches_the_formula() -> None:
    model = linear_model()
    trainer = Trainer(model, make_optimizer(OptimizerSettings()), num_classes=3, label_smoothing=0.3)
    logits = np.array([[2.0, 0.0, -1.0]], np.float32)
    got = float(trainer._per_example_loss(np.array([0], np.int32), logits)[0])
    log_p = logits[0] - np.log(np.exp(logits[0]).sum())
    target = np.array([0.7 + 0.1, 0.1, 0.1])
    assert got == pytest.approx(float(-(target * log_p).sum()), rel=1e-5)


@pytest.mark.parametrize(
    ("settings", "kind", "checks"),
    [
        (OptimizerSettings("adam", 0.01), keras.optimizers.Adam, {}),
        (OptimizerSettings("adamw", 0.01, weight_decay=0.05), keras.optimizers.AdamW, {"weight_decay": 0.05}),
        (OptimizerSettings("sgd", 0.1, 0.8, True), keras.optimizers.SGD, {"momentum": 0.8, "nesterov": True}),
        (OptimizerSettings("rmsprop", 0.1, 0.5), keras.optimizers.RMSprop, {"momentum": 0.5}),
        (
            OptimizerSettings("adagrad", 0.1, weight_decay=1e-4),
            keras.optimizers.Adagrad,
            {"weight_decay": 1e-4},
        ),
    ],
)
def test_make_optimizer(settings: OptimizerSettings, kind: type, checks: dict) -> None:
    optimizer = make_optimizer(settings)
    assert type(optimizer) is kind
    assert float(optimizer.learning_rate) == pytest.approx(settings.learning_rate)
    for name, value in checks.items():
        assert getattr(optimizer, name) == pytest.approx(value)
    with pytest.raises(ValueError, match="optimizer must be one of"):
        make_optimizer(OptimizerSettings("lion"))


def test_epoch_order_is_a_pure_function_of_seed_stage_epoch() -> None:
    a = epoch_order(50, 1, 1, 3)
    assert sorted(a) == list(range(50))
    np.testing.assert_array_equal(a, epoch_order(50, 1, 1, 3))
    assert not np.array_equal(a, epoch_order(50, 1, 1, 4))
    assert not np.array_equal(a, epoch_order(50, 1, 2, 3))


def test_classification_scores_values() -> None:
    labels = [0, 0, 1, 1, 2]
    predicted = [0, 1, 1, 1, 0]
    logits = np.eye(3)[predicted] * 5.0
    scores = classification_scores(labels, logits, ["a", "b", "c"])
    assert scores["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    assert scores["val_accuracy"] == pytest.approx(3 / 5)
    assert scores["per_class"]["a"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    b = scores["per_class"]["b"]
    assert b["precision"] == pytest.approx(2 / 3) and b["recall"] == 1.0 and b["f1"] == pytest.approx(0.8)
    assert scores["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    log_total = np.log(np.exp(5.0) + 2)  # logits (5, 0, 0): the true class scores 5 or 0
    right, wrong = log_total - 5.0, log_total
    assert scores["val_loss"] == pytest.approx((3 * right + 2 * wrong) / 5, rel=1e-6)


MIRRORED = textwrap.dedent(
    """
    import json, numpy as np, tensorflow as tf, keras
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from zoo.transfer.loop import OptimizerSettings, Trainer, epoch_order, make_optimizer
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32"); y = (x[:, 0] > 0).astype("int32")

    def train(strategy):
        with strategy.scope():
            keras.utils.set_random_seed(1)
            inputs = keras.Input((4,)); model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
            optimizer = make_optimizer(OptimizerSettings("sgd", 0.1, 0.9))
            optimizer.build(model.trainable_variables)
        trainer = Trainer(model, optimizer, num_classes=2, strategy=strategy)
        losses = [trainer.train_epoch(x, y, 16, epoch_order(64, 0, 1, e)).loss for e in (1, 2, 3)]
        return losses, model.get_weights()[0]

    one, w1 = train(tf.distribute.get_strategy())
    two, w2 = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    print(json.dumps({"losses": [one, two], "max_weight_diff": float(np.abs(w1 - w2).max())}))
    """
)


@pytest.mark.slow
@pytest.mark.timeout(600)  # the child is allowed 300 s
def test_mirrored_strategy_on_two_logical_cpus_matches_one_device() -> None:
    """The same loop under MirroredStrategy (global batch split over 2 replicas) = the default strategy."""
    done = subprocess.run([sys.executable, "-c", MIRRORED], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    np.testing.assert_allclose(result["losses"][0], result["losses"][1], atol=1e-5)
    assert result["max_weight_diff"] < 1e-5
