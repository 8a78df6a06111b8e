"""WPP 2024 annual totals by variant and the locations table, on the real mirror files,
checked against the MANIFEST and the CSV read by hand; malformed input on synthetic files."""

import csv

import polars as pl
import pytest

from talentflow.tasks.sources.formats import ReaderError
from talentflow.tasks.sources.wpp import ANNUAL_VARIANTS, locations, population_annual
from talentflow.tasks.validate import validate_frame

ANNUAL = "wpp2024/WPP2024_Population1JanuaryBySex_annual.csv"
LOCATIONS = "wpp2024/wpp2024_UNlocations.csv"


@pytest.fixture(scope="module")
def annual(mirror):
    return population_annual.parse(mirror / ANNUAL)


@pytest.fixture(scope="module")
def places_raw(mirror):
    return locations.parse(mirror / LOCATIONS)


def test_annual_file_is_read_whole(annual):
    # The MANIFEST says 160,082 rows; the file holds 160,083 data rows: 7 variants x 22,869
    # place-years, with no duplicate (place, variant, year).
    assert annual.height == 160_083 == 7 * 22_869
    assert set(annual["Variant"]) == set(ANNUAL_VARIANTS)
    assert (annual["Time"].min(), annual["Time"].max()) == (2025, 2101)
    bounds = annual.filter(pl.col("Variant").str.ends_with(" PI"))
    assert bounds["VarID"].null_count() == bounds["PopMale"].null_count() == bounds.height
    assert annual.filter(pl.col("Variant") == "Medium")["PopMale"].null_count() == 0


def test_china_medium_2025_matches_the_csv_read_by_hand(mirror, annual):
    with (mirror / ANNUAL).open(encoding="utf-8", newline="") as handle:
        by_hand = next(
            row
            for row in csv.DictReader(handle)
            if (row["ISO3_code"], row["Variant"], row["Time"]) == ("CHN", "Medium", "2025")
        )
    assert by_hand["PopTotal"] == "1417733.636"  # thousands, on 1 January 2025
    tidy = population_annual.tidy(annual)
    china = tidy.filter(
        (pl.col("country_iso3") == "CHN")
        & (pl.col("variant") == "Medium")
        & (pl.col("year") == 2025)
    )
    assert china["population"].item() == pytest.approx(1_417_733_636)


def test_annual_tidy_keeps_every_country_row(annual):
    tidy = population_annual.tidy(annual)
    assert tidy.columns == ["country_iso3", "variant", "year", "population"]
    assert tidy.schema["year"] == pl.Int32
    assert tidy.height == annual.filter(pl.col("LocTypeID") == 4).height == 127_204
    assert tidy["country_iso3"].null_count() == 0
    assert tidy["country_iso3"].n_unique() == 236  # 237 in the locations table: no Holy See here
    interval = tidy.filter((pl.col("country_iso3") == "CHN") & (pl.col("year") == 2050))
    by_variant = dict(interval.select("variant", "population").iter_rows())
    assert by_variant["Lower 95 PI"] < by_variant["Lower 80 PI"] < by_variant["Medium"]
    assert by_variant["Medium"] < by_variant["Upper 80 PI"] < by_variant["Upper 95 PI"]


def test_locations_place_countries_and_flag_groupings(places_raw):
    assert places_raw.height == 298  # MANIFEST section 1
    tidy = locations.tidy(places_raw)
    assert tidy.height == 298
    assert tidy.columns == [
        "m49",
        "country_iso3",
        "geo_kind",
        "name",
        "subregion",
        "region",
        "location_type",
    ]
    kinds = dict(tidy.group_by("geo_kind").len().iter_rows())
    assert kinds == {"country": 237, "aggregate": 61}  # no unknown place
    assert tidy.filter(pl.col("geo_kind") == "country")["country_iso3"].n_unique() == 237
    china = tidy.filter(pl.col("m49") == 156).row(0, named=True)
    assert (china["country_iso3"], china["subregion"], china["region"]) == (
        "CHN",
        "Eastern Asia",
        "Asia",
    )
    assert tidy.filter(pl.col("m49") == 412)["country_iso3"].item() == "XKX"
    world = tidy.filter(pl.col("m49") == 900).row(0, named=True)
    assert (world["geo_kind"], world["country_iso3"]) == ("aggregate", None)


def test_the_suites_pass_on_the_real_files(annual, places_raw):
    for frame, suite, label in (
        (annual, "wpp_population_annual", ANNUAL),
        (places_raw, "wpp_locations", LOCATIONS),
    ):
        report = validate_frame(frame, suite, label)
        assert report.failures == [], report.message()


# Malformed input ----------------------------------------------------------------------


def test_a_location_code_with_a_fraction_names_line_and_column(mirror, tmp_path):
    lines = (mirror / LOCATIONS).read_text(encoding="utf-8").splitlines()[:4]
    lines[3] = lines[3].replace(",1833,", ",1833.5,", 1)
    path = tmp_path / "synthetic_UNlocations.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ReaderError, match=r"line 4, column 'country_code': '1833\.5'"):
        locations.parse(path)


def test_an_unparseable_population_names_line_and_column(mirror, tmp_path):
    lines = (mirror / ANNUAL).read_text(encoding="utf-8").splitlines()[:3]
    lines[2] = lines[2].replace("8211530.616", "8211530.6l6")
    path = tmp_path / "synthetic_annual.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ReaderError, match=r"line 3, column 'PopTotal': '8211530\.6l6'"):
        population_annual.parse(path)


def test_renamed_columns_are_clear_errors_when_tidying(annual, places_raw):
    with pytest.raises(ReaderError, match=r"no column\(s\) \['Variant'\]"):
        population_annual.tidy(annual.head(10).rename({"Variant": "Scenario"}))
    with pytest.raises(ReaderError, match=r"no column\(s\) \['location_type'\]"):
        locations.tidy(places_raw.rename({"location_type": "type"}))
