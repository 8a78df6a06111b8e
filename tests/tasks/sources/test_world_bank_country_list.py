"""The World Bank API country list: the mirror's flattened CSV and the live JSON shape
(a small synthetic answer built here) read to the same columns; Namibia stays "NA"."""

import json
from pathlib import Path

import polars as pl
import pytest

from talentflow.tasks.sources.formats import ReaderError
from talentflow.tasks.sources.world_bank import (
    COUNTRY_LIST_FIELDS,
    country_list,
    parse_country_list,
)
from talentflow.tasks.validate import validate_frame

COUNTRIES_FILE = "wdi/wb_api_countries.csv"
NO_ADMIN_REGION = {"id": "", "iso2code": "", "value": ""}
#: Three records in the API's JSON shape, with the values the mirror's CSV has for them.
SYNTHETIC_RECORDS = [
    {
        "id": "ABW",
        "iso2Code": "AW",
        "name": "Aruba",
        "region": {"id": "LCN", "iso2code": "ZJ", "value": "Latin America & Caribbean "},
        "adminregion": NO_ADMIN_REGION,
        "incomeLevel": {"id": "HIC", "iso2code": "XD", "value": "High income"},
        "lendingType": {"id": "LNX", "iso2code": "XX", "value": "Not classified"},
        "capitalCity": "Oranjestad",
        "longitude": "-70.0167",
        "latitude": "12.5167",
    },
    {
        "id": "NAM",
        "iso2Code": "NA",
        "name": "Namibia",
        "region": {"id": "SSF", "iso2code": "ZG", "value": "Sub-Saharan Africa "},
        "adminregion": {
            "id": "SSA",
            "iso2code": "ZF",
            "value": "Sub-Saharan Africa (excluding high income)",
        },
        "incomeLevel": {"id": "UMC", "iso2code": "XT", "value": "Upper middle income"},
        "lendingType": {"id": "IBD", "iso2code": "XF", "value": "IBRD"},
        "capitalCity": "Windhoek",
        "longitude": "17.0931",
        "latitude": "-22.5648",
    },
    {
        "id": "WLD",
        "iso2Code": "1W",
        "name": "World",
        "region": {"id": "NA", "iso2code": "NA", "value": "Aggregates"},
        "adminregion": NO_ADMIN_REGION,
        "incomeLevel": {"id": "NA", "iso2code": "NA", "value": "Aggregates"},
        "lendingType": {"id": "", "iso2code": "", "value": "Aggregates"},
        "capitalCity": "",
        "longitude": "",
        "latitude": "",
    },
]


