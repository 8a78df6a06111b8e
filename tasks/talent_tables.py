"""Build the talent tables from accepted sources: a thin Prefect task over the pure
feature functions in ``tasks/features/`` (demography, talent pools, rankings, findings)."""

from __future__ import annotations

import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from talentflow.tasks.features.demography import demographic_drivers
from talentflow.tasks.features.talent import (
    ATTAINMENT_METRICS,
    TERTIARY_GER,
    rankings,
    talent_findings,
    talent_pool_metrics,
    zero_percentages,
)

RESEARCHERS_PER_MILLION = "wdi_sp_pop_scie_rd_p6"
POPULATION_TOTAL = "wdi_sp_pop_totl"
WPP_POPULATION_BY_AGE = "wpp2024_population_by_age5"
UIS_TERTIARY = "uis_tertiary_enrolment_attainment"
NCSES_DEGREES = ("ncses_table_1571", "ncses_table_1572", "ncses_table_5785", "ncses_table_5786")
MPIDR_COUNTRY = ("mpidr_scopus_country", "mpidr_openalex_country")

#: The datasets the talent tables read.
TALENT_DATASETS = [
    RESEARCHERS_PER_MILLION,
    POPULATION_TOTAL,
    WPP_POPULATION_BY_AGE,
    UIS_TERTIARY,
    *NCSES_DEGREES,
    *MPIDR_COUNTRY,
]

#: Published talent tables and the suite that guards each.
TALENT_SUITES = {
    "demographic_drivers": "demographic_drivers",
    "talent_pool_metrics": "talent_pool_metrics",
    "talent_rankings": "talent_rankings",
    "talent_findings": "talent_findings",
}


def talent_tables(tidy: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Every talent table from the tidy source tables (keyed by dataset id)."""
    metrics = talent_pool_metrics(
        tidy[RESEARCHERS_PER_MILLION],
        tidy[POPULATION_TOTAL],
        tidy[WPP_POPULATION_BY_AGE],
        tidy[UIS_TERTIARY],
        pl.concat([tidy[d] for d in NCSES_DEGREES], how="diagonal_relaxed"),
        pl.concat([tidy[d] for d in MPIDR_COUNTRY], how="diagonal_relaxed"),
    )
    ranked = rankings(metrics)
    return {
        "demographic_drivers": demographic_drivers(tidy[WPP_POPULATION_BY_AGE]),
        "talent_pool_metrics": metrics,
        "talent_rankings": ranked,
        "talent_findings": talent_findings(ranked),
    }


@task(name="talent-tables", cache_policy=NO_CACHE)
def build_talent_tables(tidy_paths: dict[str, str]) -> dict[str, pl.DataFrame]:
    tidy = {d: pl.read_parquet(p) for d, p in tidy_paths.items()}
    zeros = zero_percentages(tidy[UIS_TERTIARY], [TERTIARY_GER, *ATTAINMENT_METRICS])
    if zeros.height:
        examples = ", ".join(
            f"{row['country_iso3']} {row['year']} {row['indicator_id']}"
            for row in zeros.head(5).iter_rows(named=True)
        )
        get_run_logger().warning(
            "%s: %d UIS percentages published as 0 treated as missing (a country with no "
            "tertiary students or graduates at all is a missing-value code), e.g. %s",
            UIS_TERTIARY,
            zeros.height,
            examples,
        )
    return talent_tables(tidy)
