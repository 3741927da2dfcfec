"""The training loop on JAX and PyTorch: Keras 3's own `train_on_batch` (jitted on JAX, eager on torch), with
the interface of zoo.transfer.loop.Trainer (the TensorFlow path, which stays on tf.distribute).

The same arithmetic as the TensorFlow loop: softmax cross-entropy on logits with label smoothing, each
example weighted by its class weight (carried to the loss as a last column of the targets), summed and
divided by the batch's example count; the data order of
an epoch comes from loop.epoch_order; evaluation is unweighted, from the logits.

Several JAX devices: `keras.distribution.DataParallel` splits every batch across the devices (the
`KerasStrategy` of the run, entered around the whole run). A batch must split evenly, so a last, smaller
batch is padded with copies of its first rows at sample weight 0, and the real rows' sample weights are
scaled so that the loss is still divided by the real example count (the gradients equal the unpadded
batch's); the training loss and accuracy shown are weighted metrics, so the padding rows count for nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.transfer.loop import PROGRESS_UPDATES, EpochStats
from zoo.transfer.scores import log_softmax, smoothed_targets

if TYPE_CHECKING:
    import keras


class KerasStrategy:
    """What a run trains on off TensorFlow: one device, or JAX data parallelism over `devices`."""

    def __init__(self, devices: list[str] | None = None) -> None:
        self.distribution = None
        if devices and len(devices) > 1:
            import keras

            self.distribution = keras.distribution.DataParallel(devices=devices)
        self.num_replicas_in_sync = len(devices) if self.distribution is not None else 1

    def scope(self) -> contextlib.AbstractContextManager[Any]:
        return self.distribution.scope() if self.distribution is not None else contextlib.nullcontext()

    def describe(self) -> str:
        import keras

        if self.distribution is None:
            return f"strategy: one device ({keras.config.backend()})"
        return f"strategy: keras.distribution.DataParallel, {self.num_replicas_in_sync} devices (jax)"


def create_keras_strategy(name: str) -> KerasStrategy:
    """auto: every local device on JAX when there are several, else one; default: one; mirrored: every
    local device on JAX (the caller refuses it on torch, and multi-worker on both)."""
    import keras

    if name == "default" or keras.config.backend() != "jax":
        return KerasStrategy()
    return KerasStrategy(keras.distribution.list_devices())


class KerasTrainer:
    """Trains `model` (logits out) with `optimizer` through Keras' train_on_batch; `augment` (a Keras model
    or None) runs in front of it while training. `optimizer=None`: an evaluator only."""

    def __init__(
        self,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer | None,
        *,
        num_classes: int,
        label_smoothing: float = 0.0,
        class_weight: np.ndarray | None = None,
        augment: keras.Model | None = None,
        replicas: int = 1,
    ) -> None:
        import keras

        self.model = model
        self.optimizer = optimizer
        self.num_classes = num_classes
        self.label_smoothing = float(label_smoothing)
        weights = np.ones(num_classes, np.float32) if class_weight is None else class_weight
        self.class_weight = np.asarray(weights, np.float32)
        self.replicas = max(1, replicas)
        self._fit_model = None
        if optimizer is not None:
            # a model of its own to compile: the classifier saved in the bundle stays uncompiled
            inputs = keras.Input(model.input_shape[1:], name="train_input")
            x = augment(inputs, training=True) if augment is not None else inputs
            self._fit_model = keras.Model(inputs, model(x), name="train_model")
            # the weighted metrics see only the padding mask: their means are over the real rows
            plain, accuracy = _metrics(num_classes, self.label_smoothing)
            self._fit_model.compile(
                optimizer=optimizer,
                loss=_class_weighted_loss(num_classes, self.label_smoothing),
                weighted_metrics=[plain, accuracy],
            )

    def _padded(self, *arrays: np.ndarray) -> tuple[list[np.ndarray], int]:
        """`arrays` padded to a multiple of the replica count with their first rows; the real row count."""
        count = len(arrays[0])
        extra = -count % self.replicas
        if not extra:
            return list(arrays), count
        rows = np.arange(extra) % count
        return [np.concatenate([a, a[rows]]) for a in arrays], count

    def _train_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float, int]:
        # each row: one-hot target, then its class weight (a column the loss reads)
        targets = np.eye(self.num_classes + 1, self.num_classes, dtype=np.float32)[y]
        targets = np.concatenate([targets, self.class_weight[y][:, None]], axis=1)
        (x, targets), count = self._padded(x.astype(np.float32), targets)
        mask = np.zeros(len(targets), np.float32)
        mask[:count] = len(targets) / count  # Keras divides the loss by the padded size
        logs = self._fit_model.train_on_batch(x, targets, sample_weight=mask, return_dict=True)
        return float(logs["plain_loss"]) * count, float(logs["accuracy"]) * count, count

    def train_epoch(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        order: np.ndarray,
        on_step: Callable[[int, float, float], None] | None = None,
    ) -> EpochStats:
        """One pass over (x, y) in `order`; `on_step` about PROGRESS_UPDATES times an epoch."""
        steps = -(-len(order) // batch_size)
        every = max(1, steps // PROGRESS_UPDATES)
        loss_sum = correct = count = 0.0
        for step, rows in enumerate(_batches(order, batch_size), 1):
            batch_loss, batch_correct, batch_count = self._train_batch(x[rows], y[rows])
            loss_sum, correct, count = loss_sum + batch_loss, correct + batch_correct, count + batch_count
            if on_step is not None and (step % every == 0 or step == steps):
                on_step(step, loss_sum / count, correct / count)
        return EpochStats(loss_sum / max(count, 1.0), correct / max(count, 1.0), int(count))

    def logits(self, x: np.ndarray, batch_size: int) -> np.ndarray:
        """float32 logits in inference mode, in order."""
        import keras

        out = []
        for rows in _batches(np.arange(len(x)), batch_size):
            (batch,), count = self._padded(x[rows].astype(np.float32))
            logits = self.model.predict_on_batch(batch)
            out.append(keras.ops.convert_to_numpy(logits).astype(np.float32)[:count])
        return np.concatenate(out) if out else np.zeros((0, self.num_classes), np.float32)

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[EpochStats, np.ndarray]:
        """Loss, accuracy and the logits of every example (in order)."""
        logits = self.logits(x, batch_size)
        targets = smoothed_targets(y, self.num_classes, self.label_smoothing)
        losses = -(targets * log_softmax(logits)).sum(axis=1)
        accuracy = float(np.mean(logits.argmax(axis=1) == y)) if len(y) else 0.0
        return EpochStats(float(losses.mean()) if len(y) else 0.0, accuracy, len(y)), logits


def _plain_loss(num_classes: int, label_smoothing: float) -> Callable[[Any, Any], Any]:
    """Softmax cross-entropy on logits against the one-hot part of the target (its first columns)."""
    import keras

    def plain_loss(targets: Any, logits: Any) -> Any:
        return keras.losses.categorical_crossentropy(
            targets[:, :num_classes], logits, from_logits=True, label_smoothing=label_smoothing
        )

    return plain_loss


def _class_weighted_loss(num_classes: int, label_smoothing: float) -> Callable[[Any, Any], Any]:
    """The plain loss times each row's class weight (the target's last column)."""
    plain = _plain_loss(num_classes, label_smoothing)

    def loss(targets: Any, logits: Any) -> Any:
        return plain(targets, logits) * targets[:, num_classes]

    return loss


def _metrics(num_classes: int, label_smoothing: float) -> list:
    """The unweighted loss and the accuracy of the rows trained on."""
    import keras

    plain_loss = _plain_loss(num_classes, label_smoothing)

    def accuracy(targets: Any, logits: Any) -> Any:
        right = keras.ops.argmax(targets[:, :num_classes], axis=-1) == keras.ops.argmax(logits, axis=-1)
        return keras.ops.cast(right, "float32")

    return [
        keras.metrics.MeanMetricWrapper(plain_loss, name="plain_loss"),
        keras.metrics.MeanMetricWrapper(accuracy, name="accuracy"),
    ]


def _batches(order: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]
