"""Talent pool metrics by country and year, their world rankings, and China's place in them.

Three tables, each from the one before:

- :func:`talent_pool_metrics`: one long table (``country_iso3, year, metric, value, unit,
  source, is_approximation``) of head counts of STEM talent from five publishers
  (World Bank, UNESCO UIS with UN WPP, NCSES, MPIDR Scopus and OpenAlex).
- :func:`rankings`: per metric and year, each country's rank, share and the number of
  reporting countries.
- :func:`talent_findings`: per metric, China's rank in the latest well-covered year.

Choices (reasons in docs/metrics.md#talent_pool_metrics): overlapping NCSES tables, the
newer wins per country-year and the older only fills gaps; MPIDR years outside 1998-2020 are
dropped (censored from 2022, incomplete 2021); ranks are "min" (ties share the best rank);
shares are of the reporting countries' total; a findings year needs 40+ countries, China
and the US.

docs/metrics.md (sections talent_pool_metrics, talent_rankings, talent_findings) defines
every metric and column for readers; the formulas live here and in tasks.features.panel,
nowhere else. Countries only: aggregates (``WLD``, UIS regions, MPIDR's ``EUE``,
OpenAlex's ``nan``) never enter a metric, so they can never be ranked.
Pure Polars: no Prefect, no files, no settings.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from talentflow.core.facts import MPIDR_RELIABLE_YEARS
from talentflow.tasks.features.demography import AGE_BANDS, COLLEGE_AGE_SPLIT
from talentflow.tasks.features.panel import (
    LAST_AGE,
    annual_by_linear_interpolation,
    country_year_panel,
    population_by_age_band,
)

#: First and last age of each WPP band the college-age cohort is built from.
GROUP_AGES = {band: AGE_BANDS[band] for band in COLLEGE_AGE_SPLIT}
METRIC_COLUMNS = [
    "country_iso3",
    "year",
    "metric",
    "value",
    "unit",
    "source",
    "is_approximation",
]
RANKING_COLUMNS = [
    "metric",
    "year",
    "country_iso3",
    "value",
    "unit",
    "is_approximation",
    "rank",
    "share",
    "reporting_countries",
    "reporting_total",
]
FINDING_COLUMNS = [
    "metric",
    "unit",
    "is_approximation",
    "year",
    "reporting_countries",
    "china_rank",
    "china_value",
    "china_share",
    "leader_iso3",
    "leader_value",
    "second_iso3",
    "second_value",
    "latest_data_year",
]

#: UIS attainment indicators (% of the population aged 25+) and the metric each becomes.
ATTAINMENT_METRICS = {
    "EA.5T8.AG25T99": "adults_25plus_tertiary",
    "EA.6T8.AG25T99": "adults_25plus_bachelors_plus",
    "EA.7T8.AG25T99": "adults_25plus_masters_plus",
}
#: UIS gross enrolment ratio, tertiary (ISCED 5-8), both sexes, %.
TERTIARY_GER = "GER.5T8"
#: WPP's oldest group is the open ``100+`` (age_start 100); a band ending at 104 takes it
#: in whole, so 25-104 is everyone aged 25 and over.

#: NCSES degree tables by metric, the newer table first: where two tables report the same
#: country and year (2010-16), the first one listed wins (SEI revises earlier years).
NCSES_DEGREE_TABLES: dict[str, tuple[str, ...]] = {
    "se_first_degrees": ("5785", "1571"),
    "se_doctorates": ("5786", "1572"),
}
#: The S&E total row of each table, as NCSES spells it (the first-degree and doctoral
#: tables name it differently). S&E excludes health.
NCSES_SE_TOTAL_FIELD = {
    "1571": "All fields -> S&E fields",
    "5785": "All fields -> S&E fields",
    "1572": "All fields -> All S&E",
    "5786": "All fields -> All S&E",
}
NCSES_TABLE_NAMES = {
    "1571": "S2-15",
    "1572": "S2-16",
    "5785": "SHED-11",
    "5786": "SHED-12",
}

#: MPIDR country columns and the metric prefix each becomes (``<prefix>_<database>``).
#: Net migration is left out: it is signed (a balance, not a pool) and cannot be ranked by
#: size or shared out.
MPIDR_METRICS = {
    "researchers": ("active_researchers", "persons"),
    "inmigrations": ("researcher_inmigrations", "migrations"),
    "outmigrations": ("researcher_outmigrations", "migrations"),
}
MPIDR_DATABASE_NAMES = {"scopus": "Scopus", "openalex": "OpenAlex"}

#: Findings: a year is well covered when at least this many countries report the metric
#: and every one of :data:`FINDINGS_REQUIRED_COUNTRIES` does.
FINDINGS_MIN_REPORTING_COUNTRIES = 40
#: China (the subject) and the United States (China's rival for first place in every
#: metric here): a year without either answers nothing about China's rank.
FINDINGS_REQUIRED_COUNTRIES = ("CHN", "USA")
CHINA = "CHN"

_METRIC_SCHEMA = {
    "country_iso3": pl.String,
    "year": pl.Int32,
    "metric": pl.String,
    "value": pl.Float64,
    "unit": pl.String,
    "source": pl.String,
    "is_approximation": pl.Boolean,
}


def _as_expr(value: str | pl.Expr) -> pl.Expr:
    return pl.lit(value) if isinstance(value, str) else value


def _long(
    frame: pl.DataFrame, metric: str | pl.Expr, unit: str, source: str | pl.Expr, approx: bool
) -> pl.DataFrame:
    """``frame`` (``country_iso3, year, value`` and whatever the expressions need) in the
    metrics layout, rows without a value dropped."""
    return frame.filter(pl.col("value").is_not_null()).select(
        "country_iso3",
        pl.col("year").cast(pl.Int32),
        _as_expr(metric).alias("metric"),
        pl.col("value").cast(pl.Float64),
        pl.lit(unit).alias("unit"),
        _as_expr(source).alias("source"),
        pl.lit(approx).alias("is_approximation"),
    )


def researchers_in_rd(
    researchers_per_million: pl.DataFrame, population_total: pl.DataFrame, wpp: pl.DataFrame
) -> pl.DataFrame:
    """Metric ``researchers``: the panel's researchers in R&D (per million × population /
    10⁶, :func:`tasks.features.panel.country_year_panel`), country-years with both inputs."""
    panel = country_year_panel(researchers_per_million, population_total, wpp)
    return _long(
        panel.select("country_iso3", "year", pl.col("researchers").alias("value")),
        "researchers",
        "persons",
        "World Bank WDI SP.POP.SCIE.RD.P6 x SP.POP.TOTL / 1e6",
        approx=False,
    )


def annual_population(wpp: pl.DataFrame, first_age: int, last_age: int) -> pl.DataFrame:
    """``country_iso3, year, population``: persons aged ``first_age``..``last_age`` (WPP
    Medium), every year between WPP's 5-year points by linear interpolation."""
    return annual_by_linear_interpolation(
        population_by_age_band(wpp, first_age, last_age), "population"
    )


