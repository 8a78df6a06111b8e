"""NCSES Science & Engineering Indicators tables: all eight layouts on the real mirror files,
checked against the MANIFEST; malformed input on small synthetic files."""

from pathlib import Path

import polars as pl
import pytest

from talentflow.tasks.sources.formats import ReaderError
from talentflow.tasks.sources.ncses import table, value_column
from talentflow.tasks.validate import validate_frame

ROWS = {  # MANIFEST section 6
    "1571": 416,
    "1572": 416,
    "5785": 416,
    "5786": 416,
    "11695": 30,
    "11696": 42,
    "11762": 104,
    "10996": 15,
}
MEASURES = {
    "1571": {"degrees"},
    "1572": {"degrees"},
    "5785": {"degrees"},
    "5786": {"degrees"},
    "11695": {"doctorate_recipients"},
    "11696": {"rank", "doctorate_recipients"},
    "11762": {"doctorate_recipients", "staying_percent"},
    "10996": {"doctorate_recipients", "stay_rate_5_year_percent", "stay_rate_10_year_percent"},
}


def path_of(mirror: Path, table_id: str) -> Path:
    return mirror / "ncses_sei" / f"ncses_table_{table_id}.csv"


@pytest.fixture(scope="module")
def parsed(mirror):
    return {table_id: table.parse(path_of(mirror, table_id)) for table_id in ROWS}


@pytest.fixture(scope="module")
def tidied(parsed):
    return {table_id: table.tidy(raw) for table_id, raw in parsed.items()}


def value(tidy: pl.DataFrame, **where) -> float | None:
    found = tidy.filter(
        pl.all_horizontal(
            pl.col(k).is_null() if v is None else pl.col(k) == v for k, v in where.items()
        )
    )
    assert found.height == 1, found
    return found["value"].item()


@pytest.mark.parametrize("table_id", list(ROWS))
def test_every_row_and_value_cell_is_kept(parsed, tidied, table_id):
    raw, tidy = parsed[table_id], tidied[table_id]
    value_columns = [c for c in raw.columns if c.startswith("field_")]
    assert raw.height == ROWS[table_id]
    assert tidy.height == raw.height * len(value_columns)  # long, nulls included
    assert tidy.select("row_id").n_unique() == raw.height
    assert raw.select(value_columns).null_count().sum_horizontal().item() == (
        tidy["value"].null_count()
    )
    assert set(tidy["measure"]) == MEASURES[table_id]
    assert tidy.columns == [
        "table_id",
        "row_id",
        "country",
        "country_iso3",
        "geo_kind",
        "place_path",
        "field",
        "measure",
        "year",
        "period",
        "value",
    ]
    assert tidy.schema["year"] == pl.Int32 and tidy.schema["value"] == pl.Float64
    assert tidy["table_id"].unique().to_list() == [table_id]
    # (row, measure, year, period) is the key: one value each.
    assert not tidy.select("row_id", "measure", "year", "period").is_duplicated().any()


@pytest.mark.parametrize("table_id", list(ROWS))
def test_every_place_is_a_country_or_a_known_aggregate(tidied, table_id):
    assert tidied[table_id].filter(pl.col("geo_kind") == "unknown").height == 0
    assert not tidied[table_id]["country"].str.contains("<sup>|^ | $").any()


def test_doctoral_degrees_of_china_match_the_manifest(tidied):
    s2_16, shed_12 = tidied["1572"], tidied["5786"]
    china = {"country_iso3": "CHN", "measure": "degrees"}
    assert value(s2_16, **china, field="All fields", year=2015) == 53_778
    assert value(s2_16, **china, field="All fields -> All S&E", year=2015) == 34_440
    assert value(shed_12, **china, field="All fields", year=2018) == 60_724
    assert value(shed_12, **china, field="All fields -> All S&E", year=2018) == 39_768
    # The country heading row above the fields has no values and no field.
    heading = s2_16.filter((pl.col("country_iso3") == "CHN") & pl.col("field").is_null())
    assert heading["row_id"].n_unique() == 1 and heading["value"].null_count() == heading.height


def test_first_degrees_mark_na_as_missing(parsed, tidied):
    assert parsed["1571"].filter(pl.col("row_id") == "r002")["field_2000"].item() is None
    assert value(tidied["1571"], row_id="r002", year=2000) is None
    assert value(tidied["1571"], row_id="r002", year=2010) == 79_533  # Argentina, All fields


def test_temporary_visa_doctorates_of_china(tidied):
    top10 = tidied["11695"]
    assert value(top10, country_iso3="CHN", field="All fields", year=2023) == 6_652
    assert value(top10, country_iso3="CHN", field="Science and engineering", year=2023) == 5_981
    assert value(top10, country_iso3="IND", field="All fields", year=2023) == 2_762  # "India "
    top40 = tidied["11696"]
    assert value(top40, country_iso3="CHN", measure="doctorate_recipients") == 6_652
    assert value(top40, country_iso3="CHN", measure="rank") == 1
    # "-" ranks of the aggregate rows are null, the rows are kept as aggregates.
    totals = top40.filter(pl.col("geo_kind") == "aggregate")
    assert totals["row_id"].to_list() == ["r001", "r001", "r002", "r002"]
    assert totals.filter(pl.col("measure") == "rank")["value"].null_count() == 2


