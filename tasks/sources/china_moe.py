"""China's Ministry of Education (MoE) and National Bureau of Statistics (NBS): figures
on international students in China and on Chinese postgraduate education.

Refreshing: the MoE's releases are web pages, not data files, and were typed by hand from
pages that reprint them (``source_url`` on every row); there is no schedule. An operator
adds rows when a new bulletin appears (the MoE has published no international-student
release since the 2018 figures; the NBS communique gives postgraduate totals every
February), converting 万 (10,000) to persons and saying in ``note`` how the figure was
reported.

What goes wrong:

- ``category`` means different things by ``metric``: continents, origin countries, host
  provinces, study levels, funding. Only origin metrics are placed (see
  :data:`ORIGIN_METRICS`); everything else has a null ``origin_iso3`` and ``geo_kind``.
- Some figures are rounded ("about 440,000") and one is derived here: the 2010 total is
  the 2011 total minus the stated increase; ``note`` says ``DERIVED`` and the tidy table
  says ``is_derived``.
- The 2017 top-10 origin countries are a rank list with no counts: one row whose
  ``category`` lists the countries and whose ``value`` is empty; not placed.
- Scope: MoE headcounts of all foreign students, short-term and non-degree included;
  Hong Kong, Macao and Taiwan excluded. Postgraduate figures are all fields (no STEM
  split); ``value_persons`` must equal ``value_reported`` x 10,000 (checked when parsing).
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

STUDENT_COLUMNS = ["year", "metric", "category", "value", "unit", "source_url", "note"]
POSTGRADUATE_COLUMNS = [
    "year",
    "metric",
    "level",
    "value_reported",
    "unit_reported",
    "value_persons",
    "source_url",
    "note",
]
#: Metrics whose ``category`` names where the students come from: origin countries
#: (``international_students_by_origin_country_top15``, ``_top3``, ``_top``), continents
#: and groups of origin countries ("Belt and Road countries"), the last two aggregates.
ORIGIN_METRICS = (
    r"^international_students_by_origin_country"
    r"|^international_students_by_continent$"
    r"|^international_students_by_origin_group$"
)
#: The word in ``note`` that marks a figure computed here rather than published.
DERIVED_MARKER = "DERIVED"
#: ``unit_reported`` values in 万 (10,000 persons).
TEN_THOUSAND = "10k persons"


def parse_international_students(path: Path) -> pl.DataFrame:
    """``china_international_students_moe.csv`` as written (``year, metric, category,
    value, unit, source_url, note``): ``year`` Int32, ``value`` Float64 (empty for the
    2017 rank list)."""
    frame = read_text_csv(path)
    if "year" in frame.columns:
        frame = parse_whole_numbers(frame, ["year"], path, first_line=2, dtype=pl.Int32)
    if "value" in frame.columns:
        frame = parse_numbers(frame, ["value"], path, first_line=2)
    return frame


def tidy_international_students(raw: pl.DataFrame) -> pl.DataFrame:
    """One row per figure, every row kept:

    ``year`` (Int32), ``metric``, ``category``, ``origin_iso3`` and ``geo_kind`` (only for
    :data:`ORIGIN_METRICS`: countries, or aggregates for continents and country groups;
    null for every other metric), ``value`` (Float64, in ``unit``), ``unit`` (persons,
    count, rank list), ``is_derived`` (computed here, not published: ``DERIVED`` in the
    note), ``source_url``, ``note``."""
    require_columns(
        raw, STUDENT_COLUMNS, "China MoE international students", "china_moe_international_students"
    )
    is_origin = pl.col("metric").str.contains(ORIGIN_METRICS)
    placed = harmonise(
        raw.with_columns(pl.when(is_origin).then(pl.col("category")).alias("_origin")),
        "_origin",
        scheme="name",
        source="China MoE international students (origins)",
    )
    return placed.select(
        pl.col("year").cast(pl.Int32),
        "metric",
        "category",
        pl.col("country_iso3").alias("origin_iso3"),
        pl.when(is_origin).then(pl.col("geo_kind")).alias("geo_kind"),
        "value",
        "unit",
        pl.col("note").fill_null("").str.contains(DERIVED_MARKER).alias("is_derived"),
        "source_url",
        "note",
    )


def parse_postgraduate(path: Path) -> pl.DataFrame:
    """``china_postgraduate_education_moe_nbs.csv`` as written (``year, metric, level,
    value_reported, unit_reported, value_persons, source_url, note``): ``year`` Int32,
    ``value_reported`` Float64 (in 万人), ``value_persons`` Int64. A ``value_persons`` that
    is not ``value_reported`` x 10,000 is a ReaderError naming the line."""
    frame = read_text_csv(path)
    if "year" in frame.columns:
        frame = parse_whole_numbers(frame, ["year"], path, first_line=2, dtype=pl.Int32)
    if "value_reported" in frame.columns:
        frame = parse_numbers(frame, ["value_reported"], path, first_line=2)
    if "value_persons" in frame.columns:
        frame = parse_whole_numbers(frame, ["value_persons"], path, first_line=2)
    if {"value_reported", "unit_reported", "value_persons"} <= set(frame.columns):
        wrong = frame.with_row_index("_row").filter(
            pl.col("unit_reported").str.starts_with(TEN_THOUSAND)
            & ((pl.col("value_reported") * 10_000).round(0) != pl.col("value_persons"))
        )
        if wrong.height:
            row = wrong.row(0, named=True)
            raise ReaderError(
                f"{path}: line {2 + row['_row']}: value_persons {row['value_persons']} is not "
                f"value_reported {row['value_reported']} x 10,000 ({wrong.height} such row(s))"
            )
    return frame


def tidy_postgraduate(raw: pl.DataFrame) -> pl.DataFrame:
    """One row per year, metric and level, every row kept:

    ``year`` (Int32), ``metric`` (graduate_admissions, graduate_enrolment, graduates),
    ``level`` (all postgraduate, doctoral, master), ``value_persons`` (Int64, persons),
    ``value_reported`` (as published, in ``unit_reported``), ``unit_reported``,
    ``source_url``, ``note``."""
    require_columns(
        raw, POSTGRADUATE_COLUMNS, "China MoE/NBS postgraduate education", "china_moe_postgraduate"
    )
    return raw.select(
        pl.col("year").cast(pl.Int32),
        "metric",
        "level",
        "value_persons",
        "value_reported",
        "unit_reported",
        "source_url",
        "note",
    )


international_students = Format(
    "china_moe.international_students", parse_international_students, tidy_international_students
)
postgraduate = Format("china_moe.postgraduate", parse_postgraduate, tidy_postgraduate)
