"""The plausibility rules (tasks.features.plausibility) and their suite: today's bad
forecasts (an enrolment ratio far above any country's, China's intake above the world's,
High below Low, a band from zero to the cap) are caught, and a plausible one passes."""

import polars as pl
import pytest

from talentflow.tasks.features.plausibility import (
    RULES,
    choose_plausible,
    panel_growth_range,
    plausibility_checks,
)
from talentflow.tasks.validate import validate_frame

YEARS = list(range(2025, 2051))
#: Synthetic denominators: 100 million people in each variant, Low shrinking, High growing.
GROWTH = {"Low": -0.01, "Medium": 0.0, "High": 0.01}


def synthetic_denominators(series: str = "CHN") -> pl.DataFrame:
    return pl.DataFrame(
        [
            (series, variant, year, 1e8 * (1 + growth) ** (year - 2024))
            for variant, growth in GROWTH.items()
            for year in YEARS
        ],
        schema={
            "series_id": pl.String,
            "variant": pl.String,
            "year": pl.Int32,
            "cohort": pl.Float64,
        },
        orient="row",
    )


def synthetic_pools(rate_by_year, model: str = "m", spread: float = 0.1) -> pl.DataFrame:
    """Pools = rate × each variant's denominator, with an 80 % band of ± ``spread``."""
    denominators = synthetic_denominators()
    rates = pl.DataFrame(
        {"year": YEARS, "rate": [rate_by_year(year) for year in YEARS]}
    ).with_columns(pl.col("year").cast(pl.Int32))
    return (
        denominators.join(rates, on="year")
        .with_columns(
            pl.lit(model).alias("model"),
            pl.col("variant").alias("scenario"),
            (pl.col("rate") * pl.col("cohort")).alias("mean"),
        )
        .with_columns(
            (pl.col("mean") * (1 - spread)).alias("lo80"),
            (pl.col("mean") * (1 + spread)).alias("hi80"),
        )
        .select("series_id", "year", "model", "variant", "scenario", "mean", "lo80", "hi80")
    )


CAPS = pl.DataFrame({"series_id": ["CHN"], "cap": [1.40]})
STEADY_GROWTH = (-0.05, 0.08)


def check(pools, *, is_share=False, caps=CAPS) -> dict[str, bool]:
    checks = plausibility_checks(
        pools, synthetic_denominators(), caps, 1.0, STEADY_GROWTH, is_share
    )
    return dict(checks.select("rule", "passed").iter_rows())


def test_a_plausible_forecast_passes_every_rule():
    verdicts = check(synthetic_pools(lambda year: 0.75 + 0.01 * (year - 2025)))
    assert verdicts == dict.fromkeys(RULES, True)


def test_an_enrolment_ratio_above_its_evidence_based_bound_fails():
    # today's China: 74.8 % in 2023, 187 % by 2050 against a frontier of about 128 %
    verdicts = check(synthetic_pools(lambda year: 0.75 + 0.045 * (year - 2025)))
    assert not verdicts["rate_within_bound"]


def test_growth_beyond_what_the_panel_has_shown_fails():
    verdicts = check(synthetic_pools(lambda year: 0.01 * 1.5 ** (year - 2025)))
    assert not verdicts["growth_within_panel"]


def test_an_intake_above_the_world_total_fails():
    # China's inbound students' 2040 upper bound was 1.7x every mobile student in the world
    verdicts = check(
        synthetic_pools(lambda year: 0.03 * 1.2 ** (year - 2025)),
        is_share=True,
        caps=pl.DataFrame({"series_id": ["CHN"], "cap": [5.0]}),
    )
    assert not verdicts["intake_below_world"]


def test_inverted_scenarios_fail():
    pools = synthetic_pools(lambda year: 0.5).with_columns(
        # High 223k < Low 339k < Medium 387k, as China's inbound students in 2050
        pl.when(pl.col("variant") == "High")
        .then(pl.col("mean") * 0.6)
        .otherwise(pl.col("mean"))
        .alias("mean")
    )
    assert not check(pools)["scenario_order"]


