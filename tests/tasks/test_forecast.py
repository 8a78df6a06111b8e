"""The forecast engine: jobs, scenario rows in the published schema, selection marks,
backtests in pool units, and the coverage and bounds checks."""

from datetime import UTC, datetime

import polars as pl
import pytest

from talentflow.core.tables import FORECASTS_SCHEMA
from talentflow.tasks.features.scenarios import CHINA_RESEARCHER_INFLOWS, RESEARCHERS
from talentflow.tasks.forecast import (
    backtest_one,
    calibration_factors,
    forecast_checks,
    forecast_job,
    forecast_one,
    forecast_rows,
    held_out_coverage,
    in_pool_units,
    score_family,
    widened,
)
from talentflow.tasks.validate import validate_frame

YEARS = list(range(1996, 2021))


def synthetic_cohorts(series: dict[str, float], until: int = 2035) -> pl.DataFrame:
    """Cohorts growing 1 % a year in Medium, 0.5 % in Low, 1.5 % in High from 2021."""
    growth = {"Medium": 0.01, "Low": 0.005, "High": 0.015}
    rows = []
    for series_id, base in series.items():
        for variant, rate in growth.items():
            for year in range(1995, until + 1):
                after = max(0, year - 2020)
                rows.append(
                    (
                        series_id,
                        variant,
                        year,
                        base * 1.01 ** min(year - 1995, 25) * (1 + rate) ** after,
                    )
                )
    return pl.DataFrame(
        rows,
        schema={
            "series_id": pl.String,
            "variant": pl.String,
            "year": pl.Int32,
            "cohort": pl.Float64,
        },
        orient="row",
    )


def synthetic_rates() -> pl.DataFrame:
    """Two countries' researcher rates: one rising steadily, one flat and noisy; a third
    with only five years (too few to forecast)."""
    rising = [0.001 + 0.0001 * i for i, _ in enumerate(YEARS)]
    flat = [0.004 + (0.0002 if i % 2 else -0.0002) for i, _ in enumerate(YEARS)]
    return pl.DataFrame(
        {
            "series_id": ["AAA"] * 25 + ["BBB"] * 25 + ["CCC"] * 5,
            "year": YEARS * 2 + YEARS[-5:],
            "y": rising + flat + [0.002] * 5,
        }
    ).with_columns(pl.col("year").cast(pl.Int32))


@pytest.fixture(scope="module")
def synthetic_job():
    cohorts = synthetic_cohorts({"AAA": 1e6, "BBB": 2e5, "CCC": 1e5})
    return forecast_job(RESEARCHERS, synthetic_rates(), cohorts, vintage=2020, min_observed_years=8)


def test_a_job_keeps_series_with_enough_years_cut_at_the_vintage(synthetic_job):
    assert sorted(synthetic_job.history["series_id"].unique()) == ["AAA", "BBB"]
    cut = forecast_job(
        RESEARCHERS,
        synthetic_rates(),
        synthetic_cohorts({"AAA": 1e6}),
        vintage=2010,
        min_observed_years=8,
    )
    assert cut.history["year"].max() == 2010
    # A series that stopped reporting more than ten years before the vintage is dropped.
    silent = forecast_job(
        RESEARCHERS,
        synthetic_rates(),
        synthetic_cohorts({"AAA": 1e6}),
        vintage=2030,
        min_observed_years=8,
    )
    assert silent.history["year"].max() == 2020
    with pytest.raises(ValueError, match="no series"):
        forecast_job(
            RESEARCHERS,
            synthetic_rates(),
            synthetic_cohorts({"AAA": 1e6}),
            vintage=2031,
            min_observed_years=8,
        )


def test_published_rows_are_rate_times_each_variants_cohort_in_the_schema(synthetic_job):
    rates, artefacts = forecast_one(synthetic_job, "drift", until_year=2035)
    assert "params.json" in artefacts
    rows = forecast_rows(
        synthetic_job,
        rates,
        selected_model="drift",
        run_id="r1",
        vintage=2020,
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
    )
    assert rows.schema == pl.Schema(FORECASTS_SCHEMA)
    assert set(rows["scenario"]) == {"Medium", "Low", "High"}
    assert rows["is_selected"].all() and rows["origin_group"].is_null().all()
    # yhat = the rate forecast × that variant's cohort, for every scenario and year.
    cohorts = synthetic_job.cohorts.rename({"series_id": "country_iso3", "variant": "scenario"})
    joined = rows.join(
        rates.rename({"series_id": "country_iso3", "variant": "scenario"}),
        on=["country_iso3", "scenario", "year"],
    ).join(cohorts, on=["country_iso3", "scenario", "year"])
    assert joined.height == rows.height
    assert (joined["yhat"] - joined["mean"] * joined["cohort"]).abs().max() < 1e-6
    in_2035 = rows.filter((pl.col("country_iso3") == "AAA") & (pl.col("year") == 2035))
    by_scenario = dict(zip(in_2035["scenario"], in_2035["yhat"], strict=True))
    assert by_scenario["Low"] < by_scenario["Medium"] < by_scenario["High"]
    assert (rows["lo95"] <= rows["lo80"]).all() and (rows["lo80"] <= rows["yhat"]).all()
    assert (rows["yhat"] <= rows["hi80"]).all() and (rows["hi80"] <= rows["hi95"]).all()
    assert validate_frame(rows, "forecasts", "synthetic forecasts").failures == []


