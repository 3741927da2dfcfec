"""hf:// sources through huggingface_hub (which honours HF_ENDPOINT, HF_HUB_CACHE, HF_TOKEN).

huggingface_hub reads its environment once, at import; zoo passes the endpoint and cache folder on every
call instead, so a change of HF_ENDPOINT or HF_HOME (tests, long-lived processes) takes effect.
huggingface_hub checks sizes only: the caller verifies the hash of what these functions return.
"""

from __future__ import annotations

import os
from pathlib import Path

from zoo.errors import SourceFailed
from zoo.hub.net import ensure_online
from zoo.hub.sources import HfLocation


def hf_cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME")
    base = Path(home).expanduser() if home else Path.home() / ".cache" / "huggingface"
    return base / "hub"


def find_in_hf_cache(location: HfLocation) -> Path | None:
    """The file if the Hugging Face cache already holds it (no network)."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(
        location.repo_id, location.filename, cache_dir=hf_cache_dir(), revision=location.revision
    )
    return Path(found) if isinstance(found, str) else None


def hf_download(location: HfLocation) -> Path:
    """Download into the Hugging Face cache and return the file's path there."""
    ensure_online(f"hf://{location.repo_id}/{location.filename}")
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(
            location.repo_id,
            location.filename,
            revision=location.revision,
            cache_dir=hf_cache_dir(),
            endpoint=os.environ.get("HF_ENDPOINT") or None,
        )
    except Exception as exc:  # huggingface_hub's many error types: this source failed, try the next
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise SourceFailed(f"{type(exc).__name__}: {message}") from exc
    return Path(path)
