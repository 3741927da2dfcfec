"""The vocabulary: every fixed set of choices zoo accepts, in one import-free module.

Everything else (the library's checks, the CLI's options, the docs) reads these, so adding a runtime,
a precision or a format is one edit here: where a type hint needs the choices too, the tuple is read off
its Literal. Nothing in this module imports anything of zoo's.
"""

from __future__ import annotations

from typing import Literal, get_args

# ------------------------------------------------------------------------------ Keras back-ends
Backend = Literal["tensorflow", "jax", "torch"]
BACKENDS: tuple[str, ...] = get_args(Backend)

# ------------------------------------------------------------------------------ inference runtimes
Runtime = Literal["keras", "litert", "openvino", "onnxruntime"]
Precision = Literal["fp32", "bf16", "fp16", "int8", "int8-full", "int8-plain", "int8+bf16", "int8-plain+bf16"]
RUNTIMES: tuple[str, ...] = get_args(Runtime)
PRECISIONS: tuple[str, ...] = get_args(Precision)
# Which precision each runtime can run (keras: a frozen tf.function graph; litert: the LiteRT
# interpreter with XNNPACK; openvino: OpenVINO's CPU plugin, int8 through NNCF).
RUNTIME_PRECISIONS: dict[str, tuple[str, ...]] = {
    "keras": ("fp32", "bf16", "fp16"),
    "litert": ("fp32", "fp16", "int8", "int8-full", "int8-plain"),
    # int8: NNCF post-training quantization, calibrated; +bf16: its float parts computed in bfloat16
    "openvino": ("fp32", "bf16", "int8", "int8-plain", "int8+bf16", "int8-plain+bf16"),
    "onnxruntime": ("fp32", "int8"),  # tf2onnx + onnxruntime; int8: static quantization, calibrated
}
# Runtimes whose worker threads may spin between pieces of work (make_runtime's `spinning`): off by
# default, and `--runtime auto` and `--runtime all` time both.
SPINNING_RUNTIMES: frozenset[str] = frozenset({"onnxruntime"})
# Runtimes that can split a batch over several streams, each on its own share of the cores (make_runtime's
# `streams`): off by default (a batch of one runs on one stream's threads), and `--runtime auto` times
# both for a batch of two or more.
STREAMS_RUNTIMES: frozenset[str] = frozenset({"openvino"})
# Not runtimes themselves: `auto` picks the fastest runtime x precision measured for a model, batch and
# machine (zoo.bench.auto); `all` runs every installed runtime x precision (evaluate, benchmark).
AUTO = "auto"
ALL = "all"
RUNTIME_CHOICES: tuple[str, ...] = (*RUNTIMES, AUTO)
# Runtime x precision pairs that quantize from calibration images (never the images they then score).
CALIBRATED = frozenset(
    {("litert", "int8-full"), ("litert", "int8-plain"), ("openvino", "int8"), ("openvino", "int8-plain"),
     ("openvino", "int8+bf16"), ("openvino", "int8-plain+bf16"), ("onnxruntime", "int8")}
)  # fmt: skip
# Calibrated int8 with every layer int8: the float-layer search (zoo.engine.int8_search) skipped. The
# searched int8 (litert int8-full, openvino int8) keeps layers float that cost speed (measured: LiteRT 0.52x
# plain at batch 1 on MobileNet 0.25), and its agreement target says nothing of accuracy, so the accuracy
# gate scores both and `--runtime auto` times both among those that passed.
PLAIN_INT8 = "int8-plain"
# OpenVINO int8 whose float parts (the layers left float, and the ops between the quantized ones) compute in
# bfloat16: the same quantized IR as the precision named here, compiled with INFERENCE_PRECISION_HINT bf16,
# what OpenVINO's CPU plugin does by default on a CPU with native bf16 (the OpenVINO peer's int8 ran this
# way when it led zoo's ResNet50 batch-32 int8 cell; docs/runtimes.md). Whether it keeps accuracy is the
# gate's to find, whether it is faster auto's. Refused where the CPU has no native bf16, like "bf16".
# Compile-time only, so no exported file has it.
INT8_BF16: dict[str, str] = {"int8+bf16": "int8", "int8-plain+bf16": PLAIN_INT8}
# The precisions a fine-tuning run can train in (mixed precision policies).
TRAIN_PRECISIONS = ("fp32", "bf16")

# ------------------------------------------------------------------------------------------ images
# What to do with a file that cannot be decoded: skip it (and report why) or stop.
OnBadImage = Literal["skip", "fail"]
ON_BAD_IMAGE: tuple[str, ...] = get_args(OnBadImage)

# The input sizes zoo builds models at and decodes images to, in pixels per side.
MIN_IMAGE_SIZE = 32
MAX_IMAGE_SIZE = 1024

Pooling = Literal["avg", "max"]
POOLINGS: tuple[str, ...] = get_args(Pooling)

# What `--weights` may name where a registry model is built for measuring.
WEIGHT_CHOICES = ("none", "imagenet")

# ------------------------------------------------------------------------------------- fine-tuning
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop", "adagrad")
AUGMENTATIONS = ("flip", "rotate", "zoom", "contrast")
CLASS_WEIGHTS = ("auto", "none")
STRATEGIES = ("auto", "default", "mirrored", "multi-worker")
SCHEDULES = ("constant", "cosine")  # stage 2's learning rate
# stage 1's extra views of each training image (each one more feature row): `views` N uses the first N - 1
EXTRA_VIEWS = ("flip", "crop")

# ------------------------------------------------------------------------------------------ outputs
# <runtime>-int8: the searched int8 (layers that cost agreement kept float; litert-int8 without calibration
# images: dynamic-range int8); <runtime>-int8-plain: the plain calibrated int8, every layer int8. No bf16
# format: bf16 (and OpenVINO's int8+bf16) is how a runtime computes, chosen when the file is compiled.
EXPORT_FORMATS = (
    "keras", "savedmodel", "litert", "litert-int8", "litert-int8-plain", "onnx", "openvino", "openvino-int8",
    "openvino-int8-plain",
)  # fmt: skip
# The export formats that always calibrate, and the runtime x precision each writes.
CALIBRATED_EXPORTS: dict[str, tuple[str, str]] = {
    "litert-int8-plain": ("litert", PLAIN_INT8),
    "openvino-int8": ("openvino", "int8"),
    "openvino-int8-plain": ("openvino", PLAIN_INT8),
}
LIST_FORMATS = ("table", "md", "csv", "json")
TABLE_FORMATS = (*LIST_FORMATS, "html")
# Published tables `zoo table` can join with measured figures (timm: results-imagenet.csv, for the timm
# catalogue's entries).
TABLE_SOURCES = ("keras.io", "classic", "timm")
EMBEDDING_SUFFIXES = (".npy", ".parquet")


def image_size_problem(size: int) -> str | None:
    """Why `size` is not an image size zoo accepts, or None when it is."""
    if not MIN_IMAGE_SIZE <= size <= MAX_IMAGE_SIZE:
        return f"must be between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE}, got {size}"
    return None
