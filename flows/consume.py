"""Read the published forecasts back out: select rows, and write them as a table, CSV or JSON.

Plain functions behind ``talentflow forecasts`` (the command itself is in ``flows/cli.py``),
testable without the CLI. This module only reads published tables; it never writes one.
It deliberately does not import Prefect or the models (seconds of import time for a
command that reads one Parquet file): the columns it relies on are those of
``talentflow.core.tables.FORECASTS_SCHEMA``, which imports Polars only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
from rich import box
from rich.table import Table
from rich.text import Text

from talentflow.core.countries import classify, country_iso3_codes
from talentflow.core.csv_export import spreadsheet_csv
from talentflow.core.facts import compact_number
from talentflow.core.settings import Settings
from talentflow.core.storage import atomic_write_bytes, duckdb_path, published_parquet
from talentflow.core.tables import FORECASTS_SCHEMA

FORECASTS_TABLE = "forecasts"
#: The columns of the published ``forecasts`` table this module reads.
REQUIRED_COLUMNS = tuple(FORECASTS_SCHEMA)
SORT_COLUMNS = ("target", "country_iso3", "origin_group", "scenario", "model", "year")
FORMATS = ("table", "csv", "json")
DEFAULT_TABLE_ROWS = 40
#: The descriptive columns of the terminal table: (heading, column).
TABLE_LABELS = (
    ("target", "target"),
    ("country", "country_iso3"),
    ("origin group", "origin_group"),
    ("scenario", "scenario"),
    ("model", "model"),
)


class ForecastsNotPublished(FileNotFoundError):
    """There is no usable published forecasts table (missing, or of another schema)."""


class UnknownCountry(ValueError):
    """A ``--country`` value that is not an ISO 3166-1 alpha-3 code talentflow knows."""


@dataclass(frozen=True)
class ForecastQuery:
    """Which rows of the forecasts table to keep. An empty tuple keeps every value.

    ``models`` empty and ``all_models`` false keeps the rows of the model the backtest
    selected (``is_selected``); naming models keeps exactly those models' rows, selected
    or not; ``all_models`` keeps every model."""

    targets: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    origin_groups: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    all_models: bool = False
    from_year: int | None = None
    to_year: int | None = None


def read_published_forecasts(settings: Settings) -> pl.DataFrame:
    """The current forecasts: DuckDB's ``forecasts_latest`` view where the database has
    it (a replayed ``--as-of`` run never hides the current forecasts there), else the
    published Parquet file; or :class:`ForecastsNotPublished` saying what to do."""
    latest = _forecasts_latest(duckdb_path(settings))
    if latest is not None:
        return latest
    path = published_parquet(settings, FORECASTS_TABLE)
    if not path.is_file():
        raise ForecastsNotPublished(
            f"no published forecasts at {path}: run `talentflow run` first (or set "
            "TALENTFLOW_DATA_DIR to the data directory of a run)"
        )
    forecasts = pl.read_parquet(path)
    missing = [column for column in REQUIRED_COLUMNS if column not in forecasts.columns]
    if missing:
        raise ForecastsNotPublished(
            f"{path} lacks the column(s) {', '.join(missing)}: it was published by an older "
            "talentflow; run `talentflow run` again to republish it"
        )
    return forecasts


#: How long a reader waits for a writer's DuckDB lock before it reads the Parquet file.
READER_WAIT_SECONDS = 10.0


def _forecasts_latest(database: Path, wait_seconds: float | None = None) -> pl.DataFrame | None:
    """``forecasts_latest`` from DuckDB; None when the database or view is missing, or
    when a writer holds the file longer than ``wait_seconds`` (DuckDB allows one writing
    process and no reader beside it): the caller then reads the published Parquet file,
    which a publish replaces atomically."""
    if not database.is_file():
        return None
    import time

    import duckdb

    wait = READER_WAIT_SECONDS if wait_seconds is None else wait_seconds
    deadline = time.monotonic() + wait
    while True:
        try:
            connection = duckdb.connect(str(database), read_only=True)
            break
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() >= deadline:
                if "lock" in str(error).lower():
                    return None
                raise
            time.sleep(0.25)
    with connection:
        views = connection.execute(
            "SELECT count(*) FROM duckdb_views() WHERE view_name = 'forecasts_latest'"
        ).fetchall()[0][0]
        if not views:
            return None
        return connection.sql("SELECT * FROM forecasts_latest").pl()


def country_codes(values: Iterable[str]) -> tuple[str, ...]:
    """Upper-cased ISO3 codes, or :class:`UnknownCountry` naming the first bad one (and the
    code meant, when the value is a country's name)."""
    known = country_iso3_codes()
    codes = []
    for value in values:
        code = value.strip().upper()
        if code not in known:
            meant, _ = classify(value, "name")
            hint = f" (did you mean {meant}?)" if meant else ""
            raise UnknownCountry(
                f"unknown country code {value!r}{hint}: give an ISO 3166-1 alpha-3 code "
                "such as CHN or USA (see docs/countries.md)"
            )
        codes.append(code)
    return tuple(codes)


def select_forecasts(forecasts: pl.DataFrame, query: ForecastQuery) -> pl.DataFrame:
    """The rows of ``forecasts`` that ``query`` asks for, sorted by target, country,
    origin group, scenario (Medium, Low, High, then the others), model and year."""
    conditions: list[pl.Expr] = []
    for column, values in (
        ("target", query.targets),
        ("country_iso3", query.countries),
        ("origin_group", query.origin_groups),
        ("scenario", query.scenarios),
        ("model", query.models),
    ):
        if values:
            conditions.append(pl.col(column).is_in(list(values)))
    if not query.models and not query.all_models:
        conditions.append(pl.col("is_selected"))
    if query.from_year is not None:
        conditions.append(pl.col("year") >= query.from_year)
    if query.to_year is not None:
        conditions.append(pl.col("year") <= query.to_year)
    selected = forecasts.filter(*conditions) if conditions else forecasts
    # WPP's variants first, in their usual order; then each lever scenario.
    variant_rank = pl.col("scenario").replace_strict(
        {"Medium": 0, "Low": 1, "High": 2}, default=3, return_dtype=pl.Int8
    )
    by = [pl.col(c) for c in SORT_COLUMNS]
    by.insert(SORT_COLUMNS.index("scenario"), variant_rank)
    return selected.sort(by, nulls_last=True)


def no_rows_hint(forecasts: pl.DataFrame, query: ForecastQuery) -> str:
    """Why a query kept nothing: the values the table has for each filter that was set."""
    offered = []
    for column, values in (
        ("target", query.targets),
        ("country", query.countries),
        ("origin group", query.origin_groups),
        ("scenario", query.scenarios),
        ("model", query.models),
    ):
        if values:
            name = {"country": "country_iso3", "origin group": "origin_group"}.get(column, column)
            have = forecasts[name].drop_nulls().unique().sort().to_list()
            offered.append(f"{column}: {', '.join(map(str, have)) or 'none'}")
    if query.from_year is not None or query.to_year is not None:
        offered.append(f"years: {forecasts['year'].min()}-{forecasts['year'].max()}")
    return "no forecast rows match; the table has " + ("; ".join(offered) or "no rows")


def forecasts_csv(frame: pl.DataFrame) -> str:
    """``frame`` as CSV, every text cell escaped against formula injection (the rule:
    ``core.csv_export``). Only text columns are escaped: numbers stay numbers."""
    return spreadsheet_csv(frame)


def forecasts_json(frame: pl.DataFrame) -> str:
    """``frame`` as a JSON array of row objects; times in ISO 8601, NaN as null. JSON is
    not a spreadsheet: cells are left exactly as they are."""
    rows = [{k: _json_value(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]
    return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def forecasts_table(frame: pl.DataFrame, *, limit: int = DEFAULT_TABLE_ROWS) -> Table:
    """A terminal table of the first ``limit`` rows, saying how many there are in all.

    A descriptive column with one value in every row (say, the one target asked for) is
    named once in the title instead, so that the rows fit a terminal. Cells are rich
    ``Text``, never markup, so a value such as ``[bold]`` is shown as typed."""
    shown = frame.head(limit)
    labelled = frame.with_columns(
        pl.col("model") + pl.when(pl.col("is_selected")).then(pl.lit(" *")).otherwise(pl.lit(""))
    )
    descriptive = [
        (name, column)
        for name, column in TABLE_LABELS
        if not (column == "origin_group" and frame[column].null_count() == len(frame))
    ]
    constant = {
        name: labelled[column][0]
        for name, column in descriptive
        if len(frame) > 1 and labelled[column].n_unique() == 1
    }
    varying = [(name, column) for name, column in descriptive if name not in constant]
    runs = ", ".join(frame["run_id"].unique().sort().drop_nulls().to_list()[:3]) or "-"
    vintages = ", ".join(str(v) for v in frame["vintage"].unique().sort().drop_nulls())
    title = f"Forecasts (run {runs}; data up to {vintages or '-'})"
    if constant:
        title += "\n" + " · ".join(f"{name} {value}" for name, value in constant.items())
    caption = f"{len(shown):,} of {len(frame):,} row(s); values to 3 significant digits"
    if len(frame) > len(shown):
        caption += "; narrow with --target/--country/--from-year"
    caption += "; --format csv for all rows in full. * = model selected by the backtest"
    table = Table(title=Text(title), caption=caption, box=box.SIMPLE_HEAD)
    for name, _ in varying:
        table.add_column(name, overflow="fold")
    for name in ("year", "forecast", "80 % interval", "95 % interval"):
        table.add_column(name, justify="right", no_wrap=True)
    for row in labelled.head(limit).iter_rows(named=True):
        cells = [row[column] or "" for _, column in varying]
        cells += [
            str(row["year"]),
            compact_number(row["yhat"]),
            f"{compact_number(row['lo80'])} – {compact_number(row['hi80'])}",
            f"{compact_number(row['lo95'])} – {compact_number(row['hi95'])}",
        ]
        table.add_row(*(Text(str(cell)) for cell in cells))
    return table


def write_output(text: str, path: Path) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically: a reader sees the old file or the new."""
    atomic_write_bytes(path, text.encode("utf-8"))


def render(frame: pl.DataFrame, output_format: str) -> str:
    """``frame`` as ``csv`` or ``json`` text."""
    if output_format == "csv":
        return forecasts_csv(frame)
    if output_format == "json":
        return forecasts_json(frame)
    raise ValueError(f"cannot render {output_format!r} as text; use one of csv, json")


def query_from_options(
    *,
    targets: Sequence[str] | None,
    countries: Sequence[str] | None,
    origin_groups: Sequence[str] | None,
    scenarios: Sequence[str] | None,
    models: Sequence[str] | None,
    all_models: bool,
    from_year: int | None,
    to_year: int | None,
) -> ForecastQuery:
    """A :class:`ForecastQuery` from command-line options; countries are validated."""
    if from_year is not None and to_year is not None and from_year > to_year:
        raise ValueError(f"--from-year {from_year} is after --to-year {to_year}")
    return ForecastQuery(
        targets=tuple(targets or ()),
        countries=country_codes(countries or ()),
        origin_groups=tuple(origin_groups or ()),
        scenarios=tuple(scenarios or ()),
        models=tuple(models or ()),
        all_models=all_models,
        from_year=from_year,
        to_year=to_year,
    )
