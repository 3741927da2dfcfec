"""zoo's TensorBoard event files (zoo.transfer.event_file, written without TensorFlow on every back-end) hold
the very records tf.summary writes for the same scalars, and TensorFlow's reader reads them back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from support.tensorboard_events import events, scalars

from zoo.transfer.event_file import crc32c
from zoo.transfer.rundir import TensorBoardLog

ROWS = [
    {"epoch": 1, "loss": 1.25, "accuracy": 0.5, "val_loss": 1.5, "val_accuracy": 0.3, "learning_rate": 1e-3},
    {"epoch": 2, "loss": 0.75, "accuracy": 0.7, "val_loss": 1.1, "val_accuracy": 0.6, "learning_rate": 1e-4},
]


def tf_summary_reference(folder: Path) -> None:
    """The same train scalars as TensorBoardLog writes, written by tf.summary (TensorFlow's own writer)."""
    import tensorflow as tf
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    writer = tf.summary.create_file_writer(str(folder))
    with writer.as_default():
        for row in ROWS:
            for tag in ("loss", "accuracy", "learning_rate"):
                tf.summary.write(tag, tf.constant(row[tag], tf.float32), step=row["epoch"], metadata=metadata)
    writer.close()


def test_the_event_files_hold_tf_summarys_records(tmp_path: Path) -> None:
    log = TensorBoardLog(tmp_path / "run", enabled=True)
    for row in ROWS:
        log.epoch(row)
    tf_summary_reference(tmp_path / "tf")
    ours, theirs = events(tmp_path / "run" / "tensorboard" / "train"), events(tmp_path / "tf")
    assert ours[0].file_version == theirs[0].file_version == "brain.Event:2"
    assert ours[0].source_metadata.writer == "zoo"
    assert len(ours) == len(theirs) == 7  # the version event, then 3 scalars for each of 2 epochs
    for mine, reference in zip(ours[1:], theirs[1:], strict=True):
        assert mine.wall_time > 0
        mine.wall_time = reference.wall_time = 0
        assert mine.SerializeToString() == reference.SerializeToString()
    f32 = lambda value: float(np.float32(value))  # noqa: E731
    assert scalars(tmp_path / "run" / "tensorboard" / "validation") == {
        "loss": [(1, 1.5), (2, f32(1.1))],
        "accuracy": [(1, f32(0.3)), (2, f32(0.6))],
    }


def test_off_writes_nothing(tmp_path: Path) -> None:
    TensorBoardLog(tmp_path / "run", enabled=False).epoch(ROWS[0])
    assert not (tmp_path / "run").exists()


def test_the_records_checksum_is_crc32c() -> None:
    assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value (RFC 3720)