def synthetic_answer(tmp_path: Path, records=None, *, page=None, name="country") -> Path:
    """A synthetic World Bank API answer saved as the live pull names it (no suffix)."""
    records = SYNTHETIC_RECORDS if records is None else records
    page = page or {"page": 1, "pages": 1, "per_page": "400", "total": len(records)}
    path = tmp_path / f"synthetic_{name}"
    path.write_text(json.dumps([page, records]), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def countries(mirror):
    return parse_country_list(mirror / COUNTRIES_FILE)


def test_the_mirror_csv_reads_whole_and_keeps_namibia_na(countries):
    assert countries.height == 296  # MANIFEST
    assert countries.columns == list(COUNTRY_LIST_FIELDS)
    assert countries.schema["longitude"] == pl.Float64
    namibia = countries.filter(pl.col("iso3code") == "NAM").row(0, named=True)
    assert namibia["iso2Code"] == "NA" and namibia["name"] == "Namibia"
    assert countries["iso2Code"].null_count() == 0
    world = countries.filter(pl.col("iso3code") == "WLD").row(0, named=True)
    assert (world["region.id"], world["incomeLevel_id"], world["region_value"]) == (
        "NA",
        "NA",
        "Aggregates",
    )


def test_tidy_flags_aggregates_and_places_every_economy(countries):
    tidy = country_list.tidy(countries)
    assert tidy.height == countries.height
    assert tidy.columns == [
        "country_iso3",
        "geo_kind",
        "wb_code",
        "iso2",
        "name",
        "region_id",
        "region",
        "income_level_id",
        "income_level",
        "is_aggregate",
    ]
    assert tidy.filter(pl.col("geo_kind") == "unknown").height == 0
    aggregates = tidy.filter(pl.col("is_aggregate"))
    assert aggregates.height == 79
    assert set(aggregates["geo_kind"]) == {"aggregate"}
    assert aggregates.select("country_iso3", "region_id", "income_level").null_count().row(0) == (
        79,
        79,
        79,
    )
    economies = tidy.filter(~pl.col("is_aggregate"))
    assert economies.height == 217
    by_code = {row["wb_code"]: row for row in tidy.iter_rows(named=True)}
    assert by_code["NAM"]["iso2"] == "NA" and by_code["NAM"]["country_iso3"] == "NAM"
    assert by_code["NAM"]["region"] == "Sub-Saharan Africa"  # trailing blank stripped
    assert by_code["XKX"]["country_iso3"] == "XKX"
    assert (by_code["CHI"]["geo_kind"], by_code["CHI"]["is_aggregate"]) == ("aggregate", False)
    assert by_code["CHN"]["income_level"] == "Upper middle income"


def test_the_synthetic_json_answer_reads_like_the_mirror_csv(tmp_path, countries):
    from_json = parse_country_list(synthetic_answer(tmp_path))
    from_csv = countries.filter(pl.col("iso3code").is_in(["ABW", "NAM", "WLD"]))
    assert from_json.columns == from_csv.columns
    assert from_json.schema == from_csv.schema
    assert from_json.equals(from_csv)
    tidy = country_list.tidy(from_json)
    assert tidy["iso2"].to_list() == ["AW", "NA", "1W"]
    assert tidy["is_aggregate"].to_list() == [False, False, True]


def test_json_refuses_an_api_error_a_partial_page_and_a_short_answer(tmp_path):
    error = tmp_path / "synthetic_error"
    error.write_text('[{"message": [{"id": "120", "key": "Invalid value"}]}]', encoding="utf-8")
    with pytest.raises(ReaderError, match="World Bank API answered an error.*Invalid value"):
        parse_country_list(error)
    partial = synthetic_answer(
        tmp_path, page={"page": 1, "pages": 6, "per_page": "50", "total": 296}, name="partial"
    )
    with pytest.raises(ReaderError, match="page 1 of 6: only part of the list"):
        parse_country_list(partial)
    short = synthetic_answer(
        tmp_path, page={"page": 1, "pages": 1, "per_page": "400", "total": 296}, name="short"
    )
    with pytest.raises(ReaderError, match="announces 296 records, the file holds 3"):
        parse_country_list(short)


def test_json_names_a_missing_field_and_a_bad_coordinate(tmp_path):
    no_region = [dict(SYNTHETIC_RECORDS[0]), *SYNTHETIC_RECORDS[1:]]
    del no_region[0]["region"]
    with pytest.raises(ReaderError, match=r"record 1 has no field 'region\.id'"):
        parse_country_list(synthetic_answer(tmp_path, no_region, name="no_region"))
    bad = [*SYNTHETIC_RECORDS[:1], {**SYNTHETIC_RECORDS[1], "latitude": "22°34'S"}]
    with pytest.raises(ReaderError, match=r"record 2, field 'latitude': \"22°34'S\""):
        parse_country_list(synthetic_answer(tmp_path, bad, name="bad"))


def test_csv_names_the_line_of_a_bad_coordinate_and_tidy_a_missing_column(
    mirror, tmp_path, countries
):
    text = (mirror / COUNTRIES_FILE).read_text(encoding="utf-8")
    bad = tmp_path / "countries.csv"
    bad.write_text(text.replace("Windhoek,17.0931,", "Windhoek,17.09 E,"), encoding="utf-8")
    line = text[: text.index("NAM,NA,Namibia")].count("\n") + 1
    with pytest.raises(ReaderError, match=rf"line {line}, column 'longitude': '17\.09 E'"):
        parse_country_list(bad)
    with pytest.raises(ReaderError, match="'region_value'"):
        country_list.tidy(countries.rename({"region_value": "region.value"}))


def test_the_suite_passes_on_the_mirror_and_catches_namibia_read_as_missing(countries):
    report = validate_frame(countries, "world_bank_country_list", COUNTRIES_FILE)
    assert report.failures == [], report.message()
    na_as_null = countries.with_columns(
        pl.when(pl.col("iso2Code") == "NA")
        .then(None)
        .otherwise(pl.col("iso2Code"))
        .alias("iso2Code")
    )
    report = validate_frame(na_as_null, "world_bank_country_list", "NA read as null")
    assert report.is_critical
    assert "expect_column_values_to_not_be_null" in [f.expectation for f in report.failures]
