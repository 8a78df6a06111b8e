"""Benchmark: the forecast stage on the real mirror's tables, model by model.

Times, for each target, one backtest (rolling origins, horizons 1-12) and one final fit
to 2050 under the three WPP variants per model, run sequentially so the figures add up;
then the whole ``forecasts`` flow through Prefect's task runner (threads, or Dask with
``TALENTFLOW_TASK_RUNNER=dask``). Reads the published feature tables of an earlier
``talentflow run`` (``TALENTFLOW_DATA_DIR``, default ./data). Not a test: it asserts
nothing and writes the figures to stdout for bench/README.md.

The flow is timed as it runs inside ``talentflow run``: on a Prefect API that is already
up (the command's temporary server, started as the command starts it, or the configured
one) and with the workers' fork server started before (the pipeline starts it first
thing, and it imports while the pipeline ingests). Neither is the forecast stage's work,
and both would otherwise count 5-6 s in every figure, the same with 1 or 2 workers.

    TALENTFLOW_DATA_DIR=data python bench/forecast_stage.py [--models naive,drift]
"""

from __future__ import annotations

import argparse
import resource
import time

import polars as pl

from talentflow.core.facts import DEFAULT_MODELS
from talentflow.core.settings import get_settings
from talentflow.core.storage import published_parquet
from talentflow.flows.cli import on_the_temporary_server, start_temporary_server
from talentflow.flows.forecasting import (
    forecast_task_runner,
    forecasts,
    forks_its_workers,
    start_worker_server,
)
from talentflow.flows.pipeline import FORECAST_INPUTS
from talentflow.tasks.caching import stage_frames
from talentflow.tasks.features.scenarios import RATE_TARGETS, target_inputs
from talentflow.tasks.forecast import (
    backtest_one,
    backtest_origins,
    forecast_job,
    forecast_one,
    min_train_observations,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--skip-flow", action="store_true")
    parser.add_argument("--skip-models", action="store_true", help="time the flow only")
    parser.add_argument(
        "--cached",
        action="store_true",
        help="let the flow reuse cached backtests and fits (default: recompute them all)",
    )
    arguments = parser.parse_args()
    models = arguments.models.split(",")
    settings = get_settings()
    if not arguments.skip_flow:  # as `talentflow run` does before the stage (docstring)
        if forks_its_workers(settings):
            start_worker_server(settings.task_runner)
        server = start_temporary_server()
    features = {
        name: pl.read_parquet(published_parquet(settings, name)) for name in FORECAST_INPUTS
    }
    country_list = _country_list(settings)

    print(f"{'target':26} {'series':>6} {'model':9} {'backtest s':>10} {'fit+forecast s':>14}")
    totals = dict.fromkeys(models, 0.0)
    for target in [] if arguments.skip_models else RATE_TARGETS.values():
        rates, cohorts = target_inputs(target, features, country_list)
        job = forecast_job(
            target, rates, cohorts, vintage=int(rates["year"].max()), min_observed_years=8
        )
        origins, floor = backtest_origins(job, models), min_train_observations(job, models)
        for name in models:
            start = time.perf_counter()
            backtest_one(job, name, origins, floor)
            backtested = time.perf_counter()
            forecast_one(job, name, 2050)
            done = time.perf_counter()
            totals[name] += done - start
            print(
                f"{target.name:26} {job.history['series_id'].n_unique():>6} {name:9} "
                f"{backtested - start:>10.1f} {done - backtested:>14.1f}"
            )
    print("total per model (s):", {name: round(seconds, 1) for name, seconds in totals.items()})
    if not arguments.skip_flow:
        if server is not None:
            server.wait()
        start = time.perf_counter()
        flow = forecasts.with_options(task_runner=forecast_task_runner(settings))
        with on_the_temporary_server(server):
            result = flow(
                stage_frames(settings, features),
                _country_list_path(settings),
                run_id="bench",
                vintage=2024,
                models=models,
                refresh=not arguments.cached,
            )
        print(
            f"forecasts flow ({settings.task_runner}, {settings.forecast_workers} workers): "
            f"{time.perf_counter() - start:.0f} s, {result.forecasts.height:,} rows"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")


def _country_list_path(settings) -> str:
    ledger = settings.data_dir / "tidy" / "wdi_countries"
    files = sorted(ledger.glob("*.parquet"), key=lambda path: path.stat().st_mtime)
    if not files:
        raise SystemExit(f"no tidy country list under {ledger}: run `talentflow run` first")
    return str(files[-1])


def _country_list(settings) -> pl.DataFrame:
    return pl.read_parquet(_country_list_path(settings))


if __name__ == "__main__":
    main()
