"""The ``pipeline`` flow: ingest → talent tables and country-year panel → forecasts →
published tables and the findings report.

It reads like a table of contents; every step is a task in ``tasks/`` or the ``ingest``
flow, run here as a subflow for the datasets the pipeline needs.
"""

from __future__ import annotations

import uuid

import polars as pl
from prefect import flow, runtime, task
from prefect.cache_policies import NO_CACHE

from flows.ingest import ingest
from tasks.features.panel import country_year_panel
from tasks.forecast import forecast_checks, forecast_target
from tasks.intake_tables import INTAKE_DATASETS, INTAKE_SUITES, build_intake_tables
from tasks.publish import PublishedTable, publish
from tasks.report import publish_data_docs, publish_findings_report
from tasks.sources.catalog import POPULATION_TOTAL, RESEARCHERS_PER_MILLION, WPP_POPULATION_BY_AGE
from tasks.talent_tables import TALENT_DATASETS, TALENT_SUITES, build_talent_tables
from tasks.validate import validate_table

PIPELINE_DATASETS = list(
    dict.fromkeys(
        [
            RESEARCHERS_PER_MILLION,
            POPULATION_TOTAL,
            WPP_POPULATION_BY_AGE,
            *TALENT_DATASETS,
            *INTAKE_DATASETS,
        ]
    )
)


@task(name="country-year-panel", cache_policy=NO_CACHE)
def build_country_year_panel(tidy_paths: dict[str, str]) -> pl.DataFrame:
    tables = {dataset_id: pl.read_parquet(path) for dataset_id, path in tidy_paths.items()}
    return country_year_panel(
        tables[RESEARCHERS_PER_MILLION], tables[POPULATION_TOTAL], tables[WPP_POPULATION_BY_AGE]
    )


@flow(name="pipeline")
def pipeline(until_year: int = 2035, min_observed_years: int = 8) -> dict[str, PublishedTable]:
    """Pull and validate the sources, build the country-year panel and publish researcher
    forecasts to ``until_year`` for every country with at least ``min_observed_years``
    observed years. Nothing is published unless every step before it succeeded."""
    run_id = str(runtime.flow_run.id or uuid.uuid4())
    sources = {landed.dataset_id: landed.tidy_path for landed in ingest(PIPELINE_DATASETS)}

    talent = build_talent_tables({d: sources[d] for d in TALENT_DATASETS})
    intake = build_intake_tables({d: sources[d] for d in INTAKE_DATASETS})
    features = {**talent, **intake}
    for table, suite in {**TALENT_SUITES, **INTAKE_SUITES}.items():
        validate_table(features[table], suite, f"table {table}")

    panel = build_country_year_panel(sources)
    validate_table(panel, "country_year_panel", "table country_year_panel")

    forecasts = forecast_target(panel, "researchers", until_year, min_observed_years, run_id)
    validate_table(forecasts, "forecasts", "table forecasts")
    checks = forecast_checks(forecasts, panel, until_year)
    validate_table(checks, "forecast_checks", "forecast coverage and bounds")

    published = {
        "country_year_panel": publish(panel, "country_year_panel"),
        "forecasts": publish(forecasts, "forecasts"),
        **{table: publish(features[table], table) for table in {**TALENT_SUITES, **INTAKE_SUITES}},
    }
    publish_findings_report(features)
    publish_data_docs()
    return published
