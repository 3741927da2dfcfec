"""zoo.predict and zoo.embed: the engine's, with runtime="auto" resolved by zoo.bench.auto.

The engine may not import the bench (the layer map, docs/architecture.md), and choosing a runtime means
measuring; so this API-row module turns "auto" into a zoo.bench.auto.AutoChooser, which the engine calls
with the loaded model and the batch size. Signatures and docstrings are the engine's.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import wraps
from typing import Any

from zoo.choices import AUTO
from zoo.engine._predict import embed as _engine_embed
from zoo.engine._predict import predict as _engine_predict


def _resolving_auto(function: Callable[..., Any]) -> Callable[..., Any]:
    signature = inspect.signature(function)

    @wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        if bound.arguments.get("runtime") == AUTO:
            from zoo.bench.auto import AutoChooser

            precision = bound.arguments.get("precision")
            bound.arguments["runtime"] = AutoChooser(None if precision is None else (precision,))
        return function(*bound.args, **bound.kwargs)

    return call


predict = _resolving_auto(_engine_predict)
embed = _resolving_auto(_engine_embed)
