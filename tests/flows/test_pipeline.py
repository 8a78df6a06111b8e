"""The real pipeline flow on the real mirror, under a temporary Prefect API."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from talentflow.core.tables import FORECASTS_SCHEMA, RUN_TABLES
from talentflow.flows.ingest import ingest_run_name
from talentflow.flows.pipeline import (
    PIPELINE_DATASETS,
    PipelineOutputs,
    pipeline,
    pipeline_run_name,
)
from talentflow.tasks.features.scenarios import RATE_TARGETS

#: Minutes of Prefect servers and pipeline runs: `make test-fast` leaves them out, CI runs them.
pytestmark = pytest.mark.slow

RESEARCHERS_FILE = "wdi/API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.csv"


#: The two baselines and the long-horizon model: the statsforecast models, the global
#: model and Prophet are exercised by their unit tests, by bench/forecast_stage.py and by
#: the one end-to-end test that runs the default zoo (test_prefect_server_postgres.py), so
#: a pipeline test stays minutes long.
FAST_MODELS = ["naive", "drift", "converge"]
#: Every target the pipeline forecasts: the registry (test_scenarios pins its contents).
TARGETS = set(RATE_TARGETS)


@pytest.fixture(scope="module")
def pipeline_run(prefect_harness, mirror, tmp_path_factory) -> tuple[Path, PipelineOutputs]:
    """One good run on the real mirror: its data directory and what it returned."""
    data_dir = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TALENTFLOW_MIRROR", str(mirror))
        patch.setenv("TALENTFLOW_DATA_DIR", str(data_dir))
        outputs = pipeline(models=FAST_MODELS)
    return data_dir, outputs


@pytest.fixture(scope="module")
def published(pipeline_run):
    """The data directory and the published tables of that run; the tests below read them."""
    data_dir, outputs = pipeline_run
    return data_dir, outputs.tables


def flow_runs_named(run_id: str) -> tuple[str, set[str]]:
    """The name of the flow run ``run_id`` and the names of its subflow runs, as Prefect's
    API holds them."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(uuid.UUID(run_id))
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run.id])
            )
        )
    return run.name, {child.name for child in children}


def task_states(run_id: str, subflow: str) -> dict[str, str]:
    """The state of every task of run ``run_id``'s subflow whose name starts with
    ``subflow``, by task run name, as Prefect's API holds them."""
    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        TaskRunFilter,
        TaskRunFilterFlowRunId,
    )

    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[uuid.UUID(run_id)])
            )
        )
        (child,) = [run for run in children if run.name.startswith(subflow)]
        task_runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=[child.id])),
            limit=200,
        )
    return {run.name: run.state.name for run in task_runs if run.state is not None}


def recorded_task_states(
    run_id: str, subflow: str, kept: Callable[[str], bool], count: int
) -> dict[str, str]:
    """:func:`task_states` of the tasks whose names ``kept`` accepts, once ``count`` of
    them are recorded (or after 60 s): task runs reach the API through the server's
    event pipeline, which lags behind the flow on a loaded machine."""
    deadline = time.monotonic() + 60
    while True:
        states = {n: s for n, s in task_states(run_id, subflow).items() if kept(n)}
        if len(states) >= count or time.monotonic() > deadline:
            return states
        time.sleep(1)


def forecast_task_states(run_id: str, count: int = 0) -> dict[str, str]:
    """The state of every backtest and fit task of run ``run_id`` (waiting for ``count``
    of them to be recorded)."""
    return recorded_task_states(
        run_id,
        "forecasts-",
        lambda name: (
            name.startswith(("backtest-", "forecast-")) and not name.startswith("forecast-jobs")
        ),
        count,
    )


def test_runs_are_named_by_what_they_do(published):
    _, tables = published
    run_id = pl.read_parquet(tables["forecasts"].parquet)["run_id"][0]
    name, subflows = flow_runs_named(run_id)
    assert name == "pipeline-data-2024"
    assert subflows == {f"ingest-{len(PIPELINE_DATASETS)}-datasets", "forecasts-data-2024"}


