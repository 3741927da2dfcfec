"""The Pareto front and the recommendation, on plain rows."""

from __future__ import annotations

from zoo.selection.candidates import Constraints, parse_duration
from zoo.selection.report import mark_pareto, recommend


def _rows() -> list[dict]:
    def row(name: str, accuracy: float | None, ms: float | None) -> dict:
        return {"model": name, "image_size": 96, "cv_accuracy": accuracy, "cv_std": 0.01, "ms_per_image": ms,
                "runtime": "keras", "batch_size": 1}  # fmt: skip

    return [row("fast", 0.6, 1.0), row("slow_best", 0.9, 8.0), row("dominated", 0.55, 3.0),
            row("middle", 0.8, 4.0), row("failed", None, None), row("tie_slower", 0.8, 5.0)]  # fmt: skip


def test_the_pareto_front_holds_exactly_the_undominated_rows() -> None:
    rows = _rows()
    mark_pareto(rows)
    assert [r["model"] for r in rows if r["pareto"]] == ["fast", "slow_best", "middle"]


def test_the_recommendation_is_the_most_accurate_within_the_budget() -> None:
    rows = _rows()
    best, verdict = recommend(rows, Constraints(max_ms_per_image=5), folds=5)
    assert best is not None and best["model"] == "middle"  # 0.8 at 4 ms beats the same 0.8 at 5 ms
    assert verdict.endswith("meets --max-ms-per-image 5")
    assert [r["model"] for r in rows if r["recommended"]] == ["middle"]
    best, _ = recommend(rows, Constraints(), folds=5)
    assert best is not None and best["model"] == "slow_best"


def test_nothing_within_the_budget_names_the_fastest() -> None:
    best, verdict = recommend(_rows(), Constraints(max_ms_per_image=0.5), folds=5)
    assert best is None
    assert verdict == "nothing meets --max-ms-per-image 0.5; fastest was fast at 96 px at 1.0 ms"


def test_durations() -> None:
    assert parse_duration("10m") == 600
    assert parse_duration("1.5h") == 5400
    assert parse_duration("90") == 90
    assert parse_duration(None) is None
