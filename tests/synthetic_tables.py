"""Synthetic frames of the published run tables (``forecasts``, ``backtest_metrics``,
``model_selection``), built to the schemas in ``tasks.forecast`` so that tests of the
publisher and of docs/consuming.md's queries follow those schemas wherever they go.

Every number here is made up: the frames have the shape of a run, not its values.
"""

from __future__ import annotations

from datetime import datetime
from itertools import product

import polars as pl

from talentflow.core.tables import (
    BACKTEST_METRICS_SCHEMA,
    FORECAST_BOUNDS_SCHEMA,
    FORECAST_PLAUSIBILITY_SCHEMA,
    FORECASTS_SCHEMA,
    MODEL_SELECTION_SCHEMA,
)

SYNTHETIC_COUNTRIES = ("CHN", "USA", "DEU", "IND")
SYNTHETIC_SCENARIOS = ("Medium", "Low", "High")
SYNTHETIC_MODELS = ("naive", "drift", "ets")
SYNTHETIC_SELECTED_MODEL = "ets"
SYNTHETIC_ORIGIN_GROUPS = ("high_income", "upper_middle_income", "lower_income")
#: (family, target) of the synthetic runs: one country-level target, one intake target.
SYNTHETIC_TARGETS = (("talent_pool", "researchers"), ("intake", "china_researcher_inflows"))


def synthetic_forecasts(
    run_id: str,
    vintage: int,
    created_at: datetime,
    *,
    countries: tuple[str, ...] = SYNTHETIC_COUNTRIES,
    until_year: int = 2050,
    level: float = 1_000.0,
) -> pl.DataFrame:
    """A synthetic ``forecasts`` frame of one run: ``researchers`` for ``countries`` and
    China's ``china_researcher_inflows`` by origin group, every scenario and model, from
    ``vintage + 1`` to ``until_year``; ``level`` scales every value (to tell runs apart).
    """
    years = range(vintage + 1, until_year + 1)
    places = [("researchers", country, None) for country in countries] + [
        ("china_researcher_inflows", "CHN", group) for group in SYNTHETIC_ORIGIN_GROUPS
    ]
    rows = [
        {
            "target": target,
            "country_iso3": country,
            "origin_group": group,
            "year": year,
            "scenario": scenario,
            "model": model,
            "step": year - vintage,
            "scale": level * (1 + index % 7) * (1.0 + 0.1 * scenario_index),
        }
        for index, (target, country, group) in enumerate(places)
        for (scenario_index, scenario), model, year in product(
            enumerate(SYNTHETIC_SCENARIOS), SYNTHETIC_MODELS, years
        )
    ]
    yhat = pl.col("scale") * (1 + 0.02 * pl.col("step"))
    spread = pl.col("scale") * 0.01 * pl.col("step")
    frame = pl.DataFrame(rows, infer_schema_length=None).select(
        pl.lit(run_id).alias("run_id"),
        pl.lit(vintage).alias("vintage"),
        "target",
        "country_iso3",
        "origin_group",
        "year",
        "scenario",
        "model",
        (pl.col("model") == SYNTHETIC_SELECTED_MODEL).alias("is_selected"),
        yhat.alias("yhat"),
        (yhat - spread).alias("lo80"),
        (yhat + spread).alias("hi80"),
        (yhat - 2 * spread).alias("lo95"),
        (yhat + 2 * spread).alias("hi95"),
        pl.lit(created_at).alias("created_at"),
    )
    return frame.cast(FORECASTS_SCHEMA).select(list(FORECASTS_SCHEMA))


