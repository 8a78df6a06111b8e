"""The seed's claims, answered on every full run: a thin Prefect task over
``tasks/features/claims.py``."""

from __future__ import annotations

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from talentflow.tasks.features.claims import china_usa_gap, seed_claims

#: Claim tables built after the forecasts, and the suite that guards each (the claims'
#: other evidence tables are intake tables: tasks.intake_tables.INTAKE_SUITES).
CLAIM_SUITES = {"china_usa_gap": "china_usa_gap", "seed_claims": "seed_claims"}


def claim_tables(
    features: dict[str, pl.DataFrame], forecasts: pl.DataFrame | None
) -> dict[str, pl.DataFrame]:
    """``china_usa_gap`` (observed, and forecast when ``forecasts`` is given) and
    ``seed_claims`` from the run's feature tables."""
    gap = china_usa_gap(features["talent_pool_metrics"], features["talent_rankings"], forecasts)
    return {
        "china_usa_gap": gap,
        "seed_claims": seed_claims(
            gap,
            features["talent_findings"],
            features["china_prior_ties"],
            features["china_researcher_inflows"],
            features["china_pull_ladder"],
            features["china_origin_shares"],
            features["china_returnee_signals"],
        ),
    }


@task(name="seed-claims", cache_policy=NO_CACHE)
def build_claim_tables(
    features: dict[str, pl.DataFrame], forecasts: pl.DataFrame
) -> dict[str, pl.DataFrame]:
    return claim_tables(features, forecasts)
