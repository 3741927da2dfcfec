"""Benchmarks, accuracy evaluation, the results store, and tables/plots of published vs measured figures.

    zoo.benchmark(models, ...)      speed / memory / GFLOP/s, one worker process per model   (benchmark.py)
    zoo.evaluate(model, data, ...)  top-1 / top-5 on a labelled folder                        (evaluate.py)
    zoo.table(pattern, ...)         published and measured figures joined                     (tables.py)

Nothing here imports TensorFlow at import time.
"""

from __future__ import annotations

from zoo.bench.benchmark import benchmark
from zoo.bench.evaluate import evaluate
from zoo.bench.tables import table

__all__ = ["benchmark", "evaluate", "table"]
