"""Transfer learning: the two-stage recipe on a tf.distribute loop, the feature cache, run directories.

    finetune(model, data, ...)   zoo.transfer.recipe       train; returns a FinetuneResult (run directory)
    register(run_dir, name)      zoo.transfer.registering  add a run to the user registry
    FinetuneConfig               zoo.transfer.settings     every setting of a run (config.json)

Importing this package (or zoo.transfer.settings, which the CLI validates with) does not import
TensorFlow; the public names are resolved on first use.
"""

from __future__ import annotations

from zoo._lazy import lazy_exports

_API = {
    "finetune": "zoo.transfer.recipe:finetune",
    "FinetuneResult": "zoo.transfer.recipe:FinetuneResult",
    "register": "zoo.transfer.registering:register",
    "FinetuneConfig": "zoo.transfer.settings:FinetuneConfig",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API, globals())
