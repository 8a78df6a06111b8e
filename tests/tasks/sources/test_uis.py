"""UIS readers on the real mirror files (Data API records, 360info top-10 partners),
checked against the MANIFEST and against cells read from the raw CSV."""

import csv
from pathlib import Path

import polars as pl
import pytest

from talentflow.tasks.sources.formats import ReaderError
from talentflow.tasks.sources.uis import (
    api_records,
    parse_api_records,
    parse_top_partners,
    top_destinations_by_origin,
    top_origins_by_destination,
)
from talentflow.tasks.validate import validate_frame

SDG_FILE = "uis/uis_api_sdg_tertiary_enrolment_attainment.csv"
INBOUND_FILE = "uis/uis_api_inbound_26637_and_netflow_MENF5T8.csv"
BY_ORIGIN_FILE = "uis/uis_opri_bilateral_top10_popular_destinations_by_origin.csv"
BY_DESTINATION_FILE = "uis/uis_opri_bilateral_top10_popular_origins_by_destination.csv"
API_COLUMNS = ["indicatorId", "geoUnit", "year", "value", "qualifier", "magnitude"]
TIDY_PARTNER_COLUMNS = [
    "origin_iso3",
    "origin_geo_kind",
    "origin_name",
    "destination_iso3",
    "destination_geo_kind",
    "destination_name",
    "year",
    "students",
    "partner_is_lump",
    "includes_other_data",
    "included_elsewhere",
    "national_estimate",
    "uis_estimate",
]


