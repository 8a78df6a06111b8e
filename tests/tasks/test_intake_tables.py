"""The published intake tables, built from the real mirror, pass their suites; the suites
of the tables added last catch what they guard."""

import polars as pl
import pytest

from talentflow.tasks.intake_tables import INTAKE_DATASETS, INTAKE_SUITES, intake_tables
from talentflow.tasks.sources.catalog import CATALOG
from talentflow.tasks.sources.formats import resolve_format
from talentflow.tasks.validate import validate_frame


@pytest.fixture(scope="module")
def tidy(mirror):
    tidy = {}
    for dataset_id in INTAKE_DATASETS:
        source = CATALOG[dataset_id]
        reader = resolve_format(source.reader)
        [path] = mirror.glob(source.mirror_glob)
        tidy[dataset_id] = reader.tidy(reader.parse(path))
    return tidy


@pytest.fixture(scope="module")
def tables(tidy):
    return intake_tables(tidy)


def test_every_intake_table_passes_its_suite(tables):
    assert set(tables) == set(INTAKE_SUITES)
    for name, table in tables.items():
        assert validate_frame(table, INTAKE_SUITES[name], name).failures == [], name


def test_shares_as_percent_and_rates_above_100_are_refused(tables):
    shares = tables["china_inflow_shares_by_income"].with_columns(pl.col("share") * 100)
    report = validate_frame(shares, "china_inflow_shares_by_income", "percent shares")
    assert report.is_critical
    doctorates = tables["chinese_us_doctorates"].with_columns(
        pl.when(pl.col("measure") != "doctorate_recipients")
        .then(pl.col("value") * 10)
        .otherwise(pl.col("value"))
        .alias("value")
    )
    assert validate_frame(doctorates, "chinese_us_doctorates", "rates x10").is_critical


def test_high_income_origins_share_of_moves_into_china_is_reported_per_year(tables):
    shares = tables["china_inflow_shares_by_income"]
    scopus_2018 = shares.filter((pl.col("database") == "scopus") & (pl.col("year") == 2018))
    assert scopus_2018["share"].sum() == pytest.approx(1.0)
    high = scopus_2018.filter(pl.col("origin_income_group") == "High income")
    assert high["migrations"].item() == 9441  # of 10,831 moves into China (MPIDR Scopus)


def test_the_orcid_census_adds_its_arrivals_to_the_prior_ties_table(tidy, tables):
    """The mirror's ORCID samples hold no arrival; a census's people all appear."""
    assert tables["china_prior_ties"].is_empty()
    census = pl.DataFrame(
        {
            "orcid": ["synthetic-1", "synthetic-2", "synthetic-3"],
            "year": [2016, 2016, 2018],
            "origin_iso3": ["USA", "DEU", "USA"],
            "tie": ["returnee", "no_prior_tie", "returnee"],
            "first_abroad_year": [2008, 2008, 2010],
            "first_china_year": [2004, None, 2005],
        },
        schema={
            "orcid": pl.String,
            "year": pl.Int32,
            "origin_iso3": pl.String,
            "tie": pl.String,
            "first_abroad_year": pl.Int32,
            "first_china_year": pl.Int32,
        },
    )
    ties = intake_tables(tidy, census)["china_prior_ties"]
    assert ties["people"].sum() == 3
    assert ties.filter(pl.col("year") == 2016)["share"].sum() == pytest.approx(1.0)
    assert validate_frame(ties, "china_prior_ties", "synthetic census").failures == []
