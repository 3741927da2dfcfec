"""Which trainer, strategy and checkpoint format a run uses, by Keras back-end: on TensorFlow the
tf.distribute loop (zoo.transfer.loop, distribute) and tf.train checkpoints (zoo.transfer.rundir); on JAX
and PyTorch Keras' own train_on_batch (zoo.transfer.keras_loop) and .npz checkpoints
(zoo.transfer.npz_checkpoints). The run directory's bundle (model.keras) is the same on every back-end.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import config
from zoo.errors import BackendUnavailable
from zoo.transfer import npz_checkpoints, rundir
from zoo.transfer.distribute import Cluster, create_strategy, describe_strategy
from zoo.transfer.keras_loop import KerasStrategy, KerasTrainer, create_keras_strategy

if TYPE_CHECKING:
    import keras
    import numpy as np

# the strategies that exist off TensorFlow, per back-end (multi-worker is tf.distribute's)
_KERAS_STRATEGIES = {"jax": ("auto", "default", "mirrored"), "torch": ("auto", "default")}
_RESUME_HINT = "resume it on the back-end it started on: `zoo --backend {0}` (or KERAS_BACKEND={0})"


def on_tensorflow() -> bool:
    return config.keras_backend() == "tensorflow"


def check_strategy(strategy: str) -> None:
    """Refuse (exit 2) a strategy the active back-end has no trainer for, before any work."""
    backend = config.keras_backend()
    if backend == "tensorflow" or strategy in _KERAS_STRATEGIES.get(backend, ()):
        return
    multi = "multi-worker" if strategy == "multi-worker" else f"strategy {strategy!r}"
    raise BackendUnavailable(
        f"{multi} training runs on the TensorFlow back-end only (this process uses {backend})",
        hint="run it with `zoo --backend tensorflow`; on JAX, strategy auto trains on every local device "
        "(keras.distribution data parallelism)",
    )


def check_resume_backend(run_dir: Path) -> None:
    """Refuse (exit 2) resuming a run whose checkpoints another back-end's trainer wrote."""
    npz_run = npz_checkpoints.is_npz_run(run_dir)
    if npz_run == (not on_tensorflow()) or not rundir.checkpoints_dir(run_dir).is_dir():
        return
    started = "jax or torch" if npz_run else "tensorflow"
    raise BackendUnavailable(
        f"{run_dir} was trained on {started}; its checkpoints do not resume on {config.keras_backend()}",
        hint=_RESUME_HINT.format("jax" if npz_run else "tensorflow"),
    )


def make_strategy(name: str, cluster: Cluster | None, peer_timeout: float) -> Any:
    if on_tensorflow():
        return create_strategy(name, cluster, peer_timeout)
    return create_keras_strategy(name)


def describe(strategy: Any, cluster: Cluster | None) -> str:
    if isinstance(strategy, KerasStrategy):
        return strategy.describe()
    return describe_strategy(strategy, cluster)


def run_scope(strategy: Any) -> contextlib.AbstractContextManager[Any]:
    """The scope a whole run trains in: the JAX distribution (tf.distribute enters its own per call)."""
    return strategy.scope() if isinstance(strategy, KerasStrategy) else contextlib.nullcontext()


def make_trainer(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer | None,
    *,
    num_classes: int,
    label_smoothing: float = 0.0,
    class_weight: np.ndarray | None = None,
    augment: keras.Model | None = None,
    strategy: Any = None,
) -> Any:
    """The back-end's trainer (loop.Trainer on TensorFlow, keras_loop.KerasTrainer elsewhere)."""
    settings = dict(num_classes=num_classes, label_smoothing=label_smoothing, class_weight=class_weight)
    if on_tensorflow():
        from zoo.transfer.loop import Trainer

        return Trainer(model, optimizer, **settings, augment=augment, strategy=strategy)  # type: ignore[arg-type]
    replicas = strategy.num_replicas_in_sync if strategy is not None else 1
    return KerasTrainer(model, optimizer, **settings, augment=augment, replicas=replicas)  # type: ignore[arg-type]


def stage_checkpoints(run_dir: Path, stage: int, variables: list, optimizer: Any) -> Any:
    if on_tensorflow():
        return rundir.StageCheckpoints(run_dir, stage, variables, optimizer)
    return npz_checkpoints.NpzStageCheckpoints(run_dir, stage, variables, optimizer)


def restore_final(run_dir: Path, stage: int, variables: list) -> None:
    if on_tensorflow():
        rundir.restore_final(run_dir, stage, variables)
    else:
        npz_checkpoints.restore_final(run_dir, stage, variables)
