"""``talentflow``: the command line that starts the flows.

It sits with the flows (the top floor) because it imports them; the core package below
must not.
"""

from __future__ import annotations

import os

import typer
from rich.console import Console
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
    until_year: int = typer.Option(2035, help="Last forecast year."),
    min_observed_years: int = typer.Option(8, help="Observed years a country needs."),
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


if __name__ == "__main__":  # pragma: no cover
    app()
