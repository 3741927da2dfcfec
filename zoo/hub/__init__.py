"""Weights: sources, download, verification, the cache, mirrors and the mirror server (DESIGN §4).

Never imports TensorFlow: `zoo list` asks `is_pulled` for every model. The mirror server loads on first
use of `serve`.
"""

from __future__ import annotations

import importlib
from typing import Any

from zoo.hub.cache import PullResult, cached_path, is_pulled

# Bound after the submodule import on purpose: `zoo.hub.pull` is the function, not the module zoo/hub/pull.py.
from zoo.hub.pull import pull, pull_weights

_LAZY = {"serve": "zoo.hub.server", "MirrorServer": "zoo.hub.server"}

__all__ = ["MirrorServer", "PullResult", "cached_path", "is_pulled", "pull", "pull_weights", "serve"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zoo.hub' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
