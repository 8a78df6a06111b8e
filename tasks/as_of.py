"""Replay the pipeline as it would have run in an earlier year: ``--as-of YEAR``.

Every tidy input is cut at the as-of year before any feature or model sees it, so the
run's forecasts can be scored on the years that followed. The one exception is WPP: its
2024 revision's estimates and projections are kept whole, because the cohorts a
forecast multiplies are projections by nature (a run in 2015 would have used the WPP 2015
revision, which the mirror does not hold). This is the same documented exception as in
the backtest (``models.origins``).
"""

from __future__ import annotations

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from talentflow.core.settings import get_settings
from talentflow.core.storage import as_of_dir, atomic_path

# The year a row refers to, per column name, in the order tried.
YEAR_COLUMNS = ("year", "edition_year", "start_year")
# WPP's cohort projections are the one input kept whole (see the module docstring).
KEPT_WHOLE = ("wpp2024_",)


def truncated_at(frame: pl.DataFrame, as_of: int) -> pl.DataFrame:
    """``frame`` without the rows that refer to a year after ``as_of``.

    A row's year is its first year column (``YEAR_COLUMNS``). Rows without a year are
    kept: undated tables (a country list) and NCSES's multi-year pooled cohorts, which
    the features read as one block (cutting some of its rows would break the block)."""
    year_column = next((c for c in YEAR_COLUMNS if c in frame.columns), None)
    if year_column is None:
        return frame
    year = pl.col(year_column)
    return frame.filter(year.is_null() | (year <= as_of))


def as_of_inputs(tidy_paths: dict[str, str], as_of: int) -> dict[str, str]:
    """Write every tidy input cut at ``as_of`` and return the new paths (WPP kept)."""
    folder = as_of_dir(get_settings(), as_of)
    folder.mkdir(parents=True, exist_ok=True)
    truncated = {}
    for dataset_id, path in tidy_paths.items():
        if dataset_id.startswith(KEPT_WHOLE):
            truncated[dataset_id] = path
            continue
        destination = folder / f"{dataset_id}.parquet"
        with atomic_path(destination) as tmp:
            truncated_at(pl.read_parquet(path), as_of).write_parquet(tmp)
        truncated[dataset_id] = str(destination)
    return truncated


@task(name="as-of-inputs", task_run_name="as-of-{as_of}", cache_policy=NO_CACHE)
def cut_inputs_at(tidy_paths: dict[str, str], as_of: int) -> dict[str, str]:
    return as_of_inputs(tidy_paths, as_of)
