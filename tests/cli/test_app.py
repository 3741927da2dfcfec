"""zoo/cli/app.py: how a library error reaches the terminal (the settings it names spelled as options)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import zoo_main

import zoo
from zoo.cli.app import in_cli_terms
from zoo.data.synthetic import render_dataset
from zoo.errors import BadDataset

OPTIONS = {"resume": "--resume", "out": "--out", "val": "--val", "worker_index": "--worker-index"}


@pytest.mark.parametrize(
    ("library", "cli"),
    [
        ("pass `resume=True` to continue it, or choose another `out`",
         "pass --resume to continue it, or choose another --out"),
        ("or pass `val=DIR`", "or pass --val DIR"),
        ("each its own `worker_index`", "each its own --worker-index"),
        # not a setting of this command, a command line, or plain code: left as written
        ("raise `peer_timeout`", "raise `peer_timeout`"),
        ("run `zoo finetune --out RUN_DIR`", "run `zoo finetune --out RUN_DIR`"),
        ("a `.keras` file", "a `.keras` file"),
    ],
)  # fmt: skip
def test_settings_are_spelled_as_the_commands_options(library: str, cli: str) -> None:
    assert in_cli_terms(library, OPTIONS) == cli


def test_one_error_speaks_python_to_python_and_options_to_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # two classes of one image each: a stratified split has nothing to hold out for validation
    data = render_dataset(tmp_path / "tiny", classes=("circle", "square"), per_class=1, size=32).root
    with pytest.raises(BadDataset) as caught:
        zoo.finetune("mobilenet_v1_025_224", data, weights=None, out=tmp_path / "py", verbose=False)
    assert caught.value.hint == "add images (two or more per class) or pass `val=DIR`"

    code, _, err = zoo_main(capsys, "finetune", "mobilenet_v1_025_224", str(data), "--weights", "none",
                            "--out", str(tmp_path / "cli"))  # fmt: skip
    assert code == 1
    assert "Hint: add images (two or more per class) or pass --val DIR\n" in err
