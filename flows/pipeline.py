"""The ``pipeline`` flow: ingest → talent and intake tables → country-year panel →
forecasts (backtested, chosen, under every scenario) → published tables and reports.

It reads like a table of contents; every step is a task in ``tasks/``, the ``ingest``
flow, or the ``forecasts`` flow, run here as subflows.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
from prefect import flow, get_client, runtime, task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from talentflow.core.settings import get_settings
from talentflow.core.storage import (
    backtest_report_path,
    findings_report_path,
    holding_writer_lock,
    reports_dir,
    run_report_path,
)
from talentflow.core.tables import RUN_TABLES
from talentflow.flows import stopping
from talentflow.flows.failures import reports_failure
from talentflow.flows.forecasting import (
    forecast_task_runner,
    forks_its_workers,
    start_worker_server,
)
from talentflow.flows.forecasting import forecasts as forecast_flow
from talentflow.flows.ingest import ingest
from talentflow.tasks.as_of import cut_inputs_at
from talentflow.tasks.caching import run_fingerprint, stage_frames
from talentflow.tasks.claims_tables import CLAIM_SUITES, build_claim_tables
from talentflow.tasks.features.panel import country_year_panel
from talentflow.tasks.forecast import forecast_checks
from talentflow.tasks.intake_tables import (
    COUNTRY_LIST,
    INTAKE_DATASETS,
    INTAKE_SUITES,
    build_intake_tables,
)
from talentflow.tasks.outlook import outlook_paths, publish_outlook
from talentflow.tasks.publish import (
    PublishedTable,
    latest_published_run,
    publish_run,
    runs_row,
    score_replays,
    standing_tables,
)
from talentflow.tasks.report import (
    publish_backtest_report,
    publish_data_docs,
    publish_findings_report,
    publish_headline_table,
    publish_run_report,
    publish_unchanged_note,
)
from talentflow.tasks.sources.catalog import (
    POPULATION_TOTAL,
    RESEARCHERS_PER_MILLION,
    WPP_POPULATION_BY_AGE,
)
from talentflow.tasks.talent_tables import TALENT_DATASETS, TALENT_SUITES, build_talent_tables
from talentflow.tasks.validate import data_docs_index, validate_table

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
#: Tables an as-of run publishes: its forecasts and their scores, marked with its vintage.
#: The current feature tables stay as the latest full run left them.
FORECAST_TABLES = tuple(RUN_TABLES)
#: The feature tables the forecasts are built from (tasks.features.scenarios.target_inputs).
FORECAST_INPUTS = (
    "talent_pool_metrics",
    "demographic_drivers",
    "inbound_student_shares",
    "researcher_move_shares",
)


@dataclass(frozen=True)
class PipelineOutputs:
    """What a pipeline run leaves behind.

    Attributes
    ----------
    tables: the published tables by name (``forecasts``, ``backtest_metrics``, …).
    reports: the report files by what they are, in reading order: ``findings`` (full runs
        only), ``run report``, ``backtest report``, ``outlook``, ``Data Docs`` (its index).
    """

    tables: dict[str, PublishedTable]
    reports: dict[str, Path]
    #: The run whose tables and reports these are, when this run found nothing new to
    #: publish (its fingerprint was the latest published run's); None when it published.
    unchanged_since: str | None = None


def run_reports(run_id: str, vintage: int, as_of: int | None) -> dict[str, Path]:
    """Where a run's reports are, in reading order: ``findings`` (full runs only),
    ``run report``, ``backtest report``, ``outlook``, ``Data Docs`` (its index)."""
    settings = get_settings()
    reports = {"findings": findings_report_path(settings)} if as_of is None else {}
    return reports | {
        "run report": run_report_path(settings, run_id),
        "backtest report": backtest_report_path(settings, vintage),
        "outlook": outlook_paths(reports_dir(settings), run_id)[0],
        "Data Docs": data_docs_index(settings.data_dir),
    }


@task(name="unchanged-since", cache_policy=NO_CACHE)
def unchanged_publication(fingerprint: str) -> PipelineOutputs | None:
    """The latest published run's tables and reports, when its fingerprint is this run's
    (the same code, snapshots and options: ``tasks.caching.run_fingerprint``) and every
    store and report still holds it. Such a run would publish the same rows again under a
    new id, so it publishes nothing; None when there is something to publish."""
    settings = get_settings()
    run = latest_published_run(settings)
    if run is None or run["fingerprint"] != fingerprint:
        return None
    reports = run_reports(run["run_id"], run["vintage"], run["as_of"])
    if not all(path.is_file() for path in reports.values()):
        return None  # a report was deleted: publish again, which writes them all
    publish_unchanged_note(run, reports["run report"])
    return PipelineOutputs(
        tables=standing_tables(settings, run), reports=reports, unchanged_since=run["run_id"]
    )


@task(name="country-year-panel", cache_policy=NO_CACHE)
def build_country_year_panel(tidy_paths: dict[str, str]) -> pl.DataFrame:
    tables = {dataset_id: pl.read_parquet(path) for dataset_id, path in tidy_paths.items()}
    return country_year_panel(
        tables[RESEARCHERS_PER_MILLION], tables[POPULATION_TOTAL], tables[WPP_POPULATION_BY_AGE]
    )


def pipeline_run_name(as_of: int | None, today: date) -> str:
    """The name a ``pipeline`` run starts with: ``replay-<year>`` for an ``as_of`` replay,
    ``pipeline-<YYYY-MM-DD>`` (UTC) otherwise. A full run is renamed
    ``pipeline-data-<vintage>`` once its data's latest year is known."""
    return f"replay-{as_of}" if as_of is not None else f"pipeline-{today.isoformat()}"


