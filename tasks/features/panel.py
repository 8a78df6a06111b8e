"""The country-year panel: researchers and the working-age population.

Formulas (docs/metrics.md holds the same definitions for readers):

- ``researchers = researchers_per_million × population / 10⁶`` (World Bank
  SP.POP.SCIE.RD.P6 × SP.POP.TOTL, same country and year).
- ``population_25_64`` = sum of WPP's 5-year age groups 25-29 … 60-64 (Medium variant),
  in persons, interpolated linearly to every year between WPP's points. WPP counts are
  mid-year (1 July), so a straight line between two 1 July values is the annual value.
"""

from __future__ import annotations

import polars as pl

#: WPP's oldest group is the open "100+" (age_start 100); a band "to the end" stops at the
#: last age of that group as if it were 5 years wide, so it takes in the open group.
OPEN_AGE_GROUP_START = 100
LAST_AGE = OPEN_AGE_GROUP_START + 4


def world_bank_country_values(indicator: pl.DataFrame, value_name: str) -> pl.DataFrame:
    """Country rows of a tidy World Bank indicator as ``country_iso3, year, <value_name>``.
    Aggregates (``WLD``, ``EAS``, income groups …) are left out: they are not countries."""
    return indicator.filter(pl.col("geo_kind") == "country").select(
        "country_iso3", pl.col("year").cast(pl.Int32), pl.col("value").alias(value_name)
    )


def population_by_age_band(
    wpp: pl.DataFrame, first_age: int, last_age: int, variant: str = "Medium"
) -> pl.DataFrame:
    """Persons aged ``first_age``…``last_age`` (inclusive, whole 5-year groups) per country
    and WPP year, as ``country_iso3, year, population``, from tidy WPP population by age."""
    if first_age % 5 or (last_age + 1) % 5:
        raise ValueError(f"ages {first_age}-{last_age} do not fall on WPP's 5-year groups")
    return (
        wpp.lazy()
        .filter(
            (pl.col("variant") == variant) & pl.col("age_start").is_between(first_age, last_age - 4)
        )
        .group_by("country_iso3", "year")
        .agg(pl.col("population").sum())
        .sort("country_iso3", "year")
        .collect()
    )


def annual_by_linear_interpolation(points: pl.DataFrame, value: str) -> pl.DataFrame:
    """Fill every year between a country's first and last point by a straight line.

    ``points`` has ``country_iso3, year, <value>``; years already present keep their
    value exactly."""
    spans = points.group_by("country_iso3").agg(
        pl.int_ranges(pl.col("year").min(), pl.col("year").max() + 1, dtype=pl.Int32).alias("year")
    )
    return (
        spans.explode("year")
        .join(points, on=["country_iso3", "year"], how="left")
        .sort("country_iso3", "year")
        .with_columns(pl.col(value).interpolate().over("country_iso3"))
    )


def country_year_panel(
    researchers_per_million: pl.DataFrame, population_total: pl.DataFrame, wpp: pl.DataFrame
) -> pl.DataFrame:
    """One row per country and year: ``country_iso3, year, population,
    researchers_per_million, researchers, population_25_64``.

    Inputs are the tidy, validated tables of World Bank SP.POP.SCIE.RD.P6, World Bank
    SP.POP.TOTL and WPP population by age. Years are those of any input; a value a source
    lacks is null, never guessed."""
    per_million = world_bank_country_values(researchers_per_million, "researchers_per_million")
    population = world_bank_country_values(population_total, "population")
    working_age = annual_by_linear_interpolation(
        population_by_age_band(wpp, 25, 64), "population"
    ).rename({"population": "population_25_64"})
    keys = ["country_iso3", "year"]
    return (
        population.join(per_million, on=keys, how="full", coalesce=True)
        .join(working_age, on=keys, how="full", coalesce=True)
        .with_columns(
            (pl.col("researchers_per_million") * pl.col("population") / 1e6).alias("researchers")
        )
        .select(
            "country_iso3",
            "year",
            "population",
            "researchers_per_million",
            "researchers",
            "population_25_64",
        )
        .sort(keys)
    )
