"""Lazy re-exports: a package names its public functions without importing their (heavy) modules.

    __getattr__, __dir__ = lazy_exports(__name__, {"load": "zoo.engine.build:load"}, globals())

The first access imports the module and caches the attribute in the package's globals.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, api: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level `__getattr__` and `__dir__` resolving `api` ("name" -> "module:attribute")."""

    def __getattr__(name: str) -> Any:
        target = api.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, attr = target.split(":")
        value = getattr(importlib.import_module(module_name), attr)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *api})

    return __getattr__, __dir__
