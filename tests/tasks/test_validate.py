"""The GX suites on the real mirror files: pass as published, fail on a bad copy."""

import polars as pl
import pytest

from talentflow.tasks.sources.world_bank import parse_bulk_indicator
from talentflow.tasks.sources.wpp import parse_population_by_age
from talentflow.tasks.validate import validate_frame

RESEARCHERS_FILE = "wdi/API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.csv"


@pytest.fixture(scope="module")
def researchers(mirror):
    return parse_bulk_indicator(mirror / RESEARCHERS_FILE)


def test_the_real_world_bank_file_passes(researchers):
    report = validate_frame(researchers, "world_bank_indicator", "wdi")
    assert report.failures == [] and report.evaluated == 7


def test_the_real_wpp_file_passes(mirror):
    frame = parse_population_by_age(mirror / "wpp2024/WPP2024_PopulationByAge5GroupSex_5yr.csv")
    assert validate_frame(frame, "wpp_population_by_age", "wpp").failures == []


def test_a_renamed_column_is_critical_and_named(researchers):
    report = validate_frame(
        researchers.rename({"Country Code": "Country ISO"}), "world_bank_indicator", "wdi copy"
    )
    assert report.is_critical
    message = report.message()
    assert "wdi copy" in message
    assert "expect_table_columns_to_match_ordered_list" in message and "Country ISO" in message


def test_a_negative_value_is_critical_with_the_example(researchers):
    bad = researchers.with_columns(
        pl.when((pl.col("Country Code") == "CHN") & (pl.col("year") == 2020))
        .then(-1600.30633)
        .otherwise(pl.col("value"))
        .alias("value")
    )
    report = validate_frame(bad, "world_bank_indicator", "wdi copy")
    assert report.is_critical
    [failure] = report.failures
    assert failure.expectation == "expect_column_values_to_be_between"
    assert failure.unexpected_count == 1 and failure.examples == [-1600.30633]


def test_a_duplicate_key_is_critical(researchers):
    report = validate_frame(
        pl.concat([researchers, researchers.head(1)]), "world_bank_indicator", "wdi copy"
    )
    assert [f.expectation for f in report.failures] == ["expect_compound_columns_to_be_unique"]
