"""Build every keras-hub entry of the built-in registry (weights=None, from its `hub_config`) and check its
parameter count: exactly the registry's `params` (timm's count) and timm's published figure at its printed
precision. Counted as timm counts: trainable weights only (BatchNorm's moving statistics are buffers there).
"""

from __future__ import annotations

import pytest

from tests.registry.test_models import published_count_matches
from zoo.registry import ModelSpec, load_registry

HUB_SPECS = [spec for spec in load_registry() if spec.is_keras_hub]


@pytest.mark.slow
@pytest.mark.parametrize("spec", HUB_SPECS or [None], ids=[s.name for s in HUB_SPECS] or ["none-yet"])
def test_keras_hub_entry_builds_with_timms_parameter_count(spec: ModelSpec | None) -> None:
    if spec is None:
        pytest.skip("the built-in registry has no keras-hub entries yet (zoo/catalogue/timm.yaml)")
    import keras

    from zoo.engine.build import load
    from zoo.engine.hub_models import trainable_count

    keras.backend.clear_session()
    model = load(spec, weights=None)
    try:
        params = trainable_count(model)
        assert params == spec.params, f"{spec.name}: builds {params:,} params, registry {spec.params}"
        timm = spec.figures("timm")
        if timm is not None and timm.params:
            assert published_count_matches(params, timm.params), (
                f"{spec.name}: {params:,} parameters do not print as timm's {timm.params}"
            )
    finally:
        del model
        keras.backend.clear_session()
