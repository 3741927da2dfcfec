"""A `zoo finetune` child process killed mid-run, as a crash would: for the --resume tests."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path


def read_state(run: Path) -> dict | None:
    """The run's checkpoints/state.json, or None while there is none (or it is being replaced)."""
    try:
        return json.loads((run / "checkpoints" / "state.json").read_text())
    except (OSError, ValueError):
        return None


def kill_in_stage_2(command: list[str], env: dict[str, str], run: Path, within: float = 240) -> dict:
    """Start `command` (a finetune writing `run`), SIGKILL it once stage 2 has completed an epoch (the
    next is then in progress); the state it left."""
    child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and child.poll() is None:
        state = read_state(run)
        if state and state["stage"] == 2 and state["epochs_done"] >= 1:
            break
        time.sleep(0.01)
    assert child.poll() is None, f"the run ended before it could be killed: {child.stderr.read().decode()}"
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stderr.close()
    state = read_state(run)
    assert state is not None and state["stage"] == 2
    return state
