"""The engine: Keras models from the registry, preprocessing layers, labels, prediction, runtimes, export.

    load(name, ...)             zoo.engine.build       a ready keras.Model (raw RGB 0-255 in)
    predict(model_or_name, ...) zoo.engine.prediction  top-k labels per image file
    embed(name, paths, ...)     zoo.engine.prediction  pooled features, one row per image
    export(model_or_run, out)   zoo.engine._export     a checked export (keras, savedmodel, litert, onnx)

Importing zoo.engine is cheap (no Keras): the public functions are imported on first use. Code that
deserializes `.keras` files imports zoo.engine.preprocessing first, which registers zoo's serializable
layers with Keras so such files load with safe_mode=True (zoo.engine.bundle.load_model_safely does).
"""

from __future__ import annotations

from zoo._lazy import lazy_exports

_API = {
    "load": "zoo.engine.build:load",
    "backbone_and_head": "zoo.engine.build:backbone_and_head",
    "predict": "zoo.engine.prediction:predict",
    "embed": "zoo.engine.prediction:embed",
    "export": "zoo.engine._export:export",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API, globals())
