"""The `zoo` command: builds the Typer app from the command modules and maps errors to exit codes.

Exit codes: 0 success; 1 runtime error (`Error: ...` and a hint on stderr); 2 usage error (click's own,
or zoo.cli.common.usage_error for checks Typer cannot express); 130 interrupted.
"""

from __future__ import annotations

import errno
import os
import re
import sys

import typer

from zoo import __version__, config
from zoo.choices import BACKENDS
from zoo.cli import cmd_bench, cmd_demo, cmd_engine, cmd_hub, cmd_registry, cmd_transfer, cmd_web, quiet
from zoo.cli.common import option_flags
from zoo.cli.options import one_of
from zoo.errors import DiskSpaceError, ZooError

app = typer.Typer(
    name="zoo",
    help="Find, pull, load, measure and fine-tune pretrained ImageNet models (TensorFlow/Keras).\n\n"
    "Example: zoo list --tag mobile",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"zoo {__version__} (Keras back-end: {config.keras_backend()})")
        raise typer.Exit()


def _backend(value: str | None) -> None:
    if value:  # before any command imports Keras, which reads it once
        os.environ["KERAS_BACKEND"] = value


@app.callback()
def _root(
    backend: one_of(BACKENDS) | None = typer.Option(
        None,
        "--backend",
        callback=_backend,
        is_eager=True,
        help="The Keras back-end for this command (default: KERAS_BACKEND, else keras.json's, else "
        "tensorflow).",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and the back-end."
    ),
) -> None:
    """zoo: a model-zoo hub and transfer-learning toolkit for TensorFlow/Keras."""


# Each command module declares its commands on its own `app`; the root lists them in this order, the
# groups (`zoo cache`) last. Not `app.add_typer(module.app)`: Typer lists a nameless sub-app's commands
# after every command and group the root has, in whatever order those were added.
for _module in (cmd_registry, cmd_hub, cmd_engine, cmd_bench, cmd_transfer, cmd_demo, cmd_web):
    app.registered_commands.extend(_module.app.registered_commands)
    app.registered_groups.extend(_module.app.registered_groups)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter is not for users
    if not config.debug():
        quiet.install()
    # A file name that is not UTF-8 is printed as the bytes it is (as `ls` does) instead of failing the
    # command under a strict UTF-8 stdout; stderr already escapes such characters.
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="surrogateescape")
    try:
        app(args=argv, prog_name="zoo", standalone_mode=True)
    except SystemExit as exc:  # click exits through SystemExit with its own code
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
        if code == 130:  # Typer turns Ctrl-C into a silent exit 130
            print("Interrupted.", file=sys.stderr)
        return code
    except ZooError as exc:
        report_error(exc, argv)
        return exc.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    except OSError as exc:
        if config.debug() or exc.errno not in _DISK_FULL | _BAD_PLACE:
            return _internal_error(exc)
        report_error(_file_system_error(exc), argv)
        return 1
    except Exception as exc:
        return _internal_error(exc)
    return 0


# The machine's problems, for the user to fix, not bugs of zoo's: a full disk (or quota, or file-size
# limit), and a place zoo cannot write to (ZOO_HOME is a file, a read-only disk, no permission).
_DISK_FULL = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})
_BAD_PLACE = frozenset({errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS})
_FREE_SPACE = "free some disk space (or point ZOO_HOME / --out at a larger disk) and run the command again"
_WRITABLE = "ZOO_HOME and --out must name folders you can write to"


def _file_system_error(exc: OSError) -> ZooError:
    where = f" writing {exc.filename}" if exc.filename else ""
    if exc.errno in _DISK_FULL:
        return DiskSpaceError(f"no space left{where}: {exc.strerror}", hint=_FREE_SPACE)
    return ZooError(f"cannot use {exc.filename or 'a file'}: {exc.strerror}", hint=_WRITABLE)


def _internal_error(exc: Exception) -> int:
    """A bug: one line, the traceback only with ZOO_DEBUG=1."""
    if config.debug():
        raise exc
    print(f"Error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
    print("Hint: rerun with ZOO_DEBUG=1 for the traceback, and please report it.", file=sys.stderr)
    return 1


def report_error(exc: ZooError, argv: list[str] | None = None) -> None:
    """`Error: ...` and `Hint: ...` on stderr, the settings they name spelled as the command's options."""
    options = _command_options(sys.argv[1:] if argv is None else argv)
    print(f"Error: {in_cli_terms(exc.message, options)}", file=sys.stderr)
    if exc.hint:
        print(f"Hint: {in_cli_terms(exc.hint, options)}", file=sys.stderr)


# A setting named in a library message: `name` or `name=value` (see zoo.errors).
_SETTING = re.compile(r"`([a-z][a-z0-9_]*)(?:=([^`\s]+))?`")


def in_cli_terms(text: str, options: dict[str, str]) -> str:
    """Spell each setting `text` names as its option: `resume=True` -> --resume, `val=DIR` -> --val DIR."""

    def spell(match: re.Match[str]) -> str:
        flag = options.get(match.group(1))
        if flag is None:
            return match.group(0)
        value = match.group(2)
        return flag if value in (None, "True") else f"{flag} {value}"

    return _SETTING.sub(spell, text)


def _command_options(argv: list[str]) -> dict[str, str]:
    """The options of the command `argv` runs, by parameter name: {"resume": "--resume", ...}."""
    command = typer.main.get_command(app)
    args = list(argv)
    while isinstance(getattr(command, "commands", None), dict):  # a group: descend into the subcommand
        name = next((arg for arg in args if not arg.startswith("-")), None)
        if name is None or name not in command.commands:
            break
        command, args = command.commands[name], args[args.index(name) + 1 :]
    return option_flags(command)


if __name__ == "__main__":
    sys.exit(main())
