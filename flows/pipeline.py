"""The ``pipeline`` flow: sources → snapshots → validation → panel → forecasts → tables.

It reads like a table of contents; every step is a task in ``tasks/``.
"""

from __future__ import annotations

import uuid

from prefect import flow, runtime, task
from prefect.cache_policies import NO_CACHE

from tasks.features.panel import country_year_panel
from tasks.forecast import forecast_target
from tasks.publish import PublishedTable, publish
from tasks.snapshots import Snapshot, pull_snapshot
from tasks.sources.catalog import (
    POPULATION_TOTAL,
    RESEARCHERS_PER_MILLION,
    WPP_POPULATION_BY_AGE,
    dataset,
)
from tasks.sources.formats import resolve_format
from tasks.validate import ValidationFailed, validate_table

PIPELINE_DATASETS = (RESEARCHERS_PER_MILLION, POPULATION_TOTAL, WPP_POPULATION_BY_AGE)


@task(name="read-snapshot", task_run_name="read-{snapshot.dataset_id}", cache_policy=NO_CACHE)
def read_snapshot(snapshot: Snapshot):
    """The snapshot parsed in its publisher's layout (what the source suites check)."""
    return resolve_format(dataset(snapshot.dataset_id).reader).parse(snapshot.path)


@task(name="tidy", task_run_name="tidy-{dataset_id}", cache_policy=NO_CACHE)
def tidy_table(raw, dataset_id: str):
    """The validated raw table in talentflow's schema (country_iso3, year, …)."""
    return resolve_format(dataset(dataset_id).reader).tidy(raw)


@task(name="country-year-panel", cache_policy=NO_CACHE)
def build_country_year_panel(tables: dict):
    return country_year_panel(
        tables[RESEARCHERS_PER_MILLION], tables[POPULATION_TOTAL], tables[WPP_POPULATION_BY_AGE]
    )


def _validated_sources() -> tuple[dict, dict[str, Snapshot]]:
    """Pull, read and validate every source; fail with every critical finding at once."""
    snapshots = {ds: pull_snapshot.submit(ds) for ds in PIPELINE_DATASETS}
    snapshots = {ds: future.result() for ds, future in snapshots.items()}
    tables = {ds: read_snapshot(snapshot) for ds, snapshot in snapshots.items()}
    checks = [
        validate_table.submit(
            tables[ds],
            dataset(ds).suite,
            f"{ds} (snapshot {snapshots[ds].path.name} of {snapshots[ds].sidecar['source']})",
        )
        for ds in PIPELINE_DATASETS
    ]
    for check in checks:
        check.wait()
    failures = [check.state for check in checks if check.state.is_failed()]
    if failures:
        messages = [str(state.result(raise_on_failure=False)) for state in failures]
        raise ValidationFailed("\n".join(messages))
    return {ds: tidy_table(tables[ds], ds) for ds in PIPELINE_DATASETS}, snapshots


@flow(name="pipeline")
def pipeline(until_year: int = 2035, min_observed_years: int = 8) -> dict[str, PublishedTable]:
    """Pull the sources, validate them, build the country-year panel and publish
    researcher forecasts to ``until_year`` for every country with at least
    ``min_observed_years`` observed years."""
    run_id = str(runtime.flow_run.id or uuid.uuid4())
    tables, _ = _validated_sources()

    panel = build_country_year_panel(tables)
    validate_table(panel, "country_year_panel", "table country_year_panel")

    forecasts = forecast_target(panel, "researchers", until_year, min_observed_years, run_id)
    validate_table(forecasts, "forecasts", "table forecasts")

    return {
        "country_year_panel": publish(panel, "country_year_panel"),
        "forecasts": publish(forecasts, "forecasts"),
    }
