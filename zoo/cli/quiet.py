"""Keep TensorFlow's native start-up chatter off the user's terminal.

TensorFlow's C++ side logs through absl before its logging is initialised ("oneDNN custom operations are
on", "Could not find cuda drivers", "failed call to cuInit" on a machine without a GPU), which
TF_CPP_MIN_LOG_LEVEL does not filter. The CLI installs an import hook so that the first
`import tensorflow` — wherever it happens, only when a command needs it — runs with file descriptor 2
pointed at /dev/null, and probes the devices inside the same silence. Python exceptions still propagate;
ZOO_DEBUG=1 turns the hook off.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType

from zoo._native import silenced_stderr_fd


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        _remove_finders()  # once only: the first real import
        # hand the real loader back, so nothing downstream ever sees this wrapper
        module.__loader__ = self.inner
        if module.__spec__ is not None:
            module.__spec__.loader = self.inner
        with silenced_stderr_fd():
            self.inner.exec_module(module)
            module.config.list_physical_devices("GPU")  # the CUDA probe logs here, once


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "tensorflow":
            return None
        # not removed here: importlib.util.find_spec("tensorflow") (is it installed?) asks without importing
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


def _remove_finders() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietTensorFlowFinder)]


def install() -> None:
    """Silence TensorFlow's first import in this process (no-op if it is already imported)."""
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorFlowFinder())
