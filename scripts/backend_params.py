"""Does every registered keras.applications architecture build on each Keras back-end with the registry's
exact parameter count? One child process per back-end (a back-end is fixed per process), weights=None.

    python scripts/backend_params.py                          every keras.applications entry, 3 back-ends
    python scripts/backend_params.py --models mobilenet_v2,nasnetmobile --backends jax,torch --json

Slow on JAX the first time (each weight initialiser compiles; JAX's persistent cache under ZOO_HOME makes a
second run fast). Exit status 1 when any count differs or a build fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

BACKENDS = ("tensorflow", "jax", "torch")


def count_here(names: list[str]) -> dict[str, Any]:
    """In this process (its back-end): {name: parameter count, or "error: ..."}. Each result is also printed
    as one JSON line as soon as it is known, so a run cut short by its timeout still reports what finished."""
    from zoo import config

    config.prepare_keras_backend()  # before Keras imports JAX: its persistent compilation cache is on
    import keras

    from zoo.registry import load_registry

    registry = load_registry()
    counts: dict[str, Any] = {}
    for name in names:
        spec = registry.get(name)
        try:
            model = getattr(keras.applications, spec.arch)(weights=None, include_top=True, **spec.args)
            counts[name] = int(model.count_params())
        except Exception as exc:  # one architecture that fails on a back-end is a reported row
            counts[name] = f"error: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
        keras.backend.clear_session()
        print(json.dumps({name: counts[name]}), flush=True)
    return counts


def count_in_child(backend: str, names: list[str], timeout_s: float) -> dict[str, Any]:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [sys.executable, __file__, "--child", "--models", ",".join(names)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout_s)
        stdout, failure = done.stdout, f"child exited {done.returncode}: {done.stderr[-200:]}"
    except subprocess.TimeoutExpired as timeout:
        stdout, failure = _text(timeout.stdout), f"not reached within --timeout {timeout_s:g} s"
    counts: dict[str, Any] = {}
    for line in stdout.splitlines():  # the child's one line per architecture, then the whole dict
        if line.startswith("{"):
            counts.update(json.loads(line))
    return {name: counts.get(name, f"error: {failure}") for name in names}


def _text(output: bytes | str | None) -> str:
    return output.decode() if isinstance(output, bytes) else output or ""


def keras_application_names() -> list[str]:
    from zoo.registry import load_registry

    return [spec.name for spec in load_registry() if not spec.is_keras_hub and not spec.bundle]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models", help="comma-separated registry names (default: every keras.applications one)"
    )
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per back-end")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = args.models.split(",") if args.models else keras_application_names()
    if args.child:
        print(json.dumps(count_here(names)))
        return 0
    from zoo.registry import load_registry

    registry = load_registry()
    counts = {backend: count_in_child(backend, names, args.timeout) for backend in args.backends.split(",")}
    rows = {
        name: {"registry": registry.get(name).params, **{b: counts[b][name] for b in counts}}
        for name in names
    }
    if args.json:
        print(json.dumps(rows))
    else:
        width = max(map(len, names))
        print(f"{'model':{width}}  {'registry':>12}  " + "  ".join(f"{b:>12}" for b in counts))
        for name, row in rows.items():
            print(f"{name:{width}}  {row['registry']:>12}  " + "  ".join(f"{row[b]!s:>12}" for b in counts))
    cells = [row[b] for row in rows.values() for b in counts]
    failed = sum(isinstance(cell, str) for cell in cells)  # e.g. Keras refuses NASNet on torch
    differ = sum(
        isinstance(row[b], int) and row[b] != row["registry"] for row in rows.values() for b in counts
    )
    print(f"{len(cells)} builds: {differ} differ from the registry, {failed} failed", file=sys.stderr)
    return 0 if differ == failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
