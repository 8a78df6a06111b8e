"""One reader per publisher format: bytes of a raw snapshot in, a Polars frame out.

A reader keeps the publisher's own column names (so Great Expectations can check the
layout exactly as published) and does only what the format forces: decompressing,
stripping a BOM and preamble lines, dropping the empty column a trailing comma makes,
turning wide year columns into rows, and parsing numbers. Tidying into talentflow's
names happens in the feature step, after validation.

Readers never write. Malformed input raises :class:`ReaderError` naming the file, the
line or field, and the fault.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import polars as pl

YEAR_COLUMN = re.compile(r"^\d{4}$")


class ReaderError(ValueError):
    """A raw file that cannot be read as the format it claims to be."""


def _open_payload(path: Path, member_pattern: str = "*.csv") -> tuple[str, bytes]:
    """Return (name, bytes) of the data file: the file itself, or its gunzipped
    content, or the member of a zip download that matches ``member_pattern``."""
    data = path.read_bytes()
    if not data.strip():
        raise ReaderError(f"{path}: the file is empty")
    if data[:2] == b"\x1f\x8b":
        try:
            return path.name.removesuffix(".gz"), gzip.decompress(data)
        except (OSError, EOFError) as error:
            raise ReaderError(f"{path}: truncated or corrupt gzip: {error}") from error
    if data[:4] == b"PK\x03\x04":
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            names = [
                n
                for n in archive.namelist()
                if Path(n).match(member_pattern) and not Path(n).name.startswith("Metadata_")
            ]
            if len(names) != 1:
                raise ReaderError(
                    f"{path}: expected one member matching {member_pattern!r} in the zip, "
                    f"found {archive.namelist()}"
                )
            return names[0], archive.read(names[0])
        except zipfile.BadZipFile as error:
            raise ReaderError(f"{path}: truncated or corrupt zip: {error}") from error
    return path.name, data


def _decode(path: Path, data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ReaderError(f"{path}: not UTF-8 text at byte {error.start}") from error
    if text.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
        raise ReaderError(
            f"{path}: holds an HTML page, not data (an error page saved under the data "
            "file's name?). Pull the source again."
        )
    return text


def parse_numbers(
    frame: pl.DataFrame, columns: list[str], path: Path, *, first_line: int
) -> pl.DataFrame:
    """Cast text columns to Float64; empty text becomes null, anything else that is not a
    number raises ReaderError naming the line and column. ``first_line`` is the file
    line of the frame's first row (1-based), so the message points into the file."""
    cleaned = frame.with_columns(
        pl.col(c).str.strip_chars().replace("", None).alias(c) for c in columns
    )
    parsed = cleaned.with_columns(pl.col(c).cast(pl.Float64, strict=False) for c in columns)
    for column in columns:
        bad = cleaned.with_row_index("_row").filter(
            pl.col(column).is_not_null() & parsed[column].is_null()
        )
        if bad.height:
            row = bad.row(0, named=True)
            raise ReaderError(
                f"{path}: line {first_line + row['_row']}, column {column!r}: "
                f"{row[column]!r} is not a number ({bad.height} such cell(s))"
            )
    return parsed


def world_bank_indicator(path: Path) -> pl.DataFrame:
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
    name, data = _open_payload(path, "API_*.csv")
    lines = _decode(path, data).splitlines()
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


WPP_NUMERIC = [
    "SortOrder",
    "LocID",
    "LocTypeID",
    "ParentID",
    "VarID",
    "Time",
    "MidPeriod",
    "AgeGrpStart",
    "AgeGrpSpan",
    "PopMale",
    "PopFemale",
    "PopTotal",
]
WPP_INTEGER = [
    "SortOrder",
    "LocID",
    "LocTypeID",
    "ParentID",
    "VarID",
    "Time",
    "AgeGrpStart",
    "AgeGrpSpan",
]


def wpp_population_by_age(path: Path) -> pl.DataFrame:
    """UN WPP CSV, population by 5-year age group and sex (the UN's own download layout,
    plain or gzipped). Thousands of persons; ``Time`` is the year (1 July).

    Returns the file's columns as published, numbers parsed (integers for codes and
    years, Float64 for populations and ``MidPeriod``).
    """
    _, data = _open_payload(path, "*.csv")
    text = _decode(path, data)
    try:
        frame = pl.read_csv(io.StringIO(text), infer_schema=False)
    except pl.exceptions.PolarsError as error:
        raise ReaderError(f"{path}: cannot parse as CSV: {error}") from error
    present = [c for c in WPP_NUMERIC if c in frame.columns]
    frame = parse_numbers(frame, present, path, first_line=2)
    return frame.with_columns(pl.col(c).cast(pl.Int64) for c in WPP_INTEGER if c in frame.columns)


READERS: dict[str, Callable[[Path], pl.DataFrame]] = {
    "world_bank_indicator": world_bank_indicator,
    "wpp_population_by_age": wpp_population_by_age,
}
