"""World Bank: World Development Indicators bulk downloads.

Refreshing: the live address ``https://api.worldbank.org/v2/en/indicator/<CODE>?downloadformat=csv``
answers a zip holding ``API_<CODE>_DS2_en_csv_v2_<n>.csv`` and two ``Metadata_*.csv``
files; WDI is updated several times a year ("Last Updated Date" in the preamble).
What goes wrong: the API answers some errors with HTTP 200 and a JSON body
``[{"message": [...]}]`` (refused by tasks.sources.fetch); aggregates (``WLD``, ``EAS``,
income groups) share the file with economies (flagged by core.countries).

The World Bank API country list (``country_list``): refreshing, the live address
``https://api.worldbank.org/v2/country?format=json&per_page=400`` answers ``[{page
metadata}, [{id, iso2Code, name, region: {id, iso2code, value}, adminregion, incomeLevel,
lendingType, capitalCity, longitude, latitude}, ...]]``; it changes when the World Bank
reclassifies income groups (every 1 July) or adds an aggregate. The mirror holds the same
list flattened to CSV. What goes wrong: a ``per_page`` below the total returns only the
first page (refused); aggregates carry region and income level ``NA`` / "Aggregates", and
``NA`` is also Namibia's ISO2 code, so only an empty cell is ever read as missing.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import polars as pl

from talentflow.core.countries import harmonise
from talentflow.tasks.sources.formats import (
    YEAR_COLUMN,
    Format,
    ReaderError,
    decode,
    open_payload,
    parse_numbers,
    read_text_csv,
    require_columns,
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


# -- World Bank API country list ---------------------------------------------------------

#: The flattened columns, as the mirror's CSV names them (its flattening renamed three:
#: ``region_value``, ``incomeLevel_id`` and ``iso3code`` for the API's ``id``), and where
#: each sits in one record of the API's JSON.
COUNTRY_LIST_FIELDS: dict[str, tuple[str, ...]] = {
    "iso3code": ("id",),
    "iso2Code": ("iso2Code",),
    "name": ("name",),
    "capitalCity": ("capitalCity",),
    "longitude": ("longitude",),
    "latitude": ("latitude",),
    "region.id": ("region", "id"),
    "region.iso2code": ("region", "iso2code"),
    "region_value": ("region", "value"),
    "adminregion.id": ("adminregion", "id"),
    "adminregion.iso2code": ("adminregion", "iso2code"),
    "adminregion.value": ("adminregion", "value"),
    "incomeLevel_id": ("incomeLevel", "id"),
    "incomeLevel.iso2code": ("incomeLevel", "iso2code"),
    "incomeLevel.value": ("incomeLevel", "value"),
    "lendingType.id": ("lendingType", "id"),
    "lendingType.iso2code": ("lendingType", "iso2code"),
    "lendingType.value": ("lendingType", "value"),
}
COORDINATES = ["longitude", "latitude"]
AGGREGATES_REGION = "Aggregates"


def parse_country_list(path: Path) -> pl.DataFrame:
    """World Bank API country list, from the live JSON answer or the mirror's flattened
    CSV (told apart by content, not by file name).

    Returns the flattened columns of :data:`COUNTRY_LIST_FIELDS` (from JSON in that order;
    from CSV as the file has them), as text except ``longitude`` and ``latitude``
    (Float64). Empty values are null; ``NA`` stays
    the text ``NA`` (Namibia's ISO2 code, and the aggregates' region and income level).
    Raises :class:`ReaderError` for a World Bank error payload, a partial page, a record
    lacking a field, or an unparseable coordinate."""
    _, data = open_payload(path, "*")
    text = decode(path, data)
    if text.lstrip().startswith(("[", "{")):
        return _country_list_from_json(path, text)
    frame = read_text_csv(path)
    return parse_numbers(frame, [c for c in COORDINATES if c in frame.columns], path, first_line=2)


def _country_list_from_json(path: Path, text: str) -> pl.DataFrame:
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        raise ReaderError(
            f"{path}: line {error.lineno}, column {error.colno}: not valid JSON: {error.msg}"
        ) from error
    if (
        isinstance(payload, list)
        and payload
        and isinstance(payload[0], dict)
        and "message" in payload[0]
    ):
        raise ReaderError(f"{path}: the World Bank API answered an error: {payload[0]['message']}")
    if not (
        isinstance(payload, list)
        and len(payload) == 2
        and isinstance(payload[0], dict)
        and isinstance(payload[1], list)
    ):
        raise ReaderError(
            f"{path}: expected the API's [page metadata, [records]], found "
            f"{type(payload).__name__} {text[:120]!r}"
        )
    page, records = payload
    pages, total = page.get("pages"), page.get("total")
    if pages is not None and int(pages) != 1:
        raise ReaderError(
            f"{path}: page {page.get('page')} of {pages}: only part of the list; fetch it "
            "with per_page at least the total"
        )
    if total is not None and int(total) != len(records):
        raise ReaderError(
            f"{path}: the page metadata announces {total} records, the file holds "
            f"{len(records)}: a truncated download?"
        )
    rows = [_flatten_country(path, number, record) for number, record in enumerate(records, 1)]
    return pl.DataFrame(
        rows,
        schema={
            column: pl.Float64 if column in COORDINATES else pl.String
            for column in COUNTRY_LIST_FIELDS
        },
        orient="row",
    )


def _flatten_country(path: Path, number: int, record: object) -> list[object]:
    """One API record as the flattened row; empty strings become None."""
    row: list[object] = []
    for column, keys in COUNTRY_LIST_FIELDS.items():
        value = record
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                raise ReaderError(
                    f"{path}: record {number} has no field {'.'.join(keys)!r}: {record!r:.200}"
                )
            value = value[key]
        value = None if value is None or str(value) == "" else str(value)
        if column in COORDINATES and value is not None:
            try:
                value = float(value)
            except ValueError:
                raise ReaderError(
                    f"{path}: record {number}, field {column!r}: {value!r} is not a number"
                ) from None
        row.append(value)
    return row


def tidy_country_list(raw: pl.DataFrame) -> pl.DataFrame:
    """``country_iso3, geo_kind, wb_code, iso2, name, region_id, region, income_level_id,
    income_level, is_aggregate``.

    One row per World Bank economy or aggregate. ``is_aggregate`` is the World Bank's own
    flag (region "Aggregates"); aggregates have a null ``country_iso3`` and null region and
    income level (the API's ``NA`` placeholders), and keep their World Bank code in
    ``wb_code`` (``WLD``, ``HIC``) and ISO2-style code in ``iso2``. Economies are placed by
    core.countries, so the Channel Islands (``CHI``) are an economy here but
    ``geo_kind == "aggregate"``. Trailing blanks in region names are stripped; Namibia's
    ``iso2`` is ``NA``. Every row is kept."""
    require_columns(raw, list(COUNTRY_LIST_FIELDS), "World Bank country list")
    aggregate = pl.col("region_value").str.strip_chars() == AGGREGATES_REGION
    placed = harmonise(
        raw.with_columns(pl.when(~aggregate).then(pl.col("iso3code")).alias("iso3code (economy)")),
        "iso3code (economy)",
        scheme="iso3",
        source="World Bank country list",
    )

    def unless_aggregate(column: str) -> pl.Expr:
        return pl.when(~aggregate).then(pl.col(column).str.strip_chars())

    return placed.select(
        "country_iso3",
        pl.when(aggregate)
        .then(pl.lit("aggregate"))
        .otherwise(pl.col("geo_kind"))
        .alias("geo_kind"),
        pl.col("iso3code").alias("wb_code"),
        pl.col("iso2Code").alias("iso2"),
        "name",
        unless_aggregate("region.id").alias("region_id"),
        unless_aggregate("region_value").alias("region"),
        unless_aggregate("incomeLevel_id").alias("income_level_id"),
        unless_aggregate("incomeLevel.value").alias("income_level"),
        aggregate.alias("is_aggregate"),
    )


country_list = Format("world_bank.country_list", parse_country_list, tidy_country_list)
