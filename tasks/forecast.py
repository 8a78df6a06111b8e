"""Forecast many series with several models in one batch, into one long table.

The models honour models.base; this module only shapes series into the models' long
history, runs each model once over all series (never a task per series), and names the
rows. Targets that cannot be negative (counts) are clipped at zero: point and bounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from models.base import Forecaster
from models.baselines import Drift
from models.prophet_model import ProphetForecaster

# The published tables of issue 6. Every reader (PostgreSQL, DuckDB views, the
# `talentflow forecasts` command, the outlook report) relies on these names and types.
FORECASTS_SCHEMA = {
    "run_id": pl.String,  # the Prefect flow run that made the row
    "vintage": pl.Int32,  # the last data year the run used (its --as-of year, if given)
    "target": pl.String,  # e.g. researchers, tertiary_students, china_researcher_inflows
    "country_iso3": pl.String,  # the country; CHN (the host) for China's intake targets
    "origin_group": pl.String,  # intake targets: the origin group; else null
    "year": pl.Int32,
    "scenario": pl.String,  # WPP variant, with a policy lever's name where one applies
    "model": pl.String,  # naive, drift, ets, theta, prophet, global, ensemble
    "is_selected": pl.Boolean,  # the model chosen for the target family by the backtest
    "yhat": pl.Float64,
    "lo80": pl.Float64,
    "hi80": pl.Float64,
    "lo95": pl.Float64,
    "hi95": pl.Float64,
    "created_at": pl.Datetime("us", "UTC"),
}
BACKTEST_METRICS_SCHEMA = {
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
MODEL_SELECTION_SCHEMA = {
    "run_id": pl.String,
    "vintage": pl.Int32,
    "family": pl.String,
    "target": pl.String,
    "selected_model": pl.String,
    "mase": pl.Float64,  # mean over horizons 1-5
    "naive_mase": pl.Float64,
    "mase_improvement": pl.Float64,  # 1 - mase / naive_mase; goal >= 0.20
    "coverage80": pl.Float64,  # goal 0.75-0.85
    "coverage95": pl.Float64,
    "meets_mase_goal": pl.Boolean,
    "meets_coverage_goal": pl.Boolean,
    "reason": pl.String,  # why this model, and why a goal is missed where one is
}

FORECAST_COLUMNS = [
    "run_id",
    "target",
    "country_iso3",
    "year",
    "model",
    "yhat",
    "yhat_lower",
    "yhat_upper",
    "yhat_lower_95",
    "yhat_upper_95",
    "created_at",
]
# yhat_lower/yhat_upper (the walking skeleton's columns, kept for their readers) are the
# 80 % interval; yhat_lower_95/yhat_upper_95 the 95 % interval.
INTERVAL_LEVEL = 80
WIDE_LEVEL = 95


def default_models() -> list[Forecaster]:
    """The walking skeleton's models: the drift baseline and Prophet."""
    return [Drift(), ProphetForecaster()]


def series_history(panel: pl.DataFrame, target: str, min_observed_years: int) -> pl.DataFrame:
    """Observed values of ``target`` per country as the models' long history, keeping
    countries with at least ``min_observed_years`` observed years."""
    observed = panel.filter(pl.col(target).is_not_null() & pl.col(target).is_not_nan())
    return (
        observed.select(
            pl.col("country_iso3").alias("series_id"),
            pl.col("year").cast(pl.Int32),
            pl.col(target).cast(pl.Float64).alias("y"),
        )
        .filter(pl.len().over("series_id") >= min_observed_years)
        .sort("series_id", "year")
    )


def forecast_table(
    history: pl.DataFrame,
    *,
    target: str,
    until_year: int,
    run_id: str,
    models: Sequence[Forecaster],
    non_negative: bool = True,
    created_at: datetime | None = None,
) -> pl.DataFrame:
    """Every model's forecast of every series, from its last observed year to
    ``until_year``, with its 80 % and 95 % intervals, in ``FORECAST_COLUMNS``."""
    if history.is_empty():
        raise ValueError(f"no series of {target!r} has enough observations to forecast")
    horizon = until_year - int(
        history.group_by("series_id").agg(pl.col("year").max())["year"].min()
    )
    created_at = created_at or datetime.now(UTC)
    frames = []
    for model in models:
        predicted = model.fit(history).predict(horizon, levels=(INTERVAL_LEVEL, WIDE_LEVEL))
        frames.append(
            predicted.filter(pl.col("year") <= until_year).with_columns(
                pl.lit(model.name).alias("model")
            )
        )
    floor = 0.0 if non_negative else None
    point, lower, upper, lower_95, upper_95 = (
        pl.col(c).clip(lower_bound=floor)
        for c in (
            "mean",
            f"lo{INTERVAL_LEVEL}",
            f"hi{INTERVAL_LEVEL}",
            f"lo{WIDE_LEVEL}",
            f"hi{WIDE_LEVEL}",
        )
    )
    # A sampled interval (Prophet) can miss its own point forecast, or the wider interval
    # the narrower one, by a hair: each bound is widened to keep the nesting.
    lower_80 = pl.min_horizontal(lower, point)
    upper_80 = pl.max_horizontal(upper, point)
    return (
        pl.concat(frames)
        .select(
            pl.lit(run_id).alias("run_id"),
            pl.lit(target).alias("target"),
            pl.col("series_id").alias("country_iso3"),
            "year",
            "model",
            point.alias("yhat"),
            lower_80.alias("yhat_lower"),
            upper_80.alias("yhat_upper"),
            pl.min_horizontal(lower_95, lower_80).alias("yhat_lower_95"),
            pl.max_horizontal(upper_95, upper_80).alias("yhat_upper_95"),
            pl.lit(created_at).dt.replace_time_zone("UTC").alias("created_at"),
        )
        .sort("target", "country_iso3", "model", "year")
    )


def forecast_checks(forecasts: pl.DataFrame, panel: pl.DataFrame, until_year: int) -> pl.DataFrame:
    """One row per target, country and model, for the ``forecast_checks`` suite: the years
    a forecast covers (``years`` must equal ``span``, ending at ``until_year``) and its
    largest upper bound as a share of the working-age population in the same year (a head
    count of researchers cannot exceed the people aged 25-64)."""
    bounded = forecasts.join(
        panel.select("country_iso3", "year", "population_25_64"),
        on=["country_iso3", "year"],
        how="left",
    )
    return (
        bounded.group_by("target", "country_iso3", "model")
        .agg(
            pl.col("year").min().alias("first_year"),
            pl.col("year").max().alias("last_year"),
            pl.col("year").n_unique().alias("years"),
            (pl.col("yhat_upper_95") / pl.col("population_25_64")).max().alias("max_upper_share"),
        )
        .with_columns(
            (pl.col("last_year") - pl.col("first_year") + 1).cast(pl.UInt32).alias("span"),
            pl.col("years").cast(pl.UInt32),
            pl.lit(until_year, dtype=pl.Int32).alias("until_year"),
        )
        .sort("target", "country_iso3", "model")
    )


@task(name="forecast", task_run_name="forecast-{target}", cache_policy=NO_CACHE)
def forecast_target(
    panel: pl.DataFrame, target: str, until_year: int, min_observed_years: int, run_id: str
) -> pl.DataFrame:
    """Forecast ``target`` for every country with enough history, with every model."""
    history = series_history(panel, target, min_observed_years)
    return forecast_table(
        history, target=target, until_year=until_year, run_id=run_id, models=default_models()
    )
