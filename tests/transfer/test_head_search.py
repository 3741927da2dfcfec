"""The stage-1 search's numpy heads train as the Trainer trains stage 1's head with Adam: the same
update, decay, loss weighting and label smoothing (checked step for step from the same start)."""

from __future__ import annotations

import numpy as np
import pytest

from zoo.transfer.head_search import HeadTraining, _Heads, search_heads
from zoo.transfer.loop import OptimizerSettings, Trainer, epoch_order, make_optimizer


def _data(n: int, d: int = 12, c: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    y = rng.integers(0, c, n)
    centres = rng.normal(0, 1, (c, d))
    return (centres[y] + rng.normal(0, 1.5, (n, d))).astype(np.float32), y.astype(np.int32)


@pytest.mark.slow
@pytest.mark.parametrize(("lr", "decay"), [(3e-3, 0.0), (1e-2, 0.1)])
def test_an_epoch_of_a_numpy_head_is_an_epoch_of_the_trainer(lr: float, decay: float) -> None:
    import keras

    x, y = _data(50)
    class_weight = np.asarray([0.5, 1.0, 2.0], np.float32)
    how = HeadTraining(3, 8, 0, 0.0, 0.1, class_weight, max_epochs=1, patience=None)
    heads = _Heads(1, x.shape[1], 3, np.random.default_rng(1))
    head = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(3)])
    head.layers[0].set_weights([heads.params[0][0], heads.params[1][0]])
    optimizer = make_optimizer(OptimizerSettings("adam", lr, weight_decay=decay))
    trainer = Trainer(head, optimizer, num_classes=3, label_smoothing=0.1, class_weight=class_weight)
    order = epoch_order(len(y), 0, 1, 1)
    trainer.train_epoch(x, y, 8, order)
    rates, decays = np.asarray([lr], np.float32), np.asarray([decay], np.float32)
    for start in range(0, len(order), 8):
        rows = order[start : start + 8]
        heads.step(x[rows], y[rows], class_weight[y[rows]], how, rates, decays)
    kernel, bias = head.layers[0].get_weights()
    np.testing.assert_allclose(heads.params[0][0], kernel, atol=2e-5)
    np.testing.assert_allclose(heads.params[1][0], bias, atol=2e-5)
    assert not np.allclose(
        kernel, _Heads(1, x.shape[1], 3, np.random.default_rng(1)).params[0][0]
    )  # it moved


def test_the_search_scores_every_setting_on_the_inner_split_at_its_best_epoch() -> None:
    x, y = _data(200)
    split = (x[:150], y[:150], x[150:], y[150:])
    how = HeadTraining(3, 16, 0, 0.2, 0.0, None, max_epochs=40, patience=3)
    grid = [(1e-3, 0.0), (1e-2, 0.1), (1e-1, 0.0)]
    trials = search_heads(split, grid, how)
    assert [(t["lr"], t["weight_decay"]) for t in trials] == grid
    slow, _, fast = trials
    assert slow["epochs"] == 40 and fast["epochs"] < 10  # still improving at the end; peaked early
    assert fast["inner_loss"] < 0.6 < np.log(3) < slow["inner_loss"]  # chance is ln 3
    assert search_heads(split, grid, how) == trials  # deterministic
