"""Readers on the real mirror files, checked against values stated in the MANIFEST or
read by hand from the raw CSV."""

import csv
import gzip
import zipfile
from pathlib import Path

import polars as pl
import pytest

from talentflow.tasks.sources.formats import ReaderError
from talentflow.tasks.sources.world_bank import bulk_indicator, parse_bulk_indicator
from talentflow.tasks.sources.wpp import parse_population_by_age, population_by_age

RESEARCHERS_FILE = "wdi/API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.csv"
POPULATION_FILE = "wdi/API_SP.POP.TOTL_DS2_en_csv_v2.csv"
WPP_FILE = "wpp2024/WPP2024_PopulationByAge5GroupSex_5yr.csv"


def raw_cell(path: Path, code: str, year: str) -> str:
    """The cell as the CSV module reads it, skipping the World Bank preamble."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()[4:]
    rows = list(csv.DictReader(lines))
    return next(row[year] for row in rows if row["Country Code"] == code)


def test_world_bank_reader_keeps_every_non_empty_cell(mirror):
    frame = parse_bulk_indicator(mirror / RESEARCHERS_FILE)
    assert frame.columns == [
        "Country Name",
        "Country Code",
        "Indicator Name",
        "Indicator Code",
        "year",
        "value",
    ]
    assert frame.height == 2475  # MANIFEST: 2,475 non-null cells
    assert frame["year"].min() == 1996 and frame["year"].max() == 2024
    china_2020 = frame.filter((pl.col("Country Code") == "CHN") & (pl.col("year") == 2020))
    assert china_2020["value"].item() == float(raw_cell(mirror / RESEARCHERS_FILE, "CHN", "2020"))


def test_world_bank_reader_reads_the_republished_population_layout(mirror):
    frame = parse_bulk_indicator(mirror / POPULATION_FILE)
    assert frame["Country Code"].n_unique() == 265
    usa_2024 = frame.filter((pl.col("Country Code") == "USA") & (pl.col("year") == 2024))
    assert usa_2024["value"].item() == float(raw_cell(mirror / POPULATION_FILE, "USA", "2024"))


def test_world_bank_reader_opens_the_zip_the_live_api_sends(mirror, tmp_path):
    archive = tmp_path / "API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("Metadata_Country_API_SP.POP.SCIE.RD.P6_DS2.csv", "a,b\n1,2\n")
        zipped.write(mirror / RESEARCHERS_FILE, "API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.csv")
    assert parse_bulk_indicator(archive).equals(parse_bulk_indicator(mirror / RESEARCHERS_FILE))


def test_world_bank_reader_names_the_line_of_an_unparseable_number(mirror, tmp_path):
    text = (mirror / RESEARCHERS_FILE).read_text(encoding="utf-8-sig")
    bad = tmp_path / "bad.csv"
    bad.write_text(text.replace('"1600.30633"', '"1,600.3"'), encoding="utf-8-sig")
    with pytest.raises(ReaderError, match=r"bad\.csv: line \d+, column '2020': '1,600.3'"):
        parse_bulk_indicator(bad)


@pytest.mark.parametrize(
    ("content", "fault"),
    [
        (b"", "empty"),
        (b"<!DOCTYPE html><html><body>Service unavailable</body></html>", "HTML"),
        (b"PK\x03\x04truncated", "zip"),
    ],
)
def test_world_bank_reader_refuses_what_is_not_a_download(tmp_path, content, fault):
    path = tmp_path / "API_X.csv"
    path.write_bytes(content)
    with pytest.raises(ReaderError, match=fault):
        parse_bulk_indicator(path)


@pytest.fixture(scope="module")
def wpp(mirror):
    return parse_population_by_age(mirror / WPP_FILE)


def test_wpp_reader_matches_the_manifest_checks(wpp):
    medium_2025 = wpp.filter((pl.col("Variant") == "Medium") & (pl.col("Time") == 2025))
    world = medium_2025.filter(pl.col("LocTypeID") == 1)["PopTotal"].sum()
    china = medium_2025.filter(pl.col("ISO3_code") == "CHN")["PopTotal"].sum()
    assert round(world) == 8_231_613
    assert round(china) == 1_416_096


def test_wpp_reader_types_codes_and_years(wpp):
    assert wpp.schema["Time"] == pl.Int64 and wpp.schema["PopTotal"] == pl.Float64
    countries = wpp.filter(pl.col("LocTypeID") == 4)
    assert countries["ISO3_code"].null_count() == 0
    # The MANIFEST says 237 countries and areas; the file holds 236 distinct LocIDs with
    # LocTypeID 4, each with its own ISO3 code (Kosovo, Taiwan, Hong Kong, Macao included).
    assert countries["ISO3_code"].n_unique() == countries["LocID"].n_unique() == 236
    assert {"CHN", "XKX", "TWN", "HKG", "MAC"} <= set(countries["ISO3_code"])
    assert set(wpp["Variant"].unique()) == {"Medium", "High", "Low"}


def test_wpp_reader_opens_the_gzip_the_un_serves(mirror, tmp_path):
    head = b"".join((mirror / WPP_FILE).open("rb").readlines()[:500])
    gz = tmp_path / "WPP2024_PopulationByAge5GroupSex_Medium.csv.gz"
    gz.write_bytes(gzip.compress(head))
    plain = tmp_path / "plain.csv"
    plain.write_bytes(head)
    assert parse_population_by_age(gz).equals(parse_population_by_age(plain))


def test_wpp_reader_refuses_a_truncated_gzip(mirror, tmp_path):
    gz = tmp_path / "WPP.csv.gz"
    gz.write_bytes(gzip.compress((mirror / WPP_FILE).open("rb").read(100_000))[:5_000])
    with pytest.raises(ReaderError, match="gzip"):
        parse_population_by_age(gz)


def test_tidy_world_bank_flags_aggregates_and_keeps_every_row(mirror):
    raw = parse_bulk_indicator(mirror / POPULATION_FILE)
    tidy = bulk_indicator.tidy(raw)
    assert tidy.height == raw.height
    assert tidy.columns == [
        "country_iso3",
        "geo_kind",
        "geo_name",
        "year",
        "indicator_code",
        "value",
    ]
    kinds = dict(tidy.group_by("geo_kind").agg(pl.col("geo_name").n_unique()).iter_rows())
    assert kinds == {"country": 216, "aggregate": 49}  # 217 economies, Channel Islands flagged
    world = tidy.filter(pl.col("geo_name") == "World")
    assert world["country_iso3"].null_count() == world.height


def test_tidy_wpp_keeps_countries_in_persons(wpp):
    tidy = population_by_age.tidy(wpp)
    china = tidy.filter(
        (pl.col("country_iso3") == "CHN")
        & (pl.col("year") == 2025)
        & (pl.col("variant") == "Medium")
    )
    assert round(china["population"].sum() / 1000) == 1_416_096
    assert tidy["country_iso3"].n_unique() == 236