def test_a_run_says_where_each_report_is_and_talentflow_run_prints_it(
    pipeline_run, monkeypatch, mirror
):
    from typer.testing import CliRunner

    from talentflow.flows import pipeline as pipeline_module
    from talentflow.flows.cli import app
    from talentflow.tasks.validate import data_docs_index

    data_dir, outputs = pipeline_run
    run_id = pl.read_parquet(outputs.tables["forecasts"].parquet)["run_id"][0]
    reports = data_dir / "reports"
    assert outputs.reports == {
        "findings": reports / "findings.md",
        "run report": reports / f"run-{run_id}.md",
        "backtest report": reports / "backtest-2024.md",
        "outlook": reports / f"outlook-{run_id}.html",
        "Data Docs": data_docs_index(data_dir),
    }
    assert all(path.is_file() for path in outputs.reports.values())

    # `talentflow run` ends with them: the same run, handed to the command.
    monkeypatch.setattr(pipeline_module, "pipeline", lambda **options: outputs)
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(mirror))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(data_dir))
    result = CliRunner().invoke(app, ["run"])
    assert result.exit_code == 0, result.output
    printed = result.output.splitlines()
    listed = printed[printed.index("Reports") + 1 :]
    assert [line.split()[-1] for line in listed] == [str(p) for p in outputs.reports.values()]
    assert [line.rsplit(None, 1)[0].strip() for line in listed] == list(outputs.reports)


def test_the_forecast_table_covers_china_and_the_us_to_2050_in_every_scenario(published):
    _, tables = published
    forecasts = pl.read_parquet(tables["forecasts"].parquet)
    assert forecasts.schema == pl.Schema(FORECASTS_SCHEMA)
    assert forecasts["run_id"].n_unique() == 1 and forecasts["vintage"].unique().to_list() == [2024]
    assert set(FAST_MODELS) <= set(forecasts["model"]) <= {*FAST_MODELS, "handover"}
    for target in ("researchers", "tertiary_students"):
        for country in ("CHN", "USA"):
            chosen = forecasts.filter(
                (pl.col("target") == target)
                & (pl.col("country_iso3") == country)
                & pl.col("is_selected")
            )
            assert set(chosen["scenario"]) == {"Medium", "Low", "High"}, (target, country)
            assert chosen["model"].n_unique() == 1
            assert chosen["year"].max() == 2050 and chosen["year"].min() <= 2025
    intake = forecasts.filter(pl.col("target") == "china_researcher_inflows")
    assert set(intake["country_iso3"]) == {"CHN"}
    assert {"High income", "Upper middle income", "Lower middle income", "Low income"} == set(
        intake["origin_group"]
    )
    assert {"Medium+tech_denial", "Medium+scholarships"} <= set(intake["scenario"])
    assert forecasts.select(pl.col(pl.Float64).is_nan().any()).sum_horizontal().item() == 0
    assert forecasts.drop("origin_group").null_count().sum_horizontal().item() == 0
    assert forecasts.select(
        (
            (pl.col("lo95") <= pl.col("lo80"))
            & (pl.col("lo80") <= pl.col("yhat"))
            & (pl.col("yhat") <= pl.col("hi80"))
            & (pl.col("hi80") <= pl.col("hi95"))
        ).all()
    ).item()


def test_only_countries_with_eight_years_reported_lately_are_forecast(published):
    data_dir, tables = published
    panel = pl.read_parquet(tables["country_year_panel"].parquet)
    eligible = set(
        panel.filter(pl.col("researchers").is_not_null())
        .group_by("country_iso3")
        .agg(pl.len(), pl.col("year").max().alias("last"))
        .filter((pl.col("len") >= 8) & (pl.col("last") >= 2014))["country_iso3"]
    )
    forecasts = pl.read_parquet(tables["forecasts"].parquet)
    forecast = set(forecasts.filter(pl.col("target") == "researchers")["country_iso3"])
    assert forecast <= eligible and len(forecast) > 50
    # Countries the World Bank has but WPP does not (no cohort to multiply) are the only gap.
    assert len(eligible - forecast) <= 3, eligible - forecast


