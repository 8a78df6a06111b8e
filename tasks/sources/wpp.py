"""UN World Population Prospects (WPP 2024), the UN's own CSV download layout.

Refreshing: WPP is revised every two years (July); the CSV files are published under
``https://population.un.org/wpp/assets/Excel%20Files/1_Indicator%20(Standard)/CSV_FILES/``
gzipped. Units are thousands of persons; ``Time`` is the year (1 July for populations).
What goes wrong: aggregates (regions, income groups) share the files with countries and
have no ISO3 code; select countries with ``LocTypeID == 4``.

The annual totals file (``WPP2024_Population1JanuaryBySex_*``) counts on 1 January:
``Time`` t is the UN's 31 December of t-1. Its prediction-interval variants have no
``VarID`` and no male/female split. The locations table (``UNlocations``, from the PPgp
wpp2024 R package, refreshed with each revision) types every place: ``location_type`` 4 is
a country or area, anything else a grouping (an aggregate, whatever its M49 code).
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from talentflow.core.countries import harmonise
from talentflow.tasks.sources.formats import (
    Format,
    ReaderError,
    decode,
    open_payload,
    parse_numbers,
    parse_whole_numbers,
    read_text_csv,
    require_columns,
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


# Annual totals by variant, and the locations table (M49 codes, regions, groupings).

#: Variants of the annual file: three deterministic projections and the bounds of the
#: UN's 80% and 95% probabilistic prediction intervals (PopTotal only, VarID empty).
ANNUAL_VARIANTS = (
    "Medium",
    "High",
    "Low",
    "Lower 80 PI",
    "Upper 80 PI",
    "Lower 95 PI",
    "Upper 95 PI",
)
#: ``LocTypeID`` / ``location_type`` of a country or area; every other type is a grouping.
COUNTRY_LOCATION_TYPE = 4
LOCATION_CODES = [
    "country_code",
    "reg_code",
    "area_code",
    "location_type",
    "tree_level",
    "SortOrder",
]


def parse_population_annual(path: Path) -> pl.DataFrame:
    """UN WPP CSV, total population on 1 January by variant
    (``WPP2024_Population1JanuaryBySex_*``): the same UN layout without the ``AgeGrp*``
    columns, so the same parsing as :func:`parse_population_by_age`. Thousands of persons;
    ``Time`` is 1 January of that year (the UN's 31 December of the year before).
    ``VarID``, ``PopMale`` and ``PopFemale`` are null for the prediction-interval variants
    (``Lower 80 PI`` ... ``Upper 95 PI``)."""
    return parse_population_by_age(path)


def tidy_population_annual(raw: pl.DataFrame) -> pl.DataFrame:
    """Countries and areas only (``LocTypeID == 4``; regions and groupings are left out):
    ``country_iso3, variant, year, population``. ``variant`` is one of
    :data:`ANNUAL_VARIANTS`; ``year`` (Int32) is the year whose 1 January the population
    is counted on; ``population`` is in persons (Float64)."""
    require_columns(
        raw,
        ["LocTypeID", "ISO3_code", "Variant", "Time", "PopTotal"],
        "WPP annual population",
        "wpp_population_annual",
    )
    return raw.filter(pl.col("LocTypeID") == COUNTRY_LOCATION_TYPE).select(
        pl.col("ISO3_code").alias("country_iso3"),
        pl.col("Variant").alias("variant"),
        pl.col("Time").cast(pl.Int32).alias("year"),
        (pl.col("PopTotal") * 1000).alias("population"),
    )


def parse_locations(path: Path) -> pl.DataFrame:
    """WPP 2024 location table (``UNlocations``, comma-separated): ``name, country_code``
    (UN M49), ``reg_code, reg_name`` (subregion; -1 and empty for the five countries of
    Northern America, which WPP does not subdivide), ``area_code, area_name`` (the six WPP
    regions: Africa, Asia, Europe, Latin America and the Caribbean, Northern America,
    Oceania),
    ``location_type`` (4 country or area; 0 world, 2 region, 3 subregion, larger codes
    special groupings), ``tree_level``, ``SortOrder`` and ``agcode_*`` membership flags.
    Codes and flags as Int64 (-1 = none / not a member); names as text."""
    frame = read_text_csv(path)
    codes = [c for c in frame.columns if c in LOCATION_CODES or c.startswith("agcode_")]
    return parse_whole_numbers(frame, codes, path, first_line=2)


def tidy_locations(raw: pl.DataFrame) -> pl.DataFrame:
    """Every location, one row each: ``m49`` (Int64), ``country_iso3`` and ``geo_kind``
    (core.countries on the M49 code of each country or area; every location whose
    ``location_type`` is not 4, i.e. the world, regions, subregions, income and other
    groupings, is an ``aggregate``, as the UN types it), ``name``, ``subregion``,
    ``region`` (the WPP region; both null for groupings), ``location_type`` (Int64, see
    :func:`parse_locations`)."""
    require_columns(
        raw,
        ["name", "country_code", "reg_name", "area_name", "location_type"],
        "WPP locations",
        "wpp_locations",
    )
    is_country = pl.col("location_type") == COUNTRY_LOCATION_TYPE
    placed = harmonise(
        raw.with_columns(pl.when(is_country).then(pl.col("country_code")).alias("_m49")),
        "_m49",
        scheme="m49",
        source="WPP 2024 locations",
    )
    return placed.select(
        pl.col("country_code").alias("m49"),
        "country_iso3",
        pl.when(is_country).then("geo_kind").otherwise(pl.lit("aggregate")).alias("geo_kind"),
        "name",
        pl.col("reg_name").alias("subregion"),
        pl.col("area_name").alias("region"),
        "location_type",
    )


population_annual = Format("wpp.population_annual", parse_population_annual, tidy_population_annual)
locations = Format("wpp.locations", parse_locations, tidy_locations)