def test_intake_rows_sit_on_china_with_origin_groups_and_policy_levers():
    groups = {"High income": 1e8, "Low income": 5e7}
    rates = pl.DataFrame(
        {
            "series_id": ["High income"] * 23 + ["Low income"] * 23,
            "year": list(range(1998, 2021)) * 2,
            "y": [10.0 + i for i in range(23)] + [1.0 + 0.1 * i for i in range(23)],
        }
    ).with_columns(pl.col("year").cast(pl.Int32))
    job = forecast_job(
        CHINA_RESEARCHER_INFLOWS,
        rates,
        synthetic_cohorts(groups),
        vintage=2020,
        min_observed_years=8,
    )
    forecasts, _ = forecast_one(job, "naive", until_year=2030)
    rows = forecast_rows(
        job,
        forecasts,
        selected_model="drift",
        run_id="r1",
        vintage=2020,
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
    )
    assert set(rows["country_iso3"]) == {"CHN"}
    assert set(rows["origin_group"]) == set(groups)
    assert not rows["is_selected"].any(), "naive was not the family's choice"
    assert {"Medium+tech_denial", "Medium+scholarships"} <= set(rows["scenario"])
    high_2030 = rows.filter((pl.col("origin_group") == "High income") & (pl.col("year") == 2030))
    level = dict(zip(high_2030["scenario"], high_2030["yhat"], strict=True))
    assert level["Medium+tech_denial"] == pytest.approx(0.7 * level["Medium"])
    assert validate_frame(rows, "forecasts", "synthetic intake").failures == []


def test_backtests_are_scored_in_pool_units_and_one_model_is_chosen_per_family(synthetic_job):
    origins = [2013, 2014, 2015, 2016, 2017, 2018, 2019]
    pooled = {}
    for name in ("naive", "drift"):
        result = backtest_one(synthetic_job, name, origins, min_train=3)
        assert result.failures.is_empty()
        pooled[name] = in_pool_units(synthetic_job, result.forecasts)
    forecasts = pl.concat(list(pooled.values()))
    # actual in pool units = the observed rate × the Medium cohort of the year
    aaa_2020 = forecasts.filter(
        (pl.col("series_id") == "AAA") & (pl.col("year") == 2020) & (pl.col("origin") == 2019)
    )
    cohort = synthetic_job.cohorts.filter(
        (pl.col("series_id") == "AAA") & (pl.col("year") == 2020) & (pl.col("variant") == "Medium")
    )["cohort"].item()
    assert aaa_2020["actual"][0] == pytest.approx((0.001 + 0.0001 * 24) * cohort)
    scores = score_family("talent_pool", {"researchers": forecasts})
    assert scores.family_choice == "drift", "a steady rise is drift's case"
    row = scores.selection.row(0, named=True)
    assert row["target"] == "researchers" and row["mase"] < row["naive_mase"]
    assert "Family choice: drift" in row["reason"]


def test_forecast_checks_catch_a_missing_year_and_a_pool_above_the_population(synthetic_job):
    rates, _ = forecast_one(synthetic_job, "drift", until_year=2030)
    rows = forecast_rows(
        synthetic_job,
        rates,
        selected_model="drift",
        run_id="r1",
        vintage=2020,
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
    )
    drivers = synthetic_job.cohorts.rename({"series_id": "country_iso3"}).with_columns(
        (pl.col("cohort") * 2).alias("population_total")
    )
    good = forecast_checks(rows, drivers, 2030)
    assert validate_frame(good, "forecast_checks", "synthetic checks").failures == []

    gap = rows.filter(~((pl.col("country_iso3") == "AAA") & (pl.col("year") == 2025)))
    report = validate_frame(forecast_checks(gap, drivers, 2030), "forecast_checks", "gap")
    assert [f.expectation for f in report.failures] == ["expect_column_pair_values_to_be_equal"]

    too_high = rows.with_columns(
        pl.when(pl.col("country_iso3") == "BBB").then(1e9).otherwise("hi95").alias("hi95")
    )
    report = validate_frame(forecast_checks(too_high, drivers, 2030), "forecast_checks", "bound")
    assert report.is_critical
    assert [f.kwargs["column"] for f in report.failures] == ["max_upper_share"]


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


def test_calibrated_bounds_never_pass_what_the_rates_cap_allows(synthetic_job):
    rates, _ = forecast_one(synthetic_job, "drift", until_year=2030)
    near_cap = rates.with_columns(
        pl.lit(0.04).alias("mean"),
        pl.lit(0.03).alias("lo80"),
        pl.lit(0.045).alias("hi80"),
        pl.lit(0.02).alias("lo95"),
        pl.lit(0.049).alias("hi95"),
    )
    factors = pl.DataFrame(
        {
            "model": ["drift"] * 10,
            "horizon": [h for h in range(1, 6) for _ in (80, 95)],
            "level": [80, 95] * 5,
            "factor": [4.0] * 10,
        },
        schema={"model": pl.String, "horizon": pl.Int32, "level": pl.Int32, "factor": pl.Float64},
    )
    rows = forecast_rows(
        synthetic_job,
        near_cap,
        selected_model="drift",
        run_id="r1",
        vintage=2020,
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
        factors=factors,
    )
    cohorts = synthetic_job.cohorts.rename({"series_id": "country_iso3", "variant": "scenario"})
    bounded = rows.join(cohorts, on=["country_iso3", "scenario", "year"])
    assert (bounded["hi95"] <= RESEARCHERS.cap * bounded["cohort"] * (1 + 1e-12)).all()
    assert bounded["lo95"].min() >= 0
