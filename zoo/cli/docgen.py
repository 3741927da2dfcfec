"""Generate docs/cli.md, the CLI reference, from the Typer app itself (so it cannot drift silently).

    python -m zoo.cli.docgen > docs/cli.md

tests/test_docs.py fails when docs/cli.md differs from what this prints.
"""

from __future__ import annotations

import sys

import click
import typer.main


def _usage(command: click.Command, path: str) -> str:
    ctx = click.Context(command, info_name=path)
    pieces = command.collect_usage_pieces(ctx)
    return " ".join([path, *pieces])


def _option_rows(command: click.Command) -> list[str]:
    rows = []
    for param in command.params:
        if isinstance(param, click.Argument):
            kind = "argument"
            names = param.human_readable_name
        else:
            kind = "option"
            names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
            if param.name in ("install_completion", "show_completion"):
                continue
        help_text = (getattr(param, "help", None) or "").replace("|", "\\|").replace("\n", " ")
        default = ""
        if isinstance(param, click.Option) and not param.is_flag and param.default not in (None, (), []):
            default = f" (default: `{param.default}`)"
        label = f"`{names}`" if kind == "argument" else names
        rows.append(f"| {label} | {kind} | {help_text}{default} |")
    return rows


def _walk(command: click.Command, path: str, out: list[str], depth: int) -> None:
    heading = "#" * min(depth + 2, 6)
    out.append(f"{heading} `{path}`\n")
    if command.help:
        out.append(command.help.strip() + "\n")
    out.append(f"```\n{_usage(command, path)}\n```\n")
    rows = _option_rows(command)
    if rows:
        out.extend(["| name | kind | help |", "|---|---|---|", *rows, ""])
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            sub = command.commands[name]
            if not sub.hidden:
                _walk(sub, f"{path} {name}", out, depth + 1)


def render() -> str:
    from zoo.cli.app import app

    root = typer.main.get_command(app)
    out = [
        "# CLI reference",
        "",
        "Generated from the Typer app by `python -m zoo.cli.docgen`; do not edit.",
        "",
    ]
    _walk(root, "zoo", out, 0)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
