"""UN World Population Prospects (WPP 2024), the UN's own CSV download layout.

Refreshing: WPP is revised every two years (July); the CSV files are published under
``https://population.un.org/wpp/assets/Excel%20Files/1_Indicator%20(Standard)/CSV_FILES/``
gzipped. Units are thousands of persons; ``Time`` is the year (1 July for populations).
What goes wrong: aggregates (regions, income groups) share the files with countries and
have no ISO3 code; select countries with ``LocTypeID == 4``.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from tasks.sources.formats import Format, ReaderError, decode, open_payload, parse_numbers

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


def parse_population_by_age(path: Path) -> pl.DataFrame:
    """UN WPP CSV, population by 5-year age group and sex (the UN's own download layout,
    plain or gzipped). Thousands of persons; ``Time`` is the year (1 July).

    Returns the file's columns as published, numbers parsed (integers for codes and
    years, Float64 for populations and ``MidPeriod``).
    """
    _, data = open_payload(path, "*.csv")
    text = decode(path, data)
    try:
        frame = pl.read_csv(io.StringIO(text), infer_schema=False)
    except pl.exceptions.PolarsError as error:
        raise ReaderError(f"{path}: cannot parse as CSV: {error}") from error
    present = [c for c in WPP_NUMERIC if c in frame.columns]
    frame = parse_numbers(frame, present, path, first_line=2)
    return frame.with_columns(pl.col(c).cast(pl.Int64) for c in WPP_INTEGER if c in frame.columns)


def tidy_population_by_age(raw: pl.DataFrame) -> pl.DataFrame:
    """Countries and areas only: ``country_iso3, variant, year, age_start, age_span,
    population`` (persons; ``age_span`` -1 for the open group 100+)."""
    return raw.filter(pl.col("LocTypeID") == 4).select(
        pl.col("ISO3_code").alias("country_iso3"),
        pl.col("Variant").alias("variant"),
        pl.col("Time").cast(pl.Int32).alias("year"),
        pl.col("AgeGrpStart").cast(pl.Int32).alias("age_start"),
        pl.col("AgeGrpSpan").cast(pl.Int32).alias("age_span"),
        (pl.col("PopTotal") * 1000).alias("population"),
    )


population_by_age = Format("wpp.population_by_age", parse_population_by_age, tidy_population_by_age)