def synthetic_backtest_metrics(run_id: str, vintage: int) -> pl.DataFrame:
    """A synthetic ``backtest_metrics`` frame of one run: every target, model and horizon
    1-5, the selected model scoring best."""
    rows = [
        {
            "family": family,
            "target": target,
            "model": model,
            "horizon": horizon,
            "origins": 10,
            "forecasts": 40,
            "mase": (0.6 if model == SYNTHETIC_SELECTED_MODEL else 1.0) * (1 + 0.2 * horizon),
            "smape": 4.0 * horizon,
            "coverage80": 0.8,
            "coverage95": 0.94,
        }
        for (family, target), model, horizon in product(
            SYNTHETIC_TARGETS, SYNTHETIC_MODELS, range(1, 6)
        )
    ]
    frame = pl.DataFrame(rows).with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(vintage).alias("vintage")
    )
    return frame.cast(BACKTEST_METRICS_SCHEMA).select(list(BACKTEST_METRICS_SCHEMA))


def synthetic_model_selection(run_id: str, vintage: int) -> pl.DataFrame:
    """A synthetic ``model_selection`` frame of one run: one row per target family."""
    rows = [
        {
            "family": family,
            "target": target,
            "selected_model": SYNTHETIC_SELECTED_MODEL,
            "short_model": SYNTHETIC_SELECTED_MODEL,
            "long_model": SYNTHETIC_SELECTED_MODEL,
            "mase": 1.2,
            "naive_mase": 2.0,
            "mase_improvement": 0.4,
            "coverage80": 0.8,
            "coverage95": 0.94,
            "calibrated_coverage80": 0.79,
            "calibrated_coverage95": 0.95,
            "meets_mase_goal": True,
            "meets_coverage_goal": True,
            "long_mase": 3.0,
            "long_naive_mase": 4.0,
            "long_drift_mase": 3.5,
            "long_calibrated_coverage80": 0.82,
            "long_calibrated_coverage95": 0.93,
            "beats_naive_and_drift_long": True,
            "meets_long_coverage_goal": True,
            "reason": "synthetic: lowest mean MASE over horizons 1-5",
        }
        for family, target in SYNTHETIC_TARGETS
    ]
    frame = pl.DataFrame(rows).with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(vintage).alias("vintage")
    )
    return frame.cast(MODEL_SELECTION_SCHEMA).select(list(MODEL_SELECTION_SCHEMA))


def synthetic_run_tables(
    run_id: str, vintage: int, created_at: datetime
) -> dict[str, pl.DataFrame]:
    """The run tables of one synthetic run, by table name."""
    return {
        "forecasts": synthetic_forecasts(run_id, vintage, created_at),
        "backtest_metrics": synthetic_backtest_metrics(run_id, vintage),
        "model_selection": synthetic_model_selection(run_id, vintage),
        "forecast_plausibility": synthetic_plausibility(run_id, vintage),
        "forecast_bounds": synthetic_bounds(run_id, vintage),
    }


def synthetic_plausibility(run_id: str, vintage: int) -> pl.DataFrame:
    """A synthetic ``forecast_plausibility`` frame: every rule passed for each country."""
    rows = [
        {
            "target": "researchers",
            "country_iso3": country,
            "origin_group": None,
            "model": SYNTHETIC_SELECTED_MODEL,
            "rule": rule,
            "passed": True,
            "detail": "",
            "last_informative_year": 2050,
        }
        for country in SYNTHETIC_COUNTRIES
        for rule in ("rate_within_bound", "scenario_order")
    ]
    frame = pl.DataFrame(rows, schema_overrides={"origin_group": pl.String}).with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(vintage).alias("vintage")
    )
    return frame.cast(FORECAST_PLAUSIBILITY_SCHEMA).select(list(FORECAST_PLAUSIBILITY_SCHEMA))


def synthetic_bounds(run_id: str, vintage: int) -> pl.DataFrame:
    """A synthetic ``forecast_bounds`` frame: one made-up cap per country."""
    rows = [
        {
            "target": "researchers",
            "series_id": country,
            "cap": 0.02,
            "record": 0.01,
            "frontier": 0.018,
            "frontier_series": "USA",
            "frontier_year": vintage,
        }
        for country in SYNTHETIC_COUNTRIES
    ]
    frame = pl.DataFrame(rows).with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(vintage).alias("vintage")
    )
    return frame.cast(FORECAST_BOUNDS_SCHEMA).select(list(FORECAST_BOUNDS_SCHEMA))
