"""Our World in Data (OWID) grapher CSV exports: one indicator per chart, long format.

Refreshing: ``https://ourworldindata.org/grapher/<chart-slug>.csv`` answers the chart's
data (the catalog names each slug); OWID republishes when its upstream source (UIS,
World Bank WDI) updates, so the catalog pulls monthly. OWID's licence is CC BY 4.0, the
upstream's terms also apply.

What goes wrong
---------------
- Two header styles: older exports read ``Entity, Code, Year, <indicator title>``, newer
  ones ``entity, code, year, <indicator code>, owid_region``. :func:`parse_grapher`
  lower-cases the three id headers (so one suite serves both) and keeps every other
  header as published; the indicator column's header is the indicator's name.
- Regions and income groups share the file with countries. Their ``code`` is empty or
  an OWID code (``OWID_WRL``, ``WB_SSA``); such rows are placed by their ``entity`` name,
  and OWID's ``OWID_KOS`` is Kosovo.
- Region names contain commas and quotes ("Middle East, North Africa, …"): read as CSV,
  never split by hand.

Readers never write files.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from talentflow.core.countries import harmonise
from talentflow.tasks.sources.formats import (
    Format,
    ReaderError,
    parse_numbers,
    parse_whole_numbers,
    read_text_csv,
    require_columns,
)

ID_COLUMNS = ["entity", "code", "year"]
#: Text columns some exports add beside the indicator(s).
TEXT_COLUMNS = ["owid_region"]
ISO3_CODE = r"^[A-Z]{3}$"


def indicator_columns(columns: list[str]) -> list[str]:
    """The value columns of a grapher export: every column that is not an id or text
    column."""
    return [c for c in columns if c not in ID_COLUMNS and c not in TEXT_COLUMNS]


def parse_grapher(path: Path) -> pl.DataFrame:
    """OWID grapher CSV: ``entity, code, year`` (lower-cased whatever the export's case),
    then the indicator column(s) under their published headers, as Float64, and
    ``owid_region`` where the export has it. ``year`` is Int32; empty ``code`` is null.

    Raises :class:`ReaderError` if the header lacks Entity/Code/Year in any case or has
    no indicator column, and for an unparseable number (naming line and column)."""
    frame = read_text_csv(path)
    ids = {column.lower(): column for column in frame.columns if column.lower() in ID_COLUMNS}
    if sorted(ids) != sorted(ID_COLUMNS):
        raise ReaderError(
            f"{path}: not an OWID grapher export: the header {frame.columns} lacks "
            f"{[c for c in ID_COLUMNS if c not in ids]} (Entity, Code, Year in any case)"
        )
    frame = frame.rename({published: lower for lower, published in ids.items()})
    indicators = indicator_columns(frame.columns)
    if not indicators:
        raise ReaderError(f"{path}: the header {frame.columns} has no indicator column")
    frame = parse_numbers(frame, indicators, path, first_line=2)
    return parse_whole_numbers(frame, ["year"], path, first_line=2, dtype=pl.Int32)


def tidy_grapher(raw: pl.DataFrame) -> pl.DataFrame:
    """``country_iso3, geo_kind, entity, year, indicator, value, owid_region``.

    One row per entity, year and indicator column; ``indicator`` is the value column's
    published header (its title or code), ``value`` is in that indicator's unit.
    ``owid_region`` is OWID's continent for countries, null for aggregates or when the
    export has no such column. Rows with an ISO3 ``code`` are placed by code, the others
    (empty or OWID codes) by ``entity`` name, so regions become aggregates. Every row is
    kept."""
    require_columns(raw, ID_COLUMNS, "OWID grapher")
    source = "Our World in Data grapher"
    by_code = pl.col("code").str.contains(ISO3_CODE).fill_null(False)
    frame = raw.with_columns(
        pl.when(by_code).then(pl.col("code")).alias("code (ISO3)"),
        pl.when(~by_code).then(pl.col("entity")).alias("entity (no ISO3 code)"),
    )
    frame = harmonise(frame, "code (ISO3)", scheme="iso3", source=source).rename(
        {"country_iso3": "_iso3_by_code", "geo_kind": "_kind_by_code"}
    )
    frame = harmonise(frame, "entity (no ISO3 code)", scheme="name", source=source)
    frame = frame.with_columns(
        pl.when(by_code)
        .then(pl.col("_iso3_by_code"))
        .otherwise(pl.col("country_iso3"))
        .alias("country_iso3"),
        pl.when(by_code)
        .then(pl.col("_kind_by_code"))
        .otherwise(pl.col("geo_kind"))
        .alias("geo_kind"),
    )
    if "owid_region" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("owid_region"))
    return frame.unpivot(
        index=["country_iso3", "geo_kind", "entity", "year", "owid_region"],
        on=indicator_columns(raw.columns),
        variable_name="indicator",
        value_name="value",
    ).select(
        "country_iso3",
        "geo_kind",
        "entity",
        pl.col("year").cast(pl.Int32),
        "indicator",
        pl.col("value").cast(pl.Float64),
        "owid_region",
    )


grapher = Format("owid.grapher", parse_grapher, tidy_grapher)
