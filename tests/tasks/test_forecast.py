"""Forecast table shaping and its coverage and bounds checks."""

import polars as pl

from models.baselines import Drift
from tasks.forecast import forecast_checks, forecast_table
from tasks.validate import validate_frame


def synthetic_panel() -> pl.DataFrame:
    years = list(range(2000, 2031))
    return pl.DataFrame(
        {
            "country_iso3": ["AAA"] * len(years) + ["BBB"] * len(years),
            "year": years * 2,
            "researchers": [1000.0 + 10 * i if y <= 2020 else None for i, y in enumerate(years)]
            + [500.0 - 30 * i if y <= 2015 else None for i, y in enumerate(years)],
            "population_25_64": [1e6] * len(years) + [2e4] * len(years),
        }
    ).with_columns(pl.col("year").cast(pl.Int32))


def history(panel: pl.DataFrame) -> pl.DataFrame:
    return panel.drop_nulls("researchers").select(
        pl.col("country_iso3").alias("series_id"), "year", pl.col("researchers").alias("y")
    )


def test_forecasts_run_from_each_last_year_to_the_horizon_and_never_go_negative():
    panel = synthetic_panel()
    table = forecast_table(
        history(panel), target="researchers", until_year=2030, run_id="r1", models=[Drift()]
    )
    aaa = table.filter(pl.col("country_iso3") == "AAA")
    bbb = table.filter(pl.col("country_iso3") == "BBB")
    assert aaa["year"].to_list() == list(range(2021, 2031))
    assert bbb["year"].to_list() == list(range(2016, 2031))
    # BBB falls by 30 a year from 50 in 2015: the point and the bounds stop at zero.
    assert bbb["yhat"].min() == 0.0 and bbb["yhat_lower"].min() == 0.0
    assert (table["yhat_lower_95"] <= table["yhat_lower"]).all()
    assert (table["yhat_lower"] <= table["yhat"]).all()
    assert (table["yhat"] <= table["yhat_upper"]).all()
    assert (table["yhat_upper"] <= table["yhat_upper_95"]).all()


def test_forecast_checks_catch_a_missing_year_and_a_bound_above_the_population():
    panel = synthetic_panel()
    table = forecast_table(
        history(panel), target="researchers", until_year=2030, run_id="r1", models=[Drift()]
    )
    good = forecast_checks(table, panel, 2030)
    assert validate_frame(good, "forecast_checks", "synthetic checks").failures == []

    gap = table.filter(~((pl.col("country_iso3") == "AAA") & (pl.col("year") == 2025)))
    report = validate_frame(forecast_checks(gap, panel, 2030), "forecast_checks", "gap")
    assert [f.expectation for f in report.failures] == ["expect_column_pair_values_to_be_equal"]

    too_high = table.with_columns(
        pl.when(pl.col("country_iso3") == "BBB")
        .then(5e4)
        .otherwise("yhat_upper_95")
        .alias("yhat_upper_95")
    )
    report = validate_frame(forecast_checks(too_high, panel, 2030), "forecast_checks", "bound")
    assert report.is_critical
    assert [f.kwargs["column"] for f in report.failures] == ["max_upper_share"]
