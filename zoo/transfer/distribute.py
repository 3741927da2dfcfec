"""Which tf.distribute strategy a run trains under, the cluster it belongs to, and who the chief is.

    auto          MirroredStrategy when more than one GPU is visible, else the default strategy
    default       one device (tf.distribute's default strategy)
    mirrored      MirroredStrategy over every local GPU (or every logical CPU when there is no GPU)
    multi-worker  MultiWorkerMirroredStrategy; the cluster comes from TF_CONFIG, or from
                  `--workers host:port,... --worker-index I`, which zoo turns into TF_CONFIG

MultiWorkerMirroredStrategy must be created before any other TensorFlow op runs (it configures the
process's collective ops), and only once per process: `create_strategy` caches it. Its constructor
waits for every worker forever; zoo first waits, bounded in time, until every peer's port answers, and
names the peers that do not.

Importing this module does not import TensorFlow (the CLI validates options with it).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from zoo.choices import STRATEGIES
from zoo.errors import InvalidSetting, PeerUnreachable, ZooError

if TYPE_CHECKING:
    import tensorflow as tf

DEFAULT_PEER_TIMEOUT = 120.0  # seconds a worker waits for its peers to start


@dataclass(frozen=True)
class Cluster:
    """The workers of a multi-worker run (host:port each, the chief first) and this process's place."""

    workers: tuple[str, ...]
    index: int
    task_type: str = "worker"
    chief_job: bool = False  # TF_CONFIG has a separate "chief" job (then its one task is the chief)

    @property
    def is_chief(self) -> bool:
        """The chief writes the run directory: the "chief" task, or worker 0 when there is none."""
        return self.task_type == "chief" or (not self.chief_job and self.index == 0)

    @property
    def address(self) -> str:
        offset = 0 if self.task_type == "chief" or not self.chief_job else 1
        return self.workers[self.index + offset]

    def peers(self) -> list[str]:
        return [w for w in self.workers if w != self.address]


def parse_workers(text: str) -> tuple[str, ...]:
    """'h1:2222,h2:2222' -> ('h1:2222', 'h2:2222'); InvalidSetting names the entry that is not host:port."""
    workers = tuple(part.strip() for part in text.split(",") if part.strip())
    if not workers:
        raise InvalidSetting("expected host:port,host:port,...")
    for worker in workers:
        host, _, port = worker.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise InvalidSetting(f"{worker!r} is not host:port (a port between 1 and 65535)")
    if len(set(workers)) != len(workers):
        raise InvalidSetting("the same host:port is listed twice")
    return workers


def tf_config_for(workers: Sequence[str], index: int) -> dict[str, Any]:
    """The TF_CONFIG of worker `index` of `workers` (worker 0 is the chief)."""
    if not 0 <= index < len(workers):
        last = len(workers) - 1
        raise InvalidSetting(f"worker index {index} is out of range for {len(workers)} workers (0..{last})")
    return {"cluster": {"worker": list(workers)}, "task": {"type": "worker", "index": index}}


def cluster_from_tf_config(text: str) -> Cluster:
    """The cluster described by a TF_CONFIG value; InvalidSetting says what is inconsistent."""
    try:
        doc = json.loads(text)
        jobs, task = doc["cluster"], doc["task"]
        task_type, index = str(task["type"]), int(task["index"])
        chief = [str(a) for a in jobs.get("chief", [])]
        workers = [str(a) for a in jobs.get("worker", [])]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        expected = "{'cluster': {'worker': [...]}, 'task': {'type': ..., 'index': ...}}"
        raise InvalidSetting(f"TF_CONFIG is not {expected}: {exc}") from None
    unknown = sorted(set(jobs) - {"chief", "worker"})
    if unknown:
        raise InvalidSetting(
            f"TF_CONFIG: jobs {', '.join(unknown)} are not used by MultiWorkerMirroredStrategy"
        )
    if len(chief) > 1:
        raise InvalidSetting(f"TF_CONFIG: at most one chief, got {len(chief)}")
    if task_type not in ("chief", "worker"):
        raise InvalidSetting(f"TF_CONFIG: task type must be chief or worker, got {task_type!r}")
    size = len(chief) if task_type == "chief" else len(workers)
    if not 0 <= index < size:
        raise InvalidSetting(
            f"TF_CONFIG: task {task_type} {index} is out of range ({size} {task_type} tasks)"
        )
    parse_workers(",".join([*chief, *workers]))  # every address is host:port, none twice
    return Cluster(tuple(chief + workers), index, task_type, chief_job=bool(chief))


