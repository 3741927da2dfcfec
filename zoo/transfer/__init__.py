"""Transfer learning: the two-stage recipe (a tf.distribute loop on TensorFlow, Keras' train_on_batch on JAX
and PyTorch: zoo.transfer.engines), the feature cache, run directories.

    finetune(model, data, ...)   zoo.transfer._finetune  train; returns a FinetuneResult (run directory)
    register(run_dir, name)      zoo.transfer._register  add a run to the user registry
    train(config, ...)           zoo.transfer._finetune  the same, from a FinetuneSettings (zoo finetune)
    FinetuneSettings             zoo.transfer.settings   every setting of a run (config.json)

The package is the public face: the private modules are named after what they hold, and a function
exported here is never shadowed by a submodule of the same name.

Importing this package (or zoo.transfer.settings, which the CLI validates with) does not import
TensorFlow; the public names are resolved on first use.
"""

from __future__ import annotations

from zoo._lazy import lazy_exports

_API = {
    "finetune": "zoo.transfer._finetune:finetune",
    "FinetuneResult": "zoo.transfer._finetune:FinetuneResult",
    "register": "zoo.transfer._register:register",
    "FinetuneSettings": "zoo.transfer.settings:FinetuneSettings",
    "train": "zoo.transfer._finetune:train",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API, globals())
