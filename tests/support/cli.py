"""The ways a test runs the `zoo` command: in this process, or as a real child process.

- `invoke(*args)`: the Typer app through click's CliRunner; the Result carries exit_code, output, stdout,
  stderr and any exception. For option parsing and output checks that need no exit-code mapping.
- `zoo_main(capsys, *args)`: the real console-script entry point `zoo.cli.app.main` in this process,
  (exit code, stdout, stderr): exit codes and error lines exactly as the shell sees them.
- `run_zoo(*args)`: `python -m zoo` in a fresh process, waited for (a clean interpreter: start-up,
  imports, signals, environment variables).
- `start_zoo(*args)`: the same process, not waited for (to kill it, or to run several at once).

Each child process inherits the test's environment (conftest.py's isolated ZOO_HOME, KERAS_HOME, HF_HOME).
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

ZOO = [sys.executable, "-m", "zoo"]
# For a child whose error message names a temporary path: rich draws usage errors in a box 80 columns wide
# and folds a long path across lines.
WIDE = {"COLUMNS": "200"}


def invoke(*args: str, **kwargs: Any) -> Result:
    """The Typer app in this process (keyword arguments go to CliRunner.invoke: env, input, ...)."""
    from zoo.cli.app import app

    return CliRunner().invoke(app, list(args), **kwargs)


def zoo_main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The real `zoo` entry point in this process: (exit code, stdout, stderr)."""
    from zoo.cli.app import main

    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_zoo(
    *args: str, env: dict[str, str] | None = None, timeout: float | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """`python -m zoo ARGS` in a fresh process, output captured as text; `env` adds to the inherited one."""
    kwargs.setdefault("capture_output", True)
    return subprocess.run(
        [*ZOO, *args], text=True, timeout=timeout, env={**os.environ, **(env or {})}, **kwargs
    )


def start_zoo(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """`python -m zoo ARGS` started and left running; keyword arguments go to subprocess.Popen."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([*ZOO, *args], text=True, **kwargs)


def flat(output: str) -> str:
    """CLI output on one line, without the side borders of the box rich draws around errors."""
    return " ".join(output.replace("│", " ").split())
