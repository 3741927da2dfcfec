"""zoo's error types. The CLI turns every ZooError into `Error: <message>` and exit 1.

Python users catch them by type. Each carries an optional `hint`: one line that says what to do next.

Messages speak of a setting by its Python name in backquotes, with its value where one is needed:
"pass `resume=True` to continue it, or choose another `out`". The CLI spells each such setting as the
option of the command that ran ("pass --resume ..., or choose another --out"): the library never quotes
a flag, and each reader sees the spelling of the interface they used.
"""

from __future__ import annotations


class ZooError(Exception):
    """Base class of every error zoo raises on purpose."""

    exit_code = 1  # the CLI's exit status: 1 a run-time error, 2 a usage error (DESIGN.md)

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class InvalidSetting(ZooError, ValueError):
    """A value the caller chose that zoo cannot accept (an unknown runtime, a size out of range, ...).

    A ValueError too, so code that caught ValueError from earlier versions keeps working."""


class BackendUnavailable(InvalidSetting):
    """A Keras back-end (or keras.json setting) zoo cannot run on here: not installed, or unsupported."""

    exit_code = 2


class RegistryError(ZooError):
    """registry.yaml (or a user registry) is malformed: names the entry and the field."""


class UnknownModel(ZooError, KeyError):
    """A model name that is neither a registered name nor an alias."""

    exit_code = 2

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.message


class UnsupportedModel(UnknownModel):
    """A real weight set (e.g. a timm tag) that zoo does not ship: its family has no working converter."""


class WeightsUnavailable(ZooError):
    """No source could deliver a verified weight file."""


class ChecksumMismatch(ZooError):
    """A downloaded or cached file does not match its expected digest."""


class OfflineError(WeightsUnavailable):
    """Offline mode is on and the file is not in the cache."""


class DiskSpaceError(ZooError):
    """Not enough free disk space for a download or a write."""


class BadImage(ZooError):
    """An image file that cannot be decoded (or is refused, e.g. a decompression bomb)."""

    def __init__(self, path: object, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"{path}: {reason}", hint=hint)
        self.path = path
        self.reason = reason


class BadDataset(ZooError):
    """A data folder or CSV that cannot be trained or evaluated on (one class, empty class, ...)."""


class ModelConfigError(ZooError):
    """An impossible model configuration (e.g. include_top with a non-default input size)."""


class UnsafeModelError(ZooError):
    """A saved model that needs unsafe deserialization (e.g. a Lambda layer)."""


class RunDirError(ZooError):
    """A run directory that is missing files or cannot be resumed."""


class UnknownSource(ZooError):
    """A figures source that no registry entry publishes figures for."""


class RuntimeUnavailable(ZooError):
    """A runtime/precision combination this machine or zoo cannot run."""

    exit_code = 2  # a runtime that is not installed, or a choice this machine cannot run: a usage error


class ExportCheckFailed(ZooError):
    """An exported model that does not reproduce the original's outputs (nothing was written)."""


class SourceFailed(Exception):
    """One source cannot deliver a file; the message says why. Internal to the hub: the caller tries the
    next source and raises WeightsUnavailable when none is left."""


class PeerUnreachable(ZooError):
    """A worker of a multi-worker run could not reach its peers in time."""


class SparkUnavailable(ZooError):
    """`--spark` without pyspark installed (or without the Java it needs): a usage error."""

    exit_code = 2


class SparkMasterUnreachable(ZooError):
    """A Spark master that did not answer within the time allowed."""


class NoImages(BadDataset):
    """Paths that match no image file: a usage error, found before any model loads."""

    exit_code = 2


class OutputExists(ZooError):
    """An output path that exists, given without --overwrite: a usage error, found before any work."""

    exit_code = 2
