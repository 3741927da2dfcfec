"""Transfer learning: the two-stage recipe on a tf.distribute loop, the feature cache, run directories.

    finetune(model, data, ...)   zoo.transfer.recipe     train; returns a FinetuneResult (run directory)
    register(run_dir, name)      zoo.transfer.registering add a run to the user registry

Importing this package does not import TensorFlow; the functions do, when called.
"""

from __future__ import annotations

from zoo.transfer.recipe import FinetuneResult, finetune
from zoo.transfer.registering import register
from zoo.transfer.settings import FinetuneConfig

__all__ = ["FinetuneConfig", "FinetuneResult", "finetune", "register"]
