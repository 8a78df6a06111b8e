"""Demographic drivers of a talent pool: age bands, ageing and the college-age cohort.

Built from tidy WPP 2024 population by 5-year age group (``tasks.sources.wpp``), one row
per country, WPP variant and year, 1950–2100. docs/metrics.md holds the same definitions
for readers. Three rules shape every number:

- **Annual values are straight lines between WPP's 5-year points.** The points are
  mid-year (1 July) counts, so the straight line between two 1 July values gives the
  1 July value of the years between (``annual_by_linear_interpolation``). A point year keeps
  WPP's value exactly.
- **Each variant is a full 1950–2100 series.** WPP's estimates (1950–2020) exist once, as
  ``Medium``; the ``Low`` and ``High`` variants exist only as projections (2025–2100),
  because the UN's variants differ only in future fertility. A variant's series is the
  estimates followed by that variant's own projections, so up to 2020 Low and High equal
  Medium, and from 2021 on they follow the line towards their own 2025 point.
- **Ratios come last.** Age bands are summed at WPP's points, the sums are interpolated,
  and ratios and changes are computed from the interpolated populations; interpolating a
  ratio would not equal the ratio of the interpolated populations.

This module reads no files and knows nothing of Prefect; it must stay that way.
"""

from __future__ import annotations

import polars as pl

from talentflow.tasks.features.panel import (
    LAST_AGE,
    OPEN_AGE_GROUP_START,
    annual_by_linear_interpolation,
    population_by_age_band,
)

#: WPP's deterministic variants, Medium first. Low/High: total fertility half a child
#: below/above Medium.
VARIANTS = ("Medium", "Low", "High")
#: The variant that carries WPP's estimates (the past has one variant).
ESTIMATES_VARIANT = "Medium"
#: WPP's last age group is open, ``100+``; a band ending at its start + 4 includes it.
#: Output column -> first and last age (inclusive, whole 5-year groups).
AGE_BANDS: dict[str, tuple[int, int]] = {
    "population_total": (0, LAST_AGE),
    "population_20_24": (20, 24),
    "population_15_64": (15, 64),
    "population_25_64": (25, 64),
    "population_65_plus": (65, LAST_AGE),
    "population_15_19": (15, 19),
    "population_25_34": (25, 34),
}
#: UIS's gross enrolment ratio divides by the five years after the theoretical end of
#: secondary school: 18-22 in China and most countries. WPP publishes 5-year groups, so
#: the band is built from them, each single age taken as a fifth of its group (ages 18
#: and 19 from 15-19, ages 20-22 from 20-24): the uniform split demographers use when no
#: single-year data are at hand. It errs where a group's ages differ much in size (a
#: birth cohort that fell fast), by at most a few percent.
COLLEGE_AGE_SPLIT = {"population_15_19": 2 / 5, "population_20_24": 3 / 5}
KEYS = ["country_iso3", "variant", "year"]
COLUMNS = [
    *KEYS,
    *list(AGE_BANDS)[:5],
    "old_age_dependency_ratio",
    "college_age_change_percent",
    "population_18_22",
    "population_25_34",
]


def population_by_age_per_variant(population_by_age: pl.DataFrame) -> pl.DataFrame:
    """Tidy WPP population by age with every variant complete: each of :data:`VARIANTS`
    holds its own projection points, preceded, for the years before its first projection
    in that country, by the Medium estimates relabelled as that variant. Same columns as
    the input.

    Raises ValueError when a variant is missing or an age group lies beyond ``100+``:
    either would silently drop people from the bands."""
    present = set(population_by_age["variant"].unique())
    missing = [variant for variant in VARIANTS if variant not in present]
    if missing:
        raise ValueError(
            f"WPP population by age has no {missing} rows: demographic drivers need the "
            f"5-year file with all of {list(VARIANTS)} (WPP2024_PopulationByAge5GroupSex)"
        )
    oldest = population_by_age["age_start"].max()
    if oldest is not None and oldest > OPEN_AGE_GROUP_START:
        raise ValueError(
            f"WPP population by age has an age group starting at {oldest}, beyond the open "
            f"group {OPEN_AGE_GROUP_START}+: update OPEN_AGE_GROUP_START in {__name__}"
        )
    rows = population_by_age.lazy()
    estimates = rows.filter(pl.col("variant") == ESTIMATES_VARIANT)
    parts = [estimates]
    for variant in VARIANTS:
        if variant == ESTIMATES_VARIANT:
            continue
        projections = rows.filter(pl.col("variant") == variant)
        first_projection = projections.group_by("country_iso3").agg(
            pl.col("year").min().alias("first_projection_year")
        )
        earlier = (
            estimates.join(first_projection, on="country_iso3")
            .filter(pl.col("year") < pl.col("first_projection_year"))
            .drop("first_projection_year")
            .with_columns(pl.lit(variant).alias("variant"))
        )
        parts += [earlier, projections]
    return pl.concat(parts).collect()


def annual_age_bands(population_by_age: pl.DataFrame, variant: str) -> pl.DataFrame:
    """Every :data:`AGE_BANDS` column for one variant, as ``country_iso3, variant, year,
    population_total, …, population_65_plus`` (persons), one row per year between a
    country's first and last WPP point: band sums at WPP's points, linear in between."""
    bands = [
        annual_by_linear_interpolation(
            population_by_age_band(population_by_age, first_age, last_age, variant),
            "population",
        )
        .lazy()
        .rename({"population": column})
        for column, (first_age, last_age) in AGE_BANDS.items()
    ]
    annual = bands[0]
    for band in bands[1:]:
        annual = annual.join(band, on=["country_iso3", "year"], how="full", coalesce=True)
    return annual.with_columns(pl.lit(variant).alias("variant")).select(*KEYS, *AGE_BANDS).collect()


def demographic_drivers(population_by_age: pl.DataFrame) -> pl.DataFrame:
    """One row per country, WPP variant and year (annual, 1950–2100): ``country_iso3,
    variant, year, population_total, population_20_24, population_15_64,
    population_25_64, population_65_plus`` (persons), ``old_age_dependency_ratio``
    (65+ / 15–64, a ratio), ``college_age_change_percent`` (year-on-year change of
    ``population_20_24`` in %, null in a series' first year), ``population_18_22`` (the
    gross enrolment ratio's age group, :data:`COLLEGE_AGE_SPLIT`) and
    ``population_25_34`` (persons).

    ``population_by_age`` is tidy WPP population by 5-year age group
    (``tasks.sources.wpp.population_by_age``) with the Medium estimates and the Medium,
    Low and High projections; see the module docstring for the variant and
    interpolation rules."""
    complete = population_by_age_per_variant(population_by_age)
    by_country_and_variant = ["country_iso3", "variant"]
    return (
        pl.concat([annual_age_bands(complete, variant) for variant in VARIANTS])
        .lazy()
        .sort(KEYS)
        .with_columns(
            (pl.col("population_65_plus") / pl.col("population_15_64")).alias(
                "old_age_dependency_ratio"
            ),
            ((pl.col("population_20_24") / pl.col("population_20_24").shift(1) - 1) * 100)
            .over(by_country_and_variant)
            .alias("college_age_change_percent"),
            pl.sum_horizontal(
                pl.col(band) * share for band, share in COLLEGE_AGE_SPLIT.items()
            ).alias("population_18_22"),
        )
        .select(COLUMNS)
        .collect()
    )
