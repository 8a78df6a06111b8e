"""Country codes and names, decided in one place.

Every source names places its own way: ISO3 (World Bank, UIS, WPP, MPIDR Scopus), ISO2
(ORCID, MPIDR OpenAlex, the World Bank country list), UN M49 numbers (WPP ``LocID``) or
names (OECD, NCSES, MacroPolo, China's Ministry of Education). :func:`harmonise` turns
any of them into ``country_iso3`` and a ``geo_kind``; no reader keeps a mapping of its own.

Rules
-----
- A *country* is an ISO 3166-1 code known to ``pycountry``, plus Kosovo, which ISO has not
  coded and which the World Bank and the UN write ``XKX`` (ISO2 ``XK``, M49 412).
- An *aggregate* (``WLD``, "World", "Asia", income groups, "Other countries", the Channel
  Islands ``CHI`` that the World Bank reports as one economy) keeps a null
  ``country_iso3`` and ``geo_kind == "aggregate"``: kept, flagged, never mixed into country
  rankings.
- Anything else is ``geo_kind == "unknown"``: kept with a null ``country_iso3`` and listed
  in a warning naming the source, never silently dropped. Add its spelling to
  ``country_aliases.csv`` beside this module.
- China (``CHN``) is mainland China as each publisher defines it. Hong Kong (``HKG``),
  Macao (``MAC``) and Taiwan (``TWN``) are separate places wherever a source reports them
  separately; where a publisher folds one into China (NCSES "China (incl. Hong Kong)") the
  alias table maps the name to ``CHN`` and says so in its note column.

Names are matched after normalisation (case, accents, punctuation, footnote markers such
as ``<sup>a</sup>`` or ``*``): first against ``country_aliases.csv`` (publisher spellings
and aggregates), then against pycountry's names, official names and common names.

Why not country_converter: version 1.3.2 fails to build its converter under pandas 3
(``TypeError`` compiling its ISO2 regexes: Namibia's ``NA`` is read as a missing value).
"""

from __future__ import annotations

import csv
import logging
import re
import unicodedata
from functools import cache
from pathlib import Path
from typing import Literal

import polars as pl
import pycountry

KOSOVO_ISO3 = "XKX"
ALIASES_FILE = Path(__file__).with_name("country_aliases.csv")
Scheme = Literal["iso3", "iso2", "m49", "name"]
GEO_KINDS = ("country", "aggregate", "unknown")

logger = logging.getLogger(__name__)


@cache
def country_iso3_codes() -> frozenset[str]:
    """All codes that talentflow treats as countries."""
    return frozenset({country.alpha_3 for country in pycountry.countries} | {KOSOVO_ISO3})


@cache
def known_place_codes() -> frozenset[str]:
    """Every code a source may use for a place: the countries' ISO3 and ISO2 codes
    (Kosovo ``XKX``/``XK`` included) and the code-shaped spellings in
    country_aliases.csv (aggregates such as the World Bank's ``WLD`` or ``ARB``). The
    suites of sources that name places by code check their code columns against this
    set (the ``$KNOWN_PLACE_CODES`` placeholder in ``expectations/``), beside a pattern
    that pins the code's form (ISO3 or ISO2)."""
    with ALIASES_FILE.open(encoding="utf-8") as handle:
        names = [
            row["name"].strip()
            for row in csv.DictReader(line for line in handle if not line.startswith("#"))
        ]
    aliases = {name for name in names if re.fullmatch(r"[A-Z][A-Z0-9]{1,2}", name)}
    return frozenset(set(_codes("iso3")) | set(_codes("iso2")) | aliases)


def normalise_name(name: str) -> str:
    """Lower case, no accents, no footnote markers, punctuation folded to spaces."""
    text = re.sub(r"<sup>.*?</sup>|\[\w{1,3}\]|[*†‡]+", " ", name)
    text = text.translate({ord(mark): "'" for mark in "\u2019\u2018`\u00b4"})
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-z0-9]+", " ", text.lower().replace("&", " and "))
    return " ".join(text.split())


