"""Helpers shared by the command modules: output formats, usage errors, JSON printing."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer


def usage_error(message: str, param: str | None = None) -> NoReturn:
    """Exit 2 with a usage message, for checks Typer's types cannot express (before any work)."""
    raise typer.BadParameter(message, param_hint=param)


def option_flags(command: Any) -> dict[str, str]:
    """A command's options by parameter name, spelled as its long flag: {"batch_size": "--batch-size"}."""
    flags = {}
    for param in command.params:
        flag = next((opt for opt in param.opts if opt.startswith("--")), None)
        if flag is not None and param.name is not None:
            flags[param.name] = flag
    return flags


def print_json(data: Any) -> None:
    """Machine-readable output on stdout (Paths and other objects as strings)."""
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def stdout_console():
    """Rich on stdout (data); when piped, wide enough that no cell is cut (rich would assume 80 columns)."""
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 1000)


def stderr_console():
    """A rich console on stderr, for progress and logs (stdout carries data only)."""
    from rich.console import Console

    return Console(stderr=True)
