"""Talent pool metrics, rankings and findings, on the real mirror files, checked against
numbers read from the raw files by hand."""

import csv

import polars as pl
import pytest

from talentflow.core.countries import country_iso3_codes
from talentflow.tasks.features.talent import (
    FINDING_COLUMNS,
    rankings,
    talent_findings,
    talent_pool_metrics,
    zero_percentages,
)
from talentflow.tasks.sources import mpidr, ncses, uis, world_bank, wpp
from talentflow.tasks.validate import validate_frame

RESEARCHERS_FILE = "wdi/API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.csv"
POPULATION_FILE = "wdi/API_SP.POP.TOTL_DS2_en_csv_v2.csv"
UIS_FILE = "uis/uis_api_sdg_tertiary_enrolment_attainment.csv"
METRICS = {
    "researchers",
    "adults_25plus_tertiary",
    "adults_25plus_bachelors_plus",
    "adults_25plus_masters_plus",
    "tertiary_students_approx",
    "se_first_degrees",
    "se_doctorates",
    "active_researchers_scopus",
    "active_researchers_openalex",
    "researcher_inmigrations_scopus",
    "researcher_inmigrations_openalex",
    "researcher_outmigrations_scopus",
    "researcher_outmigrations_openalex",
}


@pytest.fixture(scope="module")
def sources(mirror):
    def read(fmt, relative):
        return fmt.tidy(fmt.parse(mirror / relative))

    return {
        "researchers_per_million": read(world_bank.bulk_indicator, RESEARCHERS_FILE),
        "population_total": read(world_bank.bulk_indicator, POPULATION_FILE),
        "wpp": read(wpp.population_by_age, "wpp2024/WPP2024_PopulationByAge5GroupSex_5yr.csv"),
        "uis": read(uis.api_records, UIS_FILE),
        "ncses": pl.concat(
            read(ncses.table, f"ncses_sei/ncses_table_{table}.csv")
            for table in ("1571", "1572", "5785", "5786")
        ),
        "mpidr": pl.concat(
            read(mpidr.country, f"scholarly_migration/{name}_scholarlymigration_country.csv")
            for name in ("scopus_2024_V1", "openalex_2023_V1")
        ),
    }


@pytest.fixture(scope="module")
def metrics(sources):
    return talent_pool_metrics(**sources)


@pytest.fixture(scope="module")
def ranked(metrics):
    return rankings(metrics)


@pytest.fixture(scope="module")
def findings(ranked):
    return talent_findings(ranked)


def metric_value(frame, metric, code, year):
    return frame.filter(
        (pl.col("metric") == metric) & (pl.col("country_iso3") == code) & (pl.col("year") == year)
    )["value"].item()


