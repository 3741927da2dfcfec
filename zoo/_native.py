"""Native libraries (TensorFlow's C++ core, LiteRT) write to file descriptor 2 directly, past Python's
sys.stderr. `quiet_native_stderr` points fd 2 at /dev/null for the duration of a call whose native
chatter is not for users (ZOO_DEBUG=1 keeps it). Python exceptions still propagate.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from zoo import config


@contextlib.contextmanager
def silenced_stderr_fd() -> Iterator[None]:
    """Point fd 2 at /dev/null (native code writes there directly), restoring it afterwards."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_native_stderr() -> contextlib.AbstractContextManager[None]:
    """Silence fd 2 unless ZOO_DEBUG=1."""
    return contextlib.nullcontext() if config.debug() else silenced_stderr_fd()
