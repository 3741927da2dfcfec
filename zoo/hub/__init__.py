"""Weights: sources, download, verification, the cache, mirrors and the mirror server (DESIGN §4).

Never imports TensorFlow: `zoo list` asks `is_pulled` for every model.
"""

from __future__ import annotations

from zoo.hub.cache import cached_path, is_pulled
from zoo.hub.pull import pull
from zoo.hub.server import MirrorServer, serve

__all__ = ["MirrorServer", "cached_path", "is_pulled", "pull", "serve"]
