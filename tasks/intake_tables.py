"""Build China's intake tables from accepted sources: a thin Prefect task over the pure
functions in ``tasks/features/intake.py``."""

from __future__ import annotations

import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from talentflow.core.settings import get_settings
from talentflow.tasks.features.claims import (
    origin_shares_china,
    pull_ladder_china,
    returnee_signals_china,
)
from talentflow.tasks.features.intake import (
    china_arrivals,
    chinese_us_doctorates,
    inbound_student_shares,
    inbound_students_china,
    inflow_shares_by_income_group,
    moe_students_by_category,
    prior_ties_by_year,
    researcher_inflows_china,
    researcher_move_shares,
    talent_ladder_china,
)
from talentflow.tasks.orcid_census import read_census
from talentflow.tasks.sources.catalog import CATALOG

UIS_INBOUND = "uis_inbound_and_net_flow"
MOE_STUDENTS = "china_moe_international_students"
MPIDR_FLOWS = ("mpidr_scopus_flows", "mpidr_openalex_flows")
COUNTRY_LIST = "wdi_countries"
MACROPOLO = "macropolo_ai_talent_tracker"
NCSES_US_DOCTORATES = (
    "ncses_table_11695",
    "ncses_table_11696",
    "ncses_table_11762",
    "ncses_table_10996",
)
#: Every ingested ORCID record source (the API samples here; the public data file's
#: extract in production).
ORCID_RECORDS = tuple(d for d, source in CATALOG.items() if source.reader == "orcid.records")

INTAKE_DATASETS = [
    UIS_INBOUND,
    MOE_STUDENTS,
    *MPIDR_FLOWS,
    COUNTRY_LIST,
    MACROPOLO,
    *NCSES_US_DOCTORATES,
    *ORCID_RECORDS,
]

#: Published intake tables and the suite that guards each.
INTAKE_SUITES = {
    "china_inbound_students": "china_inbound_students",
    "china_researcher_inflows": "china_researcher_inflows",
    "china_talent_ladder": "china_talent_ladder",
    "china_prior_ties": "china_prior_ties",
    "china_moe_students_by_category": "china_moe_students_by_category",
    "china_inflow_shares_by_income": "china_inflow_shares_by_income",
    "chinese_us_doctorates": "chinese_us_doctorates",
    "inbound_student_shares": "inbound_student_shares",
    "researcher_move_shares": "researcher_move_shares",
    "china_pull_ladder": "china_pull_ladder",
    "china_origin_shares": "china_origin_shares",
    "china_returnee_signals": "china_returnee_signals",
}


def intake_tables(
    tidy: dict[str, pl.DataFrame], census: pl.DataFrame | None = None
) -> dict[str, pl.DataFrame]:
    """China's intake tables from the tidy source tables (keyed by dataset id) and, when
    one was run, the ORCID census's arrivals (``tasks.orcid_census``)."""
    flows = pl.concat([tidy[d] for d in MPIDR_FLOWS], how="diagonal_relaxed")
    affiliations = pl.concat([tidy[d] for d in ORCID_RECORDS], how="diagonal_relaxed")
    inflows = researcher_inflows_china(flows, tidy[COUNTRY_LIST])
    doctorates = chinese_us_doctorates(*(tidy[d] for d in NCSES_US_DOCTORATES))
    return {
        "china_inbound_students": inbound_students_china(tidy[UIS_INBOUND], tidy[MOE_STUDENTS]),
        "china_researcher_inflows": inflows,
        "china_talent_ladder": talent_ladder_china(
            tidy[UIS_INBOUND], tidy[MOE_STUDENTS], flows, tidy[MACROPOLO]
        ),
        "china_prior_ties": prior_ties_by_year(
            pl.concat([china_arrivals(affiliations), *([] if census is None else [census])])
        ),
        "china_moe_students_by_category": moe_students_by_category(tidy[MOE_STUDENTS]),
        "china_inflow_shares_by_income": inflow_shares_by_income_group(inflows),
        "chinese_us_doctorates": doctorates,
        "inbound_student_shares": inbound_student_shares(tidy[UIS_INBOUND]),
        "researcher_move_shares": researcher_move_shares(flows, tidy[COUNTRY_LIST]),
        "china_pull_ladder": pull_ladder_china(
            tidy[UIS_INBOUND], tidy[MOE_STUDENTS], flows, tidy[MACROPOLO]
        ),
        "china_origin_shares": origin_shares_china(inflows, tidy[MOE_STUDENTS]),
        "china_returnee_signals": returnee_signals_china(flows, doctorates),
    }


@task(name="intake-tables", cache_policy=NO_CACHE)
def build_intake_tables(tidy_paths: dict[str, str]) -> dict[str, pl.DataFrame]:
    census = read_census(get_settings())
    if census is not None:
        get_run_logger().info("china_prior_ties: %d arrivals from the ORCID census", census.height)
    return intake_tables({d: pl.read_parquet(p) for d, p in tidy_paths.items()}, census)
