"""Benchmark: the global model's rolling-origin backtest on every target, sequentially.

Prints the time per target, how many gradient-boosting estimators the backtest asked
for and how many distinct training sets they had (the rest come from the per-process
memo, ``models.global_model.ESTIMATOR_MEMO``). Reads the published feature tables of an
earlier ``talentflow run`` (``TALENTFLOW_DATA_DIR``). With ``--save PATH`` it writes the
backtest rows, so two versions of the code can be compared row for row. Not a test.

    TALENTFLOW_DATA_DIR=data python bench/global_backtests.py [--save rows.parquet]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import polars as pl
from forecast_stage import _country_list_path

from talentflow.core.settings import get_settings
from talentflow.core.storage import published_parquet
from talentflow.flows.pipeline import FORECAST_INPUTS
from talentflow.models import global_model
from talentflow.tasks.features.scenarios import RATE_TARGETS
from talentflow.tasks.forecast import (
    backtest_one,
    backtest_origins,
    build_forecast_jobs,
    min_train_observations,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--save", type=Path, help="write the backtest rows here")
    arguments = parser.parse_args()
    requests: list[str] = []
    fit = global_model.GlobalForecaster._fit_estimator

    def counting(self, features, target):
        requests.append(hashlib.sha256(features.tobytes() + target.tobytes()).hexdigest())
        return fit(self, features, target)

    global_model.GlobalForecaster._fit_estimator = counting
    settings = get_settings()
    features = {n: pl.read_parquet(published_parquet(settings, n)) for n in FORECAST_INPUTS}
    country_list = pl.read_parquet(_country_list_path(settings))
    jobs, _ = build_forecast_jobs(features, country_list, list(RATE_TARGETS), None, 8)
    rows, started, total = [], time.perf_counter(), [0, 0]
    for job in jobs:
        requests.clear()
        models = ["naive", "drift", "global"]
        began = time.perf_counter()
        backtest = backtest_one(
            job, "global", backtest_origins(job, models), min_train_observations(job, models)
        )
        total[0] += len(requests)
        total[1] += len(set(requests))
        print(
            f"{job.target.name:28} {time.perf_counter() - began:5.1f} s  estimators asked "
            f"{len(requests):3}, distinct training sets {len(set(requests)):3}"
        )
        rows.append(backtest.forecasts.with_columns(pl.lit(job.target.name).alias("target")))
    print(
        f"all targets: {time.perf_counter() - started:.1f} s; estimators asked {total[0]}, "
        f"distinct training sets {total[1]}"
    )
    if arguments.save:
        pl.concat(rows, how="diagonal_relaxed").write_parquet(arguments.save)


if __name__ == "__main__":
    main()
