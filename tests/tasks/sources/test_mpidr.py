"""MPIDR Scholarly Migration Database readers on the real mirror files, checked against the
MANIFEST and against the raw CSV read by hand; malformed input on small synthetic files."""

import csv
from pathlib import Path

import polars as pl
import pytest

from talentflow.tasks.sources.formats import ReaderError
from talentflow.tasks.sources.mpidr import CENSORED_FROM, RECOMMENDED_YEARS, country, flows
from talentflow.tasks.validate import validate_frame

FOLDER = "scholarly_migration"
FILES = {
    ("scopus", "country"): "scopus_2024_V1_scholarlymigration_country.csv",
    ("openalex", "country"): "openalex_2023_V1_scholarlymigration_country.csv",
    ("scopus", "flows"): "scopus_2024_V1_scholarlymigration_countryflows.csv",
    ("openalex", "flows"): "openalex_2023_V1_scholarlymigration_countryflows.csv",
}
ROWS = {  # MANIFEST section 5
    ("scopus", "country"): 5_675,
    ("openalex", "country"): 5_248,
    ("scopus", "flows"): 142_825,
    ("openalex", "flows"): 157_212,
}
FORMATS = {"country": country, "flows": flows}
#: Codes core.countries cannot place, per database: OpenAlex's "nan" (a missing
#: affiliation country written by pandas); Scopus's EUE is an aggregate alias.
UNKNOWN_CODES = {"scopus": set(), "openalex": {"nan"}}


def raw_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def parsed(mirror):
    return {key: FORMATS[key[1]].parse(mirror / FOLDER / name) for key, name in FILES.items()}


@pytest.fixture(scope="module")
def tidied(parsed):
    return {key: FORMATS[key[1]].tidy(raw) for key, raw in parsed.items()}


@pytest.mark.parametrize("key", list(FILES), ids="-".join)
def test_every_row_is_read_and_kept(parsed, tidied, key):
    assert parsed[key].height == ROWS[key]
    assert tidied[key].height == ROWS[key]  # nothing dropped: not censored years, not empty codes
    assert tidied[key]["database"].unique().to_list() == [key[0]]
    assert tidied[key].schema["year"] == pl.Int32


def test_country_tidy_schema(tidied):
    assert tidied["scopus", "country"].columns == [
        "country_iso3",
        "geo_kind",
        "country_code",
        "year",
        "database",
        "researchers",
        "inmigrations",
        "outmigrations",
        "net_migration",
        "inmigrations_per_researcher",
        "outmigrations_per_researcher",
        "net_migration_per_researcher",
        "is_censored",
    ]
    assert set(tidied["scopus", "country"]["year"].unique()) == set(range(1996, 2024))


def test_flows_tidy_schema(tidied):
    assert tidied["openalex", "flows"].columns == [
        "origin_iso3",
        "origin_geo_kind",
        "origin_code",
        "destination_iso3",
        "destination_geo_kind",
        "destination_code",
        "year",
        "database",
        "flow_kind",
        "migrations",
        "migrations_back",
        "net_migrations",
        "is_censored",
    ]
    years = tidied["openalex", "flows"]["year"]
    assert (years.min(), years.max()) == (1994, 2026)


def test_scopus_usa_to_china_2018_is_in_the_tidy_flows(mirror, tidied):
    by_hand = next(
        row
        for row in raw_rows(mirror / FOLDER / FILES["scopus", "flows"])
        if (row["migrationfrom"], row["migrationto"], row["year"]) == ("USA", "CHN", "2018.0")
    )
    assert by_hand["n_migrations"] == "3825"  # the MANIFEST check value
    found = tidied["scopus", "flows"].filter(
        (pl.col("origin_iso3") == "USA")
        & (pl.col("destination_iso3") == "CHN")
        & (pl.col("year") == 2018)
    )
    assert found["migrations"].to_list() == [3_825]
    assert found["flow_kind"].to_list() == ["migration"]
    assert found["migrations_back"].item() == int(by_hand["n_migrations_back"])


def test_openalex_iso2_codes_are_read_without_na_becoming_null(mirror, tidied):
    namibia_rows = sum(
        row["countrycode"] == "NA"
        for row in raw_rows(mirror / FOLDER / FILES["openalex", "country"])
    )
    assert namibia_rows > 0
    namibia = tidied["openalex", "country"].filter(pl.col("country_code") == "NA")
    assert namibia.height == namibia_rows
    assert set(namibia["country_iso3"]) == {"NAM"}
    assert tidied["openalex", "country"].filter(pl.col("country_code") == "CN")[
        "country_iso3"
    ].unique().to_list() == ["CHN"]


@pytest.mark.parametrize("database", ["scopus", "openalex"])
def test_unknown_places_are_exactly_the_known_quirks(tidied, database):
    table = tidied[database, "country"]
    assert (
        set(table.filter(pl.col("geo_kind") == "unknown")["country_code"])
        == (UNKNOWN_CODES[database])
    )
    moves = tidied[database, "flows"]
    unknown = set(moves.filter(pl.col("origin_geo_kind") == "unknown")["origin_code"]) | set(
        moves.filter(pl.col("destination_geo_kind") == "unknown")["destination_code"]
    )
    assert unknown == UNKNOWN_CODES[database] | {None}  # None: the empty codes