def zero_percentages(uis: pl.DataFrame, indicators: Sequence[str]) -> pl.DataFrame:
    """``country_iso3, year, indicator_id``: UIS tertiary percentages published as exactly
    0 for a country. No country today has no tertiary students or graduates at all: on
    the mirror every such zero sits among non-zero values of the same country (India's
    attainment of 0 % in 2018, 2020 and 2022-23 between 9.9 % and 12.1 %), so a 0 is read
    as a missing-value code, dropped from every metric, and named in a warning by the
    task that builds the talent tables."""
    return (
        uis.filter(
            (pl.col("geo_kind") == "country")
            & pl.col("indicator_id").is_in(list(indicators))
            & (pl.col("value") == 0)
        )
        .select("country_iso3", pl.col("year").cast(pl.Int32), "indicator_id")
        .sort("indicator_id", "country_iso3", "year")
    )


def _uis_ratio_times_population(
    uis: pl.DataFrame, indicators: dict[str, str], population: pl.DataFrame
) -> pl.DataFrame:
    """``country_iso3, year, indicator_id, metric, value``: a UIS percentage × population /
    100, for the country-years both have; a published 0 is missing (:func:`zero_percentages`)."""
    ratios = uis.filter(
        (pl.col("geo_kind") == "country")
        & pl.col("indicator_id").is_in(list(indicators))
        & (pl.col("value") != 0)
    ).select(
        "country_iso3",
        pl.col("year").cast(pl.Int32),
        "indicator_id",
        pl.col("indicator_id").replace_strict(indicators).alias("metric"),
        pl.col("value").alias("percent"),
    )
    return ratios.join(population, on=["country_iso3", "year"], how="inner").with_columns(
        (pl.col("percent") * pl.col("population") / 100).alias("value")
    )


