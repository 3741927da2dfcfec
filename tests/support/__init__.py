"""What the tests share: CLI runners, tiny models, registry writers, loopback servers, bad inputs.

Importable as `support` because pyproject.toml puts tests/ on pytest's `pythonpath`.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"  # the fixtures and photos beside the checkout (../shared)


def child_env(**overrides: str) -> dict[str, str]:
    """The environment of a child Python that imports zoo and tests/support (e.g. a back-end probe:
    KERAS_BACKEND=...), this one's with `overrides`."""
    return {**os.environ, **overrides, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO)])}
