"""China MoE / NBS figures on the real mirror files, checked against the MANIFEST; malformed
input on small synthetic files."""

from pathlib import Path

import polars as pl
import pytest

from talentflow.tasks.sources.china_moe import (
    POSTGRADUATE_COLUMNS,
    STUDENT_COLUMNS,
    international_students,
    postgraduate,
)
from talentflow.tasks.sources.formats import ReaderError
from talentflow.tasks.validate import validate_frame

STUDENTS = "china_moe/china_international_students_moe.csv"
POSTGRADUATE = "china_moe/china_postgraduate_education_moe_nbs.csv"
ORIGIN_METRICS = {
    "international_students_by_origin_country_top15",
    "international_students_by_origin_country_top3",
    "international_students_by_origin_country_top",
    "international_students_by_continent",
    "international_students_by_origin_group",
}


@pytest.fixture(scope="module")
def students_raw(mirror):
    return international_students.parse(mirror / STUDENTS)


@pytest.fixture(scope="module")
def students(students_raw):
    return international_students.tidy(students_raw)


@pytest.fixture(scope="module")
def postgraduate_raw(mirror):
    return postgraduate.parse(mirror / POSTGRADUATE)


def total(students: pl.DataFrame, year: int) -> pl.DataFrame:
    return students.filter(
        (pl.col("metric") == "international_students_total") & (pl.col("year") == year)
    )


def test_every_student_figure_is_read_and_kept(students_raw, students):
    assert students_raw.columns == STUDENT_COLUMNS
    assert students_raw.height == students.height == 132  # MANIFEST section 8
    assert students.columns == [
        "year",
        "metric",
        "category",
        "origin_iso3",
        "geo_kind",
        "value",
        "unit",
        "is_derived",
        "source_url",
        "note",
    ]
    assert students.schema["year"] == pl.Int32
    assert (students["year"].min(), students["year"].max()) == (2010, 2018)


def test_totals_match_the_manifest_and_the_2010_total_is_derived(students):
    assert total(students, 2018)["value"].item() == 492_185
    assert total(students, 2011)["value"].item() == 292_611
    derived = students.filter(pl.col("is_derived"))
    assert derived.select("year", "metric", "value").rows() == [
        (2010, "international_students_total", 265_090.0)
    ]
    assert 292_611 - 27_521 == 265_090  # the note's method, as a check of the figure


def test_only_origin_metrics_are_placed(students):
    placed = students.filter(pl.col("geo_kind").is_not_null())
    assert set(placed["metric"]) == ORIGIN_METRICS
    assert students.filter(~pl.col("metric").is_in(ORIGIN_METRICS))["origin_iso3"].null_count() == (
        students.filter(~pl.col("metric").is_in(ORIGIN_METRICS)).height
    )
    assert placed.filter(pl.col("geo_kind") == "unknown").height == 0
    countries = placed.filter(
        pl.col("metric").str.starts_with("international_students_by_origin_c")
    )
    assert set(countries["geo_kind"]) == {"country"}
    korea_2018 = countries.filter((pl.col("year") == 2018) & (pl.col("origin_iso3") == "KOR"))
    assert korea_2018["value"].item() == 50_600
    continents = placed.filter(pl.col("metric") == "international_students_by_continent")
    assert set(continents["geo_kind"]) == {"aggregate"}
    # Provinces of China are hosts, not origins: never placed.
    beijing = students.filter(pl.col("category") == "Beijing")
    assert beijing["geo_kind"].null_count() == beijing.height == 2


def test_the_rank_list_is_kept_without_a_value(students):
    ranks = students.filter(pl.col("unit") == "rank list")
    assert ranks.height == 1 and ranks["value"].item() is None
    assert ranks["category"].item().startswith("South Korea; Thailand")


def test_postgraduate_figures(postgraduate_raw):
    assert postgraduate_raw.columns == POSTGRADUATE_COLUMNS
    tidy = postgraduate.tidy(postgraduate_raw)
    assert postgraduate_raw.height == tidy.height == 21  # MANIFEST section 8
    assert tidy.columns == [
        "year",
        "metric",
        "level",
        "value_persons",
        "value_reported",
        "unit_reported",
        "source_url",
        "note",
    ]
    doctoral_2023 = tidy.filter(
        (pl.col("year") == 2023)
        & (pl.col("metric") == "graduate_enrolment")
        & (pl.col("level") == "doctoral")
    )
    assert doctoral_2023["value_persons"].item() == 612_500
    assert doctoral_2023["value_reported"].item() == 61.25
    assert set(tidy.filter(pl.col("year") == 2025)["level"]) == {"all postgraduate"}


def test_the_suites_pass_on_the_real_files(students_raw, postgraduate_raw):
    for frame, suite, label in (
        (students_raw, "china_moe_international_students", STUDENTS),
        (postgraduate_raw, "china_moe_postgraduate", POSTGRADUATE),
    ):
        report = validate_frame(frame, suite, label)
        assert report.failures == [], report.message()


# Malformed input ----------------------------------------------------------------------


def synthetic(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_year_with_a_fraction_names_line_and_column(tmp_path):
    path = synthetic(
        tmp_path,
        "synthetic_students.csv",
        ",".join(STUDENT_COLUMNS) + "\n2018.5,international_students_total,all,1,persons,x,\n",
    )
    with pytest.raises(ReaderError, match=r"line 2, column 'year': '2018\.5' is not a whole"):
        international_students.parse(path)


def test_persons_that_do_not_match_the_reported_figure_are_refused(tmp_path):
    path = synthetic(
        tmp_path,
        "synthetic_postgraduate.csv",
        ",".join(POSTGRADUATE_COLUMNS)
        + "\n2023,graduates,doctoral,8.71,10k persons (万人),87100,x,"
        + "\n2023,graduates,master,92.76,10k persons (万人),92760,x,\n",
    )
    with pytest.raises(ReaderError, match="line 3: value_persons 92760 is not value_reported"):
        postgraduate.parse(path)


def test_a_renamed_column_is_a_clear_error_when_tidying(students_raw):
    with pytest.raises(ReaderError, match=r"no column\(s\) \['category'\]"):
        international_students.tidy(students_raw.rename({"category": "origin"}))