def test_the_backtest_chose_one_model_per_family_and_reports_it(published):
    from prefect.artifacts import Artifact

    data_dir, tables = published
    selection = pl.read_parquet(tables["model_selection"].parquet)
    assert set(selection["target"]) == TARGETS
    per_family = selection.group_by("family").agg(pl.col("selected_model").n_unique())
    assert per_family["selected_model"].to_list() == [1] * per_family.height
    metrics = pl.read_parquet(tables["backtest_metrics"].parquet)
    assert metrics["origins"].min() >= 5
    assert sorted(metrics["horizon"].unique()) == list(range(1, 13))  # 6-12 judged too
    forecasts = pl.read_parquet(tables["forecasts"].parquet)
    marked = forecasts.filter(pl.col("is_selected")).select("target", "model").unique()
    # per series: the family's choice, or the next model the plausibility rules allowed
    allowed = selection.select(
        "target",
        pl.concat_list("selected_model", "short_model", "long_model").alias("allowed"),
    )
    for row in marked.join(allowed, on="target").iter_rows(named=True):
        assert row["model"] in {*row["allowed"], "converge", "drift", "naive"}, row
    report = (data_dir / "reports" / "backtest-2024.md").read_text()
    for row in selection.iter_rows(named=True):
        assert f"| {row['target']} | {row['family']} | {row['selected_model']}" in report
    assert "## Bounds from the evidence" in report and "## Beside published projections" in report
    for key in ("backtest-report", "run-report", "headline-forecasts", "outlook-report"):
        assert Artifact.get(key) is not None, key
    run_report = Artifact.get("run-report").data
    assert "## Sources pulled" in run_report and "## Backtest" in run_report
    assert "researchers | CHN | 2050" in run_report
    headline = json.loads(Artifact.get("headline-forecasts").data)
    assert {row["target"] for row in headline} >= {"researchers", "china_researcher_inflows"}
    outlook = Artifact.get("outlook-report").data
    assert (data_dir / "reports" / "outlook-latest.html").is_file() and "outlook" in outlook


def test_published_forecasts_pass_every_plausibility_rule(published):
    _, tables = published
    verdicts = pl.read_parquet(tables["forecast_plausibility"].parquet)
    assert verdicts["passed"].all()
    forecasts = pl.read_parquet(tables["forecasts"].parquet)
    selected = (
        forecasts.filter(pl.col("is_selected"))
        .select("target", "country_iso3", "origin_group")
        .unique()
    )
    judged = verdicts.select("target", "country_iso3", "origin_group").unique()
    assert selected.join(
        judged, on=["target", "country_iso3", "origin_group"], how="anti", nulls_equal=True
    ).is_empty(), "every published series was judged"
    # the checks a reader makes first, on the published selected forecasts themselves
    base = forecasts.filter(
        pl.col("is_selected") & pl.col("scenario").is_in(["Low", "Medium", "High"])
    )
    wide = base.pivot(
        on="scenario", index=["target", "country_iso3", "origin_group", "year"], values="yhat"
    )
    assert (wide["High"] >= wide["Medium"] * 0.999).all() and (
        wide["Medium"] >= wide["Low"] * 0.999
    ).all()
    world = base.filter(pl.col("target") == "world_mobile_students").select(
        "scenario", "year", pl.col("yhat").alias("world")
    )
    china = base.filter(pl.col("target") == "china_inbound_students").join(
        world, on=["scenario", "year"]
    )
    assert china.height and (china["yhat"] < china["world"]).all()
    bounds = pl.read_parquet(tables["forecast_bounds"].parquet)
    china_cap = bounds.filter(
        (pl.col("target") == "tertiary_students") & (pl.col("series_id") == "CHN")
    )
    assert china_cap["cap"].item() < 1.5  # the frontier of large countries (Türkiye, 1.28) + 10 %


def test_long_stages_report_progress_to_the_prefect_ui(published):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterType

    with get_client(sync_client=True) as client:
        progress = client.read_artifacts(
            artifact_filter=ArtifactFilter(type=ArtifactFilterType(any_=["progress"]))
        )
    descriptions = [artifact.description or "" for artifact in progress]
    assert any(d.startswith("ingest") for d in descriptions), descriptions[:5]
    assert any(d.startswith("forecasts") for d in descriptions), descriptions[:5]
    finished = [a for a in progress if (a.description or "").startswith("forecasts")]
    assert any(float(a.data) == 100.0 for a in finished)