def raw_rows(path: Path) -> list[dict[str, str]]:
    """The file as the csv module reads it: every cell text, nothing converted."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def inbound(mirror):
    return parse_api_records(mirror / INBOUND_FILE)


@pytest.fixture(scope="module")
def sdg(mirror):
    return parse_api_records(mirror / SDG_FILE)


@pytest.fixture(scope="module")
def by_origin(mirror):
    return parse_top_partners(mirror / BY_ORIGIN_FILE)


@pytest.fixture(scope="module")
def by_destination(mirror):
    return parse_top_partners(mirror / BY_DESTINATION_FILE)


# -- UIS Data API records ----------------------------------------------------------------


def test_api_records_read_both_files_whole(sdg, inbound):
    assert sdg.height == 22_863 and inbound.height == 9_186  # MANIFEST row counts
    for frame in (sdg, inbound):
        assert frame.columns == API_COLUMNS
        assert frame.schema["year"] == pl.Int32 and frame.schema["value"] == pl.Float64
    assert set(sdg["indicatorId"]) == {
        "GER.5T8",
        "GER.5T8.F",
        "GER.5T8.M",
        "EA.5T8.AG25T99",
        "EA.6T8.AG25T99",
        "EA.7T8.AG25T99",
    }
    assert sdg["year"].min() == 1970 and sdg["year"].max() == 2024
    assert set(inbound["indicatorId"]) == {"26637", "MENF.5T8"}
    assert inbound["year"].min() == 2000 and inbound["year"].max() == 2024


def test_china_inbound_students_match_the_manifest(inbound):
    china = inbound.filter((pl.col("geoUnit") == "CHN") & (pl.col("indicatorId") == "26637"))
    by_year = dict(china.select("year", "value").iter_rows())
    assert (by_year[2021], by_year[2022], by_year[2023]) == (221_653, 210_903, 200_892)


def test_api_records_keep_qualifier_and_the_magnitude_code_na(mirror, inbound):
    rows = raw_rows(mirror / INBOUND_FILE)
    for column in ("qualifier", "magnitude"):
        published = {value or None for value in (row[column] for row in rows)}
        assert set(inbound[column].to_list()) == published
    assert set(inbound["qualifier"].drop_nulls()) == {"UIS_EST", "NAT_EST"}
    na_in_file = sum(row["magnitude"] == "NA" for row in rows)
    assert na_in_file == 121
    assert (inbound["magnitude"] == "NA").sum() == na_in_file  # a code, not a missing value


def test_api_records_tidy_keeps_every_row_and_flags_uis_regions(inbound):
    tidy = api_records.tidy(inbound)
    assert tidy.height == inbound.height
    assert tidy.columns == [
        "country_iso3",
        "geo_kind",
        "geo_unit",
        "indicator_id",
        "year",
        "value",
        "qualifier",
        "magnitude",
    ]
    assert tidy.filter(pl.col("geo_kind") == "unknown").height == 0
    regions = tidy.filter(pl.col("geo_kind") == "aggregate")
    assert regions["country_iso3"].null_count() == regions.height
    # 405 geo units in 26637: the quoted names with commas arrive whole and are aggregates.
    assert "SDG: Europe, Northern America, Australia and New Zealand" in set(regions["geo_unit"])
    assert {"UIS: World", "CECC-SICA"} <= set(regions["geo_unit"])
    inbound_units = tidy.filter(pl.col("indicator_id") == "26637")["geo_unit"].n_unique()
    assert inbound_units == 405
    china = tidy.filter(
        (pl.col("country_iso3") == "CHN")
        & (pl.col("indicator_id") == "26637")
        & (pl.col("year") == 2022)
    )
    assert china["value"].item() == 210_903 and china["geo_kind"].item() == "country"
    net_flow = tidy.filter(pl.col("indicator_id") == "MENF.5T8")
    assert net_flow["value"].min() < 0  # net flow keeps its sign


def test_sdg_records_are_all_countries(sdg):
    tidy = api_records.tidy(sdg)
    assert tidy.height == sdg.height
    assert set(tidy["geo_kind"]) == {"country"}
    assert tidy["country_iso3"].to_list() == tidy["geo_unit"].to_list()


def test_api_records_refuse_a_truncated_copy(mirror, tmp_path):
    data = (mirror / INBOUND_FILE).read_bytes()
    cut = data[: data.index(b"\n", 50_000) + 12]  # ends inside a record
    truncated = tmp_path / "inbound.csv"
    truncated.write_bytes(cut)
    line = cut.count(b"\n") + 1
    with pytest.raises(ReaderError, match=rf"inbound\.csv: line {line} has \d field\(s\)"):
        parse_api_records(truncated)


def test_api_records_name_the_line_and_column_of_a_bad_number(mirror, tmp_path):
    lines = (mirror / INBOUND_FILE).read_text(encoding="utf-8").splitlines()
    at = lines.index("26637,CHN,2022,210903,,")
    lines[at] = "26637,CHN,2022,210 903 (est.),,"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ReaderError, match=rf"line {at + 1}, column 'value': '210 903 \(est\.\)'"):
        parse_api_records(bad)


def test_api_records_refuse_a_fractional_year(mirror, tmp_path):
    text = (mirror / INBOUND_FILE).read_text(encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text(text.replace("26637,CHN,2022,", "26637,CHN,2022.5,"), encoding="utf-8")
    with pytest.raises(ReaderError, match=r"column 'year': '2022\.5' is not a whole number"):
        parse_api_records(bad)


def test_api_records_name_a_renamed_column(mirror, tmp_path, inbound):
    text = (mirror / INBOUND_FILE).read_text(encoding="utf-8")
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(text.replace("year,value,", "year,obsValue,", 1), encoding="utf-8")
    with pytest.raises(ReaderError, match=r"no column\(s\) \['value'\]"):
        parse_api_records(renamed)
    with pytest.raises(ReaderError, match=r"no column\(s\) \['geoUnit'\]"):
        api_records.tidy(inbound.rename({"geoUnit": "geoUnitId"}))


def test_the_api_records_suite_passes_on_both_files(sdg, inbound):
    for frame, label in ((sdg, SDG_FILE), (inbound, INBOUND_FILE)):
        report = validate_frame(frame, "uis_api_records", label)
        assert report.failures == [], report.message()


def test_the_api_records_suite_fails_a_negative_count_but_not_a_net_flow(inbound):
    negative = inbound.with_columns(
        pl.when((pl.col("geoUnit") == "CHN") & (pl.col("indicatorId") == "26637"))
        .then(-pl.col("value"))
        .otherwise(pl.col("value"))
        .alias("value")
    )
    report = validate_frame(negative, "uis_api_records", "copy")
    assert report.is_critical
    [failure] = report.failures
    assert failure.expectation == "expect_column_values_to_be_between"
    assert (
        failure.unexpected_count
        == inbound.filter((pl.col("geoUnit") == "CHN") & (pl.col("indicatorId") == "26637")).height
    )


# -- 360info top-10 partner tables -------------------------------------------------------


def test_top_partner_tables_read_whole(by_origin, by_destination):
    assert by_origin.height == 50_699 and by_destination.height == 19_467  # MANIFEST
    assert by_origin.columns == [
        "year",
        "origin_country_name",
        "dest_country_lumped",
        "value_lumped",
        "cond_all",
    ]
    assert by_destination.columns == [
        "year",
        "dest_country_name",
        "origin_country_lumped",
        "value_lumped",
        "cond_all",
    ]
    for frame in (by_origin, by_destination):
        assert frame["year"].min() == 1998 and frame["year"].max() == 2021
    assert by_origin["origin_country_name"].n_unique() == 217


@pytest.mark.parametrize(
    ("file", "reader", "country", "partner"),
    [
        (BY_ORIGIN_FILE, top_destinations_by_origin, "origin_country_name", "dest_country_lumped"),
        (
            BY_DESTINATION_FILE,
            top_origins_by_destination,
            "dest_country_name",
            "origin_country_lumped",
        ),
    ],
)
def test_top_partners_tidy_keeps_every_row_and_every_raw_value(
    mirror, file, reader, country, partner
):
    raw = reader.parse(mirror / file)
    tidy = reader.tidy(raw)
    assert tidy.columns == TIDY_PARTNER_COLUMNS
    assert tidy.height == raw.height
    assert tidy.filter(pl.col("origin_geo_kind") == "unknown").height == 0
    assert tidy.filter(pl.col("destination_geo_kind") == "unknown").height == 0
    assert tidy.select("origin_name", "destination_name", "year").is_unique().all()
    rows = raw_rows(mirror / file)
    lumps = [row for row in rows if row[partner] == "Other countries"]
    assert tidy["partner_is_lump"].sum() == len(lumps) > 0
    # The lump is an aggregate partner, never a country.
    lump_side = "destination" if partner == "dest_country_lumped" else "origin"
    lumped = tidy.filter(pl.col("partner_is_lump"))
    assert set(lumped[f"{lump_side}_geo_kind"]) == {"aggregate"}
    assert lumped[f"{lump_side}_iso3"].null_count() == lumped.height
    own_side = "origin" if lump_side == "destination" else "destination"
    for row in rows[::5_000] + lumps[:3]:
        found = tidy.filter(
            (pl.col("year") == int(row["year"]))
            & (pl.col(f"{own_side}_name") == row[country])
            & (pl.col(f"{lump_side}_name") == row[partner])
        )
        assert found["students"].item() == float(row["value_lumped"])
    for slot, flag in enumerate(
        ["includes_other_data", "included_elsewhere", "national_estimate", "uis_estimate"]
    ):
        assert tidy[flag].sum() == sum(row["cond_all"].split(" ")[slot] != "-" for row in rows)


def test_china_never_appears_as_a_destination(by_origin, by_destination):
    for tidy in (
        top_destinations_by_origin.tidy(by_origin),
        top_origins_by_destination.tidy(by_destination),
    ):
        assert "CHN" not in set(tidy["destination_iso3"].drop_nulls())
    china = top_destinations_by_origin.tidy(by_origin).filter(pl.col("origin_iso3") == "CHN")
    assert china.height > 0
    # MANIFEST caveat: the United States did not report by origin for 2019.
    destinations_2019 = set(china.filter(pl.col("year") == 2019)["destination_iso3"])
    assert "USA" not in destinations_2019 and {"AUS", "GBR", "JPN"} <= destinations_2019


def test_china_to_australia_2019_and_its_flags(mirror, by_origin):
    tidy = top_destinations_by_origin.tidy(by_origin)
    row = tidy.filter(
        (pl.col("origin_iso3") == "CHN")
        & (pl.col("year") == 2019)
        & (pl.col("destination_iso3").is_in(["AUS", "JPN"]))
    ).sort("destination_iso3")
    assert row["students"].to_list() == [155_594, 91_528]  # "- - - -" and "a - - -"
    assert row["includes_other_data"].to_list() == [False, True]
    afghanistan = tidy.filter(
        (pl.col("origin_name") == "Afghanistan")
        & (pl.col("destination_name") == "Canada")
        & (pl.col("year") == 1998)
    ).row(0, named=True)
    assert (afghanistan["students"], afghanistan["national_estimate"]) == (6, True)
    assert not (afghanistan["includes_other_data"] or afghanistan["uis_estimate"])


def test_top_partners_name_the_line_of_a_malformed_flag(mirror, tmp_path):
    lines = (mirror / BY_ORIGIN_FILE).read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",- - NAT_EST -"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(ReaderError, match=r"line 4, column 'cond_all': '- - NAT_EST -'"):
        parse_top_partners(bad)


def test_top_partners_tidy_names_a_missing_column(by_origin):
    with pytest.raises(ReaderError, match="origin_country_name"):
        top_destinations_by_origin.tidy(by_origin.rename({"origin_country_name": "origin"}))


def test_the_top_partners_suite_passes_on_both_files(by_origin, by_destination):
    for frame, label in ((by_origin, BY_ORIGIN_FILE), (by_destination, BY_DESTINATION_FILE)):
        report = validate_frame(frame, "uis_top_partners", label)
        assert report.failures == [], report.message()
