"""The Keras back-end as Keras users choose it: keras.json, KERAS_BACKEND, `zoo --backend`, in that order of
precedence; shown by `zoo --version` and `zoo info` without importing a back-end; what zoo cannot run on is
refused with exit 2 before any model is built. Each case runs `python -m zoo` in a fresh process (Keras
reads its settings once per process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.cli import flat, run_zoo
from support.realdata import copy_photos, photo_paths


def keras_json(isolated_homes: Path, **settings: str) -> None:
    """Write $KERAS_HOME/keras.json (conftest points KERAS_HOME at a fresh folder)."""
    (isolated_homes / "keras" / "keras.json").write_text(json.dumps(settings), encoding="utf-8")


def version(*args: str, env: dict[str, str] | None = None) -> str:
    result = run_zoo(*args, "--version", env={"KERAS_BACKEND": "", **(env or {})}, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_keras_json_then_keras_backend_then_the_option_choose_the_back_end(isolated_homes: Path) -> None:
    assert version().endswith("(Keras back-end: tensorflow)")  # no keras.json: Keras' default
    keras_json(isolated_homes, backend="jax")
    assert version().endswith("(Keras back-end: jax)")
    assert version(env={"KERAS_BACKEND": "torch"}).endswith("(Keras back-end: torch)")
    assert version("--backend", "tensorflow", env={"KERAS_BACKEND": "torch"}).endswith("tensorflow)")


def test_info_names_the_back_end_without_importing_one(isolated_homes: Path) -> None:
    keras_json(isolated_homes, backend="torch")
    code = (
        "import sys, io, json, contextlib\nfrom zoo.cli.app import main\nout = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n    code = main(['info', 'mobilenet', '--json'])\n"
        "heavy = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]\n"
        "print(json.dumps({'code': code, 'info': json.loads(out.getvalue()), 'heavy': heavy}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert (seen["code"], seen["info"]["keras_backend"], seen["heavy"]) == (0, "torch", [])


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"image_data_format": "channels_first"}, 'set "image_data_format": "channels_last" in '),
        ({"floatx": "float16"}, 'set "floatx": "float32" in '),
        ({"backend": "numpy"}, "zoo does not run on the Keras back-end 'numpy'"),
    ],
)
def test_settings_zoo_cannot_run_on_are_refused_before_any_work(
    isolated_homes: Path, tmp_path: Path, settings: dict[str, str], named: str
) -> None:
    keras_json(isolated_homes, **settings)
    out = tmp_path / "features.npy"
    photo = str(photo_paths(1)[0])
    result = run_zoo("embed", "mobilenet_v1_025_128", photo, "-o", str(out), env={"KERAS_BACKEND": ""})
    assert result.returncode == 2, result.stderr
    assert named in flat(result.stderr)
    assert "Traceback" not in result.stderr and not out.exists()


@pytest.mark.parametrize(
    "command", ["predict", "embed", "evaluate", "benchmark", "finetune", "export", "demo", "zoo.load"]
)
def test_channels_first_is_refused_by_every_command_that_builds_a_model_before_any_work(
    isolated_homes: Path, tmp_path: Path, command: str
) -> None:
    keras_json(isolated_homes, image_data_format="channels_first")
    photo, out = str(photo_paths(1)[0]), tmp_path / "out.npy"
    data = copy_photos(tmp_path / "data", per_class=2, split="train")
    run = tmp_path / "run"  # what `zoo export` takes for a run directory
    run.mkdir()
    (run / "model.keras").write_bytes(b"not read")
    (run / "labels.json").write_text('["a"]')
    model = "mobilenet_v1_025_128"
    args = {
        "predict": ["predict", model, photo],
        "embed": ["embed", model, photo, "-o", str(out)],
        "evaluate": ["evaluate", model, str(data)],
        "benchmark": ["benchmark", model, "-b", "1", "--iters", "1"],
        "finetune": ["finetune", model, str(data), "--out", str(out)],
        "export": ["export", str(run), "--format", "litert", "--out", str(out)],
        "demo": ["demo", "--out", str(out)],
    }
    if command == "zoo.load":
        code = (
            "import zoo\nfrom zoo.errors import ZooError\n"
            f"try:\n    zoo.load({model!r})\nexcept ZooError as e:\n    print(e, e.exit_code, e.hint)"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        said = result.stdout
        assert " 2 " in said, said  # BackendUnavailable's exit status: a usage error
    else:
        result = run_zoo(*args[command], env={"KERAS_BACKEND": "jax"}, timeout=120)
        assert result.returncode == 2, result.stderr
        said = flat(result.stderr)
    keras_file = isolated_homes / "keras" / "keras.json"
    assert f"zoo cannot run with image_data_format='channels_first' (set in {keras_file})" in said
    assert f'set "image_data_format": "channels_last" in {keras_file}: zoo builds its models' in said
    assert "Traceback" not in result.stderr and not out.exists()


def test_a_back_end_that_is_not_installed_names_its_extra(tmp_path: Path) -> None:
    # sys.modules[name] = None is how Python marks a module as not importable
    code = (
        "import sys\nsys.modules['jax'] = None\nfrom zoo.cli.app import main\n"
        f"sys.exit(main(['--backend', 'jax', 'embed', 'mobilenet_v1_025_128', {str(photo_paths(1)[0])!r}, "
        f"'-o', {str(tmp_path / 'f.npy')!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "the Keras back-end 'jax' is not installed" in result.stderr
    assert "pip install zoo-hub[jax]" in result.stderr


def test_an_unknown_back_end_option_is_a_usage_error() -> None:
    result = run_zoo("--backend", "theano", "list", env={"COLUMNS": "200"}, timeout=60)
    assert result.returncode == 2
    assert "'theano' is not one of 'tensorflow', 'jax', 'torch'" in flat(result.stderr)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_benchmark_measures_each_back_end_in_its_own_process_in_one_table() -> None:
    args = ["benchmark", "mobilenet_v1_025_128", "-b", "1", "--warmup", "0", "--iters", "2", "--json"]
    result = run_zoo(*args, "--backend", "torch,tensorflow", env={"KERAS_BACKEND": "jax"}, timeout=500)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(row["backend"], row["status"]) for row in rows] == [("torch", "ok"), ("tensorflow", "ok")]
    assert all(row["images_per_s"] > 0 and row["params"] == 475_544 for row in rows)


@pytest.mark.parametrize(
    ("backend", "strategy", "named"),
    [
        (
            "torch",
            "multi-worker",
            "multi-worker training runs on the TensorFlow back-end only (this process uses torch)",
        ),
        (
            "jax",
            "multi-worker",
            "multi-worker training runs on the TensorFlow back-end only (this process uses jax)",
        ),
        ("torch", "mirrored", "strategy 'mirrored' training runs on the TensorFlow back-end only"),
    ],
)
def test_tf_distribute_strategies_off_tensorflow_are_refused_before_any_work(
    tmp_path: Path, backend: str, strategy: str, named: str
) -> None:
    data = photo_paths(1, split="train")[0].parent.parent
    out = tmp_path / "run"
    workers = (
        ["--workers", "localhost:1,localhost:2", "--worker-index", "0"] if strategy == "multi-worker" else []
    )
    args = [
        "--backend",
        backend,
        "finetune",
        "mobilenet_v1_025_224",
        str(data),
        "--strategy",
        strategy,
        *workers,
    ]
    result = run_zoo(*args, "--out", str(out), env={"COLUMNS": "200"})
    assert result.returncode == 2, result.stderr
    assert named in flat(result.stderr)
    assert "zoo --backend tensorflow" in flat(result.stderr)
    assert "Traceback" not in result.stderr and not out.exists()


def run_files(run: Path) -> list[tuple[Path, bytes]]:
    """Every file of a run directory with its bytes (the run's lock file aside: it stays, empty)."""
    return sorted(
        (p.relative_to(run), p.read_bytes())
        for p in run.rglob("*")
        if p.is_file() and p.name != ".zoo-run.lock"
    )


def test_resuming_a_run_on_another_back_end_is_refused_and_the_run_is_kept(tmp_path: Path) -> None:
    """A run whose checkpoints are .npz files (trained on JAX or torch) does not resume on TensorFlow."""
    run = tmp_path / "run"
    (run / "checkpoints" / "stage1").mkdir(parents=True)
    data = photo_paths(1, split="train")[0].parent.parent
    settings = {"model": "mobilenet_v1_025_224", "data": str(data), "out": str(run)}
    (run / "config.json").write_text(json.dumps({"settings": settings, "backend": "jax"}))
    state = {"stage": 1, "epochs_done": 1, "stage_done": False, "history": [{"epoch": 1, "stage": 1}]}
    (run / "checkpoints" / "state.json").write_text(json.dumps(state))
    (run / "checkpoints" / "stage1" / "ckpt-1.npz").write_bytes(b"weights")
    before = run_files(run)
    result = run_zoo(
        "--backend", "tensorflow", "finetune", "--out", str(run), "--resume", env={"COLUMNS": "200"}
    )
    assert result.returncode == 2, result.stderr
    assert "was trained on jax or torch; its checkpoints do not resume on tensorflow" in flat(result.stderr)
    assert "zoo --backend jax" in flat(result.stderr)
    assert run_files(run) == before


def zoo_without_tensorflow(*args: str) -> subprocess.CompletedProcess[str]:
    """`zoo ARGS` in a child where TensorFlow cannot be imported (sys.modules[name] = None marks it so)."""
    code = (
        "import sys\nsys.modules['tensorflow'] = None\nfrom zoo.cli.app import main\n"
        f"sys.exit(main({list(args)!r}))"
    )
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize(("backend", "runtime"), [("jax", "litert"), ("torch", "onnxruntime")])
def test_conversions_off_tensorflow_without_tensorflow_are_refused_and_keras_predicts(
    tmp_path: Path, backend: str, runtime: str
) -> None:
    """Off TensorFlow a conversion runs in a TensorFlow child (tests/engine/test_convert_off_tensorflow.py);
    without TensorFlow installed it is refused, naming what to install."""
    from support.models import tiny_cnn

    model_file = tmp_path / "tiny.keras"
    tiny_cnn(16, seed=0).save(model_file)  # written on TensorFlow, read on `backend`
    photo = str(photo_paths(1)[0])
    args = ["--backend", backend, "predict", "--model", str(model_file), photo, "--json"]
    refused = zoo_without_tensorflow(*args, "--runtime", runtime)
    assert refused.returncode == 2, refused.stderr
    assert f"{runtime} from a model built on the {backend} back-end needs TensorFlow" in flat(refused.stderr)
    assert "pip install tensorflow" in flat(refused.stderr)
    predicted = zoo_without_tensorflow(*args)
    assert predicted.returncode == 0, predicted.stderr
    assert len(json.loads(predicted.stdout)[0]["top"]) > 0
