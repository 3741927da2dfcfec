"""The options several commands share, declared once (as huggingface_hub's `cli/_cli_utils.py` does).

Each is an `Annotated[type, typer.Option(...)]` a command uses as a parameter's type, with the default
in the signature (`runtime: Runtime = "keras"`), or a factory where commands word the help their own
way. Choices come from zoo.choices, so a new runtime or precision is one edit there.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from zoo.choices import (
    MAX_IMAGE_SIZE,
    MIN_IMAGE_SIZE,
    ON_BAD_IMAGE,
    POOLINGS,
    PRECISIONS,
    RUNTIME_CHOICES,
    RUNTIMES,
    TABLE_FORMATS,
    TABLE_SOURCES,
    WEIGHT_CHOICES,
)
from zoo.registry import VARIANTS

# The help of every --unsafe option (predict, evaluate): what it allows, in words that stop a careless user.
UNSAFE_HELP = (
    "DANGEROUS: let the model file run the code it stores (Lambda layers) with your permissions."
    " Only for files you made yourself or fully trust."
)


def one_of(values: tuple[str, ...]) -> Any:
    """A Literal of `values`: Typer offers them as the option's choices and completes them."""
    return Literal[values]  # type: ignore[valid-type]


def in_words(values: tuple[str, ...]) -> str:
    """("a", "b", "c") -> "a, b or c"."""
    return f"{', '.join(values[:-1])} or {values[-1]}" if len(values) > 1 else values[0]


def runtime_option(help: str) -> Any:
    return typer.Option("--runtime", help=help)


def precision_option(help: str) -> Any:
    return typer.Option("--precision", help=help)


def on_bad_image_option(help: str) -> Any:
    return typer.Option("--on-bad-image", help=help)


def json_option(help: str) -> Any:
    return typer.Option("--json", help=help)


def weights_file_option(help: str) -> Any:
    return typer.Option("--weights", help=help)


def image_size_option(*names: str) -> Any:
    return typer.Option(
        *names, min=MIN_IMAGE_SIZE, max=MAX_IMAGE_SIZE, help="Input size (default: the model's own)."
    )


AUTO_HELP = (
    "auto (the default, or $ZOO_RUNTIME): the fastest runtime x precision measured for this model, batch size"
    " and machine (once; cached in ZOO_HOME/auto), among the precisions that passed"
    " `zoo evaluate MODEL DATA --runtime all`, else fp32"
)
# predict and embed: checked by the command (so `--runtime all` gets its own message)
Runtime = Annotated[
    str | None, runtime_option(f"Inference runtime: {in_words(RUNTIME_CHOICES)}. {AUTO_HELP}.")
]
Precision = Annotated[
    one_of(PRECISIONS) | None,
    precision_option(
        f"{in_words(PRECISIONS)} (default fp32; calibrated int8: litert int8-full, openvino/onnxruntime"
        " int8, and litert/openvino int8-plain: every layer int8, no float-layer search; openvino"
        " int8+bf16 / int8-plain+bf16: that int8 with its float parts in bf16, on a CPU with native bf16;"
        " with auto: the fastest runtime at this precision, the gate not consulted)."
    ),
]
# evaluate
EvalRuntime = Annotated[
    one_of((*RUNTIME_CHOICES, "all")) | None,
    runtime_option(
        f"Inference runtime: {in_words(RUNTIMES)}; {AUTO_HELP}; all: one row per runtime x precision, with"
        " top-1 agreement and deltas against fp32 keras, kept as the model's accuracy gate for auto."
    ),
]
EvalPrecision = Annotated[
    one_of(PRECISIONS) | None,
    precision_option("Precision of the runtime (default fp32; with auto: any the gate passed, else fp32)."),
]
# benchmark: comma-separated lists, checked by the command
RuntimeList = Annotated[
    str,
    runtime_option(
        f"Comma-separated: {', '.join(RUNTIMES)}, auto (its choice per batch size), all (every installed"
        " runtime x precision, timed interleaved)."
    ),
]
PrecisionList = Annotated[
    str | None,
    precision_option(
        f"Comma-separated: {', '.join(PRECISIONS)} (default fp32; with all or auto: every precision)."
    ),
]

# The weight files of a model, by the variant names the registry schema declares (top, notop, config ...).
WeightVariant = one_of(VARIANTS)
PullVariant = one_of((*VARIANTS, "all"))
VARIANT_HELP = in_words(VARIANTS)
OnBadImage = one_of(ON_BAD_IMAGE)
Pooling = one_of(POOLINGS)
WeightChoice = one_of(WEIGHT_CHOICES)
TableSource = one_of(TABLE_SOURCES)
TableFormat = one_of(TABLE_FORMATS)

# the `zoo list` filters, which `zoo select` applies to its candidates
Family = Annotated[str | None, typer.Option("--family", help="Only this family, e.g. resnet, mobilenet_v1.")]
Tag = Annotated[str | None, typer.Option("--tag", help="Only models with this tag, e.g. mobile.")]
MaxParams = Annotated[
    str | None,
    typer.Option("--max-params", metavar="COUNT", help="Most parameters, e.g. 5M, 25.6M or 3500000."),
]
PATTERN_HELP = "Glob patterns on names and aliases, e.g. 'efficientnet*' or 'resnet50.*' (timm tags)."

BatchSize = Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Images per model call.")]
Top = Annotated[int, typer.Option("--top", "-k", min=1, max=1000, help="How many classes per image.")]
Unsafe = Annotated[bool, typer.Option("--unsafe", help=UNSAFE_HELP)]
JsonOut = Annotated[bool, json_option("Print JSON on stdout.")]