def test_the_run_builds_data_docs_and_reports_them_in_prefect(published):
    from prefect.artifacts import Artifact

    data_dir, _ = published
    index = data_dir / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"
    assert index.is_file()
    pages = list((index.parent / "validations").rglob("*.html"))
    assert len(pages) >= len(PIPELINE_DATASETS) + 2, "sources, panel and forecasts validated"
    link = Artifact.get("data-docs")
    assert link is not None and index.as_uri() in link.data
    summary = Artifact.get("validation-summary")
    assert summary is not None
    rows = json.loads(summary.data)
    assert {row["dataset"] for row in rows} == set(PIPELINE_DATASETS)
    assert {row["status"] for row in rows} == {"accepted"}


def test_the_talent_tables_and_the_findings_report_are_published(published):
    from prefect.artifacts import Artifact

    data_dir, tables = published
    assert {
        "demographic_drivers",
        "talent_pool_metrics",
        "talent_rankings",
        "talent_findings",
        "china_inbound_students",
        "china_researcher_inflows",
        "china_talent_ladder",
        "china_prior_ties",
        "china_pull_ladder",
        "china_origin_shares",
        "china_returnee_signals",
        "china_usa_gap",
        "seed_claims",
    } <= set(tables)
    inflows = pl.read_parquet(tables["china_researcher_inflows"].parquet)
    usa_2018 = inflows.filter(
        (pl.col("origin_iso3") == "USA")
        & (pl.col("year") == 2018)
        & (pl.col("database") == "scopus")
    )
    assert usa_2018["migrations"].to_list() == [3825]  # MPIDR Scopus USA -> CHN, 2018
    findings = pl.read_parquet(tables["talent_findings"].parquet)
    researchers = findings.filter(pl.col("metric") == "researchers").row(0, named=True)
    assert researchers["china_rank"] in (1, 2) and researchers["reporting_countries"] >= 40
    with duckdb.connect(str(tables["talent_rankings"].duckdb), read_only=True) as connection:
        in_duckdb = connection.execute("SELECT count(*) FROM talent_rankings").fetchone()[0]
    assert in_duckdb == tables["talent_rankings"].rows
    report = (data_dir / "reports" / "findings.md").read_text()
    # The report and the outlook open with the seed's claims, computed on this run.
    claims = pl.read_parquet(tables["seed_claims"].parquet)
    assert claims["claim"].to_list() == ["a", "b", "c", "d", "e"]
    assert report.split("\n")[2] == "## The seed's claims, tested on this run's data"
    for row in claims.iter_rows(named=True):
        assert f"### ({row['claim']}) {row['verdict']}" in report
    gap = pl.read_parquet(tables["china_usa_gap"].parquet)
    assert set(gap["kind"]) == {"observed", "forecast"}
    outlook = (data_dir / "reports" / "outlook-latest.html").read_text()
    assert outlook.index("claims-heading") < outlook.index("headline-heading")
    assert "## Is China the world's second-largest STEM talent pool?" in report
    assert f"| researchers | {researchers['year']} |" in report
    assert "## How fast is China's population ageing?" in report
    assert "| moe_all_kinds_headcount | 2018 | 492,185 |" in report
    artifact = Artifact.get("findings")
    assert artifact is not None and "talentflow findings" in artifact.data


def test_the_run_is_published_whole_with_its_inputs_in_the_runs_ledger(published):
    _, tables = published
    run_id = pl.read_parquet(tables["forecasts"].parquet)["run_id"][0]
    with duckdb.connect(str(tables["forecasts"].duckdb), read_only=True) as connection:
        runs = connection.sql("SELECT * FROM runs").pl()
    row = runs.filter(pl.col("run_id") == run_id).row(0, named=True)
    assert row["status"] == "complete" and row["as_of"] is None
    assert set(json.loads(row["inputs"])) == set(PIPELINE_DATASETS)
    assert set(row["tables"].split(",")) == set(tables)
    assert row["published_at"] >= row["started_at"]


