"""Weights: sources, download, verification, the cache, mirrors and the mirror server (DESIGN §4).

Never imports TensorFlow: `zoo list` asks `is_pulled` for every model.
"""

from __future__ import annotations

from zoo.hub.cache import cached_path, is_pulled

__all__ = ["cached_path", "is_pulled"]
