"""``talentflow``: the command line that starts the flows.

It sits with the flows (the top floor) because it imports them; the core package below
must not.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

# Before Prefect is imported: its local API otherwise writes telemetry on first start,
# which can log a "database is locked" traceback (see docs/architecture.md).
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The local API migrates its SQLite database on first start; on a 2-core machine that
# can take longer than Prefect's default wait.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

app = typer.Typer(
    help="talentflow: STEM talent pools and China's foreign-talent intake.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()

HEADLINE_COUNTRIES = ("CHN", "USA")
HEADLINE_YEAR = 2030


@app.callback()
def main() -> None:
    """Live pulls by default; set TALENTFLOW_MIRROR to read sources from a local mirror."""


@app.command()
def run(
    until_year: Annotated[int, typer.Option(help="Last forecast year.")] = 2035,
    min_observed_years: Annotated[int, typer.Option(help="Observed years a country needs.")] = 8,
) -> None:
    """Run the whole pipeline once and show where its tables are."""
    import polars as pl

    from core.settings import get_settings
    from flows.pipeline import pipeline

    settings = get_settings()
    source = f"mirror {settings.mirror}" if settings.mirror else "live publisher downloads"
    console.print(f"talentflow: reading sources from {source}; data in {settings.data_dir}")
    published = pipeline(until_year=until_year, min_observed_years=min_observed_years)

    for table in published.values():
        console.print(
            f"[bold]{table.table}[/]: {table.rows:,} rows → {table.parquet} "
            f"and table {table.table} in {table.duckdb}"
        )
    forecasts = pl.read_parquet(published["forecasts"].parquet)
    headline = forecasts.filter(
        pl.col("country_iso3").is_in(HEADLINE_COUNTRIES) & (pl.col("year") == HEADLINE_YEAR)
    ).sort("country_iso3", "model")
    view = Table(title=f"Researchers in R&D, forecast for {HEADLINE_YEAR} (80 % interval)")
    for column in ("country", "model", "forecast", "lower", "upper"):
        view.add_column(
            column, justify="right" if column in ("forecast", "lower", "upper") else "left"
        )
    for row in headline.iter_rows(named=True):
        view.add_row(
            row["country_iso3"],
            row["model"],
            f"{row['yhat']:,.0f}",
            f"{row['yhat_lower']:,.0f}",
            f"{row['yhat_upper']:,.0f}",
        )
    console.print(view)


@app.command()
def pull(
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="Dataset ids from the catalog (default: all); see `sources`."),
    ] = None,
) -> None:
    """Pull datasets into snapshots, validate and tidy them, and summarise what landed."""
    from flows.ingest import IngestFailed, ingest
    from flows.progress import add_listener, remove_listener
    from tasks.sources.catalog import CATALOG

    selected = list(sources or CATALOG)
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
    from tasks.sources.catalog import CATALOG, sources_markdown

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
            progress.update(bar, completed=done, last=what)

        yield advance


if __name__ == "__main__":  # pragma: no cover
    app()