def test_intention_to_stay_keeps_regions_as_aggregates(tidied):
    stay = tidied["11762"]
    assert value(stay, country_iso3="CHN", measure="staying_percent", year=2023) == 77.5
    assert value(stay, country_iso3="CHN", measure="doctorate_recipients", period="2017-23") == (
        43_902
    )
    asia = stay.filter(pl.col("country") == "Asia")
    assert set(asia["geo_kind"]) == {"aggregate"} and asia["country_iso3"].null_count() == 16
    other = stay.filter(pl.col("country") == "Other")
    assert other["place_path"].unique().sort().to_list() == [
        f"All temporary visa holders -> {region} -> Other"
        for region in ("Africa", "Americas", "Asia", "Australia-Oceania", "Europe", "Middle East")
    ]
    assert set(other["geo_kind"]) == {"aggregate"}


def test_stay_rates_fold_hong_kong_into_china(tidied):
    rates = tidied["10996"]
    china = rates.filter(pl.col("country") == "China (including Hong Kong)")
    assert set(china["country_iso3"]) == {"CHN"}
    assert value(china, measure="stay_rate_5_year_percent") == 88
    assert value(china, measure="stay_rate_10_year_percent") == 81
    assert value(china, measure="doctorate_recipients", period="2015-17") == 14_250
    # Field rows belong to the table total, not to a place.
    engineering = rates.filter(pl.col("field") == "Doctoral fields -> Engineering")
    assert set(engineering["country"]) == {"Total"}
    assert set(engineering["geo_kind"]) == {"aggregate"}


@pytest.mark.parametrize(
    ("column", "measure", "year", "period"),
    [
        ("field_2015", "degrees", 2015, None),
        ("field_rank", "rank", None, None),
        ("field_2017_23_number", "doctorate_recipients", None, "2017-23"),
        ("field_2019_staying", "staying_percent", 2019, None),
        (
            "field_foreign_doctorate_recipients_2010_12_number_",
            "doctorate_recipients",
            None,
            "2010-12",
        ),
        ("field_10_year_stay_rate_", "stay_rate_10_year_percent", None, None),
    ],
)
def test_value_columns_are_named_by_what_they_measure(column, measure, year, period):
    meaning = value_column(column, "1572")
    assert (meaning.measure, meaning.year, meaning.period) == (measure, year, period)


@pytest.mark.parametrize("table_id", list(ROWS))
def test_the_suite_passes_on_the_real_file(parsed, table_id):
    report = validate_frame(parsed[table_id], "ncses_table", f"ncses_table_{table_id}.csv")
    assert report.failures == [], report.message()


# Malformed input ----------------------------------------------------------------------

HEADER = "table_id,row_id,x_b_full_path,x_b_level_1,x_b_hierarchy_depth,field_2015,field_2016\n"


def synthetic_table(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "synthetic_ncses_table.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


def test_an_unparseable_value_names_line_and_column(tmp_path):
    body = '11695,r001,China,China,1,NA,12\n11695,r002,Iran,Iran,1,"1,234",5\n'
    path = synthetic_table(tmp_path, body)
    with pytest.raises(ReaderError, match=r"line 3, column 'field_2015': '1,234' is not a number"):
        table.parse(path)


def test_a_table_whose_year_columns_say_nothing_is_refused(tmp_path):
    path = synthetic_table(tmp_path, "99999,r001,China,China,1,1,2\n")
    with pytest.raises(ReaderError, match="99999.*YEAR_COLUMN_MEASURES"):
        table.tidy(table.parse(path))


def test_an_unknown_value_column_is_refused(tmp_path):
    header = HEADER.replace("field_2016", "field_median_salary")
    path = synthetic_table(tmp_path, "11695,r001,China,China,1,1,2\n", header)
    with pytest.raises(ReaderError, match="unknown value column 'field_median_salary'"):
        table.tidy(table.parse(path))


def test_a_renamed_key_column_is_a_clear_error_when_tidying(parsed):
    with pytest.raises(ReaderError, match=r"no column\(s\) \['row_id'\]"):
        table.tidy(parsed["11695"].rename({"row_id": "row"}))


def test_a_repeated_row_id_is_refused(tmp_path):
    path = synthetic_table(tmp_path, "11695,r001,China,China,1,1,2\n11695,r001,Iran,Iran,1,3,4\n")
    with pytest.raises(ReaderError, match="row_id is empty or repeated"):
        table.tidy(table.parse(path))
