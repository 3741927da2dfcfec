"""zoo: a model-zoo hub and transfer-learning toolkit for TensorFlow/Keras ImageNet models.

The public API is re-exported lazily, so `import zoo` stays fast and never imports TensorFlow:

    zoo.list_models(...)   pandas DataFrame of registered models      (zoo.listing)
    zoo.info(name)         the typed registry record (ModelSpec)        (zoo.registry)
    zoo.pull(name)         a verified weight file in the cache          (zoo.hub)
    zoo.load(name, ...)    a ready keras.Model                          (zoo.engine)
    zoo.predict / embed    ImageNet (or run-directory) predictions      (zoo.engine; runtime="auto": zoo._api)
    zoo.benchmark / evaluate / table                                    (zoo.bench)
    zoo.finetune / register / export                                    (zoo.transfer, zoo.engine)
    zoo.finetune_on_spark(spark, ...)  finetune with a Spark cluster    (zoo._spark_finetune)
    zoo.select(data, ...)  which backbone for these photos and latency  (zoo.selection)
"""

from __future__ import annotations

from zoo._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> "module:attribute"
_API = {
    "list_models": "zoo.listing:list_models",
    "info": "zoo.registry:get",
    "load_registry": "zoo.registry:load_registry",
    "pull": "zoo.hub:pull",
    "load": "zoo.engine:load",
    "predict": "zoo._api:predict",
    "embed": "zoo._api:embed",
    "export": "zoo.engine:export",
    "benchmark": "zoo.bench:benchmark",
    "evaluate": "zoo.bench:evaluate",
    "table": "zoo.bench:table",
    "finetune": "zoo.transfer:finetune",
    "finetune_on_spark": "zoo._spark_finetune:finetune_on_spark",
    "register": "zoo.transfer:register",
    "select": "zoo.selection:select",
    "demo": "zoo._demo:run_demo",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API, globals())
