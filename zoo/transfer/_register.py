"""`zoo register RUN_DIR --name NAME`: a fine-tuned run becomes a model of the user's registry.

The entry goes to ZOO_HOME/registry.d/<name>.yaml with `bundle: <absolute run dir>`, so `zoo list` shows it
and `zoo.load(NAME)` (which checks spec.bundle) loads the saved model instead of building one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from zoo import config, registry
from zoo.atomic import atomic_write_text
from zoo.engine.bundle import CONFIG_FILE, LABELS_FILE, MODEL_FILE, read_json
from zoo.errors import RegistryError, RunDirError, UnknownModel


def register(run_dir: str | Path, name: str, *, force: bool = False) -> Path:
    """Write the user registry entry NAME for `run_dir`; returns the YAML file's path.

    Refuses a name that a built-in (or another user) model already uses, unless `force` replaces an
    earlier registration under the same name."""
    run_dir = Path(run_dir).expanduser().resolve()
    for required in (MODEL_FILE, LABELS_FILE, CONFIG_FILE):
        if not (run_dir / required).is_file():
            raise RunDirError(
                f"{run_dir}: not a finished run directory ({required} is missing)",
                hint="register the output folder of a `zoo finetune` run that completed",
            )
    run_config = read_json(run_dir / CONFIG_FILE)
    labels = read_json(run_dir / LABELS_FILE)
    backbone = _backbone(run_config)
    raw = entry_for(run_dir, run_config, labels, backbone)
    path = config.user_registry_dir() / f"{name}.yaml"
    registry.parse_entry(name, raw, origin=str(path))  # the validation `zoo list` applies (name included)
    _check_name_free(name, path, force)
    atomic_write_text(path, yaml.safe_dump({"models": {name: raw}}, sort_keys=False))
    return path


def entry_for(
    run_dir: Path, run_config: dict[str, Any], labels: list[str], backbone: registry.ModelSpec
) -> dict[str, Any]:
    """The registry fields of a run: the backbone's architecture and preprocessing, the run's head."""
    image_size = int(run_config.get("image_size") or backbone.input_size)
    args = {k: v for k, v in backbone.args.items() if k != "input_shape"}
    return {
        "arch": backbone.arch,
        "args": args,
        "module": backbone.module,
        "family": backbone.family,
        "tags": ["fine-tuned"],
        "license": backbone.license,
        "input_size": image_size,
        "preprocess": backbone.preprocess,
        "interpolation": backbone.interpolation,
        "crop_pct": backbone.crop_pct,
        "num_classes": len(labels),
        "bundle": str(run_dir),
    }


def _backbone(run_config: Any) -> registry.ModelSpec:
    name = run_config.get("model") if isinstance(run_config, dict) else None
    if not isinstance(name, str):
        raise RunDirError("config.json does not name the backbone model ('model')")
    try:
        return registry.get(name)
    except UnknownModel as exc:
        raise RunDirError(f"the run's backbone '{name}' is not in the registry: {exc}") from None


def _check_name_free(name: str, path: Path, force: bool) -> None:
    if path.is_file():
        if force:
            return
        raise RegistryError(
            f"'{name}' is already registered ({path})", hint="pass `force=True` to replace it"
        )
    if name in registry.load_registry():
        raise RegistryError(
            f"'{name}' is already the name of a registered model", hint="choose another `name`"
        )
