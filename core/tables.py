"""The schemas of the tables talentflow publishes for every run, in one place.

Every reader relies on these names and types: the publisher (DuckDB, Parquet,
PostgreSQL and their views), ``talentflow forecasts``, the outlook and the reports, the
GX suites (a test checks each suite's column list against its schema) and the synthetic
fixtures of the tests. Polars only: importing this module never imports Prefect.
"""

from __future__ import annotations

import polars as pl

FORECASTS_SCHEMA: dict[str, pl.PolarsDataType] = {
    "run_id": pl.String,  # the Prefect flow run that made the row
    "vintage": pl.Int32,  # the last data year the run used (its --as-of year, if given)
    "target": pl.String,  # e.g. researchers, tertiary_students, china_researcher_inflows
    "country_iso3": pl.String,  # the country; CHN (the host) for China's intake targets
    "origin_group": pl.String,  # intake targets: the origin group; else null
    "year": pl.Int32,
    "scenario": pl.String,  # WPP variant, with a policy lever's name where one applies
    "model": pl.String,  # naive, drift, ets, theta, prophet, global, ensemble, …
    "is_selected": pl.Boolean,  # the published forecast: chosen and plausible
    "yhat": pl.Float64,
    "lo80": pl.Float64,
    "hi80": pl.Float64,
    "lo95": pl.Float64,
    "hi95": pl.Float64,
    "created_at": pl.Datetime("us", "UTC"),
}
BACKTEST_METRICS_SCHEMA: dict[str, pl.PolarsDataType] = {
    "run_id": pl.String,
    "vintage": pl.Int32,
    "family": pl.String,
    "target": pl.String,
    "model": pl.String,
    "horizon": pl.Int32,  # years after the origin, 1-5
    "origins": pl.Int32,  # rolling origins scored
    "forecasts": pl.Int32,  # (series, origin) pairs scored at this horizon
    "mase": pl.Float64,
    "smape": pl.Float64,  # percent, 0-200
    "coverage80": pl.Float64,  # share of actuals inside the 80 % interval
    "coverage95": pl.Float64,
}
MODEL_SELECTION_SCHEMA: dict[str, pl.PolarsDataType] = {
    "run_id": pl.String,
    "vintage": pl.Int32,
    "family": pl.String,
    "target": pl.String,
    "selected_model": pl.String,
    "mase": pl.Float64,  # mean over horizons 1-5
    "naive_mase": pl.Float64,
    "mase_improvement": pl.Float64,  # 1 - mase / naive_mase; goal: core.facts.MASE_GOAL
    "coverage80": pl.Float64,  # the model's own intervals in the backtest
    "coverage95": pl.Float64,
    # the published intervals: calibrated on the earlier half of the origins, coverage
    # counted on the later half; the coverage goal is judged on these
    "calibrated_coverage80": pl.Float64,
    "calibrated_coverage95": pl.Float64,
    "meets_mase_goal": pl.Boolean,
    "meets_coverage_goal": pl.Boolean,
    "reason": pl.String,  # why this model, and why a goal is missed where one is
}

#: Every run table, by its published name.
RUN_TABLES: dict[str, dict[str, pl.PolarsDataType]] = {
    "forecasts": FORECASTS_SCHEMA,
    "backtest_metrics": BACKTEST_METRICS_SCHEMA,
    "model_selection": MODEL_SELECTION_SCHEMA,
}