def rename_this_run(name: str) -> None:
    """Rename the current flow run in Prefect; a run never fails for its name."""
    try:
        with get_client(sync_client=True) as client:
            client.set_flow_run_name(runtime.flow_run.id, name)
    except Exception as error:  # the name is a courtesy to whoever reads the run list
        get_run_logger().warning("could not rename the run to %s: %s", name, error)


@flow(
    name="pipeline",
    flow_run_name=lambda: pipeline_run_name(
        runtime.flow_run.parameters.get("as_of"), datetime.now(UTC).date()
    ),
    # No result is kept (nothing reads one back), and the exception Prefect writes to result
    # storage when a run fails anyway is JSON, not a pickle (see docs/architecture.md).
    persist_result=False,
    result_serializer="json",
)
@holding_writer_lock("pipeline")
@reports_failure("pipeline")
def pipeline(
    until_year: int = 2050,
    min_observed_years: int = 8,
    as_of: int | None = None,
    models: list[str] | None = None,
    targets: list[str] | None = None,
    refresh: bool = False,
) -> PipelineOutputs:
    """Pull and validate the sources, build the talent and intake tables, backtest and
    forecast every target to ``until_year`` under the WPP variants and policy levers, and
    publish. ``as_of`` replays the run with every input cut at that year (WPP's
    projections excepted). Backtests and fits of unchanged inputs come from the cache
    (``tasks.caching``) unless ``refresh``. Nothing is published unless every step
    before it succeeded, nor when the run published last had the same code, snapshots
    and options (:func:`unchanged_publication`; ``refresh`` publishes anyway).
    Returns the published tables and where the reports are (those of the run that stands,
    with ``unchanged_since`` set, when nothing was published)."""
    stopping.stop_promptly_on_signals()  # a cancel from the UI or a worker: SIGTERM
    settings = get_settings()
    if forks_its_workers(settings):
        start_worker_server(settings.task_runner)  # workers' imports run while we ingest
    run_id = str(runtime.flow_run.id or uuid.uuid4())
    started_at = datetime.now(UTC)
    landed = ingest(PIPELINE_DATASETS)
    inputs = {source.dataset_id: source.sha256 for source in landed}
    options = {
        "until_year": until_year,
        "min_observed_years": min_observed_years,
        "as_of": as_of,
        "models": models,
        "targets": targets,
        # where the Prefect UI's report artifacts link to
        "report_base_url": settings.report_base_url,
    }
    fingerprint = run_fingerprint(inputs, options)
    standing = None if refresh else unchanged_publication(fingerprint)
    if standing is not None:
        get_run_logger().info(
            "nothing new to publish: run %s read the same snapshots with the same code "
            "and options, and its tables and reports stand (--refresh republishes)",
            standing.unchanged_since,
        )
        return standing
    sources = {source.dataset_id: source.tidy_path for source in landed}
    if as_of is not None:
        sources = cut_inputs_at(sources, as_of)

    talent = build_talent_tables({d: sources[d] for d in TALENT_DATASETS})
    intake = build_intake_tables({d: sources[d] for d in INTAKE_DATASETS})
    features = {**talent, **intake}
    suites = {**TALENT_SUITES, **INTAKE_SUITES}
    # A replay publishes forecasts only: it validates the tables they are built from, not
    # tables whose suites expect today's coverage (e.g. MacroPolo's rungs from 2019 on).
    checked = suites if as_of is None else {t: suites[t] for t in FORECAST_INPUTS}
    for table, suite in checked.items():
        validate_table(features[table], suite, f"table {table}")

    panel = build_country_year_panel(sources)
    if as_of is None:
        validate_table(panel, "country_year_panel", "table country_year_panel")

    vintage = as_of if as_of is not None else int(features["talent_pool_metrics"]["year"].max())
    if as_of is None:
        rename_this_run(f"pipeline-data-{vintage}")
    runner = forecast_task_runner(settings)
    outlook = forecast_flow.with_options(task_runner=runner)(
        stage_frames(settings, {table: features[table] for table in FORECAST_INPUTS}),
        sources[COUNTRY_LIST],
        run_id=run_id,
        vintage=vintage,
        as_of=as_of,
        until_year=until_year,
        min_observed_years=min_observed_years,
        targets=targets,
        models=models,
        refresh=refresh,
    )
    run_tables = {table: getattr(outlook, table) for table in FORECAST_TABLES}
    for table, frame in run_tables.items():
        validate_table(frame, table, f"table {table}")
    checks = forecast_checks(outlook.forecasts, features["demographic_drivers"], until_year)
    validate_table(checks, "forecast_checks", "forecast coverage and bounds")

    # Everything is built and checked before anything is published; then the run is
    # published whole, one transaction per store (tasks.publish.publish_run).
    findings, scores, claims = None, None, {}
    frames = dict(run_tables)
    if as_of is None:
        scores = score_replays(outlook.observed, vintage)
        validate_table(scores, "replay_scores", "table replay_scores")
        claims = build_claim_tables(features, outlook.forecasts)
        for table, suite in CLAIM_SUITES.items():
            validate_table(claims[table], suite, f"table {table}")
        frames |= {"replay_scores": scores, "country_year_panel": panel}
        frames |= {table: features[table] for table in {**TALENT_SUITES, **INTAKE_SUITES}}
        frames |= claims
    runs = runs_row(run_id, vintage, as_of, started_at, inputs, frames, fingerprint)
    published = publish_run(frames, runs)
    if as_of is None:
        findings = publish_findings_report({**features, **claims}, outlook.forecasts)
    publish_headline_table(outlook.forecasts)
    publish_backtest_report(outlook, vintage, replays=scores)
    publish_outlook(
        outlook.forecasts,
        outlook.observed,
        features["china_talent_ladder"],
        run_id=run_id,
        vintage=vintage,
        latest=as_of is None,
        claims=claims.get("seed_claims"),
    )
    publish_run_report(
        run_id=run_id,
        vintage=vintage,
        as_of=as_of,
        sources=[asdict(source) for source in landed],
        validated_tables=[
            *checked,
            *(["country_year_panel", *CLAIM_SUITES] if as_of is None else []),
            *FORECAST_TABLES,
            "forecast_checks",
        ],
        selection=outlook.model_selection,
        forecasts=outlook.forecasts,
        findings_path=findings,
    )
    publish_data_docs()
    return PipelineOutputs(tables=published, reports=run_reports(run_id, vintage, as_of))
