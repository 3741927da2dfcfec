"""The config.json handed to keras-hub, corrected where keras-hub's timm converter reads it differently.

Pure data in, pure data out (no TensorFlow, no keras-hub): zoo's loader calls `keras_hub_config` on every
fetched timm config.json before keras-hub sees it, and scripts/timm_catalogue.py applies the same function
in its parity check, so what was verified is what ships.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

# the 1x1 convolution after global pooling in timm's MobileNet heads: (out, in, 1, 1)
_MOBILENET_HEAD_CONV = "conv_head.weight"


def keras_hub_config(config: dict, tensor_shapes: Mapping[str, tuple[int, ...]] | None) -> dict:
    """A copy of `config` that keras-hub converts faithfully; `config` itself is not changed.

    Corrections:
    - MobileNet (`architecture` starting "mobilenet", not "mobilenetv5"): keras-hub builds its head
      convolution with `num_features` output channels, i.e. it reads `num_features` as the width *after*
      timm's `conv_head` (1024 for mobilenetv3_small_100). timm up to 1.0.3 wrote that width; newer timm
      writes the backbone's width there (576) and the head width as `head_hidden_size`, so keras-hub builds
      a 576x576 head conv and the 576x1024 weights do not fit. The head width is taken from the weights
      themselves (`conv_head.weight` is out x in x 1 x 1) when their shapes are known, else from
      `head_hidden_size` when the config has it; either way it equals the old meaning.
    """
    corrected = copy.deepcopy(config)
    architecture = str(corrected.get("architecture", ""))
    if architecture.startswith("mobilenet") and not architecture.startswith("mobilenetv5"):
        head_width = _mobilenet_head_width(corrected, tensor_shapes)
        if head_width is not None:
            corrected["num_features"] = head_width
    return corrected


def _mobilenet_head_width(config: Mapping, tensor_shapes: Mapping[str, tuple[int, ...]] | None) -> int | None:
    if tensor_shapes is not None and _MOBILENET_HEAD_CONV in tensor_shapes:
        return int(tensor_shapes[_MOBILENET_HEAD_CONV][0])
    hidden = config.get("head_hidden_size")
    return int(hidden) if isinstance(hidden, int) else None
