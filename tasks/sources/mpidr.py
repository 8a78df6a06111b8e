"""Max Planck Institute for Demographic Research (MPIDR): the Scholarly Migration Database.

Researcher migration inferred from changes in authors' affiliation country across their
publications (Scopus and OpenAlex), as country-year totals (``*_scholarlymigration_country.csv``)
and country-to-country flows by year (``*_scholarlymigration_countryflows.csv``). Not ORCID.

Refreshing: a frozen research release (Zenodo doi:10.5281/zenodo.11145735, CC BY 4.0;
``scopus_2024_V1`` and ``openalex_2023_V1``). There is no schedule: when the MPIDR
publishes a new version, an operator points the catalog at the new file names, pulls them,
and re-checks the row counts and the check values in tests/tasks/sources/test_mpidr.py.

What goes wrong, and what this module does about it:

- Codes: ISO3 in the Scopus files, ISO2 in the OpenAlex files. Snapshots are named by
  checksum, so the file name cannot tell them apart: :func:`code_scheme` decides from the
  codes themselves (all upper-case codes 3 letters: Scopus; 2 letters: OpenAlex; a mix is a
  :class:`ReaderError`), and the database follows from it. Codes are read with no
  ``NA``-to-null conversion: ``NA`` is Namibia's ISO2 code.
- OpenAlex writes ``nan`` as a code (the upstream pandas export of a missing affiliation
  country): its researchers and flows are real but not placed; kept with
  ``geo_kind == "unknown"``. Scopus writes ``EUE`` for European Union institutions
  (an aggregate in core/country_aliases.csv).
- Years are written as floats (``2003.0``); they become Int32, and a year that is not a
  whole number is a :class:`ReaderError` naming the line and column.
- Flows with an empty code: every destination-year has one row with an empty
  ``migrationfrom``, and many origin-years one with an empty ``migrationto``. They are not
  moves between countries (the country file's in- and out-migration counts equal the sums
  of the rows with both codes); from the data they are researchers first seen in the
  destination (huge in 1994, the database's first year) and last seen in the origin (piling
  up in 2024-2026). Kept, with ``flow_kind`` "entry" or "exit" and an unknown geo kind, so
  that a sum over ``flow_kind == "migration"`` is a migration total. A row with neither code
  is a :class:`ReaderError`.
- Right censoring: from 2022 the padded population is 0 and the rates are empty, and flows
  run to 2026 with ever fewer publications behind them. Rows are kept with
  ``is_censored = year >= 2022`` (the first year with a zero population). For analysis use
  1998-2020 only (:data:`RECOMMENDED_YEARS`, the mirror MANIFEST's advice): ``is_censored``
  marks the rows that are certainly incomplete, not the only ones to leave out.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from talentflow.core.countries import Scheme, harmonise
from talentflow.core.facts import MPIDR_CENSORED_FROM, MPIDR_RELIABLE_YEARS
from talentflow.tasks.sources.formats import (
    Format,
    ReaderError,
    parse_numbers,
    parse_whole_numbers,
    read_text_csv,
    require_columns,
)

#: First right-censored year, and the years to analyse: core.facts (features need them too).
CENSORED_FROM = MPIDR_CENSORED_FROM
RECOMMENDED_YEARS = MPIDR_RELIABLE_YEARS
#: The database each code scheme belongs to (the MPIDR's own convention).
DATABASE_BY_SCHEME: dict[Scheme, str] = {"iso3": "scopus", "iso2": "openalex"}

COUNTRY_COUNTS = [
    "padded_population_of_researchers",
    "paddedpop",
    "number_of_inmigrations",
    "number_of_outmigrations",
    "netmigration",
]
COUNTRY_RATES = ["outmigrationrate", "inmigrationrate", "netmigrationrate"]
COUNTRY_COLUMNS = ["year", "countrycode", *COUNTRY_COUNTS, *COUNTRY_RATES]
FLOW_COUNTS = ["n_migrations", "n_migrations_back", "netmigrations"]
FLOW_COLUMNS = ["migrationfrom", "migrationto", "year", *FLOW_COUNTS]


# MPIDR


def code_scheme(raw: pl.DataFrame, columns: list[str]) -> Scheme:
    """``"iso3"`` (Scopus) or ``"iso2"`` (OpenAlex), from the codes in ``columns``.
    Lower-case oddities such as OpenAlex's ``nan`` do not count."""
    codes = pl.concat([raw[c].cast(pl.String) for c in columns]).drop_nulls()
    three = codes.str.contains(r"^[A-Z]{3}$").sum()
    two = codes.str.contains(r"^[A-Z]{2}$").sum()
    if three and not two:
        return "iso3"
    if two and not three:
        return "iso2"
    raise ReaderError(
        f"MPIDR scholarly migration: cannot tell the code scheme of {columns}: "
        f"{two} two-letter and {three} three-letter codes. Scopus files use ISO3 and "
        "OpenAlex files ISO2; a file mixing them is not an MPIDR release."
    )


def _parse(path: Path, counts: list[str], rates: list[str]) -> pl.DataFrame:
    frame = read_text_csv(path)
    present = [c for c in counts if c in frame.columns]
    frame = parse_whole_numbers(frame, present, path, first_line=2)
    frame = parse_numbers(frame, [c for c in rates if c in frame.columns], path, first_line=2)
    if "year" in frame.columns:
        frame = parse_whole_numbers(frame, ["year"], path, first_line=2, dtype=pl.Int32)
    return frame