def adults_with_tertiary_attainment(uis: pl.DataFrame, wpp: pl.DataFrame) -> pl.DataFrame:
    """Metrics ``adults_25plus_tertiary``, ``adults_25plus_bachelors_plus``,
    ``adults_25plus_masters_plus``: UIS attainment (% of the population 25+ with at least
    short-cycle tertiary, a Bachelor's, a Master's) × WPP population 25+ / 100."""
    counts = _uis_ratio_times_population(
        uis, ATTAINMENT_METRICS, annual_population(wpp, 25, LAST_AGE)
    )
    source = pl.format("UIS {} x UN WPP 2024 population 25+ / 100", pl.col("indicator_id"))
    return _long(counts, pl.col("metric"), "persons", source, approx=False)


def college_age_population(wpp: pl.DataFrame) -> pl.DataFrame:
    """``country_iso3, year, population``: persons aged 18-22 (WPP Medium), the gross
    enrolment ratio's own age group, from WPP's 5-year groups by
    :data:`~talentflow.tasks.features.demography.COLLEGE_AGE_SPLIT`, every year."""
    parts = [
        annual_population(wpp, *GROUP_AGES[band]).select(
            "country_iso3", "year", (pl.col("population") * share).alias(band)
        )
        for band, share in COLLEGE_AGE_SPLIT.items()
    ]
    return (
        parts[0]
        .join(parts[1], on=["country_iso3", "year"], how="inner")
        .select("country_iso3", "year", pl.sum_horizontal(*COLLEGE_AGE_SPLIT).alias("population"))
    )


def tertiary_students_approx(uis: pl.DataFrame, wpp: pl.DataFrame) -> pl.DataFrame:
    """Metric ``tertiary_students_approx``: UIS tertiary gross enrolment ratio (%) × WPP
    population 18-22 / 100, the ratio's own denominator (the five years after the
    theoretical end of secondary school, 18-22 in China and most countries). An
    approximation: the ratio counts students of any age, and 18-22 is built from WPP's
    5-year groups (:func:`college_age_population`)."""
    counts = _uis_ratio_times_population(
        uis, {TERTIARY_GER: "tertiary_students_approx"}, college_age_population(wpp)
    )
    source = f"UIS {TERTIARY_GER} x UN WPP 2024 population 18-22 / 100"
    return _long(counts, "tertiary_students_approx", "persons", source, approx=True)


def se_degrees(ncses: pl.DataFrame) -> pl.DataFrame:
    """Metrics ``se_first_degrees`` and ``se_doctorates``: S&E degrees awarded in the year,
    NCSES tables 1571/5785 and 1572/5786 (tidy, any of them, concatenated).

    One row per country and year: where an older and a newer table both report it, the
    newer (:data:`NCSES_DEGREE_TABLES`) wins; the older fills only country-years the newer
    lacks. Other NCSES tables in ``ncses`` are ignored. Raises ValueError if a degree table
    is present but has no S&E total row (NCSES renamed its field)."""
    frames = []
    for metric, tables in NCSES_DEGREE_TABLES.items():
        for precedence, table_id in enumerate(tables):
            table = ncses.filter(pl.col("table_id") == table_id)
            if table.is_empty():
                continue
            field = NCSES_SE_TOTAL_FIELD[table_id]
            total = table.filter(pl.col("field") == field)
            if total.is_empty():
                fields = sorted(f for f in table["field"].unique().to_list() if f)
                raise ValueError(
                    f"NCSES table {table_id}: no S&E total row {field!r} (fields: {fields}); "
                    "update tasks.features.talent.NCSES_SE_TOTAL_FIELD"
                )
            frames.append(
                total.filter(
                    (pl.col("geo_kind") == "country")
                    & (pl.col("measure") == "degrees")
                    & pl.col("year").is_not_null()
                    & pl.col("value").is_not_null()
                ).select(
                    "country_iso3",
                    "year",
                    "value",
                    pl.lit(metric).alias("metric"),
                    pl.lit(precedence).alias("_precedence"),
                    pl.lit(
                        f"NCSES SEI table {table_id} ({NCSES_TABLE_NAMES[table_id]}), {field}"
                    ).alias("source"),
                )
            )
    if not frames:
        return pl.DataFrame(schema=_METRIC_SCHEMA)
    degrees = (
        pl.concat(frames)
        .sort("_precedence")
        .unique(["metric", "country_iso3", "year"], keep="first", maintain_order=True)
    )
    return _long(degrees, pl.col("metric"), "degrees", pl.col("source"), approx=False)


