"""Fine-tuning under tf.distribute: two real worker processes on 127.0.0.1 (MultiWorkerMirroredStrategy),
MirroredStrategy over two logical CPUs, resume after killing both workers, and the cluster errors.

Every run uses the fixture backbone at 64 px on 24 rendered images, without dropout or augmentation:
random layers draw their masks per replica, so with them the numbers of 1 and 2 replicas legitimately
differ. --batch-size 5 is the global batch: 18 training images leave a last batch of 3 (2 + 1 per worker)
and 6 validation images a last batch of 1 (one worker gets nothing), the uneven cases.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support.cli import ZOO, flat, invoke

from zoo.data.synthetic import render_dataset
from zoo.transfer.distribute import (
    Cluster,
    cluster_from_tf_config,
    parse_workers,
    resolve_cluster,
    tf_config_for,
    wait_for_peers,
)

MODEL = "mobilenet_v1_025_224"
WEIGHTS_FILE = "mobilenet_2_5_224_tf_no_top.h5"  # the registry's file name for the fixture weights
SETTINGS = [
    "--image-size", "64", "--epochs", "2", "--fine-tune-epochs", "4", "--batch-size", "5",
    "--unfreeze", "6", "--lr", "0.01", "--dropout", "0", "--augment", "none", "--no-tensorboard",
]  # fmt: skip
RUN_TIMEOUT = 240
pytestmark = pytest.mark.timeout(900)  # a test waits on several runs, each allowed RUN_TIMEOUT


def free_ports(count: int) -> list[int]:
    sockets = [socket.create_server(("127.0.0.1", 0)) for _ in range(count)]
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def worker_list(count: int = 2) -> str:
    return ",".join(f"127.0.0.1:{port}" for port in free_ports(count))


def node_env(root: Path, mirror: str) -> dict[str, str]:
    """A node of its own: its own caches and temp dir; weights come through the shared mirror."""
    env = {k: v for k, v in os.environ.items() if k not in ("ZOO_OFFLINE", "TF_CONFIG")}
    for var, sub in (("ZOO_HOME", "zoo"), ("KERAS_HOME", "keras"), ("HF_HOME", "hf"), ("TMPDIR", "tmp")):
        (root / sub).mkdir(parents=True, exist_ok=True)
        env[var] = str(root / sub)
    return {**env, "ZOO_MIRROR": mirror, "TF_CPP_MIN_LOG_LEVEL": "3"}


def zoo_cmd(*args: str) -> list[str]:
    return [*ZOO, "finetune", *args]


def start_workers(out: Path, nodes: list[Path], mirror: str, *args: str) -> list[subprocess.Popen]:
    """One `zoo finetune --strategy multi-worker` process per node; worker 0 (the chief) last."""
    workers = worker_list(len(nodes))
    procs = []
    for index in reversed(range(len(nodes))):
        env = node_env(nodes[index], mirror)
        cmd = zoo_cmd(*args, "--out", str(out), "--strategy", "multi-worker", "--workers", workers)
        cmd += ["--worker-index", str(index)]
        with (nodes[index] / "stderr.txt").open("a") as log:
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=log, text=True))
    return procs[::-1]


def wait_all(procs: list[subprocess.Popen], nodes: list[Path]) -> list[str]:
    outputs = []
    for proc, node in zip(procs, nodes, strict=True):
        try:
            stdout, _ = proc.communicate(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            for other in procs:
                other.kill()
            raise
        assert proc.returncode == 0, (node / "stderr.txt").read_text()[-3000:]
        outputs.append(stdout)
    return outputs


def history(run: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((run / "history.csv").open()))


def assert_same_run(got: Path, want: Path) -> None:
    """Same epochs, losses and final metrics (atol 1e-4: summation order differs across replicas)."""
    rows, want_rows = history(got), history(want)
    assert [(r["epoch"], r["stage"]) for r in rows] == [(r["epoch"], r["stage"]) for r in want_rows]
    for a, b in zip(rows, want_rows, strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert float(a[key]) == pytest.approx(float(b[key]), abs=1e-4), (a["epoch"], key)
    metrics = json.loads((got / "metrics.json").read_text())
    reference = json.loads((want / "metrics.json").read_text())
    assert metrics["val_loss"] == pytest.approx(reference["val_loss"], abs=1e-4)
    assert metrics["val_accuracy"] == pytest.approx(reference["val_accuracy"], abs=1e-4)
    assert metrics["confusion"] == reference["confusion"]


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory, fixture_weights: Path):
    """One `zoo serve` mirror holding the backbone weights, for every node."""
    from zoo.hub import serve

    folder = tmp_path_factory.mktemp("mirror")
    shutil.copyfile(fixture_weights, folder / WEIGHTS_FILE)
    with serve(folder, log=None) as server:
        yield server.url


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_dataset(tmp_path_factory.mktemp("data"), per_class=8, size=64, seed=3).root


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, data: Path, mirror: str) -> Path:
    """The same run in one process under the default strategy."""
    root = tmp_path_factory.mktemp("single")
    out = root / "run"
    done = subprocess.run(
        zoo_cmd(MODEL, str(data), *SETTINGS, "--strategy", "default", "--out", str(out)),
        env=node_env(root / "node", mirror),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.slow
def test_two_workers_match_one_process(tmp_path: Path, data: Path, mirror: str, reference: Path) -> None:
    out = tmp_path / "run"
    nodes = [tmp_path / "node0", tmp_path / "node1"]
    stdouts = wait_all(start_workers(out, nodes, mirror, MODEL, str(data), *SETTINGS), nodes)

    assert stdouts[0].strip() == str(out)
    for name in ("model.keras", "labels.json", "config.json", "metrics.json", "history.csv", "history.png"):
        assert (out / name).is_file(), name
    assert json.loads((out / "config.json").read_text())["settings"]["strategy"] == "multi-worker"
    logs = [(node / "stderr.txt").read_text() for node in nodes]
    assert "strategy: MultiWorkerMirroredStrategy, 2 replicas" in logs[0]
    assert "(written by the chief)" in logs[1]
    assert all("computed backbone features" in log for log in logs)  # each worker fills its own cache
    for node in nodes:  # each node pulled the weights through the mirror into its own cache
        assert list((node / "zoo").rglob(WEIGHTS_FILE)), node
        assert list((node / "tmp").iterdir()) == []  # the other worker's checkpoint dir is gone
    assert_same_run(out, reference)


@pytest.mark.slow
def test_resume_after_killing_both_workers(tmp_path: Path, data: Path, mirror: str, reference: Path) -> None:
    out = tmp_path / "run"
    nodes = [tmp_path / "node0", tmp_path / "node1"]
    procs = start_workers(out, nodes, mirror, MODEL, str(data), *SETTINGS)
    state_file = out / "checkpoints" / "state.json"
    deadline = time.monotonic() + RUN_TIMEOUT
    state = None
    while time.monotonic() < deadline and all(p.poll() is None for p in procs):
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError):
            state = None
        if state and state["stage"] == 2 and state["epochs_done"] >= 1:
            break
        time.sleep(0.02)
    alive = [p.poll() is None for p in procs]
    for proc in procs:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert all(alive), "a worker ended before it could be killed: " + (nodes[0] / "stderr.txt").read_text()
    state = json.loads(state_file.read_text())
    assert state["stage"] == 2 and state["epochs_done"] < 4
    assert not (out / "model.keras").exists()

    resume = ["--out", str(out), "--resume", "--strategy", "multi-worker", "--workers", worker_list()]
    procs = [
        subprocess.Popen(
            zoo_cmd(*resume, "--worker-index", str(index)),
            env=node_env(nodes[index], mirror),
            stdout=subprocess.PIPE,
            stderr=(nodes[index] / "stderr.txt").open("a"),
            text=True,
        )
        for index in (1, 0)
    ][::-1]
    wait_all(procs, nodes)
    assert_same_run(out, reference)  # every epoch once, and the numbers of an uninterrupted run


MIRRORED = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import zoo
    settings = json.loads(sys.argv[1])
    zoo.finetune(**settings, strategy="mirrored", verbose=False)
    """
)


