"""``talentflow``: the command line that starts the flows.

It sits with the flows (the top floor) because it imports them; the core package below
must not.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

if TYPE_CHECKING:
    from talentflow.flows.temporary_server import TemporaryServer

# Before Prefect is imported: its local API otherwise writes telemetry on first start,
# which can log a "database is locked" traceback (see docs/architecture.md).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The local API migrates its SQLite database on first start; on a 2-core machine that
# can take longer than Prefect's default wait.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

# At exit, after every exit handler registered later (Prefect's last logs and events, the
# temporary server's stop, multiprocessing's clean-up), the objects still alive are moved
# out of the garbage collector's reach, so the interpreter's teardown frees them by
# reference count without its full collections over millions of objects: 2.9 s of every
# command's exit on the 2-core machine, 0.2 s after (bench/README.md, sixth session).
# Exit handlers, weakref finalizers and the flushing of output still run; what is skipped
# is finalizing objects caught in reference cycles at exit, which Python does not promise
# (spack/spack#53020 does the same).
atexit.register(gc.freeze)

app = typer.Typer(
    help="talentflow: STEM talent pools and China's foreign-talent intake.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()


@app.callback()
def main() -> None:
    """Live pulls by default; set TALENTFLOW_MIRROR to read sources from a local mirror."""


@app.command()
def run(
    until_year: Annotated[int, typer.Option(help="Last forecast year.")] = 2050,
    min_observed_years: Annotated[
        int, typer.Option(help="Observed years a series needs to be forecast.")
    ] = 8,
    as_of: Annotated[
        int | None,
        typer.Option(
            "--as-of",
            help="Replay the run with every input cut at this year (WPP projections kept), "
            "to score its forecasts on the years that followed.",
        ),
    ] = None,
    models: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated models of the zoo (default: every model but prophet; "
            "naive and drift are required).",
        ),
    ] = None,
    refresh: Annotated[
        bool,
        typer.Option(
            "--refresh",
            help="Recompute every backtest and fit instead of reusing cached results of "
            "unchanged inputs (and overwrite the cache), and publish even when nothing "
            "changed since the last published run.",
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks of expected failures too.")
    ] = False,
) -> None:
    """Run the whole pipeline once; show where its tables and reports are."""
    zoo = _checked_models(models)
    from talentflow.flows.preflight import before_a_run

    settings = _preflight(before_a_run, as_of, until_year, min_observed_years)
    server = start_temporary_server()  # it boots on another core while we import
    from talentflow.core.facts import compact_number
    from talentflow.flows.pipeline import PIPELINE_DATASETS, pipeline
    from talentflow.flows.progress import add_listener, remove_listener
    from talentflow.tasks.report import headline_forecasts

    source = f"mirror {settings.mirror}" if settings.mirror else "live publisher downloads"
    console.print(f"talentflow: reading sources from {source}; data in {settings.data_dir}")
    _quiet_console(debug)
    from talentflow.flows.stopping import stop_promptly_on_signals

    stop_promptly_on_signals()
    if server is not None:
        from talentflow.tasks.validate import import_great_expectations

        import_great_expectations()  # needed soon, and the server is still booting
        _preflight(server_answers, server)
    with (
        _progress_bar(len(PIPELINE_DATASETS), "pipeline") as advance,
        on_the_temporary_server(server),
    ):
        add_listener(advance)  # ingest, then the forecast fits, report their steps
        try:
            outputs = pipeline(
                until_year=until_year,
                min_observed_years=min_observed_years,
                as_of=as_of,
                models=zoo,
                refresh=refresh,
            )
        except Exception as error:
            if debug or not _expected(error):
                raise
            _report_failure(error, settings)
            raise typer.Exit(1) from None
        finally:
            remove_listener(advance)

    if outputs.unchanged_since:
        console.print(
            f"Nothing new to publish: run {outputs.unchanged_since} read the same "
            "snapshots with the same code and options. Its tables and reports stand "
            "(--refresh recomputes and republishes)."
        )
    for table in outputs.tables.values():
        console.print(
            f"[bold]{table.table}[/]: {table.rows:,} rows → {table.parquet} "
            f"and table {table.table} in {table.duckdb}"
        )
    import polars as pl

    headline = headline_forecasts(pl.read_parquet(outputs.tables["forecasts"].parquet))
    view = Table(title="Headline forecasts, selected model (80 % interval)")
    for column in ("target", "place", "scenario", "year", "forecast", "lower", "upper"):
        view.add_column(
            column, justify="right" if column in ("year", "forecast", "lower", "upper") else "left"
        )
    for row in headline.filter(
        pl.col("origin_group").is_null() | (pl.col("year") == 2050)
    ).iter_rows(named=True):
        view.add_row(
            row["target"],
            row["origin_group"] or row["country_iso3"],
            row["scenario"],
            str(row["year"]),
            compact_number(row["yhat"]),
            compact_number(row["lo80"]),
            compact_number(row["hi80"]),
        )
    console.print(view)
    console.print("[bold]Reports[/]")
    width = max(len(name) for name in outputs.reports)
    for name, path in outputs.reports.items():
        console.print(f"  {name:<{width}}  {path}", markup=False, soft_wrap=True)


@app.command()
def pull(
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="Dataset ids from the catalog (default: all); see `sources`."),
    ] = None,
) -> None:
    """Pull datasets into snapshots, validate and tidy them, and summarise what landed."""
    from talentflow.flows.preflight import before_a_pull
    from talentflow.tasks.sources.catalog import CATALOG

    selected = list(sources or CATALOG)
    _preflight(before_a_pull, selected)
    from talentflow.flows.ingest import IngestFailed, ingest
    from talentflow.flows.progress import add_listener, remove_listener

    _quiet_console(False)
    from talentflow.flows.stopping import stop_promptly_on_signals

    stop_promptly_on_signals()

    with _progress_bar(len(selected), "pulling") as advance:
        add_listener(advance)
        try:
            landed = ingest(selected)
        except IngestFailed as error:
            console.print(str(error), soft_wrap=True, markup=False, style="red")
            raise typer.Exit(1) from None
        finally:
            remove_listener(advance)
    view = Table(title=f"{len(landed)} dataset(s) pulled")
    for column in ("dataset", "rows", "sha256", "snapshot", "warnings"):
        view.add_column(column, justify="right" if column == "rows" else "left")
    for item in landed:
        view.add_row(
            item.dataset_id,
            f"{item.rows:,}",
            item.sha256[:12],
            "new" if item.is_new else "unchanged",
            str(len(item.warnings)),
        )
    console.print(view)


@app.command()
def sources(
    markdown: Annotated[bool, typer.Option(help="Print the Markdown table of the README.")] = False,
) -> None:
    """List the catalog: every dataset, its publisher, licence and refresh cadence."""
    from talentflow.tasks.sources.catalog import CATALOG, sources_markdown

    if markdown:
        print(sources_markdown(), end="")
        return

    view = Table(title=f"{len(CATALOG)} datasets")
    for column in ("dataset", "publisher", "licence", "cadence", "live"):
        view.add_column(column)
    for item in CATALOG.values():
        view.add_row(
            item.id,
            item.publisher,
            item.licence,
            item.cadence or "by hand",
            "yes" if item.url else "no (typed from pages)",
        )
    console.print(view)


class OutputFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


@app.command()
def forecasts(
    target: Annotated[
        list[str] | None, typer.Option(help="Target, e.g. researchers (repeatable).")
    ] = None,
    country: Annotated[
        list[str] | None, typer.Option(help="ISO3 country code, e.g. CHN (repeatable).")
    ] = None,
    origin_group: Annotated[
        list[str] | None, typer.Option(help="Origin group of an intake target (repeatable).")
    ] = None,
    scenario: Annotated[
        list[str] | None,
        typer.Option(help="Scenario, e.g. Medium or Medium+tech_denial (repeatable)."),
    ] = None,
    from_year: Annotated[int | None, typer.Option(help="First year to show.")] = None,
    to_year: Annotated[int | None, typer.Option(help="Last year to show.")] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(help="Show these models, selected or not (default: the selected model)."),
    ] = None,
    all_models: Annotated[
        bool, typer.Option("--all-models", help="Show every model, not only the selected one.")
    ] = False,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="A terminal table, CSV or JSON.")
    ] = OutputFormat.table,
    output: Annotated[
        Path | None, typer.Option(help="Write the CSV or JSON to this file, not to stdout.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Rows shown by --format table.")] = 40,
) -> None:
    """Show the published forecasts, filtered; as a table, or CSV/JSON for other tools."""
    from talentflow.flows import consume

    errors = Console(stderr=True)
    try:
        query = consume.query_from_options(
            targets=target,
            countries=country,
            origin_groups=origin_group,
            scenarios=scenario,
            models=model,
            all_models=all_models,
            from_year=from_year,
            to_year=to_year,
        )
    except consume.UnknownCountry as error:
        raise typer.BadParameter(str(error), param_hint="--country") from None
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    if output is not None and output_format is OutputFormat.table:
        raise typer.BadParameter("--output needs --format csv or json", param_hint="--output")
    from talentflow.flows.preflight import check_output, checked_settings

    _preflight(check_output, output)
    settings = _preflight(checked_settings)
    try:
        published = consume.read_published_forecasts(settings)
    except consume.ForecastsNotPublished as error:
        errors.print(str(error), style="red", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None

    selected = consume.select_forecasts(published, query)
    if selected.is_empty():
        errors.print(consume.no_rows_hint(published, query), markup=False, soft_wrap=True)
    if output_format is OutputFormat.table:
        if not selected.is_empty():
            console.print(consume.forecasts_table(selected, limit=limit))
        return
    text = consume.render(selected, output_format.value)
    if output is None:
        sys.stdout.write(text)
    else:
        consume.write_output(text, output)
        errors.print(f"{len(selected):,} row(s) written to {output}", markup=False)


@app.command()
def serve(
    limit: Annotated[
        int | None, typer.Option(help="Most runs executing at once (default: no limit).")
    ] = None,
) -> None:
    """Serve every schedule (a pull per scheduled source, the monthly pipeline) from this
    process, as <name>-serve deployments; needs a Prefect server, and refuses to start while
    deploy/prefect.yaml's deployments are scheduled on it."""
    from talentflow.flows.serve import (
        SERVE_SUFFIX,
        NoPrefectServer,
        PoolDeploymentsScheduled,
        refuse_beside_scheduled_pool_deployments,
        require_prefect_server,
        serve_schedules,
    )

    try:
        api_url = require_prefect_server()
        refuse_beside_scheduled_pool_deployments()
    except (NoPrefectServer, PoolDeploymentsScheduled) as error:
        Console(stderr=True).print(str(error), style="red", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    console.print(
        f"talentflow: serving schedules on {api_url} as <name>{SERVE_SUFFIX} deployments; "
        "Ctrl-C stops and pauses them (never the work pool's deployments)",
        markup=False,
        soft_wrap=True,
    )
    serve_schedules(limit=limit)


def _quiet_console(debug: bool) -> None:
    """Unless ``--debug``, keep expected failures out of the console log."""
    if not debug:
        from talentflow.flows.failures import quiet_console

        quiet_console()


def _report_failure(error: BaseException, settings) -> None:
    """An expected failure, once: what failed, that nothing was published, where to look."""
    from talentflow.tasks.validate import data_docs_index

    errors = Console(stderr=True)
    errors.print("talentflow: the run stopped; nothing was published.", style="red")
    errors.print(str(error), markup=False, soft_wrap=True)
    errors.print(
        f"Where to look: the reason files in {settings.data_dir / 'quarantine'}, Data Docs "
        f"at {data_docs_index(settings.data_dir)}, and the run's logs in the Prefect UI. "
        "Run again with --debug for the traceback.",
        markup=False,
        soft_wrap=True,
    )


def _expected(error: BaseException) -> bool:
    from talentflow.flows.failures import is_expected

    return is_expected(error)


def _preflight(check, *args):
    """Run one check of ``flows.preflight``; a refusal prints its one line and exits 2."""
    from talentflow.flows.preflight import PreflightError

    try:
        return check(*args)
    except PreflightError as error:
        Console(stderr=True).print(
            f"talentflow: {error}", style="red", markup=False, soft_wrap=True
        )
        raise typer.Exit(2) from None


def start_temporary_server() -> TemporaryServer | None:
    """Start Prefect's temporary server when no API is configured, and return at once:
    its process boots on the other core while this one imports the pipeline
    (:mod:`talentflow.flows.temporary_server` says why it is started here, not by
    Prefect). None when an API is configured or Prefect's temporary server is off."""
    from prefect.settings import get_current_settings

    from talentflow.flows.temporary_server import TemporaryServer

    current = get_current_settings()
    if current.api.url or not current.server.ephemeral.enabled:
        return None
    return TemporaryServer.start()


def server_answers(server: TemporaryServer) -> None:
    """Wait for ``server``; if it does not come up, one line says why (a preflight
    refusal: nothing has started yet)."""
    from talentflow.flows.preflight import PreflightError

    try:
        server.wait()
    except RuntimeError as error:
        raise PreflightError(str(error)) from None


def on_the_temporary_server(server: TemporaryServer | None):
    """The flows of the block run on ``server`` (:meth:`TemporaryServer.in_use`); on
    the configured API when it is None."""
    return contextlib.nullcontext() if server is None else server.in_use()


def _checked_models(models: str | None) -> list[str] | None:
    """``--models`` as a list, refused at once (before any download) in one line when it
    names a model the zoo does not have or leaves out a baseline (flows.preflight)."""
    from talentflow.flows.preflight import check_models

    return _preflight(check_models, models)


@app.command()
def replays(
    first: Annotated[int, typer.Option("--from", help="First --as-of vintage.")] = 2008,
    last: Annotated[int, typer.Option("--to", help="Last --as-of vintage.")] = 2015,
    models: Annotated[
        str | None, typer.Option(help="Comma-separated models of the zoo (as for run).")
    ] = None,
) -> None:
    """Replay the pipeline at every vintage from --from to --to (each input cut at that
    year), then run it on all the data, which scores every stored replay on the years that
    followed (the replay_scores table and the backtest report)."""
    zoo = _checked_models(models)
    from talentflow.flows.preflight import FIRST_AS_OF, before_a_run

    if not FIRST_AS_OF <= first <= last:
        raise typer.BadParameter(
            f"--from {first} --to {last}: need {FIRST_AS_OF} <= from <= to",
            param_hint="--from/--to",
        )
    _preflight(before_a_run, last)
    server = start_temporary_server()
    from talentflow.flows.pipeline import pipeline
    from talentflow.flows.stopping import stop_promptly_on_signals

    stop_promptly_on_signals()
    if server is not None:
        _preflight(server_answers, server)
    with on_the_temporary_server(server):
        for vintage in range(first, last + 1):
            console.print(f"talentflow: replay with data to {vintage}")
            pipeline(as_of=vintage, models=zoo)
        console.print("talentflow: the current run, which scores the replays")
        outputs = pipeline(models=zoo)
    console.print(f"replay scores: {outputs.tables['replay_scores'].parquet}")
    console.print(f"backtest report: {outputs.reports['backtest report']}")


@app.command("orcid-census")
def orcid_census_command(
    article: Annotated[
        int | None,
        typer.Option(help="ORCID's figshare article of the release (default: the latest known)."),
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, help="A summaries tar.gz already on disk, read in place."
        ),
    ] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Parsing processes (default: one per core).")
    ] = None,
    ids: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="A file of ORCID iDs, one per line: read those records from the public "
            "API instead (a cohort, never everyone).",
        ),
    ] = None,
) -> None:
    """Read the ORCID public data file (tens of GB; the download resumes where it stopped
    and is checked against figshare's MD5) and keep everyone whose career moves into China:
    the evidence for claim (b), used by every later run."""
    from talentflow.flows.orcid_census import orcid_census

    if sum(option is not None for option in (article, file, ids)) > 1:
        raise typer.BadParameter("give one of --article, --file and --ids", param_hint="--file")
    if ids is not None:
        from talentflow.tasks.orcid_census import read_ids

        try:
            read_ids(ids)
        except ValueError as error:
            raise typer.BadParameter(str(error), param_hint="--ids") from None
    if file is not None and "synthetic" in file.name.lower():
        raise typer.BadParameter(
            f"{file}: a synthetic file never produces a published finding", param_hint="--file"
        )
    path = orcid_census(
        article_id=article,
        file=str(file) if file is not None else None,
        workers=workers,
        ids_file=str(ids) if ids is not None else None,
    )
    console.print(f"ORCID census: {path}")


@contextmanager
def _progress_bar(total: int, description: str) -> Iterator:
    """A rich progress bar advanced by flow progress reports; silent when the output is
    not a terminal (CI, logs)."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[last]}"),
        console=console,
        disable=not console.is_terminal or bool(os.environ.get("CI")),
    ) as progress:
        bar = progress.add_task(description, total=total, last="")

        def advance(done: int, _total: int, what: str) -> None:
            progress.update(bar, completed=done, total=_total, last=what)

        yield advance


if __name__ == "__main__":  # pragma: no cover
    app()
