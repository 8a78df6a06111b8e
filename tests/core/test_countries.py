"""Country harmonisation: every scheme to ISO3, aggregates flagged, unknowns listed."""

import logging

import polars as pl
import pytest

from talentflow.core.countries import classify, harmonise, normalise_name, unknown_places


@pytest.mark.parametrize(
    ("value", "scheme", "expected"),
    [
        ("CHN", "iso3", ("CHN", "country")),
        ("XKX", "iso3", ("XKX", "country")),
        ("WLD", "iso3", (None, "aggregate")),
        ("CHI", "iso3", (None, "aggregate")),
        ("CN", "iso2", ("CHN", "country")),
        ("XK", "iso2", ("XKX", "country")),
        ("NA", "iso2", ("NAM", "country")),  # Namibia, not a missing value
        ("156", "m49", ("CHN", "country")),
        ("156.0", "m49", ("CHN", "country")),
        ("076", "m49", ("BRA", "country")),
        ("412", "m49", ("XKX", "country")),
        ("China, Hong Kong SAR", "name", ("HKG", "country")),
        ("Hong Kong SAR, China", "name", ("HKG", "country")),
        ("China, Macao SAR", "name", ("MAC", "country")),
        ("Taiwan Province of China", "name", ("TWN", "country")),
        ("Chinese Taipei", "name", ("TWN", "country")),
        ("China (People's Republic of)", "name", ("CHN", "country")),
        ("China<sup>a</sup>", "name", ("CHN", "country")),
        ("Kosovo (under UNSC res. 1244)", "name", ("XKX", "country")),
        ("Korea, Rep.", "name", ("KOR", "country")),
        ("Türkiye", "name", ("TUR", "country")),
        ("Côte d’Ivoire", "name", ("CIV", "country")),
        ("Other countries", "name", (None, "aggregate")),
        ("Sub-Saharan Africa", "name", (None, "aggregate")),
        ("Atlantis", "name", (None, "unknown")),
        ("", "iso3", (None, "unknown")),
    ],
)
def test_classify_places_each_publisher_spelling(value, scheme, expected):
    assert classify(value, scheme) == expected


def test_harmonise_keeps_every_row_and_lists_unknown_names(caplog):
    frame = pl.DataFrame({"place": ["China", "World", "Atlantis", None, "China"], "v": range(5)})
    with caplog.at_level(logging.WARNING, logger="talentflow.core.countries"):
        placed = harmonise(frame, "place", scheme="name", source="synthetic source")
    assert placed.height == frame.height
    assert placed["v"].to_list() == list(range(5))
    assert placed["country_iso3"].to_list() == ["CHN", None, None, None, "CHN"]
    assert placed["geo_kind"].to_list() == ["country", "aggregate", "unknown", "unknown", "country"]
    assert "synthetic source: 1 unknown place name(s) in 'place': Atlantis" in caplog.text
    assert unknown_places(placed, "place") == ["Atlantis"]


def test_harmonise_names_a_missing_column():
    with pytest.raises(KeyError, match="synthetic source: no column 'code'"):
        harmonise(pl.DataFrame({"x": [1]}), "code", scheme="iso3", source="synthetic source")


def test_normalise_name_folds_case_accents_punctuation_and_footnotes():
    assert normalise_name("  Côte d'Ivoire* ") == normalise_name("COTE D’IVOIRE")
    assert normalise_name("Bosnia & Herzegovina") == "bosnia and herzegovina"


def test_known_place_codes_are_countries_in_both_schemes_and_coded_aggregates():
    from talentflow.core.countries import known_place_codes

    known = known_place_codes()
    assert {"CHN", "CN", "USA", "US", "XKX", "XK", "WLD", "ARB", "EUE"} <= known
    assert not {"QQQ", "nan", "China", ""} & known
