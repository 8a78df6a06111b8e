"""Interval calibration (models.calibration)."""

import polars as pl
import pytest

from talentflow.models.calibration import (
    calibration_factors,
    held_out_coverage,
    interval_calibration,
    widened,
)


def test_calibration_factor_widens_intervals_to_their_nominal_coverage():
    actuals = [0.5, -1.5, 2.0, 0.2, -0.4, 0.9, 3.0, -0.1, 0.3, 0.6]  # 7 of 10 in ±1
    frame = pl.DataFrame({"actual": actuals}).with_columns(
        pl.lit("m").alias("model"),
        pl.lit(1, pl.Int32).alias("horizon"),
        pl.lit(0.0).alias("mean"),
        pl.lit(-1.0).alias("lo80"),
        pl.lit(1.0).alias("hi80"),
    )
    row = interval_calibration(frame, levels=(80,)).row(0, named=True)
    assert row["coverage"] == pytest.approx(0.7)
    assert row["factor"] == pytest.approx(1.5)  # the 8th smallest of the 10 ratios
    widened = frame.filter(pl.col("actual").abs() <= row["factor"] * 1.0)
    assert widened.height / frame.height >= 0.8


def synthetic_backtest(origins: list[int], error_by_origin: dict[int, float]) -> pl.DataFrame:
    """Backtest rows of one model: mean 100, 80 % interval ±10, 95 % ±20, at horizon 1,
    with the actual off by the origin's error."""
    rows = []
    for origin in origins:
        for series in range(10):
            actual = 100 + error_by_origin[origin] * (1 if series % 2 else -1)
            rows.append(
                ("m", origin, f"s{series}", origin + 1, 1, actual, 100.0, 90.0, 110.0, 80.0, 120.0)
            )
    columns = [
        "model",
        "origin",
        "series_id",
        "year",
        "horizon",
        "actual",
        "mean",
        "lo80",
        "hi80",
        "lo95",
        "hi95",
    ]
    return pl.DataFrame(rows, schema=columns, orient="row")


def test_calibration_widens_each_models_intervals_by_its_backtested_factor():
    backtest = synthetic_backtest([2015, 2016], {2015: 15.0, 2016: 15.0})
    factors = calibration_factors(backtest)
    assert factors.filter(pl.col("level") == 80)["factor"].item() == pytest.approx(1.5)
    forecast = pl.DataFrame(
        {
            "model": ["m", "m", "other"],
            "horizon": [1, 7, 1],
            "mean": [50.0] * 3,
            "lo80": [45.0] * 3,
            "hi80": [55.0] * 3,
            "lo95": [40.0] * 3,
            "hi95": [60.0] * 3,
        }
    )
    out = widened(forecast, factors, "mean")
    assert out["lo80"].to_list() == pytest.approx([42.5, 42.5, 45.0])  # h=7 takes h=1's
    assert out["hi80"].to_list() == pytest.approx([57.5, 57.5, 55.0])  # no factors: as is
    # Never narrower than the model's own: a backtest whose intervals were too wide
    # leaves them alone.
    calm = calibration_factors(synthetic_backtest([2015], {2015: 1.0}))
    assert calm["factor"].min() == 1.0


def test_published_coverage_is_measured_on_origins_the_factors_never_saw():
    # Calm early origins, then errors three times the interval: factors learnt from the
    # early half cannot foresee it, so held-out coverage must be poor. Were the late
    # origins leaking into the factors, the calibrated intervals would cover them.
    origins = [2013, 2014, 2015, 2016, 2017, 2018]
    errors = {2013: 5.0, 2014: 5.0, 2015: 5.0, 2016: 30.0, 2017: 30.0, 2018: 30.0}
    held_out = held_out_coverage(synthetic_backtest(origins, errors)).row(0, named=True)
    assert held_out["calibrated_coverage80"] == 0.0
    steady = {origin: 15.0 for origin in origins}
    held_out = held_out_coverage(synthetic_backtest(origins, steady)).row(0, named=True)
    assert held_out["calibrated_coverage80"] == 1.0


def test_held_out_coverage_is_given_per_band_of_horizons():
    origins = [2013, 2014, 2015, 2016]
    early = synthetic_backtest(origins, {origin: 5.0 for origin in origins})
    # at horizon 8, calm in the early origins, then far off in the late ones
    jump = pl.when(pl.col("origin") > 2014).then(160.0).otherwise(pl.col("actual"))
    late = early.with_columns(pl.lit(8, dtype=pl.Int64).alias("horizon"), jump.alias("actual"))
    bands = held_out_coverage(
        pl.concat([early, late]), {"short": range(1, 6), "long": range(6, 13)}
    )
    coverage = dict(zip(bands["band"], bands["calibrated_coverage80"], strict=True))
    assert coverage == {"short": 1.0, "long": 0.0}


def test_a_wider_level_is_never_widened_less_than_a_narrower_one():
    # Errors of 15 around intervals of ±10 (80 %) and ±20 (95 %): level by level the
    # 80 % intervals widen 1.5× and the 95 % ones not at all, ±15 inside ±20; with
    # errors of 25 the widened 80 % interval (±25) would reach past the 95 % one and be
    # nested onto it. The rule keeps the model's 2:1 ratio of widths: ±15 inside ±30.
    backtest = synthetic_backtest([2015, 2016], {2015: 15.0, 2016: 15.0})
    own = interval_calibration(backtest, (80, 95)).sort("level")["factor"].to_list()
    assert own == pytest.approx([1.5, 0.75])
    factors = calibration_factors(backtest).sort("level")["factor"].to_list()
    assert factors == pytest.approx([1.5, 1.5])
    forecast = pl.DataFrame(
        {"model": ["m"], "horizon": [1], "mean": [50.0], "lo80": [45.0], "hi80": [55.0]}
    ).with_columns(pl.lit(40.0).alias("lo95"), pl.lit(60.0).alias("hi95"))
    out = widened(forecast, calibration_factors(backtest), "mean").row(0, named=True)
    assert (out["lo95"], out["lo80"], out["hi80"], out["hi95"]) == pytest.approx(
        (35.0, 42.5, 57.5, 65.0)
    )
