"""TensorBoard event files written without TensorFlow (or the tensorboard package), on every back-end.

A run's epoch scalars go where TensorBoard reads them: an `events.out.tfevents.*` file per folder, a
TFRecord stream (length, masked CRC-32C, record, masked CRC-32C) of `Event` protocol buffers. Each scalar
is the Event that `tf.summary.write(tag, float32 value, step, metadata=<scalars plugin>)` writes (a 0-d
float32 TensorProto, the scalars plugin's metadata), so TensorBoard shows a JAX or torch run exactly as a
TensorFlow one. The few protobuf fields are encoded here (tensorflow/core/util/event.proto,
summary.proto, tensor.proto): tests/transfer/test_event_file.py compares the records with TensorFlow's.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
from pathlib import Path

_FILE_VERSION = b"brain.Event:2"  # the first event's; then Event.source_metadata names the writer
_DT_FLOAT = 1  # tensorflow.DataType
_files = itertools.count()


class ScalarEventFile:
    """Scalar events appended to a new event file in `folder` (created when missing); the file is opened
    for each write only, so nothing is left open when a run ends or fails."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        unique = f"{int(time.time())}.{socket.gethostname()}.{os.getpid()}.{next(_files)}"
        self.path = folder / f"events.out.tfevents.{unique}.v2"
        self._append([_double(1, time.time()) + _bytes(3, _FILE_VERSION) + _bytes(10, _bytes(1, b"zoo"))])

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """One event per tag at `step`, on disk when this returns (a crash loses no finished epoch)."""
        events = []
        for tag, value in values.items():
            value_proto = _bytes(1, tag.encode()) + _bytes(8, _scalar_tensor(value)) + _bytes(9, _METADATA)
            summary = _bytes(1, value_proto)  # Summary{value: [value_proto]}
            events.append(_double(1, time.time()) + _varint_field(2, step) + _bytes(5, summary))
        self._append(events)

    def _append(self, events: list[bytes]) -> None:
        with open(self.path, "ab") as file:
            for event in events:
                length = struct.pack("<Q", len(event))
                file.write(length + _masked_crc(length) + event + _masked_crc(event))


def _scalar_tensor(value: float) -> bytes:
    """A 0-d float32 TensorProto: dtype, an empty shape, the value as tensor_content."""
    return _varint_field(1, _DT_FLOAT) + _bytes(2, b"") + _bytes(4, struct.pack("<f", value))


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _varint_field(field: int, number: int) -> bytes:
    return _varint(field << 3) + _varint(number)


def _double(field: int, value: float) -> bytes:
    return _varint(field << 3 | 1) + struct.pack("<d", value)


def _bytes(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


# SummaryMetadata{plugin_data: PluginData{plugin_name: "scalars"}}
_METADATA = _bytes(1, _bytes(1, b"scalars"))


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli), the checksum of TFRecord files."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> bytes:
    crc = crc32c(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)
