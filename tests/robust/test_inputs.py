"""Bad inputs (tests/support/badinputs.py) through `zoo predict`, `zoo embed`, `zoo evaluate`, `zoo finetune`
and the Python API: each file is decoded or skipped with its counted reason, each bad data folder is a
one-line error with exit 1; never a traceback, never a hang (every command runs under a subprocess timeout).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from support import cli
from support.badinputs import (
    IMAGE_KINDS,
    BadInput,
    bad_csvs,
    bad_weight_files,
    corrupt_run_dirs,
    empty_class,
    labelled_folder,
    many_tiny_images,
    one_class,
    symlink_loop_folder,
    unreadable_file,
    write_bad_image,
    write_bad_images,
)
from support.cli import zoo_main
from support.models import colour_classifier

import zoo
from zoo.data.decode import ResizePolicy, decode_batch
from zoo.errors import BadDataset, BadImage

BACKBONE = "mobilenet_v1_025_224"
COMMAND_TIMEOUT = 240  # seconds: far above a normal run, so only a hang trips it
pytestmark = pytest.mark.timeout(600)  # several commands per test, each allowed COMMAND_TIMEOUT


def run_zoo(
    *args: str, timeout: float = COMMAND_TIMEOUT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The real `zoo` command in a fresh process (the test's ZOO_HOME etc. are inherited).

    Output is decoded like the child wrote it: file names that are not UTF-8 come back as the same str."""
    result = cli.run_zoo(*args, env=env, timeout=timeout, errors="surrogateescape")
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    return result


def tiny_classifier(size: int = 16):
    """Raw RGB in -> mean colour -> two logits: red-ish images are class `a`, the rest `b`."""
    return colour_classifier([[4, -4], [-4, 4], [0, 0]], size)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[BadInput]]:
    """data/a: every bad kind + 3 good images; data/b: 4 good images."""
    root = tmp_path_factory.mktemp("bad") / "data"
    labelled_folder(root, {"a": 3, "b": 4})
    return root, write_bad_images(root / "a")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from zoo.engine.bundle import save_bundle

    return save_bundle(
        tmp_path_factory.mktemp("run") / "run", tiny_classifier(), ["a", "b"], {"image_size": 16}
    )


def expected(cases: list[BadInput]) -> tuple[dict[str, BadInput], dict[str, BadInput]]:
    """(decoded cases, skipped cases), by str(path); "ignored" files must appear in neither."""
    decoded = {str(c.path): c for c in cases if c.outcome == "decoded"}
    skipped = {str(c.path): c for c in cases if c.outcome == "skipped"}
    return decoded, skipped


def as_stderr_shows(path: Path) -> str:
    """How Python's stderr (errors="backslashreplace") prints a path that may not be UTF-8."""
    return str(path).encode("utf-8", "backslashreplace").decode("utf-8")


def good_count(root: Path) -> int:
    return sum(1 for p in root.rglob("[0-9]*.png"))


# ------------------------------------------------------------------------------------------ the decoder
@pytest.mark.parametrize("kind", IMAGE_KINDS)
def test_each_kind_has_its_documented_outcome(kind: str, tmp_path: Path) -> None:
    case = write_bad_image(tmp_path, kind)
    batch = decode_batch([case.path], ResizePolicy(24))
    if case.outcome == "decoded":
        assert batch.images.shape == (1, 24, 24, 3) and not batch.skipped
    else:  # "ignored" files (a folder scan never lists them) named directly are skipped too
        assert len(batch) == 0 and len(batch.skipped) == 1
        assert case.reason in batch.skipped[0][1]


NOBODY = 65534  # the unprivileged user and group of Debian-like systems


