"""OECD Education at a Glance 2022: international students by origin, nationals abroad.

Both tables are OECD Data Explorer extracts republished by the repository
``nemuulen/INFOSCI301_Final_Project`` (the catalog names the commit); they are frozen
for reference year 2022. Refreshing: by hand. An operator exports the same two queries
(Education at a Glance, international student mobility) from the OECD Data Explorer, or
pulls a newer commit of the repository, and checks the layout against the suites
``oecd_eag_share_by_origin`` and ``oecd_eag_outbound_total`` before replacing a snapshot.

What goes wrong
---------------
- **The share table's column names are wrong.** ``REF_AREA`` and ``Origin`` are the
  country of *study* (the destination) and ``Destination`` holds the *origin* country or
  region (including "World", "Asia", "Africa"). :func:`parse_share_by_origin` keeps the
  publisher's names; :func:`tidy_share_by_origin` reads them by meaning.
- The republisher's file mixes encodings: some names are UTF-8 read as Latin-1 and
  written again ("CuraÃ§ao"); tidy repairs that. One name lost its "ô" to a stray byte
  ("C\\x99te d'Ivoire"); the alias table knows it.
- Both Koreas are labelled "Korea", so each destination lists "Korea" twice. Which row is
  which cannot be read from the file; tidy keeps both with ``origin_geo_kind ==
  "unknown"`` and a null ``origin_iso3`` rather than guess.
- Costa Rica and Peru reported no shares: their rows, "World" included, are empty.
- ``REF_AREA`` includes the aggregate ``EU25`` (European Union, 25 countries).

Readers never write files.
"""

from __future__ import annotations

import logging
from pathlib import Path

import polars as pl

from talentflow.core.countries import harmonise
from talentflow.tasks.sources.formats import (
    Format,
    parse_numbers,
    parse_whole_numbers,
    read_text_csv,
    require_columns,
)

logger = logging.getLogger(__name__)

SHARE_COLUMNS = ["REF_AREA", "Origin", "Destination", "TIME_PERIOD", "Percentage_of_students"]
OUTBOUND_COLUMNS = ["REF_AREA", "Reference area", "TIME_PERIOD", "TOTAL_STUDENTS"]


def repair_double_encoding(text: str | None) -> str | None:
    """``text`` with UTF-8 that was decoded as Latin-1 and encoded again undone
    ("CuraÃ§ao" -> "Curaçao"); any other text unchanged."""
    if text is None or text.isascii():
        return text
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


def parse_share_by_origin(path: Path) -> pl.DataFrame:
    """EAG 2022 share of international students by origin, as published: ``REF_AREA,
    Origin, Destination, TIME_PERIOD, Percentage_of_students`` (mislabelled: see the
    module docstring), ``TIME_PERIOD`` Int32, ``Percentage_of_students`` Float64 (empty
    where not reported)."""
    frame = read_text_csv(path, required=["TIME_PERIOD", "Percentage_of_students"])
    frame = parse_numbers(frame, ["Percentage_of_students"], path, first_line=2)
    return parse_whole_numbers(frame, ["TIME_PERIOD"], path, first_line=2, dtype=pl.Int32)


def tidy_share_by_origin(raw: pl.DataFrame) -> pl.DataFrame:
    """``destination_iso3, destination_geo_kind, destination_name, origin_iso3,
    origin_geo_kind, origin_name, year, share_percent``.

    ``share_percent`` is the share (%) of the destination's international tertiary
    students who come from the origin; ``origin_name == "World"`` is 100 wherever the
    destination reported. The destination is the publisher's ``REF_AREA`` (ISO3, or the
    aggregate ``EU25``), the origin its ``Destination`` column (countries and regions;
    regions are aggregates). Every row is kept, unreported shares as null; an origin
    label that a destination lists twice ("Korea") is ``unknown``."""
    require_columns(raw, SHARE_COLUMNS, "OECD EAG share by origin")
    source = "OECD EAG 2022 share by origin"
    names = raw["Destination"].unique().to_list()
    repaired = raw.with_columns(
        pl.col("Destination")
        .replace({name: repair_double_encoding(name) for name in names})
        .alias("origin_name")
    )
    placed = harmonise(repaired, "REF_AREA", scheme="iso3", source=source).rename(
        {"country_iso3": "destination_iso3", "geo_kind": "destination_geo_kind"}
    )
    placed = harmonise(placed, "origin_name", scheme="name", source=source)
    ambiguous = pl.len().over("REF_AREA", "Destination", "TIME_PERIOD") > 1
    doubled = sorted(placed.filter(ambiguous)["origin_name"].unique().to_list())
    if doubled:
        logger.warning(
            "%s: origin label(s) listed twice by the same destination, left unknown: %s",
            source,
            ", ".join(doubled),
        )
    return placed.select(
        "destination_iso3",
        "destination_geo_kind",
        pl.col("Origin").alias("destination_name"),
        pl.when(ambiguous).then(None).otherwise(pl.col("country_iso3")).alias("origin_iso3"),
        pl.when(ambiguous)
        .then(pl.lit("unknown"))
        .otherwise(pl.col("geo_kind"))
        .alias("origin_geo_kind"),
        "origin_name",
        pl.col("TIME_PERIOD").cast(pl.Int32).alias("year"),
        pl.col("Percentage_of_students").cast(pl.Float64).alias("share_percent"),
    )


def parse_outbound_total(path: Path) -> pl.DataFrame:
    """EAG 2022 nationals enrolled abroad, as published: ``REF_AREA, Reference area,
    TIME_PERIOD, TOTAL_STUDENTS``, ``TIME_PERIOD`` Int32, ``TOTAL_STUDENTS`` Float64."""
    frame = read_text_csv(path, required=["TIME_PERIOD", "TOTAL_STUDENTS"])
    frame = parse_numbers(frame, ["TOTAL_STUDENTS"], path, first_line=2)
    return parse_whole_numbers(frame, ["TIME_PERIOD"], path, first_line=2, dtype=pl.Int32)


def tidy_outbound_total(raw: pl.DataFrame) -> pl.DataFrame:
    """``country_iso3, geo_kind, year, students_abroad``: tertiary students who are
    nationals of the country and enrolled in OECD and partner countries (persons). Every
    row is kept."""
    require_columns(raw, OUTBOUND_COLUMNS, "OECD EAG outbound total")
    placed = harmonise(raw, "REF_AREA", scheme="iso3", source="OECD EAG 2022 outbound total")
    return placed.select(
        "country_iso3",
        "geo_kind",
        pl.col("TIME_PERIOD").cast(pl.Int32).alias("year"),
        pl.col("TOTAL_STUDENTS").cast(pl.Float64).alias("students_abroad"),
    )


eag_share_by_origin = Format(
    "oecd.eag_share_by_origin", parse_share_by_origin, tidy_share_by_origin
)
eag_outbound_total = Format("oecd.eag_outbound_total", parse_outbound_total, tidy_outbound_total)
