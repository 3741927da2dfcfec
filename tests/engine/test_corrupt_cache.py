"""A truncated or corrupt file in the conversion cache ($ZOO_HOME/converted): the runtime that fails to read
it gets it removed and converted again, once, with a warning on stderr; the outputs are the model's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from support.models import tiny_cnn

from zoo import config
from zoo.engine.runtimes import KerasRuntime, make_runtime


def truncate(path: Path) -> None:
    """Cut the file to half its bytes, as a crash mid-copy or a full disk would leave it."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garble(path: Path) -> None:
    """Keep the size, overwrite the middle: a file that was damaged rather than cut short."""
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle - 64 : middle + 64] = b"\xff" * 128
    path.write_bytes(bytes(data))


def only(pattern: str) -> Path:
    (path,) = config.converted_dir().glob(pattern)
    return path


CASES: dict[str, tuple[str, str, str, Callable[[Path], None]]] = {
    # case: runtime, precision, the cached file damaged, how
    "litert tflite truncated": ("litert", "fp32", "*.tflite", truncate),
    "onnx truncated": ("onnxruntime", "fp32", "*-onnx-fp32-*.onnx", truncate),
    "onnx int8 truncated": ("onnxruntime", "int8", "*-onnx-int8-*.onnx", truncate),
    "openvino xml truncated": ("openvino", "fp32", "*-openvino-fp32-*/model.xml", truncate),
    "openvino bin truncated": ("openvino", "fp32", "*-openvino-fp32-*/model.bin", truncate),
    "openvino xml garbled": ("openvino", "fp32", "*-openvino-fp32-*/model.xml", garble),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_cached_conversion_is_converted_again_with_a_warning(
    case: str, capfd: pytest.CaptureFixture[str]
) -> None:
    runtime, precision, pattern, damage = CASES[case]
    if runtime == "openvino":
        pytest.importorskip("openvino")
    model = tiny_cnn(16, 3, seed=0, batch_norm=True)
    images = np.random.default_rng(0).uniform(0, 1, (8, 16, 16, 3)).astype(np.float32)
    calibration = images if precision == "int8" else None
    first = make_runtime(model, runtime, precision, calibration=calibration)
    assert "Warning" not in capfd.readouterr().err  # a first conversion reads nothing damaged
    expected = first.predict(images)
    path = only(pattern)
    intact = path.read_bytes()
    damage(path)
    damaged = path.read_bytes()

    again = make_runtime(model, runtime, precision, calibration=calibration)

    warning = capfd.readouterr().err
    assert warning.count("Warning: the cached conversion") == 1, warning
    named = path.with_suffix(".xml") if runtime == "openvino" else path  # an IR is named by its .xml
    assert str(named) in warning and "converting it again" in warning
    rewritten = path.read_bytes()  # converted again (tf2onnx's bytes differ from run to run: not its size)
    assert rewritten != damaged and abs(len(rewritten) - len(intact)) <= len(intact) // 100
    np.testing.assert_allclose(again.predict(images), expected, rtol=1e-5, atol=1e-6)
    if precision == "fp32":
        np.testing.assert_allclose(expected, KerasRuntime(model).predict(images), rtol=1e-4, atol=1e-5)
    make_runtime(model, runtime, precision, calibration=calibration)  # now read as it is: no warning
    assert "Warning" not in capfd.readouterr().err
    print(warning)
