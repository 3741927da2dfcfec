"""Distributed inference on Apache Spark (the optional `zoo-hub[spark]` extra).

    session(master)                      zoo.spark.cluster   a SparkSession set up for zoo's executors
    image_frame(spark, paths_or_frame)   zoo.spark.images    (path, content) rows read where the images are
    embed(spark, images, model, ...)     zoo.spark.jobs      path, embedding, model, weights_sha256, error
    predict(spark, images, model, ...)   zoo.spark.jobs      path, labels, indices, probabilities, ...
    evaluate(spark, folder, model, ...)  zoo.spark.jobs      predict + the class folder's label and hits
    accuracy(frame)                      zoo.spark.jobs      images, unreadable, top-1, top-k of evaluate
    write(frame, out, overwrite=False)   zoo.spark.jobs      Parquet through Spark's output committer
    embed_with(spark, images, name, loader)  zoo.spark.jobs  embed's rows from a caller's model (Scorer)
    run_barrier(spark, tasks, work)      zoo.spark.barrier   tasks started together, each knows every address

Fine-tuning on a cluster joins this package with zoo.transfer one layer up: zoo.finetune_on_spark.

Executors decode with zoo's one decoder (zoo.data.decode) and load each model once per Python worker,
pulling the weights through zoo's hub (their ZOO_HOME cache or ZOO_MIRROR), never from the driver.
Importing zoo.spark imports neither pyspark nor a back-end.
"""

from __future__ import annotations

from zoo._lazy import lazy_exports

_API = {
    "session": "zoo.spark.cluster:session",
    "require_pyspark": "zoo.spark.cluster:require_pyspark",
    "image_frame": "zoo.spark.images:image_frame",
    "embed": "zoo.spark.jobs:embed",
    "predict": "zoo.spark.jobs:predict",
    "evaluate": "zoo.spark.jobs:evaluate",
    "accuracy": "zoo.spark.jobs:accuracy",
    "write": "zoo.spark.jobs:write",
    "embed_with": "zoo.spark.jobs:embed_with",
    "run_barrier": "zoo.spark.barrier:run_barrier",
}

__all__ = sorted(_API)

__getattr__, __dir__ = lazy_exports(__name__, _API, globals())
