"""Backtest metrics (models.metrics): MASE, sMAPE, coverage, pooled summaries."""

import polars as pl
import pytest

from talentflow.models.metrics import backtest_metrics, replay_scores, summary_by_model
from tests.models.synthetic_backtests import (
    synthetic_forecasts,
)


def test_metrics_match_hand_computed_mase_smape_and_coverage():
    metrics = backtest_metrics(synthetic_forecasts())
    assert metrics.columns == [
        "model",
        "horizon",
        "origins",
        "forecasts",
        "mase",
        "smape",
        "coverage80",
        "coverage95",
        "mase_excluded",
    ]
    first = metrics.row(0, named=True)
    assert (first["origins"], first["forecasts"], first["mase_excluded"]) == (2, 3, 1)
    assert first["mase"] == pytest.approx((2 / 2 + 1 / 0.5) / 2)  # series b excluded
    assert first["smape"] == pytest.approx((200 * 2 / 22 + 200 * 1 / 19 + 0) / 3)
    assert first["coverage80"] == pytest.approx(2 / 3)
    assert first["coverage95"] == pytest.approx(1.0)
    second = metrics.row(1, named=True)
    assert (second["mase"], second["coverage80"], second["coverage95"]) == (3.0, 0.0, 0.0)


def test_summary_weights_each_horizon_by_its_forecasts():
    summary = summary_by_model(backtest_metrics(synthetic_forecasts()))
    row = summary.row(0, named=True)
    assert (row["horizons"], row["origins"], row["forecasts"], row["mase_excluded"]) == (
        2,
        2,
        4,
        1,
    )
    assert row["mase"] == pytest.approx((1.5 * 2 + 3.0 * 1) / 3)  # 2 and 1 scored forecasts
    assert row["coverage80"] == pytest.approx((2 / 3 * 3 + 0 * 1) / 4)


def synthetic_replay() -> tuple[pl.DataFrame, pl.DataFrame]:
    """One synthetic replay (vintage 2010) of one series: the selected model is off by 1
    every year, naive by 2, drift by 4; observed values rise by 1 a year (scale 1)."""
    rows = []
    for year in range(2011, 2023):
        actual = float(year - 2000)
        for model, error, selected in (
            ("converge", 1, True),
            ("naive", 2, False),
            ("drift", 4, False),
        ):
            rows.append(
                (
                    "replay",
                    2010,
                    "researchers",
                    "CHN",
                    None,
                    year,
                    "Medium",
                    model,
                    selected,
                    actual + error,
                    actual - 0.5,
                    actual + 1.5,
                    actual - 3,
                    actual + 3,
                )
            )
    stored = pl.DataFrame(
        rows,
        schema=[
            "run_id",
            "vintage",
            "target",
            "country_iso3",
            "origin_group",
            "year",
            "scenario",
            "model",
            "is_selected",
            "yhat",
            "lo80",
            "hi80",
            "lo95",
            "hi95",
        ],
        orient="row",
    ).with_columns(pl.col("origin_group").cast(pl.String))
    observed = pl.DataFrame(
        {"target": "researchers", "country_iso3": "CHN", "year": list(range(2000, 2023))}
    ).with_columns(
        pl.lit(None, dtype=pl.String).alias("origin_group"),
        (pl.col("year") - 2000).cast(pl.Float64).alias("value"),
    )
    return stored, observed


def test_replays_are_scored_per_band_against_their_own_baselines():
    stored, observed = synthetic_replay()
    scores = replay_scores(stored, observed, {"1-5": (1, 5), "6-12": (6, 12)})
    assert scores["band"].to_list() == ["1-5", "6-12"]
    short = scores.row(0, named=True)
    assert short["forecasts"] == 5 and short["series"] == 1
    assert short["mase"] == pytest.approx(1.0)
    assert short["mase_naive"] == pytest.approx(2.0) and short["mase_drift"] == pytest.approx(4.0)
    assert short["mae_ratio_naive"] == pytest.approx(0.5)
    assert short["mae_ratio_drift"] == pytest.approx(0.25)
    assert short["coverage80"] == 1.0  # the actual lies inside [-0.5, +1.5] of itself
    long = scores.row(1, named=True)
    assert long["forecasts"] == 7  # 2016-2022: what has been observed so far
