"""The ``forecasts`` flow: backtest the model zoo on every target, choose one model per
target family, forecast to the horizon under every WPP variant and policy lever.

Fits run as one task per target and model (never one per series) through the flow's
task runner: threads by default, a Dask cluster when ``TALENTFLOW_TASK_RUNNER=dask``
(see :func:`forecast_task_runner`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from talentflow.core.facts import MODEL_NAMES
from talentflow.core.settings import Settings
from talentflow.core.tables import BACKTEST_METRICS_SCHEMA, MODEL_SELECTION_SCHEMA
from talentflow.flows.progress import FlowProgress
from talentflow.tasks.features.scenarios import RATE_TARGETS
from talentflow.tasks.forecast import (
    N_ORIGINS,
    ForecastJob,
    backtest_model,
    backtest_origins,
    build_forecast_jobs,
    fit_and_forecast,
    forecast_rows,
    min_train_observations,
    observed_pools,
    score_family,
)


def forecast_task_runner(settings: Settings) -> TaskRunner:
    """The task runner of the forecast fits: a thread pool, or Dask (prefect-dask) when
    ``TALENTFLOW_TASK_RUNNER=dask``, on ``TALENTFLOW_DASK_ADDRESS`` or a local cluster."""
    if settings.task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=settings.forecast_workers)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as error:
        raise RuntimeError(
            "TALENTFLOW_TASK_RUNNER=dask needs prefect-dask: pip install 'talentflow[dask]'"
        ) from error
    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": settings.forecast_workers, "threads_per_worker": 1}
    )


@dataclass(frozen=True)
class ForecastTables:
    forecasts: pl.DataFrame
    backtest_metrics: pl.DataFrame
    model_selection: pl.DataFrame
    observed: pl.DataFrame  # the histories the forecasts continue, in the same units
    failures: list[str]


@task(name="score-and-shape", cache_policy=NO_CACHE)
def score_and_shape(
    jobs: list[ForecastJob],
    backtests: dict[tuple[str, str], pl.DataFrame],
    rates: dict[tuple[str, str], pl.DataFrame],
    *,
    run_id: str,
    vintage: int,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[str]]:
    """Score the backtests per family, choose, and write the three published tables; and
    say which models' scores were too thin to publish."""
    created_at = datetime.now(UTC)
    run_columns = [pl.lit(run_id).alias("run_id"), pl.lit(vintage, dtype=pl.Int32).alias("vintage")]
    metrics, selections, rows, failures = [], [], [], []
    for family in dict.fromkeys(job.target.family for job in jobs):
        members = [job for job in jobs if job.target.family == family]
        scores = score_family(
            family,
            {
                job.target.name: pl.concat(
                    [frame for (target, _), frame in backtests.items() if target == job.target.name]
                )
                for job in members
            },
        )
        metrics.append(scores.metrics)
        selections.append(scores.selection)
        for job in members:
            target_rates = pl.concat(
                [frame for (target, _), frame in rates.items() if target == job.target.name],
                how="diagonal_relaxed",
            )
            rows.append(
                forecast_rows(
                    job,
                    target_rates,
                    selected_model=scores.family_choice,
                    factors=scores.factors[job.target.name],
                    run_id=run_id,
                    vintage=vintage,
                    created_at=created_at,
                )
            )
    scored = pl.concat(metrics)
    # A model that failed at some origins has fewer behind its scores: it was left out of
    # the selection (models.backtest.select_model) and its scores are not published.
    thin = scored.filter(pl.col("origins") < N_ORIGINS)
    for row in thin.select("target", "model").unique().sort("target", "model").iter_rows():
        failures.append(
            f"{row[0]} / {row[1]}: scored at fewer than {N_ORIGINS} origins at some "
            "horizon; not compared and its scores not published"
        )
    backtest_table = (
        scored.filter(pl.col("origins") >= N_ORIGINS)
        .with_columns(*run_columns)
        .select(list(BACKTEST_METRICS_SCHEMA))
        .cast(BACKTEST_METRICS_SCHEMA)
        .sort("family", "target", "model", "horizon")
    )
    selection_table = (
        pl.concat(selections)
        .with_columns(*run_columns)
        .select(list(MODEL_SELECTION_SCHEMA))
        .cast(MODEL_SELECTION_SCHEMA)
    )
    return pl.concat(rows), backtest_table, selection_table, failures


@flow(
    name="forecasts",
    flow_run_name="forecasts-data-{vintage}",
    persist_result=False,  # as the pipeline: no result kept, a failure's exception as JSON
    result_serializer="json",
)
def forecasts(
    features: dict[str, pl.DataFrame],
    country_list: pl.DataFrame,
    *,
    run_id: str,
    vintage: int,
    as_of: int | None = None,
    until_year: int = 2050,
    min_observed_years: int = 8,
    targets: list[str] | None = None,
    models: list[str] | None = None,
) -> ForecastTables:
    """Backtest, choose and forecast every target (default: all of
    ``tasks.features.scenarios.RATE_TARGETS``) with every model (default: the zoo)."""
    targets = targets or list(RATE_TARGETS)
    models = models or list(MODEL_NAMES)
    if "naive" not in models:
        raise ValueError("the zoo must include 'naive': every model is judged against it")
    jobs = build_forecast_jobs(features, country_list, targets, as_of, min_observed_years)

    backtest_futures: dict[tuple[str, str], PrefectFuture] = {}
    forecast_futures: dict[tuple[str, str], PrefectFuture] = {}
    for job in jobs:
        origins, min_train = backtest_origins(job, models), min_train_observations(job, models)
        for name in models:
            key = (job.target.name, name)
            backtest_futures[key] = backtest_model.submit(job, name, origins, min_train)
            forecast_futures[key] = fit_and_forecast.submit(job, name, until_year, run_id)

    progress = FlowProgress(len(backtest_futures) + len(forecast_futures), "forecasts")
    failures: list[str] = []
    backtests, rates = {}, {}
    for key, future in backtest_futures.items():
        backtests[key], model_failures = future.result()
        failures += model_failures
        progress.step(f"backtest {key[0]} {key[1]}")
    for key, future in forecast_futures.items():
        rates[key] = future.result()
        progress.step(f"forecast {key[0]} {key[1]}")
    table, metrics, selection, thin = score_and_shape(
        jobs, backtests, rates, run_id=run_id, vintage=vintage
    )
    failures += thin
    observed = pl.concat([observed_pools(job) for job in jobs])
    return ForecastTables(table, metrics, selection, observed, failures)