def test_duckdb_and_parquet_hold_the_same_forecasts(published):
    _, tables = published
    run_id = pl.read_parquet(tables["forecasts"].parquet)["run_id"][0]
    with duckdb.connect(str(tables["forecasts"].duckdb), read_only=True) as connection:
        in_duckdb = connection.execute(
            "SELECT count(*) FROM forecasts_latest WHERE run_id = ?", [run_id]
        ).fetchone()[0]
    assert in_duckdb == tables["forecasts"].rows


def test_snapshots_were_kept_with_sidecars(published, raw_snapshots):
    data_dir, _ = published
    for folder in (data_dir / "snapshots").iterdir():
        raw = raw_snapshots(folder)
        assert len(raw) == 1
        assert hashlib.sha256(raw[0].read_bytes()).hexdigest() == raw[0].name.split(".")[0]
        assert raw[0].with_name(raw[0].name.split(".")[0] + ".meta.json").is_file()


def latest_pipeline_run_id() -> str:
    """The id of the ``pipeline`` flow run that started last, as Prefect's API holds it."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        (run,) = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["pipeline"])),
            sort=FlowRunSort.START_TIME_DESC,
            limit=1,
        )
    return str(run.id)


def test_a_second_run_on_unchanged_data_publishes_nothing_and_says_so(
    pipeline_run, mirror, monkeypatch, raw_snapshots
):
    from prefect.artifacts import Artifact

    data_dir, first = pipeline_run
    first_run = pl.read_parquet(first.tables["forecasts"].parquet)["run_id"][0]
    version = (data_dir / "published").resolve()
    with duckdb.connect(str(first.tables["forecasts"].duckdb), read_only=True) as connection:
        ledger = connection.sql("SELECT * FROM runs").pl()
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(mirror))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(data_dir))
    second = pipeline(models=FAST_MODELS)
    # The same code, snapshots and options as the latest published run: its tables and
    # reports stand, and nothing was written to any store.
    assert second.unchanged_since == first_run
    assert second.tables == first.tables and second.reports == first.reports
    assert (data_dir / "published").resolve() == version, "no new Parquet version"
    with duckdb.connect(str(first.tables["forecasts"].duckdb), read_only=True) as connection:
        assert connection.sql("SELECT * FROM runs").pl().equals(ledger)
    # It stopped after ingest, whose every acceptance (validation and tidying) was cached,
    # and told the Prefect UI why.
    run_id = latest_pipeline_run_id()
    assert run_id != first_run
    assert flow_runs_named(run_id)[1] == {ingest_run_name(PIPELINE_DATASETS)}
    accepted = recorded_task_states(
        run_id, "ingest-", lambda name: name.startswith("accept-"), len(PIPELINE_DATASETS)
    )
    assert len(accepted) == len(PIPELINE_DATASETS) and set(accepted.values()) == {"Cached"}
    note = Artifact.get("run-report")
    assert note.data.startswith("# Nothing new to publish") and first_run in note.data
    assert first.reports["run report"].read_text(encoding="utf-8") in note.data
    for folder in (data_dir / "snapshots").iterdir():
        assert len(raw_snapshots(folder)) == 1, "identical bytes must not make a new snapshot"


def test_a_run_with_a_new_option_republishes_every_forecast_from_the_cache(
    published, mirror, monkeypatch
):
    # The report site's address is in every report's links, so a new one makes a new
    # run; the forecasts do not depend on it, so every backtest and fit is reused.
    data_dir, first = published
    before = pl.read_parquet(first["forecasts"].parquet)
    cache = {path: path.stat().st_mtime_ns for path in (data_dir / "cache" / "results").iterdir()}
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(mirror))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TALENTFLOW_REPORT_BASE_URL", "http://127.0.0.1:8081")
    republished = pipeline(models=FAST_MODELS)
    assert republished.unchanged_since is None
    second = republished.tables
    after = pl.read_parquet(second["forecasts"].parquet)
    # Every backtest and fit came from the cache (Prefect's own record says so), and no
    # cached result was rewritten; yet the second run's model artefacts are all there.
    states = forecast_task_states(after["run_id"][0], count=len(cache))
    assert len(states) == len(cache)
    assert {name.split("-")[1] for name in states} == set(after["target"])  # every target
    assert set(states.values()) == {"Cached"}, states
    assert {path: path.stat().st_mtime_ns for path in cache} == cache
    models_dir = data_dir / "models"
    first_run, second_run = before["run_id"][0], after["run_id"][0]
    assert sorted(
        p.relative_to(models_dir / second_run) for p in (models_dir / second_run).rglob("*")
    ) == sorted(p.relative_to(models_dir / first_run) for p in (models_dir / first_run).rglob("*"))
    assert after.height == before.height
    assert after["run_id"].n_unique() == 1 and after["run_id"][0] != before["run_id"][0]
    keys = ["target", "country_iso3", "origin_group", "year", "scenario", "model"]
    assert not after.select(pl.struct(keys).is_duplicated().any()).item()
    assert after.drop("run_id", "created_at").equals(before.drop("run_id", "created_at"))
    with duckdb.connect(str(second["forecasts"].duckdb), read_only=True) as connection:
        # Runs accumulate (vintages can be compared); the latest view shows the second only.
        runs = connection.execute("SELECT count(DISTINCT run_id) FROM forecasts").fetchone()[0]
        latest = connection.execute(
            "SELECT count(*), any_value(run_id) FROM forecasts_latest"
        ).fetchone()
    assert runs >= 2 and latest == (after.height, after["run_id"][0])
    from prefect.artifacts import Artifact

    outlook = Artifact.get("outlook-report")
    assert f"(http://127.0.0.1:8081/outlook-{second_run}.html)" in outlook.data


def researchers_alone(published, monkeypatch, models: list[str], **environment: str):
    """The forecasts flow alone on the real researchers target, on threads, from the
    published run's feature tables, with ``environment`` set, every task recomputed."""
    from prefect.task_runners import ThreadPoolTaskRunner

    from talentflow.core.settings import get_settings
    from talentflow.core.storage import published_parquet
    from talentflow.flows.forecasting import forecasts
    from talentflow.flows.pipeline import FORECAST_INPUTS
    from talentflow.tasks.caching import stage_frames

    data_dir, first = published
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(data_dir))
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = get_settings()
    inputs = stage_frames(
        settings,
        {name: pl.read_parquet(published_parquet(settings, name)) for name in FORECAST_INPUTS},
    )
    (country_list,) = (data_dir / "tidy" / "wdi_countries").glob("*.parquet")
    vintage = int(pl.read_parquet(first["forecasts"].parquet)["vintage"][0])
    flow = forecasts.with_options(task_runner=ThreadPoolTaskRunner(max_workers=2))
    return flow(
        inputs,
        str(country_list),
        run_id="split",
        vintage=vintage,
        targets=["researchers"],
        models=models,
        refresh=True,
    )