def resolve_cluster(
    strategy: str,
    workers: str | None = None,
    worker_index: int | None = None,
    environ: Mapping[str, str] | None = None,
    name: Callable[[str], str] = str,
) -> Cluster | None:
    """The cluster of a multi-worker run (None for the other strategies); InvalidSetting on any mismatch.

    Called before any work, so that a wrong worker list or index is refused as a usage error. `name`
    spells a setting's name in messages (the CLI spells `worker_index` as `--worker-index`)."""
    environ = os.environ if environ is None else environ
    strategy_, workers_, index_ = name("strategy"), name("workers"), name("worker_index")
    if strategy not in STRATEGIES:
        raise InvalidSetting(f"{strategy_} must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if strategy != "multi-worker":
        if workers is not None or worker_index is not None:
            raise InvalidSetting(f"{workers_} and {index_} need {strategy_} multi-worker")
        return None
    if workers is None:
        if worker_index is not None:
            raise InvalidSetting(f"{index_} needs {workers_}")
        if not environ.get("TF_CONFIG"):
            raise InvalidSetting(f"multi-worker needs {workers_} host:port,... {index_} I, or TF_CONFIG")
        return cluster_from_tf_config(environ["TF_CONFIG"])
    if worker_index is None:
        raise InvalidSetting(f"{workers_} needs {index_} (this worker's place in the list, 0 = chief)")
    listed = parse_workers(workers)
    tf_config_for(listed, worker_index)  # the range check
    return Cluster(listed, worker_index)


def unreachable(addresses: Sequence[str], timeout: float = 1.0) -> list[str]:
    """The addresses where nothing accepts a TCP connection within `timeout` seconds."""
    out = []
    for address in addresses:
        host, _, port = address.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                pass
        except OSError:
            out.append(address)
    return out


def describe_strategy(strategy: tf.distribute.Strategy, cluster: Cluster | None = None) -> str:
    """'strategy: MirroredStrategy, 2 replicas', and this worker's place in a cluster."""
    replicas = strategy.num_replicas_in_sync
    kind = type(strategy).__name__
    kind = {"CollectiveAllReduceStrategy": "MultiWorkerMirroredStrategy"}.get(kind, kind).lstrip("_")
    text = f"strategy: {kind}, {replicas} replica{'s' if replicas != 1 else ''}"
    if cluster is not None:
        role = "chief" if cluster.is_chief else "writes to a temporary directory"
        text += f" (worker {cluster.address} of {len(cluster.workers)}, {role})"
    return text


_created: dict[str, tf.distribute.Strategy] = {}


def create_strategy(
    name: str, cluster: Cluster | None = None, peer_timeout: float = DEFAULT_PEER_TIMEOUT
) -> tf.distribute.Strategy:
    """The strategy `name`, created once per process (call it before any other TensorFlow op)."""
    key = name if cluster is None else f"{name}:{cluster}"
    if key not in _created:
        if name == "multi-worker" and any(k.startswith("multi-worker") for k in _created):
            raise ZooError("this process already joined another multi-worker cluster; start a new process")
        _created[key] = _new_strategy(name, cluster, peer_timeout)
    return _created[key]


def _new_strategy(name: str, cluster: Cluster | None, peer_timeout: float) -> tf.distribute.Strategy:
    import tensorflow as tf

    if name == "auto":
        name = "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus or tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if cluster is None:
        raise InvalidSetting("multi-worker needs a cluster (resolve_cluster)")
    return _multi_worker(cluster, peer_timeout)


def _multi_worker(cluster: Cluster, peer_timeout: float) -> tf.distribute.Strategy:
    import tensorflow as tf

    if not cluster.chief_job and cluster.task_type == "worker":
        os.environ["TF_CONFIG"] = json.dumps(tf_config_for(cluster.workers, cluster.index))
    wait_for_peers(cluster, peer_timeout)
    try:
        return tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as exc:
        if "program startup" not in str(exc):
            raise
        raise ZooError(
            "a multi-worker run must start before any other TensorFlow op runs in its process",
            hint="run `zoo finetune --strategy multi-worker` (a process of its own), or call "
            "zoo.finetune(strategy='multi-worker') before anything else uses TensorFlow",
        ) from None


def wait_for_peers(cluster: Cluster, timeout: float, poll: float = 0.2) -> None:
    """Return once every peer's port accepts connections; PeerUnreachable after `timeout` seconds.

    MultiWorkerMirroredStrategy's constructor waits for its peers forever (its own timeout does not
    cover a peer that never answers). So each worker first listens on its own port with a plain socket
    (its peers see it is up) and polls theirs; once all answer it closes the socket and TensorFlow's
    server takes the port. A peer already past this point has TensorFlow's server on its port instead,
    which answers the same way."""
    host, _, port = cluster.address.rpartition(":")
    try:
        listener = socket.create_server(("", int(port)))
    except OSError as exc:
        raise PeerUnreachable(
            f"worker {cluster.address} cannot listen on port {port}: {exc.strerror or exc}",
            hint="another process holds the port: choose free ports for `workers`",
        ) from None
    try:
        deadline = time.monotonic() + timeout
        silent = unreachable(cluster.peers())
        while silent and time.monotonic() < deadline:
            time.sleep(poll)
            silent = unreachable(silent)
    finally:
        listener.close()
    if silent:
        raise PeerUnreachable(
            f"worker {cluster.address} could not reach {', '.join(silent)} within {timeout:g}s",
            hint="start every worker (the same `workers` list, each its own `worker_index`), check that "
            "the hosts and ports are reachable from each other, or raise `peer_timeout`",
        )
