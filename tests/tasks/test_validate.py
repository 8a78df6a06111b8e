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
    assert report.failures == [] and report.evaluated == 9


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
    # The layout first, in words; the expectations that could not run on the missing column
    # are counted, not listed one by one.
    lines = message.splitlines()
    assert lines[1] == (
        "  - [critical] expect_table_columns_to_match_ordered_list: missing column(s) "
        "['Country Code'] (found ['Country ISO']); the layout changed"
    )
    assert lines[-1].endswith("more expectation(s) could not run on the missing column(s)")
    assert "does not exist" not in message


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


def renamed_code(researchers: pl.DataFrame, old: str, new: str) -> pl.DataFrame:
    return researchers.with_columns(pl.col("Country Code").replace({old: new}))


def test_a_release_without_china_fails_at_its_own_suite_naming_the_file(researchers):
    """China's code gone (a renamed code, a filtering mistake upstream): the source's own
    suite fails, naming the file, instead of a null at a derived table much later. (CHI,
    the Channel Islands, is a known aggregate: only China's absence fails.)"""
    report = validate_frame(
        renamed_code(researchers, "CHN", "CHI"), "world_bank_indicator", RESEARCHERS_FILE
    )
    assert report.is_critical
    [failure] = report.failures
    assert failure.expectation == "expect_column_distinct_values_to_contain_set"
    assert RESEARCHERS_FILE in report.message() and "CHN" in report.message()


def test_an_unknown_place_code_fails_at_its_own_suite_naming_the_code(researchers):
    """A code neither a country nor a known aggregate (a publisher's new code, a typo):
    the file's own suite fails and says which code, instead of a null in a derived table."""
    report = validate_frame(
        renamed_code(researchers, "DEU", "DEX"), "world_bank_indicator", RESEARCHERS_FILE
    )
    assert report.is_critical
    [failure] = report.failures
    assert (failure.expectation, failure.examples[0]) == (
        "expect_column_values_to_be_in_set",
        "DEX",
    )
    assert RESEARCHERS_FILE in report.message() and "DEX" in report.message()


@pytest.mark.parametrize("database", ["scopus", "openalex"])
def test_mpidr_place_codes_are_checked_with_openalex_nan_allowed(mirror, database):
    from talentflow.tasks.sources.mpidr import parse_flows

    path = next((mirror / "scholarly_migration").glob(f"*{database}*flow*"))
    flows = parse_flows(path)
    assert validate_frame(flows, "mpidr_flows", database).failures == []
    first = flows["migrationto"].drop_nulls()[0]
    bad = flows.with_columns(pl.col("migrationto").replace({first: "QQQ"}))
    report = validate_frame(bad, "mpidr_flows", database)
    assert report.is_critical
    assert [(f.expectation, f.kwargs["column"]) for f in report.failures] == [
        ("expect_column_values_to_be_in_set", "migrationto")
    ]
    assert report.failures[0].examples[0] == "QQQ"


def test_a_duplicate_key_is_critical(researchers):
    report = validate_frame(
        pl.concat([researchers, researchers.head(1)]), "world_bank_indicator", "wdi copy"
    )
    assert [f.expectation for f in report.failures] == ["expect_compound_columns_to_be_unique"]


def test_a_tables_warnings_are_logged_once_per_kind_with_counts_and_data_docs(
    prefect_harness, settings_env, monkeypatch, caplog
):
    import logging

    from prefect import flow

    from talentflow.tasks import validate
    from talentflow.tasks.validate import (
        FailedExpectation,
        ValidationReport,
        data_docs_index,
        validate_table,
    )

    def between(column: str, unexpected: int) -> FailedExpectation:
        examples = [{"target": "researchers", "model": "ets"}] * 2  # dicts: never logged
        return FailedExpectation(
            "expect_column_values_to_be_between",
            "warning",
            {"column": column},
            unexpected,
            examples,
        )

    failures = [
        between("mase_improvement", 2),
        between("calibrated_coverage80", 3),
        FailedExpectation("expect_column_values_to_not_be_null", "warning", {}, 1, [None]),
    ]
    monkeypatch.setattr(
        validate,
        "validate_frame",
        lambda frame, suite, label, **_: ValidationReport(suite, label, 9, failures),
    )

    @flow(name="synthetic-validation")
    def validate_a_table_with_warnings() -> None:
        validate_table(pl.DataFrame({"x": [1]}), "model_selection", "table model_selection")

    with caplog.at_level(logging.WARNING):
        validate_a_table_with_warnings()
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    where = (
        f"full list: suite 'model_selection' in Data Docs, {data_docs_index(settings_env.data_dir)}"
    )
    assert logged == [
        "table model_selection: warning 2 × expect_column_values_to_be_between "
        f"(unexpected values: 5); {where}",
        "table model_selection: warning 1 × expect_column_values_to_not_be_null "
        f"(unexpected values: 1); {where}",
    ]