@cache
def _aliases() -> dict[str, str | None]:
    """Normalised spelling -> ISO3 (None for an aggregate), from country_aliases.csv."""
    table: dict[str, str | None] = {}
    with ALIASES_FILE.open(encoding="utf-8") as handle:
        for row in csv.DictReader(line for line in handle if not line.startswith("#")):
            kind, iso3 = row["kind"].strip(), row["iso3"].strip()
            if kind not in ("country", "aggregate") or (kind == "country") != bool(iso3):
                raise ValueError(f"{ALIASES_FILE}: bad row {row}")
            table[normalise_name(row["name"])] = iso3 or None
    return table


@cache
def _names() -> dict[str, str]:
    names: dict[str, str] = {}
    for country in pycountry.countries:
        for attribute in ("name", "official_name", "common_name"):
            value = getattr(country, attribute, None)
            if value:
                names.setdefault(normalise_name(value), country.alpha_3)
    names[normalise_name("Kosovo")] = KOSOVO_ISO3
    return names


@cache
def _codes(scheme: Scheme) -> dict[str, str]:
    if scheme == "iso3":
        return {code: code for code in country_iso3_codes()}
    if scheme == "iso2":
        return {c.alpha_2: c.alpha_3 for c in pycountry.countries} | {"XK": KOSOVO_ISO3}
    if scheme == "m49":
        return {str(int(c.numeric)): c.alpha_3 for c in pycountry.countries} | {"412": KOSOVO_ISO3}
    raise ValueError(f"unknown scheme {scheme!r}; use one of iso3, iso2, m49, name")


def classify(value: str | None, scheme: Scheme) -> tuple[str | None, str]:
    """``(country_iso3, geo_kind)`` for one code or name."""
    if value is None or not str(value).strip():
        return None, "unknown"
    text = str(value).strip()
    if scheme == "m49":
        text = text.split(".")[0].lstrip("0") or "0"  # "156", "156.0", "076" alike
    if scheme != "name":
        found = _codes(scheme).get(text.upper())
        if found:
            return found, "country"
    alias = _aliases().get(normalise_name(text), "")
    if alias != "":
        return alias, "country" if alias else "aggregate"
    if scheme == "name":
        found = _names().get(normalise_name(text))
        if found:
            return found, "country"
    return None, "unknown"


def harmonise(frame: pl.DataFrame, column: str, *, scheme: Scheme, source: str) -> pl.DataFrame:
    """Add ``country_iso3`` and ``geo_kind`` for the places named in ``column``.

    Rows are never dropped. Values that are neither a country nor a known aggregate are
    listed in one warning naming ``source``; select them with
    ``geo_kind == "unknown"``."""
    if column not in frame.columns:
        raise KeyError(f"{source}: no column {column!r} to harmonise (have {frame.columns})")
    distinct = frame[column].cast(pl.String).unique().to_list()
    lookup = pl.DataFrame(
        [(value, *classify(value, scheme)) for value in distinct],
        schema={"_value": pl.String, "country_iso3": pl.String, "geo_kind": pl.String},
        orient="row",
    )
    unknown = sorted(
        str(v)
        for v, kind in zip(lookup["_value"], lookup["geo_kind"], strict=True)
        if kind == "unknown" and v is not None
    )
    if unknown:
        logger.warning(
            "%s: %d unknown place name(s) in %r: %s",
            source,
            len(unknown),
            column,
            ", ".join(unknown),
        )
    return (
        frame.drop("country_iso3", "geo_kind", strict=False)
        .join(
            lookup,
            left_on=pl.col(column).cast(pl.String),
            right_on="_value",
            how="left",
            nulls_equal=True,
        )
        .with_columns(pl.col("geo_kind").fill_null("unknown"))
    )


def unknown_places(frame: pl.DataFrame, column: str) -> list[str]:
    """The distinct values of ``column`` that :func:`harmonise` could not place."""
    return sorted(
        frame.filter(pl.col("geo_kind") == "unknown")[column]
        .cast(pl.String)
        .drop_nulls()
        .unique()
        .to_list()
    )
