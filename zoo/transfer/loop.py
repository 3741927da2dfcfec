"""The training loop: one train step run with `strategy.run` under the current tf.distribute strategy.

Why not `model.fit`: Keras 3's fit fails under MultiWorkerMirroredStrategy with TF 2.21
(keras-team/keras#20585). This loop works the same under the default strategy (one CPU), MirroredStrategy
and MultiWorkerMirroredStrategy, so scaling out needs no second trainer:
- the model, the optimizer and every variable are created by the caller inside `strategy.scope()`;
- batches come from `strategy.experimental_distribute_dataset` (per-worker sharding, global batch size);
- the per-example loss is averaged over the global batch (its example count summed across replicas, so
  an uneven last batch counts right), so gradients summed across replicas equal the single-device ones;
- loss/accuracy sums are reduced across replicas with `strategy.reduce(SUM)`.

Randomness is reproducible and resumable: the data order of (seed, stage, epoch) is drawn fresh from
numpy each epoch, and dropout/augmentation RNG states are model variables saved in every checkpoint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo.choices import OPTIMIZERS
from zoo.errors import InvalidSetting

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

PROGRESS_UPDATES = 20  # progress-bar updates per epoch (train steps run in that many graph calls)


@dataclass(frozen=True)
class OptimizerSettings:
    name: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9  # sgd and rmsprop only
    nesterov: bool = False  # sgd only
    weight_decay: float = 0.0
    decay_steps: int = 0  # > 0: cosine decay to 0 over this many steps (after the warm-up)
    warmup_steps: int = 0  # with decay_steps: linear warm-up from 0 to learning_rate first


def learning_rate(settings: OptimizerSettings) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """The constant rate, or warm-up then cosine decay (keras' CosineDecay, stepped by the optimizer)."""
    if settings.decay_steps <= 0:
        return settings.learning_rate
    import keras

    return keras.optimizers.schedules.CosineDecay(
        0.0 if settings.warmup_steps else settings.learning_rate,
        settings.decay_steps,
        warmup_target=settings.learning_rate if settings.warmup_steps else None,
        warmup_steps=settings.warmup_steps,
    )


def make_optimizer(settings: OptimizerSettings) -> keras.optimizers.Optimizer:
    """A Keras optimizer from settings (create it inside strategy.scope())."""
    import keras

    wd = settings.weight_decay or None
    lr = learning_rate(settings)
    if settings.name == "adam":
        return keras.optimizers.Adam(lr, weight_decay=wd)
    if settings.name == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=settings.weight_decay or 0.004)
    if settings.name == "sgd":
        return keras.optimizers.SGD(
            lr, momentum=settings.momentum, nesterov=settings.nesterov, weight_decay=wd
        )
    if settings.name == "rmsprop":
        return keras.optimizers.RMSprop(lr, momentum=settings.momentum, weight_decay=wd)
    if settings.name == "adagrad":
        return keras.optimizers.Adagrad(lr, weight_decay=wd)
    raise InvalidSetting(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {settings.name!r}")


@dataclass(frozen=True)
class EpochStats:
    loss: float
    accuracy: float
    count: int


class Trainer:
    """Trains `model` (logits out) with `optimizer`; `augment` (a Keras model or None) runs on each batch."""

    def __init__(
        self,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        *,
        num_classes: int,
        label_smoothing: float = 0.0,
        class_weight: np.ndarray | None = None,
        augment: keras.Model | None = None,
        strategy: tf.distribute.Strategy | None = None,
    ) -> None:
        import tensorflow as tf

        self.tf = tf
        self.strategy = strategy or tf.distribute.get_strategy()
        self.model = model
        self.optimizer = optimizer
        self.augment = augment
        self.num_classes = num_classes
        self.label_smoothing = float(label_smoothing)
        weights = np.ones(num_classes, np.float32) if class_weight is None else class_weight
        self.class_weight = tf.constant(np.asarray(weights, np.float32))
        self._train_steps = tf.function(self._distributed_train_steps, reduce_retracing=True)
        self._eval_step = tf.function(self._distributed_eval_step, reduce_retracing=True)

    # ------------------------------------------------------------------------- per-replica computation
    def _per_example_loss(self, labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        tf = self.tf
        targets = tf.one_hot(labels, self.num_classes)
        if self.label_smoothing:
            targets = targets * (1.0 - self.label_smoothing) + self.label_smoothing / self.num_classes
        return tf.nn.softmax_cross_entropy_with_logits(targets, tf.cast(logits, tf.float32))

    def _logits(self, images: tf.Tensor, training: bool) -> tf.Tensor:
        """float32 logits of a replica's batch (augmented when training). An empty batch - a worker's
        share of a last batch smaller than the replica count - skips the model: TF's CPU convolution
        hands an empty input back unchanged, which the next layer then rejects."""
        tf = self.tf

        def forward() -> tf.Tensor:
            x = tf.cast(images, tf.float32)  # uint8 pixels or float features
            if training and self.augment is not None:
                x = self.augment(x, training=True)
            return tf.cast(self.model(x, training=training), tf.float32)

        return tf.cond(tf.shape(images)[0] > 0, forward, lambda: tf.zeros([0, self.num_classes], tf.float32))

    def _replica_train_step(self, images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, ...]:
        tf = self.tf
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            logits = self._logits(images, training=True)
            per_example = self._per_example_loss(labels, logits)
            weighted = per_example * tf.gather(self.class_weight, labels)
            # over the examples of the whole global batch: a last, partial batch may split unevenly
            # across replicas (compute_average_loss alone assumes every replica has as many)
            global_count = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, tf.cast(tf.shape(labels)[0], tf.float32)
            )
            loss = tf.math.divide_no_nan(tf.reduce_sum(weighted), global_count)
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return self._sums(labels, logits, per_example)

    def _replica_eval_step(self, images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, ...]:
        logits = self._logits(images, training=False)
        return (*self._sums(labels, logits, self._per_example_loss(labels, logits)), logits)

    def _sums(self, labels: tf.Tensor, logits: tf.Tensor, per_example: tf.Tensor) -> tuple[tf.Tensor, ...]:
        tf = self.tf
        correct = tf.cast(tf.equal(tf.argmax(logits, -1, output_type=labels.dtype), labels), tf.float32)
        count = tf.cast(tf.shape(labels)[0], tf.float32)
        return tf.reduce_sum(per_example), tf.reduce_sum(correct), count

    def _distributed_train_steps(self, iterator: Any, steps: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """`steps` train steps in one graph call (a call per step costs more than a small head's step)."""
        tf = self.tf
        totals = (tf.constant(0.0), tf.constant(0.0), tf.constant(0.0))
        for _ in tf.range(steps):
            sums = self.strategy.run(self._replica_train_step, args=next(iterator))
            reduced = [self.strategy.reduce(tf.distribute.ReduceOp.SUM, s, axis=None) for s in sums]
            totals = tuple(t + r for t, r in zip(totals, reduced, strict=True))
        return totals

    def _distributed_eval_step(self, iterator: Any) -> tuple[tf.Tensor, ...]:
        # the batch comes from the iterator inside the graph: its spec has an unknown batch size, so the
        # last, smaller batch does not trace the function a second time
        *sums, logits = self.strategy.run(self._replica_eval_step, args=next(iterator))
        reduced = tuple(self.strategy.reduce(self.tf.distribute.ReduceOp.SUM, s, axis=None) for s in sums)
        return (*reduced, self.strategy.gather(logits, axis=0))

    # ------------------------------------------------------------------------------------ host-side API
    def _dataset(self, x: np.ndarray, y: np.ndarray, batch_size: int):
        tf = self.tf
        ds = tf.data.Dataset.from_tensor_slices((x, y.astype(np.int32))).batch(batch_size)
        return self.strategy.experimental_distribute_dataset(ds.prefetch(tf.data.AUTOTUNE))

    def train_epoch(
        self,
        x: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        order: np.ndarray,
        on_step: Callable[[int, float, float], None] | None = None,
    ) -> EpochStats:
        """One pass over (x, y) in `order`, `batch_size` examples per global batch.

        Steps run in chunks of about a twentieth of the epoch per graph call; `on_step` is called after
        each chunk with the step reached and the running loss and accuracy."""
        steps = -(-len(order) // batch_size)
        chunk = max(1, steps // PROGRESS_UPDATES)
        iterator = iter(self._dataset(x[order], y[order], batch_size))
        loss_sum = correct = count = 0.0
        done = 0
        while done < steps:
            n = min(chunk, steps - done)
            sums = [float(v) for v in self._train_steps(iterator, self.tf.constant(n))]
            loss_sum, correct, count = loss_sum + sums[0], correct + sums[1], count + sums[2]
            done += n
            if on_step is not None:
                on_step(done, loss_sum / count, correct / count)
        return EpochStats(loss_sum / max(count, 1.0), correct / max(count, 1.0), int(count))

    def evaluate(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[EpochStats, np.ndarray]:
        """Loss, accuracy and the logits of every example (in order)."""
        loss_sum = correct = count = 0.0
        all_logits = []
        iterator = iter(self._dataset(x, y, batch_size))
        for _ in range(-(-len(y) // batch_size)):
            batch_loss, batch_correct, batch_count, logits = self._eval_step(iterator)
            loss_sum, correct = loss_sum + float(batch_loss), correct + float(batch_correct)
            count += float(batch_count)
            all_logits.append(np.asarray(logits, np.float32))
        logits = np.concatenate(all_logits) if all_logits else np.zeros((0, self.num_classes), np.float32)
        return EpochStats(loss_sum / max(count, 1.0), correct / max(count, 1.0), int(count)), logits


def epoch_order(n: int, seed: int, stage: int, epoch: int) -> np.ndarray:
    """The shuffled example order of one epoch: a pure function of (seed, stage, epoch), so a resumed run
    sees exactly the batches an uninterrupted one would have."""
    return np.random.default_rng([seed, stage, epoch]).permutation(n)
