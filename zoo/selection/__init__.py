"""Backbone selection: which registered backbone suits these photos and this latency budget.

    select(data, patterns, ...)   zoo.selection.run   score candidates (cached features, k-fold CV of a
                                                      linear head), time them here, mark the Pareto front

The row above transfer and bench on the layer map: selection uses the feature cache (zoo.transfer) and
the benchmark store (zoo.bench), which never import each other. Importing this package imports neither
TensorFlow nor pandas.
"""

from __future__ import annotations

from zoo._lazy import lazy_exports

_API = {
    "select": "zoo.selection.run:select",
    "Constraints": "zoo.selection.candidates:Constraints",
}

__all__ = sorted(_API)


__getattr__, __dir__ = lazy_exports(__name__, _API, globals())