def world_bank_raw_value(path, code, year):
    """The cell of ``code``'s row and ``year``'s column, read with the csv module."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle)
        header = next(row for row in rows if row[:2] == ["Country Name", "Country Code"])
        row = next(row for row in rows if row[1] == code)
    return float(row[header.index(str(year))])


def uis_raw_percent(path, indicator, code, year):
    with path.open(encoding="utf-8", newline="") as handle:
        [row] = [
            r
            for r in csv.DictReader(handle)
            if (r["indicatorId"], r["geoUnit"], r["year"]) == (indicator, code, str(year))
        ]
    return float(row["value"])


def wpp_persons(wpp_frame, code, year, first_age, last_age=None):
    """Medium-variant persons in the 5-year groups from ``first_age`` (to ``last_age``, or
    the open group 100+), summed from the tidy WPP rows."""
    ages = pl.col("age_start") >= first_age
    if last_age is not None:
        ages &= pl.col("age_start") <= last_age - 4
    return wpp_frame.filter(
        (pl.col("country_iso3") == code)
        & (pl.col("year") == year)
        & (pl.col("variant") == "Medium")
        & ages
    )["population"].sum()


def test_china_researchers_2020_are_per_million_times_population_from_the_raw_files(
    mirror, metrics
):
    per_million = world_bank_raw_value(mirror / RESEARCHERS_FILE, "CHN", 2020)
    population = world_bank_raw_value(mirror / POPULATION_FILE, "CHN", 2020)
    expected = per_million * population / 1e6
    assert metric_value(metrics, "researchers", "CHN", 2020) == pytest.approx(expected)
    assert 2.2e6 < expected < 2.3e6  # 1,600.3 per million × 1.411 billion


def test_china_se_doctorates_are_ncses_values(metrics):
    assert metric_value(metrics, "se_doctorates", "CHN", 2015) == 34_440
    assert metric_value(metrics, "se_doctorates", "CHN", 2018) == 39_768


def test_overlapping_ncses_tables_are_counted_once_and_the_newer_wins(metrics):
    degrees = metrics.filter(pl.col("metric").is_in(["se_first_degrees", "se_doctorates"]))
    assert not degrees.select("metric", "country_iso3", "year").is_duplicated().any()
    # SHED-11 (5785) revised Brazil's 2010 first degrees from S2-15's (1571) 146,774.
    assert metric_value(metrics, "se_first_degrees", "BRA", 2010) == 192_616
    sources_by_era = degrees.group_by(pl.col("year") >= 2010).agg(pl.col("source").unique())
    newer = sources_by_era.filter(pl.col("year"))["source"].explode().to_list()
    older = sources_by_era.filter(~pl.col("year"))["source"].explode().to_list()
    assert all(("5785" in s) or ("5786" in s) for s in newer)
    assert all(("1571" in s) or ("1572" in s) for s in older)


def test_attainment_counts_are_percent_times_population_25_plus(mirror, sources, metrics):
    wpp_frame = sources["wpp"]
    # A WPP point year: China 2020, short-cycle tertiary or higher.
    percent = uis_raw_percent(mirror / UIS_FILE, "EA.5T8.AG25T99", "CHN", 2020)
    adults = wpp_persons(wpp_frame, "CHN", 2020, 25)
    assert metric_value(metrics, "adults_25plus_tertiary", "CHN", 2020) == pytest.approx(
        percent * adults / 100
    )
    assert 1.5e8 < percent * adults / 100 < 1.7e8  # 16.12 % of about a billion adults
    # Between WPP points: United States 2022, Bachelor's or higher, population 2/5 of the
    # way from 2020 to 2025.
    percent = uis_raw_percent(mirror / UIS_FILE, "EA.6T8.AG25T99", "USA", 2022)
    start, end = (wpp_persons(wpp_frame, "USA", year, 25) for year in (2020, 2025))
    adults = start + (end - start) * 2 / 5
    assert metric_value(metrics, "adults_25plus_bachelors_plus", "USA", 2022) == pytest.approx(
        percent * adults / 100
    )


def test_tertiary_students_are_ger_times_population_18_22_and_flagged(mirror, sources, metrics):
    percent = uis_raw_percent(mirror / UIS_FILE, "GER.5T8", "CHN", 2020)
    # the ratio's own denominator, 18-22: ages 18-19 from WPP's 15-19, 20-22 from 20-24
    cohort = 2 / 5 * wpp_persons(sources["wpp"], "CHN", 2020, 15, 19) + 3 / 5 * wpp_persons(
        sources["wpp"], "CHN", 2020, 20, 24
    )
    assert metric_value(metrics, "tertiary_students_approx", "CHN", 2020) == pytest.approx(
        percent * cohort / 100
    )
    flagged = metrics.group_by("metric").agg(pl.col("is_approximation").unique())
    assert dict(flagged.iter_rows()) == {
        metric: [metric == "tertiary_students_approx"] for metric in METRICS
    }


def test_mpidr_metrics_keep_databases_apart_and_drop_censored_years(metrics):
    scholarly = metrics.filter(pl.col("source").str.starts_with("MPIDR"))
    assert scholarly["year"].min() == 1998 and scholarly["year"].max() == 2020
    assert metric_value(metrics, "active_researchers_scopus", "CHN", 2020) == 2_251_676
    assert metric_value(metrics, "active_researchers_openalex", "CHN", 2020) == 663_630
    assert metric_value(metrics, "researcher_inmigrations_scopus", "CHN", 2020) == 12_885


def test_every_metric_is_present_and_counts_countries_only(metrics):
    assert set(metrics["metric"]) == METRICS
    assert set(metrics["country_iso3"]) <= country_iso3_codes()


def test_no_aggregate_appears_in_rankings(ranked):
    codes = set(ranked["country_iso3"])
    assert ranked["country_iso3"].null_count() == 0
    assert codes <= country_iso3_codes()
    assert not codes & {"WLD", "EAS", "HIC", "EUU", "EUE", "OED"}


def test_shares_in_a_metric_year_sum_to_one(ranked):
    sums = ranked.group_by("metric", "year").agg(pl.col("share").sum())
    assert sums["share"].to_list() == pytest.approx([1.0] * sums.height)


def test_rank_one_is_the_largest_and_reporting_countries_count_the_rows(ranked):
    year = ranked.filter((pl.col("metric") == "researchers") & (pl.col("year") == 2020))
    assert year.filter(pl.col("rank") == 1)["value"].item() == year["value"].max()
    assert year["reporting_countries"].unique().to_list() == [year.height]


def test_findings_have_one_row_per_metric_and_china_leads_researchers(findings):
    assert findings.columns == FINDING_COLUMNS
    assert findings["metric"].to_list() == sorted(METRICS)
    researchers = findings.filter(pl.col("metric") == "researchers").row(0, named=True)
    # 2023 and 2024 have data but no United States row, so 2022 is the latest year both
    # report; there China's researchers (2.61 million) outnumber the US's (1.65 million).
    assert researchers["year"] == 2022
    assert researchers["latest_data_year"] == 2024
    assert researchers["china_rank"] == 1
    assert researchers["leader_iso3"] == "CHN" and researchers["second_iso3"] == "USA"
    assert researchers["reporting_countries"] >= 40


def test_findings_say_where_china_is_second(findings):
    ranks = dict(findings.select("metric", "china_rank").iter_rows())
    leaders = dict(findings.select("metric", "leader_iso3").iter_rows())
    assert (ranks["se_doctorates"], leaders["se_doctorates"]) == (2, "USA")
    assert (ranks["se_first_degrees"], leaders["se_first_degrees"]) == (2, "IND")
    # The two bibliometric databases disagree on who has more active researchers.
    assert ranks["active_researchers_scopus"] == 1
    assert (ranks["active_researchers_openalex"], leaders["active_researchers_openalex"]) == (
        2,
        "USA",
    )


def test_the_suites_pass_on_the_real_tables(metrics, ranked):
    for frame, suite in ((metrics, "talent_pool_metrics"), (ranked, "talent_rankings")):
        report = validate_frame(frame, suite, suite)
        assert report.failures == [], report.message()


# Synthetic frames: the rules of ranking and of choosing a findings year.


def synthetic_metrics(rows):
    return pl.DataFrame(
        rows, schema=["country_iso3", "year", "metric", "value"], orient="row"
    ).with_columns(
        pl.col("year").cast(pl.Int32),
        pl.col("value").cast(pl.Float64),
        pl.lit("persons").alias("unit"),
        pl.lit("synthetic").alias("source"),
        pl.lit(False).alias("is_approximation"),
    )


def test_ties_share_the_best_rank_on_synthetic_values():
    ranked = rankings(
        synthetic_metrics(
            [
                ("AAA", 2020, "m", 5),
                ("BBB", 2020, "m", 3),
                ("CCC", 2020, "m", 3),
                ("DDD", 2020, "m", 1),
            ]
        )
    )
    assert dict(ranked.select("country_iso3", "rank").iter_rows()) == {
        "AAA": 1,
        "BBB": 2,
        "CCC": 2,
        "DDD": 4,
    }
    assert ranked["share"].to_list() == pytest.approx([5 / 12, 3 / 12, 3 / 12, 1 / 12])


def test_rankings_refuse_aggregates_and_double_counts_on_synthetic_rows():
    with pytest.raises(ValueError, match="aggregates"):
        rankings(synthetic_metrics([(None, 2020, "m", 5), ("AAA", 2020, "m", 3)]))
    with pytest.raises(ValueError, match="counted once"):
        rankings(synthetic_metrics([("AAA", 2020, "m", 5), ("AAA", 2020, "m", 3)]))


def test_findings_skip_thin_years_and_years_without_the_us_on_synthetic_rows():
    rows = [(c, 2019, "m", v) for c, v in (("CHN", 5), ("USA", 9), ("JPN", 1))]
    rows += [(c, 2020, "m", v) for c, v in (("CHN", 6), ("JPN", 2), ("DEU", 1))]  # no USA
    rows += [("CHN", 2021, "m", 7)]  # too few countries
    rows += [("AAA", 2019, "n", 1)]  # a metric with no usable year
    found = talent_findings(rankings(synthetic_metrics(rows)), min_reporting_countries=3)
    m = found.filter(pl.col("metric") == "m").row(0, named=True)
    assert (m["year"], m["china_rank"], m["leader_iso3"], m["leader_value"]) == (2019, 2, "USA", 9)
    assert m["latest_data_year"] == 2021
    n = found.filter(pl.col("metric") == "n").row(0, named=True)
    assert n["year"] is None and n["china_rank"] is None


def test_a_tertiary_percentage_published_as_zero_is_missing_and_named(sources, metrics):
    # India's attainment reads 0 % in 2018, 2020 and 2022-23 between 9.9 % and 12.1 %.
    zeros = zero_percentages(sources["uis"], ["EA.5T8.AG25T99"])
    india = zeros.filter(pl.col("country_iso3") == "IND")["year"].to_list()
    assert {2018, 2020} <= set(india)
    assert metrics.filter(
        (pl.col("metric") == "adults_25plus_tertiary")
        & (pl.col("country_iso3") == "IND")
        & pl.col("year").is_in(india)
    ).is_empty()
    assert (metrics.filter(pl.col("metric").str.starts_with("adults_"))["value"] > 0).all()
