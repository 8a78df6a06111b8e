"""The forecast engine: jobs, scenario rows in the published schema, selection marks,
backtests in pool units, and the coverage and bounds checks."""

from datetime import UTC, datetime

import polars as pl
import pytest

from talentflow.core.facts import DEFAULT_MODELS
from talentflow.core.tables import FORECASTS_SCHEMA
from talentflow.tasks.features.scenarios import (
    CHINA_RESEARCHER_INFLOWS,
    RESEARCHERS,
    attach_denominators,
)
from talentflow.tasks.forecast import (
    RELATIVE_COST,
    ForecastJob,
    NotForecastable,
    backtest_one,
    forecast_checks,
    forecast_job,
    forecast_one,
    forecast_pools,
    forecast_rows,
    in_pool_units,
    longest_first,
    model_groups,
    origin_batches,
    score_family,
    series_batches,
    split_by_series,
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
    with pytest.raises(NotForecastable, match="no series has 8 observed years up to 2000"):
        forecast_job(
            RESEARCHERS,
            synthetic_rates(),
            synthetic_cohorts({"AAA": 1e6}),
            vintage=2000,
            min_observed_years=8,
        )


def test_caps_come_from_the_evidence_the_vintage_had(synthetic_job):
    caps = dict(synthetic_job.caps.select("series_id", "cap").iter_rows())
    # Both series are small (below the 3 million adults a frontier needs), so the
    # frontier falls back to the highest rate seen, BBB's 0.0042, plus 10 %: AAA may
    # reach what BBB has reached, not more.
    assert caps["AAA"] == pytest.approx(0.0042 * 1.1)
    assert caps["BBB"] == pytest.approx(0.0042 * 1.1)
    assert synthetic_job.caps["frontier_series"].unique().to_list() == ["BBB"]
    # A forecaster in 2010 knew AAA's rise only up to 2010.
    alone = synthetic_rates().filter(pl.col("series_id") == "AAA")
    at_2010 = forecast_job(
        RESEARCHERS, alone, synthetic_cohorts({"AAA": 1e6}), vintage=2010, min_observed_years=8
    )
    assert at_2010.caps["cap"].item() == pytest.approx((0.001 + 0.0001 * 14) * 1.1)


def selected_everywhere(job, model: str) -> pl.DataFrame:
    return job.history.group_by("series_id").agg(
        pl.lit(model).alias("model"), pl.lit(2100).alias("last_year")
    )


def test_published_rows_are_rate_times_each_variants_cohort_in_the_schema(synthetic_job):
    rates, artefacts = forecast_one(synthetic_job, "drift", until_year=2035)
    assert "params.json" in artefacts
    pools = forecast_pools(synthetic_job, rates)
    rows = forecast_rows(
        synthetic_job,
        pools,
        selected=selected_everywhere(synthetic_job, "drift"),
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


def test_a_series_is_selected_only_up_to_its_last_informative_year(synthetic_job):
    rates, _ = forecast_one(synthetic_job, "drift", until_year=2035)
    selected = pl.DataFrame({"series_id": ["AAA"], "model": ["drift"], "last_year": [2028]})
    rows = forecast_rows(
        synthetic_job,
        forecast_pools(synthetic_job, rates),
        selected=selected,
        run_id="r1",
        vintage=2020,
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
    )
    chosen = rows.filter(pl.col("is_selected"))
    assert set(chosen["country_iso3"]) == {"AAA"}
    assert chosen["year"].max() == 2028 and chosen["year"].min() == 2021


def synthetic_share_job():
    """China's and the USA's shares of two income groups' researcher moves abroad, their
    observed denominators, and the groups' forecast moves abroad to 2030."""
    years = list(range(1998, 2021))
    series = {"CHN|High income": 0.02, "USA|High income": 0.3, "CHN|Low income": 0.01}
    rates = pl.DataFrame(
        {
            "series_id": [s for s in series for _ in years],
            "year": years * len(series),
            "y": [base * (1 + 0.02 * i) for base in series.values() for i, _ in enumerate(years)],
        }
    ).with_columns(pl.col("year").cast(pl.Int32))
    groups = {
        "CHN|High income": "High income",
        "USA|High income": "High income",
        "CHN|Low income": "Low income",
    }
    history = synthetic_cohorts({s: 50_000.0 for s in series}, until=2020)
    job = forecast_job(CHINA_RESEARCHER_INFLOWS, rates, history, vintage=2020, min_observed_years=8)
    totals = (
        synthetic_cohorts({"High income": 80_000.0, "Low income": 2_000.0}, until=2030)
        .filter(pl.col("year") > 2020)
        .with_columns(
            (pl.col("cohort") * 0.9).alias("cohort_lo80"),
            (pl.col("cohort") * 1.1).alias("cohort_hi80"),
            (pl.col("cohort") * 0.8).alias("cohort_lo95"),
            (pl.col("cohort") * 1.2).alias("cohort_hi95"),
        )
    )
    del groups
    return job.with_denominators(attach_denominators(job.target, job.cohorts, totals))


def test_intake_rows_sit_on_china_with_origin_groups_and_policy_levers():
    job = synthetic_share_job()
    rates, _ = forecast_one(job, "naive", until_year=2030)
    pools = forecast_pools(job, rates)
    rows = forecast_rows(
        job,
        pools,
        selected=pl.DataFrame(
            {"series_id": ["CHN|High income"], "model": ["drift"], "last_year": [2030]}
        ),
        run_id="r1",
        vintage=2020,
        created_at=datetime(2026, 11, 30, tzinfo=UTC),
    )
    assert set(rows["country_iso3"]) == {"CHN"}  # the USA's series only taught the model
    assert set(rows["origin_group"]) == {"High income", "Low income"}
    assert not rows["is_selected"].any(), "naive was not the selected model"
    assert {"Medium+tech_denial", "Medium+scholarships"} <= set(rows["scenario"])
    high_2030 = rows.filter((pl.col("origin_group") == "High income") & (pl.col("year") == 2030))
    level = dict(zip(high_2030["scenario"], high_2030["yhat"], strict=True))
    assert level["Medium+tech_denial"] == pytest.approx(0.7 * level["Medium"])
    # China's intake = its share (naive: the 2020 share) × the group's forecast moves abroad
    share_2020 = 0.02 * (1 + 0.02 * 22)
    total_2030 = job.cohorts.filter(
        (pl.col("series_id") == "CHN|High income")
        & (pl.col("variant") == "Medium")
        & (pl.col("year") == 2030)
    )["cohort"].item()
    assert level["Medium"] == pytest.approx(share_2020 * total_2030, rel=1e-6)
    assert level["Medium"] < total_2030
    assert validate_frame(rows, "forecasts", "synthetic intake").failures == []


def test_a_share_interval_carries_its_world_totals_uncertainty_too():
    job = synthetic_share_job()
    rates, _ = forecast_one(job, "naive", until_year=2030)
    with_total = (
        forecast_pools(job, rates)
        .filter(
            (pl.col("series_id") == "CHN|High income")
            & (pl.col("year") == 2030)
            & (pl.col("variant") == "Medium")
        )
        .row(0, named=True)
    )
    plain = rates.filter(
        (pl.col("series_id") == "CHN|High income")
        & (pl.col("year") == 2030)
        & (pl.col("variant") == "Medium")
    ).row(0, named=True)
    own = plain["hi80"] / plain["mean"]
    combined = with_total["hi80"] / with_total["mean"]
    import math

    assert math.log(combined) == pytest.approx(math.hypot(math.log(own), math.log(1.1)), rel=1e-6)


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
    assert "Short-horizon choice: drift" in row["reason"]


@pytest.mark.parametrize("name", ["drift", "ets", "global"])
def test_a_backtest_split_into_origin_batches_is_the_whole_backtest(synthetic_job, name):
    """The forecast stage runs a backtest as tasks of a few origins each (so the work
    spreads over workers): together they must give exactly the one-task backtest."""
    origins = [2013, 2014, 2015, 2016, 2017, 2018, 2019]
    assert origin_batches(origins, workers=2) == [origins]  # few workers: one task
    batches = origin_batches(origins, workers=24)
    assert batches == [[2013, 2014, 2015], [2016, 2017, 2018], [2019]]
    whole = in_pool_units(synthetic_job, backtest_one(synthetic_job, name, origins, 3).forecasts)
    pieces = pl.concat(
        in_pool_units(synthetic_job, backtest_one(synthetic_job, name, batch, 3).forecasts)
        for batch in batches
    )
    # in_pool_units sorts its rows, so the batches in origin order are the whole, row
    # for row: scores summed over them are the same numbers.
    assert pieces.equals(whole)


def test_the_costliest_fits_are_submitted_first(synthetic_job):
    """Longest-processing-time first: the pool does not end on one long fit."""
    one_series = ForecastJob(
        synthetic_job.target,
        synthetic_job.history.filter(pl.col("series_id") == "AAA"),
        synthetic_job.cohorts,
        synthetic_job.caps,
    )
    order = longest_first([one_series, synthetic_job], [["naive"], ["global"], ["ets"]])
    assert [(job.history["series_id"].n_unique(), names) for job, names in order] == [
        (2, ["global"]),
        (1, ["global"]),
        (2, ["ets"]),
        (1, ["ets"]),
        (2, ["naive"]),
        (1, ["naive"]),
    ]


def test_cheap_models_share_a_task_no_costlier_than_the_costliest_model():
    """Each model alone in a task paid Prefect's per-task cost for under 0.3 s of work;
    packed, no task outgrows the costliest single model, so the pool still balances."""
    fitted = [name for name in DEFAULT_MODELS if name != "ensemble"]
    groups = model_groups(fitted)
    assert groups == [["naive", "drift", "converge", "ets"], ["theta"], ["global"]]
    assert sorted(name for group in groups for name in group) == sorted(fitted)
    costliest = max(RELATIVE_COST[name] for name in fitted)
    assert all(sum(RELATIVE_COST[name] for name in group) <= costliest for group in groups)
    assert model_groups(["naive", "drift", "converge"]) == [["naive", "drift"], ["converge"]]
    assert model_groups(["global"]) == [["global"]]


def test_when_the_short_and_long_choices_differ_the_family_hands_over():
    # Synthetic backtest: model "fast" is exact at 1-5 years and far off beyond, "slow"
    # the other way round; naive and drift are mediocre everywhere.
    rows = []
    for origin in range(2000, 2008):
        for series in ("a", "b", "c"):
            for horizon in range(1, 13):
                actual = 100.0 + horizon
                errors = {
                    "fast": 0.0 if horizon <= 5 else 9.0,
                    "slow": 9.0 if horizon <= 5 else 0.0,
                    "naive": 5.0,
                    "drift": 5.0,
                }
                for model, error in errors.items():
                    mean = actual + error
                    rows.append(
                        (
                            model,
                            origin,
                            series,
                            origin + horizon,
                            horizon,
                            actual,
                            mean,
                            mean - 1,
                            mean + 1,
                            mean - 2,
                            mean + 2,
                            1.0,
                        )
                    )
    backtest = pl.DataFrame(
        rows,
        schema=[
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
            "scale",
        ],
        orient="row",
    ).with_columns(pl.col("origin", "year", "horizon").cast(pl.Int32))
    scores = score_family("talent_pool", {"researchers": backtest})
    assert (scores.short_model, scores.long_model) == ("fast", "slow")
    assert scores.family_choice == "handover"
    row = scores.selection.row(0, named=True)
    assert row["selected_model"] == "handover"
    # the blend (years 5-10) carries part of the fast model's error into years 6-9
    assert row["beats_naive_and_drift_long"] and row["long_mase"] == pytest.approx(18 / 7)
    assert "fast for the first years" in row["reason"] and "handed over to slow" in row["reason"]


def test_forecast_checks_catch_a_missing_year_and_a_pool_above_the_population(synthetic_job):
    rates, _ = forecast_one(synthetic_job, "drift", until_year=2030)
    rows = forecast_rows(
        synthetic_job,
        forecast_pools(synthetic_job, rates),
        selected=selected_everywhere(synthetic_job, "drift"),
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


def test_a_large_target_is_cut_by_series_only_for_the_models_that_fit_series_alone(
    synthetic_job,
):
    """Tasks of bounded size: more series than the limit and the models that fit each
    series alone get a task per batch of series; converge and the global model read the
    whole panel, so they keep the whole job. Each batch carries its series' history,
    denominators and caps, and nothing of the others."""
    assert series_batches(synthetic_job, 2) == [synthetic_job]
    assert split_by_series(["naive", "global"], synthetic_job, 2) == [
        (["naive", "global"], synthetic_job, None)
    ]
    tasks = split_by_series(["naive", "converge", "ets", "global"], synthetic_job, 1)
    assert [(names, number) for names, _, number in tasks] == [
        (["naive", "ets"], 1),
        (["naive", "ets"], 2),
        (["converge", "global"], None),
    ]
    assert tasks[2][1] is synthetic_job
    for (_, part, _), series in zip(tasks[:2], ["AAA", "BBB"], strict=True):
        for frame in (part.history, part.cohorts, part.caps):
            assert frame["series_id"].unique().to_list() == [series]
        assert part.history.equals(synthetic_job.history.filter(pl.col("series_id") == series))
    assert [names for names, _, _ in split_by_series(["global"], synthetic_job, 1)] == [["global"]]
    # a model not known to fit series alone keeps the whole job
    assert split_by_series(["naive", "a-new-model"], synthetic_job, 1)[-1] == (
        ["a-new-model"],
        synthetic_job,
        None,
    )


@pytest.mark.parametrize("name", ["drift", "ets", "theta"])
def test_a_backtest_and_fit_cut_by_series_are_the_whole_ones(synthetic_job, name):
    origins = [2014, 2016, 2018]
    whole = in_pool_units(synthetic_job, backtest_one(synthetic_job, name, origins, 3).forecasts)
    parts = series_batches(synthetic_job, 1)
    pieces = pl.concat(
        in_pool_units(part, backtest_one(part, name, origins, 3).forecasts) for part in parts
    ).sort("origin", "series_id", "year", maintain_order=True)
    assert pieces.equals(whole)
    rates, _ = forecast_one(synthetic_job, name, 2040)
    by_series = pl.concat(forecast_one(part, name, 2040)[0] for part in parts)
    keys = ["series_id", "variant", "year"]
    assert by_series.sort(keys).equals(rates.sort(keys))
