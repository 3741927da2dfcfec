"""The peers of zoo's runtimes, each used directly the way its own documentation shows (outside zoo).

    OpenVINO     openvino.convert_model on the model's SavedModel, core.compile_model(model, "CPU") with
                 the plugin's defaults (which may run bf16 where the CPU has it: the precision that ran
                 is read back and printed), int8 through nncf.quantize on calibration images
    ONNX Runtime tf2onnx.convert.from_function, onnxruntime.InferenceSession on the CPU provider
    LiteRT       tf.lite.TFLiteConverter.from_saved_model, ai_edge_litert's Interpreter; int8 with a
                 representative dataset (every tensor int8, float in and out)

Each builder returns (call, precision that ran); a peer that fails to build is reported and left out.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

Call = Callable[[np.ndarray], np.ndarray]


def saved_model(model: object, folder: Path) -> Path:
    """The Keras model as a TF SavedModel, what the converters read (Keras 3: `model.export`)."""
    path = folder / "saved_model"
    model.export(str(path), verbose=False)  # type: ignore[attr-defined]
    return path


def openvino_peer(model: object, precision: str, calibration: np.ndarray) -> tuple[Call, str]:
    import openvino as ov

    with tempfile.TemporaryDirectory() as folder:
        ov_model = ov.convert_model(str(saved_model(model, Path(folder))))
    if precision == "int8":
        import nncf

        ov_model = nncf.quantize(ov_model, nncf.Dataset(list(calibration[:, None])))
    core = ov.Core()
    config = {"INFERENCE_PRECISION_HINT": "bf16"} if precision == "bf16" else {}
    compiled = core.compile_model(ov_model, "CPU", config)
    hint = compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # "f32", "bf16", ...
    ran = {"f32": "fp32", "f16": "fp16"}.get(hint, hint)
    ran = f"int8+{ran}" if precision == "int8" else ran
    request = compiled.create_infer_request()

    def call(x: np.ndarray) -> np.ndarray:
        return request.infer({0: x})[0]

    return call, ran


def onnxruntime_peer(model: object, precision: str, calibration: np.ndarray) -> tuple[Call, str]:
    import onnxruntime as ort
    import tensorflow as tf
    import tf2onnx

    if precision != "fp32":
        raise ValueError("only fp32 here")
    shape = (None, *model.input_shape[1:])  # type: ignore[attr-defined]
    function = tf.function(lambda x: model(x, training=False))  # type: ignore[operator]
    spec = (tf.TensorSpec(shape, tf.float32, name="image"),)
    proto, _ = tf2onnx.convert.from_function(function, input_signature=spec, opset=17)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return (lambda x: session.run(None, {name: x})[0]), "fp32"


def litert_peer(model: object, precision: str, calibration: np.ndarray) -> tuple[Call, str]:
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    with tempfile.TemporaryDirectory() as folder:
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model(model, Path(folder))))
        if precision == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([sample[None]] for sample in calibration)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        elif precision != "fp32":
            raise ValueError("fp32 and int8 here")
        flatbuffer = converter.convert()
    interpreter = Interpreter(model_content=flatbuffer)
    state = {"batch": None}

    def call(x: np.ndarray) -> np.ndarray:
        if state["batch"] != len(x):
            index = interpreter.get_input_details()[0]["index"]
            interpreter.resize_tensor_input(index, x.shape)
            interpreter.allocate_tensors()
            state["batch"] = len(x)
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    return call, "int8" if precision == "int8" else "fp32"


PEERS: dict[str, Callable[[object, str, np.ndarray], tuple[Call, str]]] = {
    "openvino": openvino_peer,
    "onnxruntime": onnxruntime_peer,
    "litert": litert_peer,
}
PEER_PRECISIONS = {"openvino": ("fp32", "bf16", "int8"), "onnxruntime": ("fp32",), "litert": ("fp32", "int8")}


def build_peers(model: object, calibration: np.ndarray) -> tuple[dict[str, Call], dict[str, str]]:
    """'peer <library> <precision>' -> call, and -> the precision that ran (or why it failed)."""
    calls: dict[str, Call] = {}
    ran: dict[str, str] = {}
    for library, builder in PEERS.items():
        for precision in PEER_PRECISIONS[library]:
            name = f"peer {library} {precision}"
            try:
                calls[name], ran[name] = builder(model, precision, calibration)
            except Exception as exc:  # a converter's failure is a row that says why, not a crash
                ran[name] = f"failed: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:80]}"
    return calls, ran