def test_backtests_split_over_many_workers_give_the_same_tables(published, monkeypatch):
    # Beyond 8 workers a backtest is cut into batches of origins, one task each, and the
    # fit gets a task of its own; together they must publish what one task per target
    # and group of models does. Run on threads, the forecasts flow alone, one target.
    def tables(workers: int):
        return researchers_alone(
            published, monkeypatch, FAST_MODELS, TALENTFLOW_FORECAST_WORKERS=str(workers)
        )

    split, whole = tables(24), tables(2)
    assert split.forecasts.height > 0
    assert split.forecasts.drop("created_at").equals(whole.forecasts.drop("created_at"))
    assert split.backtest_metrics.equals(whole.backtest_metrics)
    assert split.model_selection.equals(whole.model_selection)
    assert split.failures == whole.failures


def test_a_target_cut_into_batches_of_series_gives_the_same_tables(published, monkeypatch):
    # A target with more series than TALENTFLOW_SERIES_PER_TASK is cut into batches of
    # series, one task each, for the models that fit each series alone (naive, drift,
    # ETS); converge reads the whole panel and keeps one task. Together the batches must
    # publish what one task per target and group of models does, origin batches too.
    from talentflow.core.settings import get_settings
    from talentflow.core.storage import model_artefacts_dir

    models = [*FAST_MODELS, "ets"]
    whole = researchers_alone(published, monkeypatch, models, TALENTFLOW_SERIES_PER_TASK="1000")
    series = whole.observed.filter(pl.col("target") == "researchers")["country_iso3"].n_unique()
    assert series > 60, "the real target has enough series to cut in three"
    split = researchers_alone(
        published,
        monkeypatch,
        models,
        TALENTFLOW_SERIES_PER_TASK=str(series // 3 + 1),
        TALENTFLOW_FORECAST_WORKERS="24",
    )
    assert split.forecasts.drop("created_at").equals(whole.forecasts.drop("created_at"))
    assert split.backtest_metrics.equals(whole.backtest_metrics)
    assert split.model_selection.equals(whole.model_selection)
    assert split.failures == whole.failures

    # Each batch keeps its own fitted model's files; converge's stay whole.
    folder = model_artefacts_dir(get_settings(), "split") / "researchers"
    batches = sorted(folder.glob("ets/series-*/params.json"))
    assert [path.parent.name for path in batches] == ["series-1", "series-2", "series-3"]
    fitted = [set(json.loads(path.read_text())["series"]) for path in batches]
    assert sum(len(part) for part in fitted) == series == len(set().union(*fitted))
    assert not list(folder.glob("converge/series-*"))


def corrupted_mirror(mirror: Path, tmp_path: Path, corrupt) -> Path:
    """A mirror whose World Bank researchers file is a corrupted copy of the real one;
    every other file is the real file (linked, not copied)."""
    copy = tmp_path / "mirror"
    for original in mirror.rglob("*"):
        relative = original.relative_to(mirror)
        if original.is_file() and str(relative) != RESEARCHERS_FILE:
            (copy / relative).parent.mkdir(parents=True, exist_ok=True)
            (copy / relative).symlink_to(original)
    text = (mirror / RESEARCHERS_FILE).read_text(encoding="utf-8-sig")
    (copy / RESEARCHERS_FILE).write_text(corrupt(text), encoding="utf-8-sig")
    return copy


def duplicate_china(text: str) -> str:
    """Repeat China's line: every China value appears twice (a duplicate key)."""
    china = next(line for line in text.splitlines(keepends=True) if '"China","CHN"' in line)
    return text.replace(china, china + china)


@pytest.mark.parametrize(
    ("corrupt", "expected"),
    [
        (
            lambda t: t.replace('"Country Code"', '"Country ISO"', 1),
            ["expect_table_columns_to_match_ordered_list", "Country ISO"],
        ),
        (
            lambda t: t.replace('"1600.30633"', '"-1600.30633"'),
            ["expect_column_values_to_be_between", "value", "-1600.30633"],
        ),
        (
            duplicate_china,
            ["expect_compound_columns_to_be_unique", "Country Code"],
        ),
        # Faults no table can be read from are refused by the reader, naming line and cell:
        (lambda t: t.replace('"1600.30633"', '"1,600.3"'), ["column '2020'", "'1,600.3'"]),
        (lambda t: "", ["the file is empty"]),
        (
            lambda t: "<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>",
            ["holds an HTML page"],
        ),
    ],
    ids=[
        "renamed-column",
        "negative-value",
        "duplicate-key",
        "unparseable-number",
        "empty-file",
        "html-error-page",
    ],
)
def test_a_corrupted_source_fails_the_run_and_leaves_published_tables_alone(
    published, mirror, tmp_path, monkeypatch, corrupt, expected
):
    data_dir, tables = published
    parquet, database = tables["forecasts"].parquet, tables["forecasts"].duckdb
    parquet_before = parquet.read_bytes()
    with duckdb.connect(str(database), read_only=True) as connection:
        duckdb_before = connection.execute("SELECT * FROM forecasts ORDER BY ALL").fetchall()

    monkeypatch.setenv("TALENTFLOW_MIRROR", str(corrupted_mirror(mirror, tmp_path, corrupt)))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(data_dir))
    state = pipeline(models=FAST_MODELS, return_state=True)

    assert state.is_failed()
    # Named for the day it ran: it failed before its data's latest year was known.
    name, _ = flow_runs_named(str(state.state_details.flow_run_id))
    assert name == pipeline_run_name(None, datetime.now(UTC).date())
    message = str(state.result(raise_on_failure=False))
    assert "wdi_sp_pop_scie_rd_p6" in message and RESEARCHERS_FILE.split("/")[1] in message
    for fragment in expected:
        assert fragment in message
    assert "wdi_sp_pop_totl" not in message, "only the corrupted source should be reported"
    [reason_file] = (data_dir / "quarantine" / "wdi_sp_pop_scie_rd_p6").glob("*.reason.json")
    reason = json.loads(reason_file.read_text())
    assert reason["run_id"] and expected[0] in reason["fault"]
    if expected[0].startswith("expect_"):
        assert reason["validation"]["failures"], "the validation result is kept with it"
    reason_file.unlink()  # the next parametrised case checks its own quarantine record
    from prefect.artifacts import Artifact

    artifact = Artifact.get("run-failure")  # the Prefect UI says why, in a few lines
    assert artifact is not None and "pipeline failed: nothing was published" in artifact.data
    assert "wdi_sp_pop_scie_rd_p6" in artifact.data and expected[0] in artifact.data
    assert parquet.read_bytes() == parquet_before
    with duckdb.connect(str(database), read_only=True) as connection:
        assert (
            connection.execute("SELECT * FROM forecasts ORDER BY ALL").fetchall() == duckdb_before
        )