def test_a_band_from_zero_to_the_cap_ends_the_forecast_where_it_starts():
    pools = synthetic_pools(lambda year: 0.3).with_columns(
        pl.when(pl.col("year") >= 2040).then(0.0).otherwise(pl.col("lo80")).alias("lo80"),
        pl.when(pl.col("year") >= 2040)
        .then(pl.col("mean") * 4.5)
        .otherwise(pl.col("hi80"))
        .alias("hi80"),
    )
    checks = plausibility_checks(pools, synthetic_denominators(), CAPS, 1.0, STEADY_GROWTH, False)
    informative = checks.filter(pl.col("rule") == "informative_interval").row(0, named=True)
    assert not informative["passed"]
    assert informative["last_informative_year"] == 2039
    selected, rejected = choose_plausible(checks, ["m"])
    # not a rejection: the series is published as selected up to 2039
    assert selected.row(0, named=True) == {"series_id": "CHN", "model": "m", "last_year": 2039}
    assert rejected.is_empty()


def test_the_first_model_that_passes_is_chosen_and_the_rejection_named():
    bad = synthetic_pools(lambda year: 0.75 + 0.045 * (year - 2025), model="bad")
    good = synthetic_pools(lambda year: 0.75 + 0.005 * (year - 2025), model="good")
    checks = plausibility_checks(
        pl.concat([bad, good]), synthetic_denominators(), CAPS, 1.0, STEADY_GROWTH, False
    )
    selected, rejected = choose_plausible(checks, ["bad", "good"])
    assert selected["model"].to_list() == ["good"]
    assert rejected.select("model", "rule").rows() == [("bad", "rate_within_bound")]
    none_pass, _ = choose_plausible(checks, ["bad"])
    assert none_pass.is_empty()


def plausibility_table(checks: pl.DataFrame) -> pl.DataFrame:
    """The published table's shape, as flows/forecasting.py writes it."""
    return checks.select(
        pl.lit("r1").alias("run_id"),
        pl.lit(2024, dtype=pl.Int32).alias("vintage"),
        pl.lit("tertiary_students").alias("target"),
        pl.col("series_id").alias("country_iso3"),
        pl.lit(None, dtype=pl.String).alias("origin_group"),
        "model",
        "rule",
        "passed",
        "detail",
        pl.col("last_informative_year").cast(pl.Int32),
    )


def test_the_suite_fails_on_an_implausible_forecast_and_passes_a_plausible_one():
    implausible = plausibility_checks(
        synthetic_pools(lambda year: 0.75 + 0.045 * (year - 2025)).with_columns(
            pl.when(pl.col("variant") == "High")
            .then(pl.col("mean") * 0.6)
            .otherwise(pl.col("mean"))
            .alias("mean")
        ),
        synthetic_denominators(),
        CAPS,
        1.0,
        STEADY_GROWTH,
        False,
    )
    report = validate_frame(plausibility_table(implausible), "forecast_plausibility", "bad")
    assert report.is_critical
    plausible = plausibility_checks(
        synthetic_pools(lambda year: 0.75 + 0.01 * (year - 2025)),
        synthetic_denominators(),
        CAPS,
        1.0,
        STEADY_GROWTH,
        False,
    )
    assert (
        validate_frame(plausibility_table(plausible), "forecast_plausibility", "ok").failures == []
    )


def test_the_panel_growth_range_reads_consecutive_years_only():
    history = pl.DataFrame(
        {
            "series_id": ["a"] * 4 + ["b"] * 2,
            "year": [2000, 2001, 2002, 2010, 2000, 2001],
            "y": [100.0, 110.0, 121.0, 1000.0, 50.0, 45.0],
        }
    ).with_columns(pl.col("year").cast(pl.Int32))
    low, high = panel_growth_range(history)
    assert low == pytest.approx(-0.10536, abs=1e-4)  # b's fall, not a's jump across a gap
    assert high == pytest.approx(0.09531, abs=1e-4)
