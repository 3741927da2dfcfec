"""The engine: Keras models from the registry, preprocessing layers, labels, prediction, runtimes, export.

    load(name, ...)             zoo.engine.build       a ready keras.Model (raw RGB 0-255 in)
    backbone_and_head(...)      zoo.engine.build       (model, backbone) for transfer learning
    predict(model_or_name, ...) zoo.engine._predict    top-k labels per image file
    embed(name, paths, ...)     zoo.engine._predict    pooled features, one row per image
    load_embeddings(file)       zoo.engine._predict    read what Embeddings.save wrote
    export(model_or_run, out)   zoo.engine._export     a checked export (keras, savedmodel, litert, onnx)

What a model argument names, and how it is built or read, is decided in one place: zoo.engine.reference.

Importing zoo.engine is cheap (no Keras): the public functions are imported on first use. Code that
deserializes `.keras` files imports zoo.engine.preprocessing first, which registers zoo's serializable
layers with Keras so such files load with safe_mode=True (zoo.engine.bundle.load_model_safely does).
"""

from __future__ import annotations

from zoo._lazy import lazy_exports

_API = {
    "load": "zoo.engine.build:load",
    "backbone_and_head": "zoo.engine.build:backbone_and_head",
    "predict": "zoo.engine._predict:predict",
    "embed": "zoo.engine._predict:embed",
    "load_embeddings": "zoo.engine._predict:load_embeddings",
    "check_embedding_output": "zoo.engine._predict:check_embedding_output",
    "Prediction": "zoo.engine._predict:Prediction",
    "TopK": "zoo.engine._predict:TopK",
    "Embeddings": "zoo.engine._predict:Embeddings",
    "export": "zoo.engine._export:export",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API, globals())