def parse_country(path: Path) -> pl.DataFrame:
    """``*_scholarlymigration_country.csv``: the publisher's columns (``year, countrycode,
    padded_population_of_researchers, paddedpop, number_of_inmigrations,
    number_of_outmigrations, netmigration, outmigrationrate, inmigrationrate,
    netmigrationrate``), ``year`` as Int32, counts Int64, rates Float64 (empty from 2022),
    codes as text exactly as written (``NA`` is Namibia)."""
    return _parse(path, COUNTRY_COUNTS, COUNTRY_RATES)


def parse_flows(path: Path) -> pl.DataFrame:
    """``*_scholarlymigration_countryflows.csv``: the publisher's columns (``migrationfrom,
    migrationto, year, n_migrations, n_migrations_back, netmigrations``), ``year`` Int32,
    counts Int64, codes as text (empty codes null). A row with neither code is refused."""
    frame = _parse(path, FLOW_COUNTS, [])
    if {"migrationfrom", "migrationto"} <= set(frame.columns):
        neither = frame.with_row_index("_row").filter(
            pl.col("migrationfrom").is_null() & pl.col("migrationto").is_null()
        )
        if neither.height:
            raise ReaderError(
                f"{path}: line {2 + neither['_row'][0]}: a flow with neither "
                f"migrationfrom nor migrationto ({neither.height} such row(s))"
            )
    return frame


def tidy_country(raw: pl.DataFrame) -> pl.DataFrame:
    """One row per country code and year, every raw row kept:

    ``country_iso3`` (null unless a country), ``geo_kind`` (country / aggregate / unknown),
    ``country_code`` (the publisher's code, e.g. ``nan``), ``year`` (Int32), ``database``
    ("scopus" or "openalex"), ``researchers`` (padded population of active researchers,
    persons), ``inmigrations``, ``outmigrations``, ``net_migration`` (persons),
    ``inmigrations_per_researcher``, ``outmigrations_per_researcher``,
    ``net_migration_per_researcher`` (fractions), ``is_censored`` (``year >= 2022``: the
    population is a placeholder 0 and the rates are null; use 1998-2020)."""
    require_columns(raw, COUNTRY_COLUMNS, "MPIDR scholarly migration (country)", "mpidr_country")
    scheme = code_scheme(raw, ["countrycode"])
    database = DATABASE_BY_SCHEME[scheme]
    placed = harmonise(raw, "countrycode", scheme=scheme, source=f"MPIDR {database} country")
    return placed.select(
        "country_iso3",
        "geo_kind",
        pl.col("countrycode").alias("country_code"),
        pl.col("year").cast(pl.Int32),
        pl.lit(database).alias("database"),
        pl.col("padded_population_of_researchers").alias("researchers"),
        pl.col("number_of_inmigrations").alias("inmigrations"),
        pl.col("number_of_outmigrations").alias("outmigrations"),
        pl.col("netmigration").alias("net_migration"),
        pl.col("inmigrationrate").alias("inmigrations_per_researcher"),
        pl.col("outmigrationrate").alias("outmigrations_per_researcher"),
        pl.col("netmigrationrate").alias("net_migration_per_researcher"),
        (pl.col("year") >= CENSORED_FROM).alias("is_censored"),
    )


def _placed(
    frame: pl.DataFrame, column: str, role: str, scheme: Scheme, source: str
) -> pl.DataFrame:
    return harmonise(frame, column, scheme=scheme, source=f"{source} ({column})").rename(
        {"country_iso3": f"{role}_iso3", "geo_kind": f"{role}_geo_kind"}
    )


def tidy_flows(raw: pl.DataFrame) -> pl.DataFrame:
    """One row per origin, destination and year, every raw row kept:

    ``origin_iso3``, ``origin_geo_kind``, ``origin_code``, ``destination_iso3``,
    ``destination_geo_kind``, ``destination_code`` (codes as published; null when empty),
    ``year`` (Int32), ``database`` ("scopus" or "openalex"), ``flow_kind`` ("migration"
    between two codes; "entry" where the origin is empty: researchers first seen in the
    destination; "exit" where the destination is empty: researchers last seen in the
    origin), ``migrations`` (origin to destination, persons), ``migrations_back``
    (destination to origin), ``net_migrations`` (``migrations - migrations_back``),
    ``is_censored`` (``year >= 2022``; use 1998-2020)."""
    require_columns(raw, FLOW_COLUMNS, "MPIDR scholarly migration (flows)", "mpidr_flows")
    scheme = code_scheme(raw, ["migrationfrom", "migrationto"])
    database = DATABASE_BY_SCHEME[scheme]
    source = f"MPIDR {database} flows"
    placed = _placed(raw, "migrationfrom", "origin", scheme, source)
    placed = _placed(placed, "migrationto", "destination", scheme, source)
    return placed.select(
        "origin_iso3",
        "origin_geo_kind",
        pl.col("migrationfrom").alias("origin_code"),
        "destination_iso3",
        "destination_geo_kind",
        pl.col("migrationto").alias("destination_code"),
        pl.col("year").cast(pl.Int32),
        pl.lit(database).alias("database"),
        pl.when(pl.col("migrationfrom").is_null())
        .then(pl.lit("entry"))
        .when(pl.col("migrationto").is_null())
        .then(pl.lit("exit"))
        .otherwise(pl.lit("migration"))
        .alias("flow_kind"),
        pl.col("n_migrations").alias("migrations"),
        pl.col("n_migrations_back").alias("migrations_back"),
        pl.col("netmigrations").alias("net_migrations"),
        (pl.col("year") >= CENSORED_FROM).alias("is_censored"),
    )


country = Format("mpidr.country", parse_country, tidy_country)
flows = Format("mpidr.flows", parse_flows, tidy_flows)