def scholarly_researchers_and_migrations(mpidr: pl.DataFrame) -> pl.DataFrame:
    """Metrics ``active_researchers_<db>``, ``researcher_inmigrations_<db>``,
    ``researcher_outmigrations_<db>`` for ``db`` in scopus, openalex: MPIDR country-year
    counts (tidy country tables, either database or both concatenated), kept separate by
    database. Years outside MPIDR's recommended 1998-2020 are dropped: 2022 on is censored
    (population 0) and 2021 already incomplete; 1996-97 are the database's start-up."""
    first, last = MPIDR_RELIABLE_YEARS
    kept = mpidr.filter(
        (pl.col("geo_kind") == "country")
        & pl.col("year").is_between(first, last)
        & ~pl.col("is_censored")
    )
    source = pl.format(
        "MPIDR Scholarly Migration Database ({})",
        pl.col("database").replace_strict(MPIDR_DATABASE_NAMES, default=pl.col("database")),
    )
    return pl.concat(
        [
            _long(
                kept.with_columns(pl.col(column).alias("value")),
                pl.format("{}_{}", pl.lit(prefix), pl.col("database")),
                unit,
                source,
                approx=False,
            )
            for column, (prefix, unit) in MPIDR_METRICS.items()
        ]
    )


def talent_pool_metrics(
    researchers_per_million: pl.DataFrame,
    population_total: pl.DataFrame,
    wpp: pl.DataFrame,
    uis: pl.DataFrame,
    ncses: pl.DataFrame,
    mpidr: pl.DataFrame,
) -> pl.DataFrame:
    """Every talent pool metric, long: ``country_iso3, year, metric, value, unit, source,
    is_approximation``; one row per country, year and metric, countries only.

    Parameters
    ----------
    researchers_per_million, population_total
        Tidy World Bank SP.POP.SCIE.RD.P6 and SP.POP.TOTL (``world_bank.bulk_indicator``).
    wpp
        Tidy WPP population by 5-year age group (``wpp.population_by_age``).
    uis
        Tidy UIS records holding GER.5T8 and EA.5T8/6T8/7T8.AG25T99 (``uis.api_records``).
    ncses
        Tidy NCSES tables 1571, 1572, 5785, 5786 (``ncses.table``), concatenated.
    mpidr
        Tidy MPIDR country tables, Scopus and OpenAlex (``mpidr.country``), concatenated.
    """
    parts = [
        researchers_in_rd(researchers_per_million, population_total, wpp),
        adults_with_tertiary_attainment(uis, wpp),
        tertiary_students_approx(uis, wpp),
        se_degrees(ncses),
        scholarly_researchers_and_migrations(mpidr),
    ]
    return (
        pl.concat([part.cast(_METRIC_SCHEMA) for part in parts])
        .select(METRIC_COLUMNS)
        .sort("metric", "country_iso3", "year")
    )


