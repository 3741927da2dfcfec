"""A SparkSession set up for zoo: pyspark checked, the master checked, zoo's settings passed to executors."""

from __future__ import annotations

import os
import socket
import sys
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from zoo.errors import SparkMasterUnreachable, SparkUnavailable

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"
CONNECT_TIMEOUT_S = 10.0
# What executors need to find weights the way the driver does. ZOO_HOME/KERAS_HOME are paths on the
# driver's disk, so they travel only to executors on this machine (local masters); a real cluster's
# executors use their own cache (or spark.executorEnv.ZOO_HOME set by the user) and ZOO_MIRROR.
SHARED_ENV = (
    "ZOO_MIRROR",
    "ZOO_MIRROR_TOKEN",
    "ZOO_OFFLINE",
    "ZOO_REGISTRY",
    "KERAS_BACKEND",
    "HF_HUB_OFFLINE",
)
LOCAL_ENV = ("ZOO_HOME", "KERAS_HOME", "HF_HOME", "HF_HUB_CACHE")


def require_pyspark() -> None:
    """SparkUnavailable (exit 2) naming the extra when pyspark is not installed."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        raise SparkUnavailable(
            "--spark needs pyspark, which is not installed",
            hint="`pip install zoo-hub[spark]` (pyspark 4.3; Spark also needs Java 17 or newer)",
        ) from None


def is_local(master: str) -> bool:
    return master.startswith("local")


def check_master(master: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A standalone master (spark://host:port[,host:port]) must accept a connection within `timeout`:
    Spark itself retries for minutes before it gives up."""
    if not master.startswith("spark://"):
        return
    for address in master.removeprefix("spark://").split(","):
        parts = urlsplit(f"//{address}")
        try:
            with socket.create_connection((parts.hostname or "", parts.port or 7077), timeout=timeout):
                return
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
    raise SparkMasterUnreachable(
        f"Spark master {master} cannot be reached within {timeout:g} s ({reason})",
        hint="check the URL (spark://HOST:7077) and that the master runs; or run on this machine: local[*]",
    )


def session(
    master: str = DEFAULT_MASTER,
    *,
    app_name: str = "zoo",
    config: dict[str, str] | None = None,
    timeout: float = CONNECT_TIMEOUT_S,
) -> SparkSession:
    """A SparkSession on `master` whose executors see zoo's settings (see SHARED_ENV / LOCAL_ENV)."""
    require_pyspark()
    check_master(master, timeout)
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master).appName(app_name).config("spark.ui.showConsoleProgress", "false")
    )
    # Images are small files: Spark's default cost of opening one (4 MB) packs ~30 photos per task, and
    # the per-task round trip to the Python worker then dominates; 256 KB packs a few hundred.
    builder = builder.config("spark.sql.files.openCostInBytes", str(256 * 1024))
    names = SHARED_ENV + (LOCAL_ENV if is_local(master) else ())
    for name in names:
        if os.environ.get(name):
            builder = builder.config(f"spark.executorEnv.{name}", os.environ[name])
    if is_local(master):  # the workers run this interpreter (its venv has zoo); a cluster sets its own
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # pyspark reads it when the context starts
    for key, value in (config or {}).items():
        builder = builder.config(key, value)
    try:
        return builder.getOrCreate()
    except Exception as exc:  # the JVM's own failure (no Java, a bad master URL): one line, not a trace
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SparkMasterUnreachable(
            f"Spark could not start on {master}: {first}",
            hint="Spark 4 needs Java 17+ (JAVA_HOME or java on PATH) and a reachable master",
        ) from None
