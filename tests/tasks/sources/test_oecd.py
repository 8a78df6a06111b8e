"""OECD Education at a Glance 2022 readers on the real mirror files, checked against the
MANIFEST: the share table is read by meaning (REF_AREA is the country of study, the
column called Destination the origin)."""

import polars as pl
import pytest

from talentflow.tasks.sources.formats import ReaderError
from talentflow.tasks.sources.oecd import (
    eag_outbound_total,
    eag_share_by_origin,
    parse_outbound_total,
    parse_share_by_origin,
    repair_double_encoding,
)
from talentflow.tasks.validate import validate_frame

SHARE_FILE = "uis/oecd_eag_2022_share_intl_students_by_origin.csv"
OUTBOUND_FILE = "uis/oecd_eag_2022_outbound_students_total.csv"


@pytest.fixture(scope="module")
def share_raw(mirror):
    return parse_share_by_origin(mirror / SHARE_FILE)


@pytest.fixture(scope="module")
def share(share_raw):
    return eag_share_by_origin.tidy(share_raw)


@pytest.fixture(scope="module")
def outbound_raw(mirror):
    return parse_outbound_total(mirror / OUTBOUND_FILE)


def share_of(share: pl.DataFrame, destination: str, origin: str) -> float:
    found = share.filter(
        (pl.col("destination_iso3") == destination) & (pl.col("origin_iso3") == origin)
    )
    return round(found["share_percent"].item(), 1)


def test_share_parse_keeps_the_published_mislabelled_layout(share_raw):
    assert share_raw.height == 9_943  # MANIFEST
    assert share_raw.columns == [
        "REF_AREA",
        "Origin",
        "Destination",
        "TIME_PERIOD",
        "Percentage_of_students",
    ]
    assert share_raw.schema["Percentage_of_students"] == pl.Float64
    assert share_raw["REF_AREA"].n_unique() == 44 and set(share_raw["TIME_PERIOD"]) == {2022}


def test_share_tidy_reads_the_columns_by_meaning(share):
    assert share.columns == [
        "destination_iso3",
        "destination_geo_kind",
        "destination_name",
        "origin_iso3",
        "origin_geo_kind",
        "origin_name",
        "year",
        "share_percent",
    ]
    # The MANIFEST's cross-checks: the value is the % of REF_AREA's international
    # students who come from the origin named in the column called Destination.
    assert share_of(share, "USA", "CHN") == 31.9
    assert share_of(share, "USA", "IND") == 17.2
    assert share_of(share, "KOR", "CHN") == 48.7
    assert share_of(share, "FRA", "MAR") == 13.6
    usa = share.filter(pl.col("destination_iso3") == "USA")
    assert set(usa["destination_name"]) == {"United States"}
    top = usa.filter(pl.col("origin_geo_kind") == "country").sort("share_percent").tail(1)
    assert top["origin_iso3"].item() == "CHN"


def test_world_is_100_for_every_destination_that_reported(share):
    world = share.filter(pl.col("origin_name") == "World")
    assert world.height == 44 and set(world["origin_geo_kind"]) == {"aggregate"}
    reported = world.filter(pl.col("share_percent").is_not_null())
    assert reported["share_percent"].to_list() == [100.0] * 42
    # The MANIFEST says X-World = 100 everywhere; Costa Rica and Peru reported no shares
    # at all (every row of theirs but three zeros for Peru is empty), World included.
    assert set(world.filter(pl.col("share_percent").is_null())["destination_iso3"]) == {
        "CRI",
        "PER",
    }


def test_share_tidy_keeps_every_row_and_leaves_only_the_doubled_korea_unknown(share_raw, share):
    assert share.height == share_raw.height
    unknown = share.filter(pl.col("origin_geo_kind") == "unknown")
    assert set(unknown["origin_name"]) == {"Korea"}
    assert unknown.height == 88  # both Koreas, labelled alike, in each of 44 destinations
    assert unknown["origin_iso3"].null_count() == 88
    assert share.filter(pl.col("destination_geo_kind") == "unknown").height == 0
    eu = share.filter(pl.col("destination_name") == "European Union (25 countries)")
    assert set(eu["destination_geo_kind"]) == {"aggregate"}
    assert set(
        share.filter(pl.col("origin_name").is_in(["Asia", "Africa"]))["origin_geo_kind"]
    ) == {"aggregate"}


def test_share_tidy_repairs_the_republishers_encoding(share):
    names = dict(share.select("origin_name", "origin_iso3").unique().iter_rows())
    assert names["Curaçao"] == "CUW"
    assert names["Lao People\u2019s Democratic Republic"] == "LAO"
    assert names["C\x99te d'Ivoire"] == "CIV"  # a stray byte, known to the alias table
    assert repair_double_encoding("CuraÃ§ao") == "Curaçao"
    assert repair_double_encoding("Curaçao") == "Curaçao"


def test_outbound_total_matches_the_manifest(outbound_raw):
    assert outbound_raw.columns == ["REF_AREA", "Reference area", "TIME_PERIOD", "TOTAL_STUDENTS"]
    tidy = eag_outbound_total.tidy(outbound_raw)
    assert tidy.columns == ["country_iso3", "geo_kind", "year", "students_abroad"]
    assert tidy.height == outbound_raw.height == 42
    assert set(tidy["geo_kind"]) == {"country"}
    abroad = dict(tidy.select("country_iso3", "students_abroad").iter_rows())
    assert abroad["DEU"] == 126_024 and abroad["FRA"] == 112_209


def test_share_parse_names_the_line_and_column_of_a_bad_number(mirror, tmp_path):
    lines = (mirror / SHARE_FILE).read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("USA,United States,China,"))
    lines[at] = "USA,United States,China,2022,31.9%"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(
        ReaderError, match=rf"line {at + 1}, column 'Percentage_of_students': '31\.9%'"
    ):
        parse_share_by_origin(bad)


def test_outbound_parse_refuses_a_renamed_value_column_and_a_truncated_copy(mirror, tmp_path):
    text = (mirror / OUTBOUND_FILE).read_text(encoding="utf-8")
    renamed = tmp_path / "renamed.csv"
    renamed.write_text(text.replace("TOTAL_STUDENTS", "OBS_VALUE"), encoding="utf-8")
    with pytest.raises(ReaderError, match=r"no column\(s\) \['TOTAL_STUDENTS'\]"):
        parse_outbound_total(renamed)
    truncated = tmp_path / "truncated.csv"
    truncated.write_text(text[: text.index("DEU,Germany") + 12], encoding="utf-8")
    with pytest.raises(ReaderError, match=r"truncated\.csv: line 29 has 3 field\(s\)"):
        parse_outbound_total(truncated)


def test_share_tidy_names_a_missing_column(share_raw):
    with pytest.raises(ReaderError, match="'Destination'"):
        eag_share_by_origin.tidy(share_raw.rename({"Destination": "Partner"}))


def test_the_suites_pass_on_the_real_files(share_raw, outbound_raw):
    for frame, suite in (
        (share_raw, "oecd_eag_share_by_origin"),
        (outbound_raw, "oecd_eag_outbound_total"),
    ):
        report = validate_frame(frame, suite, suite)
        assert report.failures == [], report.message()


def test_the_share_suite_fails_a_doubled_file(share_raw):
    report = validate_frame(pl.concat([share_raw, share_raw]), "oecd_eag_share_by_origin", "x2")
    assert [f.expectation for f in report.failures] == ["expect_compound_columns_to_be_unique"]
    assert report.is_critical
