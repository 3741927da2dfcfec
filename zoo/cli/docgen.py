"""Generate docs/cli.md, the CLI reference, from the Typer app itself (so it cannot drift silently).

    python -m zoo.cli.docgen > docs/cli.md

tests/test_docs.py fails when docs/cli.md differs from what this prints.

Typer (0.29+) builds its commands on its own vendored copy of click, so commands and parameters are
read by their attributes (`commands`, `param_type_name`, `opts`) rather than by isinstance checks
against the `click` package.
"""

from __future__ import annotations

import enum
import re
import sys
from collections.abc import Iterator
from typing import Any

REGENERATE = "python -m zoo.cli.docgen > docs/cli.md"

# Typer's own options, documented once in the header instead of under every command.
_COMPLETION_OPTIONS = {"install_completion", "show_completion"}
# "Example: zoo ..." or any short label before a command ("Two machines: zoo ...").
_INLINE_EXAMPLE = re.compile(r"^([A-Z][\w ,-]{0,40}:)\s+(zoo\s.*)$")
_TRAILING_REMARK = re.compile(r"^(.*?)\s+\(([^()]*)\)$")


def iter_commands(command: Any, path: str = "zoo") -> Iterator[tuple[str, Any]]:
    """Every visible command and group, depth first, as (`zoo cache ls`, command)."""
    yield path, command
    for name in getattr(command, "commands", {}) or {}:  # the order the app registers them
        sub = command.commands[name]
        if not getattr(sub, "hidden", False):
            yield from iter_commands(sub, f"{path} {name}")


def root_command() -> Any:
    import typer.main

    from zoo.cli.app import app

    return typer.main.get_command(app)


def _usage(command: Any, path: str) -> str:
    from typer._click import Context

    pieces = command.collect_usage_pieces(Context(command, info_name=path))
    return " ".join([path, *pieces])


def _help_markdown(help_text: str) -> list[str]:
    """The docstring as Markdown: prose stays prose; runs of `zoo ...` example lines become bash blocks."""
    out: list[str] = []
    code: list[str] = []

    def flush_code() -> None:
        if code:
            out.extend(["```bash", *code, "```", ""])
            code.clear()

    for raw in help_text.strip().splitlines():
        line = raw.strip()
        inline = _INLINE_EXAMPLE.match(line)
        if inline:
            flush_code()
            out.extend([inline.group(1), ""])
            code.append(inline.group(2))
        elif line.startswith("zoo "):
            code.append(line)
        elif code and line.startswith("("):  # a remark under an example: "(after a crash: zoo ...)"
            code.append(f"# {line.strip('()')}")
        elif code and line.startswith("--"):  # an example's options wrapped onto the next line
            remark = _TRAILING_REMARK.match(line)
            code[-1] += " " + (remark.group(1) if remark else line)
            if remark:
                code.append(f"# {remark.group(2)}")
        elif not line:
            if not code and out and out[-1] != "":
                out.append("")
        else:
            flush_code()
            out.append(_escape_html(line))
    flush_code()
    return out


def _escape_html(text: str) -> str:
    """Markdown renderers would swallow placeholders like <class> as HTML tags."""
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: str) -> str:
    return _escape_html(" ".join(text.split())).replace("|", "\\|")


def _choices(param: Any) -> list[str]:
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [str(member.value) for member in annotation]
    return []


def _param_row(param: Any) -> str | None:
    if param.name in _COMPLETION_OPTIONS or getattr(param, "hidden", False):
        return None
    if param.param_type_name == "argument":
        names = f"`{(param.metavar or param.name).upper()}`"
        required = " (required)" if param.required else ""
        kind = f"argument{required}"
    else:
        names = ", ".join(f"`{opt}`" for opt in [*param.opts, *param.secondary_opts])
        kind = "flag" if getattr(param, "is_flag", False) else "option"
    details = [_cell(getattr(param, "help", None) or "")]
    choices = _choices(param)
    if choices:
        details.append("One of: " + ", ".join(f"`{c}`" for c in choices) + ".")
    bounds = [f"{getattr(param, 'min', None)} <= x" * (getattr(param, "min", None) is not None)]
    bounds.append(f"x <= {getattr(param, 'max', None)}" * (getattr(param, "max", None) is not None))
    if any(bounds):
        details.append("Range: " + " ".join(b for b in bounds if b).replace("x x", "x") + ".")
    default = param.default
    if kind == "option" and default not in (None, (), []) and not callable(default):
        details.append(f"Default: `{default.value if isinstance(default, enum.Enum) else default}`.")
    return f"| {names} | {kind} | {' '.join(d for d in details if d)} |"


def _section(path: str, command: Any) -> list[str]:
    depth = path.count(" ")
    out = [f"{'#' * min(depth + 2, 6)} `{path}`", ""]
    if command.help:
        out.extend(_help_markdown(command.help))
        if out[-1] != "":
            out.append("")
    out.extend(["```", _usage(command, path), "```", ""])
    rows = [row for row in map(_param_row, command.params) if row]
    if rows:
        out.extend(["| name | kind | help |", "|---|---|---|", *rows, ""])
    return out


def _anchor(path: str) -> str:
    """GitHub's heading anchor for a heading like `zoo cache ls`."""
    return re.sub(r"[^a-z0-9 -]", "", path.lower()).replace(" ", "-")


def render() -> str:
    commands = list(iter_commands(root_command()))
    out = [
        "# CLI reference",
        "",
        f"Generated from the Typer app by `{REGENERATE}`; do not edit by hand.",
        "Every command also answers `--help` (or `-h`).",
        "",
        "Exit codes: 0 success; 1 runtime error (`Error: ...` and a `Hint: ...` on stderr); "
        "2 usage error (bad option value, missing path), checked before any work; 130 interrupted.",
        "",
        "Shell completion: `zoo --install-completion` installs it for the current shell; "
        "`zoo --show-completion bash` prints the script instead (also zsh, fish, powershell).",
        "",
        "## Commands",
        "",
        *(f"- [`{path}`](#{_anchor(path)})" for path, _ in commands[1:]),
        "",
    ]
    for path, command in commands:
        out.extend(_section(path, command))
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