def decoded_as_nobody(path: Path) -> list[tuple[Path, str]]:
    """decode_batch([path]).skipped, run in a forked child that has dropped root for `nobody`.

    Root reads a mode-000 file anyway, and the test interpreter lives where `nobody` cannot start it, so
    the child is a fork of this process (zoo's decoder already imported) that gives up its privileges."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            skipped = decode_batch([path], ResizePolicy(16), workers=1).skipped
            os.write(write_end, json.dumps([[str(p), reason] for p, reason in skipped]).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        answer = pipe.read()
    assert os.waitpid(child, 0)[1] == 0, "the unprivileged child failed"
    return [(Path(p), reason) for p, reason in json.loads(answer)]


def test_unreadable_file_is_skipped_with_its_reason(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        case = unreadable_file(tmp_path)
        predictions = zoo.predict(tiny_classifier(), [case.path], labels=["a", "b"])
        assert predictions[0].error is not None and case.reason in predictions[0].error
        return
    # as root: the file sits in a folder `nobody` may enter (pytest's own tmp folders are root-only)
    folder = Path(tempfile.mkdtemp(prefix="zoo-unreadable-"))
    try:
        folder.chmod(0o755)
        case = unreadable_file(folder)
        assert decoded_as_nobody(case.path) == [(case.path, "cannot read: permission denied")]
        assert decode_batch([case.path], ResizePolicy(16)).skipped == []  # root itself still reads it
    finally:
        shutil.rmtree(folder)


# ---------------------------------------------------------------------------------------------- predict
@pytest.mark.slow
def test_predict_cli_answers_every_good_file_and_names_every_bad_one(tree, run_dir: Path) -> None:
    root, cases = tree
    decoded, skipped = expected(cases)
    result = run_zoo("predict", "--model", str(run_dir), str(root / "a"), "--json", "--top", "1")
    assert result.returncode == 1  # some files could not be read
    answers = {row["path"]: row for row in json.loads(result.stdout)}
    assert set(answers) == {str(p) for p in (root / "a").glob("[0-9].png")} | set(decoded) | set(skipped)
    for path, case in skipped.items():
        assert case.reason in answers[path]["error"] and not answers[path]["top"], case.kind
    for path in decoded:
        assert answers[path]["error"] is None and answers[path]["top"][0]["label"] in ("a", "b")
    assert f"{len(skipped)} of {len(answers)} images could not be read." in result.stderr
    assert sum(line.startswith("Error: ") for line in result.stderr.splitlines()) == len(skipped)


@pytest.mark.slow
def test_predict_cli_prints_undecodable_file_names_in_plain_text(tree, run_dir: Path) -> None:
    """A non-UTF-8 name is printed as its bytes, even where stdout is strict UTF-8 (PYTHONIOENCODING)."""
    root, cases = tree
    odd = next(c for c in cases if c.kind == "non_utf8_name")
    strict = {"PYTHONIOENCODING": "utf-8:strict"}
    result = run_zoo("predict", "--model", str(run_dir), str(odd.path), "--top", "1", env=strict)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == str(odd.path) and lines[1].strip().endswith(("(0)", "(1)"))


def test_predict_api_reports_each_file(tree, run_dir: Path) -> None:
    root, cases = tree
    decoded, skipped = expected(cases)
    answers = {str(p.path): p for p in zoo.predict(run_dir, root / "a", top=1)}
    assert {k for k, p in answers.items() if not p.ok} == set(skipped)
    assert set(decoded) <= {k for k, p in answers.items() if p.ok}
    with pytest.raises(BadImage, match="empty file"):
        zoo.predict(run_dir, [c.path for c in cases if c.kind == "zero_byte"], on_bad_image="fail")


@pytest.mark.slow
def test_predict_cli_names_pipes_and_devices_without_blocking(tree, run_dir: Path) -> None:
    root, cases = tree
    fifo = next(c.path for c in cases if c.kind == "fifo")
    good = root / "b" / "0.png"
    result = run_zoo("predict", "--model", str(run_dir), str(fifo), "/dev/zero", str(good), timeout=120)
    assert result.returncode == 1 and result.stdout.startswith(str(good))
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert errors == [
        f"Error: {fifo}: not a regular file (a pipe, socket or device)",
        "Error: /dev/zero: not a regular file (a pipe, socket or device)",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("command", ["predict", "embed", "evaluate", "finetune"])
def test_a_folder_of_only_bad_images_is_one_clear_error(
    command: str, tmp_path: Path, run_dir, fixture_weights
) -> None:
    root = tmp_path / "data"
    for name, kinds in (("a", ("zero_byte", "bomb")), ("b", ("truncated_png", "html_as_png"))):
        for kind in kinds:
            write_bad_image(root / name, kind)
    argv = {
        "predict": ("predict", "--model", str(run_dir), str(root)),
        "embed": ("embed", BACKBONE, str(root), "--weights", str(fixture_weights), "--size", "32",
                  "--out", str(tmp_path / "f.npy")),
        "evaluate": ("evaluate", str(run_dir), str(root)),
        "finetune": ("finetune", BACKBONE, str(root), *FINETUNE_FAST, "--out", str(tmp_path / "run")),
    }[command]  # fmt: skip
    message = {
        "predict": "4 of 4 images could not be read.",
        "embed": "Error: none of the 4 images could be decoded; nothing was written",
        "evaluate": "Error: no image in the data set could be decoded",
        "finetune": "Error: too few decodable images left to train and validate (4 skipped)",
    }[command]
    result = run_zoo(*argv)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "f.npy").exists() and not (tmp_path / "run" / "model.keras").exists()


# ------------------------------------------------------------------------------------------------ embed
@pytest.mark.slow
def test_embed_cli_skips_and_counts_then_fail_stops_with_one_line(
    tree, tmp_path: Path, fixture_weights
) -> None:
    root, cases = tree
    decoded, skipped = expected(cases)
    out = tmp_path / "features.npy"
    common = ("embed", BACKBONE, str(root), "--weights", str(fixture_weights), "--size", "32")
    result = run_zoo(*common, "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["skipped"] == len(skipped)
    assert summary["images"] == len(decoded) + good_count(root) == np.load(out).shape[0]
    for case in skipped.values():
        assert f"Skipped: {as_stderr_shows(case.path)}: " in result.stderr and case.reason in result.stderr
    rows = json.loads(out.with_name("features.paths.json").read_text(encoding="utf-8"))
    assert set(decoded) <= set(rows) and not set(skipped) & set(rows)

    failed = run_zoo(*common, "--out", str(tmp_path / "f2.npy"), "--on-bad-image", "fail")
    assert failed.returncode == 1
    assert (
        sum(line.startswith("Error: ") for line in failed.stderr.splitlines()) == 1
        and not (tmp_path / "f2.npy").exists()
    )


def test_embed_api_skips_with_reasons(tree, fixture_weights) -> None:
    root, cases = tree
    decoded, skipped = expected(cases)
    embeddings = zoo.embed(BACKBONE, root / "a", weights=fixture_weights, input_size=32)
    assert {str(p): r for p, r in embeddings.skipped}.keys() == skipped.keys()
    assert all(skipped[str(p)].reason in r for p, r in embeddings.skipped)
    assert embeddings.features.shape[0] == len(decoded) + 3 and np.isfinite(embeddings.features).all()


# --------------------------------------------------------------------------------------------- evaluate
@pytest.mark.slow
def test_evaluate_cli_and_api_count_the_skipped_files(tree, run_dir: Path) -> None:
    root, cases = tree
    decoded, skipped = expected(cases)
    result = run_zoo("evaluate", str(run_dir), str(root), "--json")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["skipped"] == len(skipped) and row["images"] == len(decoded) + good_count(root)
    frame = zoo.evaluate(run_dir, root, record=False)
    assert int(frame["skipped"].iloc[0]) == len(skipped) and int(frame["images"].iloc[0]) == row["images"]
    with pytest.raises(BadImage):
        zoo.evaluate(run_dir, root, record=False, on_bad_image="fail")


@pytest.mark.slow
def test_evaluate_follows_no_symlink_loop(tmp_path: Path, run_dir: Path) -> None:
    root = symlink_loop_folder(tmp_path / "loop")
    result = run_zoo("evaluate", str(run_dir), str(root), "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["images"] == 6  # the three real images of each class, once each


@pytest.mark.slow
def test_ten_thousand_tiny_images_scan_and_evaluate_a_bounded_sample(tmp_path: Path, run_dir: Path) -> None:
    from zoo.data.folders import scan_folders

    root = many_tiny_images(tmp_path / "many", classes=2)
    (root / "class0").rename(root / "a")
    (root / "class1").rename(root / "b")
    data = scan_folders(root)
    assert len(data) == 10_000 and data.counts() == {"a": 5000, "b": 5000}
    result = run_zoo("evaluate", str(run_dir), str(root), "--limit", "40", "--json")
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["images"] == 40 and row["top1"] == 0.5  # every image is red: all answered `a`


# --------------------------------------------------------------------------------------------- finetune
FINETUNE_FAST = ("--weights", "none", "--image-size", "32", "--epochs", "1", "--fine-tune-epochs", "0",
                 "--batch-size", "8", "--no-tensorboard")  # fmt: skip


@pytest.mark.slow
def test_finetune_cli_trains_on_the_good_images_and_lists_the_rest(tree, tmp_path: Path) -> None:
    root, cases = tree
    decoded, skipped = expected(cases)
    out = tmp_path / "run"
    result = run_zoo("finetune", BACKBONE, str(root), *FINETUNE_FAST, "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["run_dir"] == str(out)
    text = (out / "skipped.txt").read_text(
        encoding="utf-8", errors="surrogateescape"
    )  # names keep their bytes
    listed = dict(line.split("\t") for line in text.splitlines())
    assert listed.keys() == skipped.keys()
    assert all(case.reason in listed[path] for path, case in skipped.items())
    assert (out / "model.keras").is_file()


@pytest.mark.slow
@pytest.mark.parametrize(
    "make, message", [(one_class, "at least two classes"), (empty_class, "has no images")]
)
def test_finetune_refuses_a_bad_data_folder_in_one_line(make, message: str, tmp_path: Path) -> None:
    root = make(tmp_path / "data")
    result = run_zoo("finetune", BACKBONE, str(root), *FINETUNE_FAST, "--out", str(tmp_path / "run"))
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and message in result.stderr.splitlines()[0]
    assert not (tmp_path / "run").exists()  # refused before any work
    with pytest.raises(BadDataset, match=message):
        zoo.finetune(BACKBONE, root, weights="none", out=str(tmp_path / "api"), verbose=False)


@pytest.mark.slow
def test_finetune_api_fail_policy_stops_at_a_bad_image(tmp_path: Path) -> None:
    root = labelled_folder(tmp_path / "data", {"a": 3, "b": 3})
    write_bad_image(root / "b", "truncated_png")
    with pytest.raises(BadImage, match="truncated"):
        zoo.finetune(
            BACKBONE, root, weights="none", image_size=32, epochs=1, fine_tune_epochs=0,
            on_bad_image="fail", tensorboard=False, out=str(tmp_path / "run"), verbose=False,
        )  # fmt: skip


# ------------------------------------------------------------------------ broken model files and CSVs
@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_corrupt_model_file_is_one_line_error(
    damage: str, tree, run_dir: Path, tmp_path: Path, capsys
) -> None:
    root, _ = tree
    broken = corrupt_run_dirs(run_dir, tmp_path)[damage]
    expected_error = f"Error: cannot load {broken / 'model.keras'}: not a valid .keras archive (truncated"
    for command in (
        ("predict", "--model", str(broken), str(root / "b" / "0.png")),
        ("evaluate", str(broken), str(root)),
        ("export", str(broken), "--out", str(tmp_path / "out.keras")),
    ):
        code, _, err = zoo_main(capsys, *command)
        errors = [line for line in err.splitlines() if line.startswith("Error: ")]
        assert code == 1 and len(errors) == 1 and errors[0].startswith(expected_error), err
    assert not (tmp_path / "out.keras").exists()


@pytest.mark.parametrize("kind", ["latin1", "binary"])
def test_a_csv_that_is_not_utf8_is_a_data_error(kind: str, tree, tmp_path: Path, capsys) -> None:
    root, _ = tree
    csv_path = bad_csvs(tmp_path, root / "b" / "0.png")[kind]
    code, _, err = zoo_main(capsys, "finetune", BACKBONE, str(csv_path), "--out", str(tmp_path / "run"))
    assert code == 1 and err.startswith(f"Error: {csv_path}: not a UTF-8 text file"), err
    with pytest.raises(BadDataset, match="not a UTF-8 text file"):
        zoo.evaluate(tiny_classifier(), csv_path, labels=["a", "b"], record=False)


def test_a_registry_file_that_is_not_utf8_is_a_registry_error(tmp_path: Path, capsys, monkeypatch) -> None:
    registry = tmp_path / "user.yaml"
    registry.write_bytes(b"models:\n  caf\xe9: {arch: MobileNet}\n")
    monkeypatch.setenv("ZOO_REGISTRY", str(registry))
    code, _, err = zoo_main(capsys, "list")
    assert code == 1 and err.startswith(f"Error: {registry}: not UTF-8 text"), err


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_broken_weights_file_is_one_line_error(
    damage: str, tree, tmp_path: Path, capsys, fixture_weights
) -> None:
    root, _ = tree
    weights = bad_weight_files(tmp_path, fixture_weights)[damage]
    features = str(tmp_path / "f.npy")
    commands = {
        "predict": ("predict", BACKBONE, str(root / "b" / "0.png"), "--weights", str(weights)),
        "embed": ("embed", BACKBONE, str(root / "b"), "--weights", str(weights), "--out", features),
        "finetune": ("finetune", BACKBONE, str(root), *FINETUNE_FAST[2:], "--weights", str(weights),
                     "--out", str(tmp_path / "run")),
    }  # fmt: skip
    for name, argv in commands.items():
        code, _, err = zoo_main(capsys, *argv)
        errors = [line for line in err.splitlines() if line.startswith("Error: ")]
        assert code == 1 and errors == [errors[0]], (name, err)
        assert errors[0].startswith(f"Error: {weights}: not a readable Keras weights file"), (name, err)
    assert not (tmp_path / "f.npy").exists() and not (tmp_path / "run" / "model.keras").exists()


@pytest.mark.slow
def test_a_benchmark_where_no_row_runs_is_an_error(run_dir: Path, tmp_path: Path, capsys) -> None:
    broken = corrupt_run_dirs(run_dir, tmp_path)["truncated"]
    code, _, err = zoo_main(
        capsys, "benchmark", str(broken), "--batch-size", "1", "--iters", "1", "--warmup", "0"
    )
    assert code == 1 and "Error: none of the 1 benchmark rows ran" in err, err
    assert "Traceback" not in err
