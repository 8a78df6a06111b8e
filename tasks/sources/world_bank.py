"""World Bank: World Development Indicators bulk downloads.

Refreshing: the live address ``https://api.worldbank.org/v2/en/indicator/<CODE>?downloadformat=csv``
answers a zip holding ``API_<CODE>_DS2_en_csv_v2_<n>.csv`` and two ``Metadata_*.csv``
files; WDI is updated several times a year ("Last Updated Date" in the preamble).
What goes wrong: the API answers some errors with HTTP 200 and a JSON body
``[{"message": [...]}]`` (refused by tasks.sources.fetch); aggregates (``WLD``, ``EAS``,
income groups) share the file with economies (flagged by core.countries).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import polars as pl

from core.countries import harmonise
from tasks.sources.formats import (
    YEAR_COLUMN,
    Format,
    ReaderError,
    decode,
    open_payload,
    parse_numbers,
)


def parse_bulk_indicator(path: Path) -> pl.DataFrame:
    """World Bank bulk download (``API_<CODE>_DS2_en_csv_v2*.csv``, or the zip holding it).

    Layout: UTF-8 with BOM; preamble lines (``Data Source``, ``Last Updated Date``, blank
    lines) before the header ``Country Name, Country Code, Indicator Name, Indicator
    Code, 1960, …``; a trailing comma on every line.

    Returns
    -------
    One row per economy and year with a value: the publisher's four id columns, then
    ``year`` (Int32) and ``value`` (Float64). Empty cells are dropped. Any column that is
    not a four-digit year is kept as an id column, so a renamed column shows up in
    validation instead of vanishing here.
    """
    name, data = open_payload(path, "API_*.csv")
    lines = decode(path, data).splitlines()
    header_at = next(
        (
            i
            for i, line in enumerate(lines[:20])
            if line.startswith(('"Country Name"', "Country Name"))
        ),
        None,
    )
    if header_at is None:
        # A renamed first column still leaves a header: the first line with 5+ fields.
        header_at = next(
            (i for i, line in enumerate(lines[:20]) if len(next(csv.reader([line]), [])) > 5),
            None,
        )
    if header_at is None:
        raise ReaderError(
            f"{path} ({name}): no header line in the first 20 lines; not a World Bank bulk download"
        )
    body = "\n".join(lines[header_at:])
    try:
        wide = pl.read_csv(io.StringIO(body), infer_schema=False)
    except pl.exceptions.PolarsError as error:
        raise ReaderError(f"{path}: cannot parse as CSV: {error}") from error
    wide = wide.drop([c for c in wide.columns if c == "" and wide[c].null_count() == wide.height])
    years = [c for c in wide.columns if YEAR_COLUMN.match(c)]
    if not years:
        raise ReaderError(f"{path}: the header has no year columns: {wide.columns}")
    wide = parse_numbers(wide, years, path, first_line=header_at + 2)
    ids = [c for c in wide.columns if c not in years]
    return (
        wide.unpivot(index=ids, on=years, variable_name="year", value_name="value")
        .drop_nulls("value")
        .with_columns(pl.col("year").cast(pl.Int32))
    )


def tidy_bulk_indicator(raw: pl.DataFrame) -> pl.DataFrame:
    """``country_iso3, geo_kind, year, indicator_code, value`` (units as the indicator's).

    Every row is kept; aggregates carry ``geo_kind == "aggregate"`` and a null
    ``country_iso3``."""
    return harmonise(raw, "Country Code", scheme="iso3", source="World Bank WDI").select(
        "country_iso3",
        "geo_kind",
        pl.col("Country Name").alias("geo_name"),
        pl.col("year").cast(pl.Int32),
        pl.col("Indicator Code").alias("indicator_code"),
        "value",
    )


bulk_indicator = Format("world_bank.bulk_indicator", parse_bulk_indicator, tidy_bulk_indicator)