def rankings(metrics: pl.DataFrame) -> pl.DataFrame:
    """Per metric and year, every reporting country's place: ``metric, year, country_iso3,
    value, unit, is_approximation, rank, share, reporting_countries, reporting_total``.

    - ``rank``: 1 = largest value; ties share the best rank and the next rank skips
      ("1, 2, 2, 4"), so rank = 1 + the number of countries with a strictly larger value.
    - ``reporting_total``: sum of the values of the countries reporting that metric-year.
    - ``share``: ``value / reporting_total``, the share of the *reporting* countries'
      total, not of the world's (null if that total is 0).
    - ``reporting_countries``: how many countries report the metric that year.

    Raises ValueError for a row without a country (an aggregate must never be ranked) or a
    country reported twice in one metric-year (it would be counted twice)."""
    group = ["metric", "year"]
    if metrics["country_iso3"].null_count():
        raise ValueError(
            f"{metrics['country_iso3'].null_count()} metric row(s) have no country_iso3: "
            "aggregates must not be ranked; build the metrics from country rows only"
        )
    repeated = metrics.filter(pl.struct("metric", "year", "country_iso3").is_duplicated())
    if repeated.height:
        raise ValueError(
            f"{repeated.height} metric rows repeat a metric, year and country, e.g. "
            f"{repeated.head(3).select('metric', 'year', 'country_iso3').rows()}: each "
            "country-year must be counted once"
        )
    return (
        metrics.filter(pl.col("value").is_not_null())
        .with_columns(
            pl.col("value").rank("min", descending=True).over(group).cast(pl.Int32).alias("rank"),
            pl.len().over(group).cast(pl.Int32).alias("reporting_countries"),
            pl.col("value").sum().over(group).alias("reporting_total"),
        )
        .with_columns(
            pl.when(pl.col("reporting_total") > 0)
            .then(pl.col("value") / pl.col("reporting_total"))
            .alias("share")
        )
        .select(RANKING_COLUMNS)
        .sort("metric", "year", "rank", "country_iso3")
    )


def talent_findings(
    ranked: pl.DataFrame,
    min_reporting_countries: int = FINDINGS_MIN_REPORTING_COUNTRIES,
    required_countries: Sequence[str] = FINDINGS_REQUIRED_COUNTRIES,
) -> pl.DataFrame:
    """One row per metric: China's place in the latest well-covered year.

    A year is well covered when at least ``min_reporting_countries`` countries report the
    metric and all of ``required_countries`` do (default: China and the United States).
    Columns: ``metric, unit, is_approximation, year, reporting_countries, china_rank,
    china_value, china_share, leader_iso3, leader_value, second_iso3, second_value,
    latest_data_year`` (the metric's latest year with any data, to show what was passed
    over). A metric with no well-covered year keeps its row, with nulls from ``year`` on.

    Parameters
    ----------
    ranked
        The output of :func:`rankings`.
    min_reporting_countries
        Default 40: the latest years below it are partial first releases (World Bank
        researchers 2024: 28 countries; UIS GER 2024: 6), and NCSES's degree tables never
        list more than 52 countries, so a higher bar would leave them without a year.
    required_countries
        Countries that must report for a year to count.
    """
    required = list(required_countries)
    coverage = ranked.group_by("metric", "year").agg(
        pl.col("reporting_countries").first(),
        pl.col("country_iso3").is_in(required).sum().alias("_required_present"),
    )
    chosen = (
        coverage.filter(
            (pl.col("reporting_countries") >= min_reporting_countries)
            & (pl.col("_required_present") == len(set(required)))
        )
        .group_by("metric")
        .agg(pl.col("year").max())
    )
    in_year = ranked.join(chosen, on=["metric", "year"], how="inner").sort(
        "metric", "rank", "country_iso3"
    )
    china = in_year.filter(pl.col("country_iso3") == CHINA).select(
        "metric",
        pl.col("rank").alias("china_rank"),
        pl.col("value").alias("china_value"),
        pl.col("share").alias("china_share"),
    )
    top = in_year.group_by("metric", maintain_order=True).agg(
        pl.col("year").first(),
        pl.col("reporting_countries").first(),
        pl.col("country_iso3").get(0).alias("leader_iso3"),
        pl.col("value").get(0).alias("leader_value"),
        pl.col("country_iso3").get(1, null_on_oob=True).alias("second_iso3"),
        pl.col("value").get(1, null_on_oob=True).alias("second_value"),
    )
    described = ranked.group_by("metric").agg(
        pl.col("unit").first(),
        pl.col("is_approximation").first(),
        pl.col("year").max().alias("latest_data_year"),
    )
    return (
        described.join(top, on="metric", how="left")
        .join(china, on="metric", how="left")
        .select(FINDING_COLUMNS)
        .sort("metric")
    )
