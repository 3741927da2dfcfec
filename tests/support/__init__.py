"""What the tests share: CLI runners, tiny models, registry writers, loopback servers, bad inputs.

Importable as `support` because pyproject.toml puts tests/ on pytest's `pythonpath`.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"  # the fixtures and photos beside the checkout (../shared)