def test_scopus_eue_is_an_aggregate(tidied):
    eue = tidied["scopus", "country"].filter(pl.col("country_code") == "EUE")
    assert eue.height == 5
    assert set(eue["geo_kind"]) == {"aggregate"} and eue["country_iso3"].null_count() == 5


@pytest.mark.parametrize("database", ["scopus", "openalex"])
def test_empty_codes_are_kept_and_flagged_as_entries_and_exits(mirror, tidied, database):
    rows = raw_rows(mirror / FOLDER / FILES[database, "flows"])
    no_origin = sum(row["migrationfrom"] == "" for row in rows)
    no_destination = sum(row["migrationto"] == "" for row in rows)
    table = tidied[database, "flows"]
    entries = table.filter(pl.col("flow_kind") == "entry")
    exits = table.filter(pl.col("flow_kind") == "exit")
    assert entries.height == no_origin and exits.height == no_destination
    # One entry row per destination-year of the country file.
    assert no_origin == ROWS[database, "country"]
    assert set(entries["origin_geo_kind"]) == {"unknown"}
    assert entries["origin_code"].null_count() == entries.height
    assert set(exits["destination_geo_kind"]) == {"unknown"}


def test_scopus_migration_flows_add_up_to_the_country_inmigrations(tidied):
    """Rows with both codes are the moves the country file counts; entries and exits are
    not, which is why tidy tells them apart."""
    inflows = (
        tidied["scopus", "flows"]
        .filter(pl.col("flow_kind") == "migration")
        .group_by("destination_code", "year")
        .agg(pl.col("migrations").sum().alias("summed"))
    )
    joined = (
        tidied["scopus", "country"]
        .filter(pl.col("year").is_between(*RECOMMENDED_YEARS))
        .join(
            inflows,
            left_on=["country_code", "year"],
            right_on=["destination_code", "year"],
            how="left",
        )
    )
    assert joined.height > 4_000
    assert (joined["summed"].fill_null(0) == joined["inmigrations"]).all()


def test_censored_years_are_flagged_not_dropped(tidied):
    table = tidied["scopus", "country"]
    censored = table.filter(pl.col("is_censored"))
    assert censored.height > 0
    assert censored["year"].min() == CENSORED_FROM == 2022
    assert (censored["researchers"] == 0).all()
    assert censored["inmigrations_per_researcher"].null_count() == censored.height
    assert table.filter(~pl.col("is_censored"))["year"].max() == 2021
    tail = tidied["scopus", "flows"].filter(pl.col("year") >= 2022)
    assert tail["is_censored"].all()


@pytest.mark.parametrize("key", list(FILES), ids="-".join)
def test_the_suite_passes_on_the_real_file(parsed, key):
    report = validate_frame(parsed[key], f"mpidr_{key[1]}", FILES[key])
    assert report.failures == [], report.message()


# Malformed input ----------------------------------------------------------------------

FLOW_HEADER = "migrationfrom,migrationto,year,n_migrations,n_migrations_back,netmigrations\n"


def synthetic_file(tmp_path: Path, text: str, name: str = "synthetic_flows.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_year_with_a_fraction_names_line_and_column(tmp_path):
    path = synthetic_file(tmp_path, FLOW_HEADER + "USA,CHN,2003.0,5,1,4\nUSA,DEU,2003.5,2,1,1\n")
    with pytest.raises(
        ReaderError, match=r"synthetic_flows\.csv: line 3, column 'year': '2003\.5'"
    ):
        flows.parse(path)


def test_an_unparseable_count_names_line_and_column(tmp_path):
    path = synthetic_file(tmp_path, FLOW_HEADER + "USA,CHN,2003.0,5,1,4\nUSA,DEU,2003.0,1O,1,1\n")
    with pytest.raises(ReaderError, match=r"line 3, column 'n_migrations': '1O' is not a number"):
        flows.parse(path)


def test_a_flow_with_neither_code_is_refused(tmp_path):
    path = synthetic_file(tmp_path, FLOW_HEADER + ",,2003.0,5,0,5\n")
    with pytest.raises(ReaderError, match="line 2: a flow with neither"):
        flows.parse(path)


def test_mixed_code_schemes_are_refused(tmp_path):
    path = synthetic_file(tmp_path, FLOW_HEADER + "USA,CN,2003.0,5,1,4\n")
    with pytest.raises(ReaderError, match="cannot tell the code scheme"):
        flows.tidy(flows.parse(path))


def test_a_renamed_column_is_a_clear_error_when_tidying(parsed):
    renamed = parsed["scopus", "country"].rename({"countrycode": "country_code"})
    with pytest.raises(ReaderError, match=r"no column\(s\) \['countrycode'\].*mpidr_country"):
        country.tidy(renamed)


def test_an_html_error_page_is_refused(tmp_path):
    path = synthetic_file(tmp_path, "<!DOCTYPE html><html>Too many requests</html>")
    with pytest.raises(ReaderError, match="HTML"):
        country.parse(path)
