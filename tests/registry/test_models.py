"""Build every registered architecture (weights=None) and check the registry's facts against the model.

- the exact parameter count equals the registry's `params`;
- it agrees with every published parameter figure (keras.io prints 25.6M, the classic table 25,636,712);
- the number of layers that hold weights equals keras.io's Depth wherever keras.io prints one.

The published figures are typed in from their sources, never computed from this code, so a mismatch is a
real disagreement between the registry and keras. Building all 55 entries takes a minute or two on CPU.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

import pytest

from zoo.registry import ModelSpec, load_registry

SPECS = [spec for spec in load_registry() if not spec.is_keras_hub]  # keras-hub entries: test_hub_params


def published_count_matches(exact: int, text: str) -> bool:
    """Does `exact` print as `text`? '25.6M' is a rounded count; keras.io truncates some ConvNeXt rows.

    (ConvNeXtBase has 88,591,464 parameters and keras.io prints 88.5M, so both conventions are accepted,
    always at the printed precision.)
    """
    text = text.strip()
    if not text.endswith("M"):
        return int(text.replace(",", "")) == exact
    digits = text[:-1]
    quantum = Decimal(1).scaleb(-len(digits.partition(".")[2]))
    millions = Decimal(exact) / Decimal(1_000_000)
    printed = {millions.quantize(quantum, rounding=mode) for mode in (ROUND_HALF_UP, ROUND_DOWN)}
    return Decimal(digits) in printed


def test_published_count_matching() -> None:
    assert published_count_matches(25_636_712, "25.6M")
    assert published_count_matches(25_636_712, "25,636,712")
    assert published_count_matches(88_591_464, "88.5M")  # truncated
    assert published_count_matches(28_589_128, "28.6M")  # rounded
    assert not published_count_matches(25_636_712, "25.7M")
    assert not published_count_matches(25_636_712, "25,636,713")
    assert not published_count_matches(25_636_712, "24M")


def layers_holding_weights(model) -> int:
    """keras.io's Depth: the layers that own at least one weight (conv, batch-norm, dense, ...)."""
    return sum(1 for layer in model.layers if layer.weights)


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_architecture_matches_registry(spec: ModelSpec) -> None:
    import keras

    keras.backend.clear_session()
    model = getattr(keras.applications, spec.arch)(weights=None, include_top=True, **spec.args)
    try:
        params = model.count_params()
        assert params == spec.params, f"{spec.name}: keras builds {params:,} params, registry {spec.params:,}"
        for figures in spec.published:
            if figures.source in ("keras.io", "classic") and figures.params:
                assert published_count_matches(params, figures.params), (
                    f"{spec.name}: {params:,} parameters do not print as {figures.source}'s {figures.params}"
                )
        keras_io = spec.figures("keras.io")
        if keras_io is not None and keras_io.depth_value is not None:
            depth = layers_holding_weights(model)
            assert depth == keras_io.depth_value, f"{spec.name}: depth {depth}, keras.io {keras_io.depth}"
        assert model.input_shape[1:3] in ((spec.input_size, spec.input_size), (None, None)), spec.name
    finally:
        del model
        keras.backend.clear_session()
