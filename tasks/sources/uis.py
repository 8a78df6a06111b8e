"""UNESCO Institute for Statistics (UIS): Data API records and the 360info top-partner tables.

Two publisher formats live here:

``api_records``
    The UIS Data API CSV (``indicatorId, geoUnit, year, value, qualifier, magnitude``).
    Refreshing: ``https://api.uis.unesco.org/api/public/data/indicators?indicator=<codes>
    &geoUnitType=NATIONAL&format=csv`` (the catalog spells the address); UIS releases
    data in September and February, and the catalog pulls monthly. One request returns at
    most 100,000 records, so ask for a few indicators at a time.
    What goes wrong: without ``geoUnitType=NATIONAL`` the answer mixes in regional geo
    units, written as quoted names with commas (``"SDG: Europe, Northern America, …"``)
    instead of ISO3 codes; they are kept as aggregates. ``magnitude`` holds the code
    ``NA`` (not applicable) beside ``NIL``: it is read as text, never as a missing value.
``top_destinations_by_origin`` / ``top_origins_by_destination``
    360info's extracts of the UIS "Global flow of tertiary-level students" (the OPRI bulk
    release): for each country and year its 10 largest partners, the rest summed into
    "Other countries". Refreshing: frozen at the report-global-education commit the
    catalog names; an operator pulls a newer commit by hand. What goes wrong: China does
    not report inbound students by origin to UIS, so it is never a destination; a
    destination that did not report a year is simply absent; counts can be fractional
    (UIS estimates).

The CSV helpers at the top (:func:`read_csv_strings`, :func:`parse_integers`,
:func:`require_columns`) are shared by the OECD, OWID and World Bank country-list readers.
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

# -- UIS Data API records ----------------------------------------------------------------

API_COLUMNS = ["indicatorId", "geoUnit", "year", "value", "qualifier", "magnitude"]
NATIONAL_GEO_UNIT = r"^[A-Z]{3}$"


def parse_api_records(path: Path) -> pl.DataFrame:
    """UIS Data API CSV: one row per indicator, geo unit and year.

    Returns the publisher's columns (``indicatorId, geoUnit, year, value, qualifier,
    magnitude``) with ``year`` as Int32 and ``value`` as Float64; ``qualifier``
    (``UIS_EST``, ``NAT_EST``) and ``magnitude`` (``NIL``, ``NA``) stay text, empty as
    null. Columns other than ``year`` and ``value`` are not required here (the suite
    checks the layout)."""
    frame = read_text_csv(path, required=["year", "value"])
    frame = parse_numbers(frame, ["value"], path, first_line=2)
    return parse_whole_numbers(frame, ["year"], path, first_line=2, dtype=pl.Int32)


def tidy_api_records(raw: pl.DataFrame) -> pl.DataFrame:
    """``country_iso3, geo_kind, geo_unit, indicator_id, year, value, qualifier,
    magnitude``; ``value`` in the indicator's own unit (a number of students, a ratio in
    %, a net flow that can be negative).

    A geo unit that is an ISO3 code is placed by core.countries; any other geo unit is a
    UIS regional aggregate (``"UIS: World"``, ``"SDG: Sub-Saharan Africa"``, ``CECC-SICA``)
    and gets ``geo_kind == "aggregate"`` with a null ``country_iso3``. Every row is kept."""
    require_columns(raw, API_COLUMNS, "UIS API records")
    national = pl.col("geoUnit").str.contains(NATIONAL_GEO_UNIT)
    placed = harmonise(
        raw.with_columns(pl.when(national).then(pl.col("geoUnit")).alias("geoUnit (ISO3)")),
        "geoUnit (ISO3)",
        scheme="iso3",
        source="UIS Data API",
    )
    return placed.select(
        "country_iso3",
        pl.when(pl.col("geoUnit").is_not_null() & ~national)
        .then(pl.lit("aggregate"))
        .otherwise(pl.col("geo_kind"))
        .alias("geo_kind"),
        pl.col("geoUnit").alias("geo_unit"),
        pl.col("indicatorId").alias("indicator_id"),
        pl.col("year").cast(pl.Int32),
        pl.col("value").cast(pl.Float64),
        "qualifier",
        "magnitude",
    )


api_records = Format("uis.api_records", parse_api_records, tidy_api_records)


# -- 360info top-10 partner tables -------------------------------------------------------

LUMP = "Other countries"
#: ``cond_all`` is four space-separated slots, each its letter or ``-``: a = INCLUDES (the
#: value includes another category), b = INCLUDED (it is included in another value),
#: c = NAT_EST (national estimate), d = UIS_EST (UIS estimate).
CONDITION_FLAGS = {
    "a": "includes_other_data",
    "b": "included_elsewhere",
    "c": "national_estimate",
    "d": "uis_estimate",
}
CONDITION_PATTERN = r"^[a-] [b-] [c-] [d-]$"


def parse_top_partners(path: Path) -> pl.DataFrame:
    """360info top-10 partner table (either direction): ``year, <country column>,
    <partner column>, value_lumped, cond_all`` as published, ``year`` Int32 and
    ``value_lumped`` Float64 (students; fractional where UIS estimated).

    ``cond_all`` stays text but must read ``"a b c d"`` with ``-`` for an absent flag;
    anything else raises :class:`ReaderError` naming the line."""
    frame = read_text_csv(path, required=["year", "value_lumped", "cond_all"])
    bad = frame.with_row_index("_row").filter(
        ~pl.col("cond_all").str.contains(CONDITION_PATTERN).fill_null(False)
    )
    if bad.height:
        row = bad.row(0, named=True)
        raise ReaderError(
            f"{path}: line {row['_row'] + 2}, column 'cond_all': {row['cond_all']!r} is not "
            f"four flags 'a b c d' with '-' for absent ({bad.height} such row(s))"
        )
    frame = parse_numbers(frame, ["value_lumped"], path, first_line=2)
    return parse_whole_numbers(frame, ["year"], path, first_line=2, dtype=pl.Int32)


def _tidy_top_partners(
    raw: pl.DataFrame, origin: str, destination: str, partner: str
) -> pl.DataFrame:
    require_columns(raw, ["year", origin, destination, "value_lumped", "cond_all"], "360info")
    source = "UIS bilateral flows (360info top partners)"
    placed = harmonise(raw, origin, scheme="name", source=source).rename(
        {"country_iso3": "origin_iso3", "geo_kind": "origin_geo_kind"}
    )
    placed = harmonise(placed, destination, scheme="name", source=source).rename(
        {"country_iso3": "destination_iso3", "geo_kind": "destination_geo_kind"}
    )
    slots = pl.col("cond_all").str.split(" ")
    return placed.select(
        "origin_iso3",
        "origin_geo_kind",
        pl.col(origin).alias("origin_name"),
        "destination_iso3",
        "destination_geo_kind",
        pl.col(destination).alias("destination_name"),
        pl.col("year").cast(pl.Int32),
        pl.col("value_lumped").cast(pl.Float64).alias("students"),
        (pl.col(partner) == LUMP).alias("partner_is_lump"),
        *(
            (slots.list.get(position) == letter).alias(flag)
            for position, (letter, flag) in enumerate(CONDITION_FLAGS.items())
        ),
    )


def tidy_top_destinations_by_origin(raw: pl.DataFrame) -> pl.DataFrame:
    """``origin_iso3, origin_geo_kind, origin_name, destination_iso3,
    destination_geo_kind, destination_name, year, students, partner_is_lump,
    includes_other_data, included_elsewhere, national_estimate, uis_estimate``.

    For each origin and year, its 10 largest destinations and the lump "Other countries"
    (``partner_is_lump``; an aggregate destination, null ``destination_iso3``). Students
    are internationally mobile tertiary students from the origin enrolled in the
    destination. Every row is kept; names that are not countries ("Asia: unknown
    countries") are aggregates."""
    return _tidy_top_partners(
        raw, "origin_country_name", "dest_country_lumped", partner="dest_country_lumped"
    )


def tidy_top_origins_by_destination(raw: pl.DataFrame) -> pl.DataFrame:
    """The same columns as :func:`tidy_top_destinations_by_origin`, read the other way:
    for each destination and year, its 10 largest origins and the lump "Other countries"
    (``partner_is_lump``; an aggregate origin, null ``origin_iso3``)."""
    return _tidy_top_partners(
        raw, "origin_country_lumped", "dest_country_name", partner="origin_country_lumped"
    )


top_destinations_by_origin = Format(
    "uis.top_destinations_by_origin", parse_top_partners, tidy_top_destinations_by_origin
)
top_origins_by_destination = Format(
    "uis.top_origins_by_destination", parse_top_partners, tidy_top_origins_by_destination
)