@pytest.mark.slow
def test_mirrored_on_two_logical_cpus_matches_one_device(
    tmp_path: Path, data: Path, mirror: str, reference: Path
) -> None:
    """The recipe under MirroredStrategy (the global batch split over 2 logical CPUs) = one device."""
    settings = {
        "model": MODEL, "data": str(data), "image_size": 64, "epochs": 2, "fine_tune_epochs": 4,
        "batch_size": 5, "unfreeze": 6, "lr": 0.01, "dropout": 0.0, "augment": [], "tensorboard": False,
        "out": str(tmp_path / "run"),
    }  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", MIRRORED, json.dumps(settings)],
        env=node_env(tmp_path / "node", mirror),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["settings"]["strategy"] == "mirrored"
    assert_same_run(tmp_path / "run", reference)


@pytest.mark.slow
def test_unreachable_peer_times_out_naming_it(tmp_path: Path, data: Path) -> None:
    workers = worker_list()
    started = time.monotonic()
    done = subprocess.run(
        zoo_cmd(MODEL, str(data), "--weights", "none", "--image-size", "64", "--out", str(tmp_path / "run"))
        + ["--strategy", "multi-worker", "--workers", workers, "--worker-index", "0", "--peer-timeout", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    peer = workers.split(",")[1]
    assert f"could not reach {peer} within 2s" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "run").exists()
    assert time.monotonic() - started < 60


def test_wait_for_peers_returns_once_the_peer_listens() -> None:
    peer = socket.create_server(("127.0.0.1", 0))
    with peer:
        me = free_ports(1)[0]
        cluster = Cluster((f"127.0.0.1:{me}", f"127.0.0.1:{peer.getsockname()[1]}"), 0)
        wait_for_peers(cluster, timeout=5)  # returns at once: the peer answers
        # while waiting, this worker's own port answers its peers
        with socket.create_connection(("127.0.0.1", peer.getsockname()[1]), timeout=1):
            pass


BAD_INDEX = {"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 3}}


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--workers", "127.0.0.1:1,127.0.0.1:2", "--worker-index", "2"], None, "out of range for 2 workers"),
        (["--workers", "127.0.0.1:1,127.0.0.1:2"], None, "--workers needs --worker-index"),
        (["--workers", "127.0.0.1:1,nohost", "--worker-index", "0"], None, "'nohost' is not host:port"),
        ([], None, "multi-worker needs --workers"),
        (
            [],
            '{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 3}}',
            "out of range",
        ),
        ([], "{not json", "TF_CONFIG is not"),
    ],
)
def test_cluster_mismatch_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], env: str | None, message: str
) -> None:
    data = render_dataset(tmp_path / "data", per_class=2, size=32).root
    if env is not None:
        monkeypatch.setenv("TF_CONFIG", env)
    else:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    result = invoke(
        "finetune", MODEL, str(data), "--strategy", "multi-worker", "--out", str(tmp_path / "r"), *args
    )
    assert result.exit_code == 2, result.output
    assert message in flat(result.output)
    assert not (tmp_path / "r").exists()


