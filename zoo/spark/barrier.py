"""A Spark barrier stage that starts one process group member per task: every task learns every task's
host:port (a free port each picks on its executor, exchanged with BarrierTaskContext.allGather), so a
cluster such as TensorFlow's MultiWorkerMirroredStrategy can be formed from Spark's own task slots.

A barrier stage's tasks start together and fail together: when one fails (a killed Python worker, a
lost executor) Spark kills the others and retries the whole stage (spark.stage.maxConsecutiveAttempts),
so `work` must be able to start again from whatever the failed attempt left (e.g. a run's checkpoints).
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from zoo.errors import InvalidSetting

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# (every task's host:port in partition order, this task's index) -> what the task returns (picklable)
Work = Callable[[list[str], int], Any]


def task_slots(spark: SparkSession) -> int:
    """How many tasks can run at once (a barrier stage needs them all at the same time)."""
    return int(spark.sparkContext.defaultParallelism)


def run_barrier(spark: SparkSession, tasks: int, work: Work) -> list[Any]:
    """Run `work` in `tasks` barrier tasks at once; their results in task order. `work` must be a
    module-level function (or a functools.partial of one) the executors can import."""
    slots = task_slots(spark)
    if not 1 <= tasks <= slots:
        # Spark itself would wait (and retry for minutes) for slots that never come
        raise InvalidSetting(
            f"a barrier stage of {tasks} tasks needs {tasks} task slots; the cluster has {slots}"
        )
    rdd = spark.sparkContext.parallelize(range(tasks), tasks)
    results = rdd.barrier().mapPartitions(functools.partial(_barrier_task, work))
    # Spark retries a failed barrier stage only when it is a shuffle-map stage (a failed barrier result
    # stage is aborted, since it may have committed output): the shuffle makes it one
    return [result for _, result in sorted(results.repartition(1).collect(), key=lambda pair: pair[0])]


def _barrier_task(work: Work, _rows: Iterable[int]) -> Iterator[Any]:
    from pyspark import BarrierTaskContext

    context = BarrierTaskContext.get()
    index = context.partitionId()
    host = context.getTaskInfos()[index].address.rpartition(":")[0]
    addresses = context.allGather(f"{host}:{free_port()}")  # in partition order, as getTaskInfos
    yield index, work(list(addresses), index)


def free_port() -> int:
    """A port nothing listens on now (the caller's server takes it moments later)."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])
