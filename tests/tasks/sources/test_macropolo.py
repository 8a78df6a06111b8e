"""MacroPolo Global AI Talent Tracker figures on the real mirror file, checked against the
MANIFEST and the CSV read by hand; malformed input on small synthetic files."""

import csv
from pathlib import Path

import polars as pl
import pytest

from talentflow.tasks.sources.formats import ReaderError
from talentflow.tasks.sources.macropolo import COLUMNS, figures
from talentflow.tasks.validate import validate_frame

FILE = "macropolo/macropolo_global_ai_talent_tracker_figures.csv"
#: Places that are not one country; all must be aggregates, none unknown.
AGGREGATES = {"Europe", "Europe incl. United Kingdom", "World", "United States + China"}


@pytest.fixture(scope="module")
def raw(mirror):
    return figures.parse(mirror / FILE)


@pytest.fixture(scope="module")
def tidy(raw):
    return figures.tidy(raw)


def test_every_figure_is_read_and_kept(raw, tidy):
    assert raw.columns == COLUMNS
    assert raw.height == tidy.height == 53  # MANIFEST section 7
    assert tidy.columns == [
        "edition_year",
        "edition",
        "conference_sample",
        "cohort",
        "metric",
        "country_iso3",
        "geo_kind",
        "country_or_region",
        "value",
        "unit",
        "source_url",
        "note",
    ]


def test_edition_year_comes_from_the_edition_text(tidy):
    years = dict(tidy.select("edition", "edition_year").unique().iter_rows())
    assert years == {
        "2020 (Global AI Talent Tracker 1.0)": 2020,
        "2024 (Global AI Talent Tracker 2.0)": 2024,
    }
    assert tidy.schema["edition_year"] == pl.Int32


def test_headline_shares_match_the_file(mirror, tidy):
    with (mirror / FILE).open(encoding="utf-8", newline="") as handle:
        by_hand = {
            (row["edition"][:4], row["cohort"][:8], row["metric"], row["country_or_region"]): row[
                "value"
            ]
            for row in csv.DictReader(handle)
        }
    china_2022 = tidy.filter(
        (pl.col("edition_year") == 2024)
        & (pl.col("metric") == "share_by_undergraduate_country")
        & pl.col("cohort").str.starts_with("top-tier")
        & (pl.col("country_iso3") == "CHN")
    )
    assert china_2022["value"].item() == 47  # MANIFEST: China 47% of undergraduate origin
    key = ("2020", "top-tier", "share_by_current_work_country", "United States")
    us_2019 = tidy.filter(
        (pl.col("edition_year") == 2020)
        & (pl.col("metric") == key[2])
        & pl.col("cohort").str.starts_with("top-tier")
        & (pl.col("country_iso3") == "USA")
    )
    assert us_2019["value"].item() == float(by_hand[key]) == 59


def test_places_are_countries_or_aggregates_never_unknown(tidy):
    assert tidy.filter(pl.col("geo_kind") == "unknown").height == 0
    aggregates = set(tidy.filter(pl.col("geo_kind") == "aggregate")["country_or_region"])
    assert aggregates == AGGREGATES
    origin = tidy.filter(pl.col("country_or_region").str.ends_with("(origin)"))
    assert set(origin["country_iso3"]) == {"CHN", "IND"}


def test_the_suite_passes_on_the_real_file(raw):
    report = validate_frame(raw, "macropolo_figures", FILE)
    assert report.failures == [], report.message()


# Malformed input ----------------------------------------------------------------------


def synthetic_figures(tmp_path: Path, edition: str, value: str) -> Path:
    path = tmp_path / "synthetic_macropolo_figures.csv"
    path.write_text(
        ",".join(COLUMNS)
        + "\n"
        + f"{edition},NeurIPS 2019,top-tier,share_by_undergraduate_country,China,29,percent,"
        "https://example.org,\n"
        + f"{edition},NeurIPS 2019,top-tier,share_by_undergraduate_country,India,{value},"
        "percent,https://example.org,\n",
        encoding="utf-8",
    )
    return path


def test_an_unparseable_value_names_line_and_column(tmp_path):
    path = synthetic_figures(tmp_path, "2020 (1.0)", "8%")
    with pytest.raises(ReaderError, match=r"line 3, column 'value': '8%' is not a number"):
        figures.parse(path)


def test_an_edition_without_its_year_is_refused_when_tidying(tmp_path):
    path = synthetic_figures(tmp_path, "Tracker 3.0", "8")
    with pytest.raises(ReaderError, match="edition 'Tracker 3.0' does not start with"):
        figures.tidy(figures.parse(path))


def test_a_renamed_column_is_a_clear_error_when_tidying(raw):
    with pytest.raises(ReaderError, match=r"no column\(s\) \['country_or_region'\]"):
        figures.tidy(raw.rename({"country_or_region": "country"}))