def test_an_as_of_run_replays_the_past_and_leaves_current_tables_alone(
    published, mirror, monkeypatch
):
    data_dir, tables = published
    panel_before = tables["country_year_panel"].parquet.read_bytes()
    outlook_before = (data_dir / "reports" / "outlook-latest.html").read_bytes()
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(mirror))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(data_dir))
    replay = pipeline(as_of=2015, models=["naive", "drift"], targets=["researchers"]).tables
    forecasts = pl.read_parquet(replay["forecasts"].parquet)
    assert forecasts["vintage"].unique().to_list() == [2015]
    name, subflows = flow_runs_named(forecasts["run_id"][0])
    assert name == "replay-2015" and "forecasts-data-2015" in subflows
    # Forecasts start right after each country's last year up to 2015, never later.
    assert forecasts["year"].min() <= 2016
    assert forecasts.group_by("country_iso3").agg(pl.col("year").min())["year"].max() == 2016
    assert set(replay) == set(RUN_TABLES)
    assert tables["country_year_panel"].parquet.read_bytes() == panel_before
    # the current outlook stays the current run's
    assert (data_dir / "reports" / "outlook-latest.html").read_bytes() == outlook_before
    with duckdb.connect(str(replay["forecasts"].duckdb), read_only=True) as connection:
        vintages = connection.execute(
            "SELECT DISTINCT vintage FROM forecasts ORDER BY vintage"
        ).fetchall()
        latest = connection.execute("SELECT DISTINCT vintage FROM forecasts_latest").fetchall()
    assert (2015,) in vintages and latest == [(2024,)], "a replay never hides the current run"


@pytest.mark.parametrize("vintage", [2008, 2013])
def test_an_early_replay_skips_what_it_cannot_forecast_and_says_why(
    published, mirror, monkeypatch, vintage
):
    # Issue 12: --as-of 2012 stopped on china_inbound_students' short history and 2013
    # crashed in the family scoring. Every vintage from 2008 must run.
    data_dir, _ = published
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(mirror))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(data_dir))
    replay = pipeline(as_of=vintage, models=["naive", "drift"])
    forecasts = pl.read_parquet(replay.tables["forecasts"].parquet)
    assert forecasts["vintage"].unique().to_list() == [vintage]
    assert {"researchers", "tertiary_students"} <= set(forecasts["target"])
    report = replay.reports["backtest report"].read_text()
    if vintage == 2008:
        # UIS has China's inbound students from 2006 only: three years by 2008
        assert "china_inbound_students" not in set(forecasts["target"])
        assert "## Not forecast at this vintage" in report and "china_inbound_students" in report