def test_workers_without_multi_worker_is_a_usage_error(tmp_path: Path) -> None:
    data = render_dataset(tmp_path / "data", per_class=2, size=32).root
    args = ["finetune", MODEL, str(data), "--workers", "127.0.0.1:1,127.0.0.1:2", "--worker-index", "0"]
    result = invoke(*args)
    assert result.exit_code == 2
    assert "need --strategy multi-worker" in flat(result.output)


def test_tf_config_with_a_chief_job() -> None:
    text = json.dumps(
        {"cluster": {"chief": ["c:1"], "worker": ["w:1", "w:2"]}, "task": {"type": "worker", "index": 1}}
    )
    cluster = cluster_from_tf_config(text)
    assert (cluster.address, cluster.is_chief) == ("w:2", False)
    assert cluster.peers() == ["c:1", "w:1"]
    chief = cluster_from_tf_config(
        text.replace('"type": "worker", "index": 1', '"type": "chief", "index": 0')
    )
    assert (chief.address, chief.is_chief) == ("c:1", True)
    with pytest.raises(ValueError, match="jobs ps are not used"):
        cluster_from_tf_config(json.dumps({"cluster": {"ps": ["p:1"]}, "task": {"type": "ps", "index": 0}}))


def test_workers_become_tf_config() -> None:
    workers = parse_workers(" h1:2222, h2:2223 ")
    assert workers == ("h1:2222", "h2:2223")
    config = tf_config_for(workers, 1)
    assert config == {"cluster": {"worker": ["h1:2222", "h2:2223"]}, "task": {"type": "worker", "index": 1}}
    cluster = resolve_cluster("multi-worker", "h1:2222,h2:2223", 1, environ={})
    assert cluster_from_tf_config(json.dumps(config)) == cluster
    assert not cluster.is_chief and resolve_cluster("multi-worker", "h1:2222,h2:2223", 0, {}).is_chief
    assert resolve_cluster("auto", environ={}) is None
    with pytest.raises(ValueError, match="listed twice"):
        parse_workers("h:1,h:1")


LATE = textwrap.dedent(
    """
    import sys
    import tensorflow as tf
    tf.constant(1.0) + 1  # a TensorFlow op before the strategy
    from zoo.errors import ZooError
    from zoo.transfer.distribute import Cluster, create_strategy
    try:
        create_strategy("multi-worker", Cluster((sys.argv[1],), 0), peer_timeout=5)
    except ZooError as exc:
        print(exc.message)
    """
)


@pytest.mark.slow
def test_multi_worker_after_other_tensorflow_ops_is_refused_clearly() -> None:
    address = f"127.0.0.1:{free_ports(1)[0]}"
    done = subprocess.run([sys.executable, "-c", LATE, address], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "must start before any other TensorFlow op" in done.stdout


def test_auto_is_the_default_strategy_without_several_gpus() -> None:
    import tensorflow as tf

    from zoo.transfer.distribute import create_strategy, describe_strategy

    if len(tf.config.list_physical_devices("GPU")) > 1:
        pytest.skip("auto picks MirroredStrategy on this host")
    strategy = create_strategy("auto")
    assert strategy is tf.distribute.get_strategy()
    assert describe_strategy(strategy) == "strategy: DefaultDistributionStrategy, 1 replica"
