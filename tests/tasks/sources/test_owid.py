"""The OWID grapher reader on the three real exports of the mirror (both header styles),
checked against the MANIFEST and against cells read from the raw CSV."""

import csv
from pathlib import Path

import polars as pl
import pytest

from talentflow.tasks.sources.formats import ReaderError
from talentflow.tasks.sources.owid import grapher, parse_grapher
from talentflow.tasks.validate import validate_frame

INBOUND_RATE = "uis/owid_uis_inbound_mobility_rate.csv"
OUTBOUND_RATIO = "uis/owid_uis_outbound_mobility_ratio.csv"
GDP_PPP = "wdi/owid_NY.GDP.PCAP.PP.KD_gdp_per_capita_ppp.csv"
# file, rows, indicator header, first year, last year (MANIFEST)
EXPORTS = [
    (INBOUND_RATE, 2_848, "Inbound mobility rate, both sexes", 1997, 2024),
    (OUTBOUND_RATIO, 3_642, "Share of students studying abroad", 1997, 2022),
    (GDP_PPP, 7_240, "ny_gdp_pcap_pp_kd", 1990, 2024),
]
TIDY_COLUMNS = ["country_iso3", "geo_kind", "entity", "year", "indicator", "value", "owid_region"]


def raw_cell(path: Path, entity: str, year: str) -> dict[str, str]:
    """The row as the csv module reads it, whatever the header's case."""
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            lower = {key.lower(): value for key, value in row.items()}
            if lower["entity"] == entity and lower["year"] == year:
                return row
    raise LookupError(f"{entity} {year} not in {path}")


@pytest.mark.parametrize(("file", "rows", "indicator", "first", "last"), EXPORTS)
def test_grapher_reads_both_header_styles(mirror, file, rows, indicator, first, last):
    raw = parse_grapher(mirror / file)
    assert raw.height == rows
    assert raw.columns[:4] == ["entity", "code", "year", indicator]
    assert raw.schema["year"] == pl.Int32 and raw.schema[indicator] == pl.Float64
    assert (raw["year"].min(), raw["year"].max()) == (first, last)
    china = raw.filter((pl.col("entity") == "China") & (pl.col("year") == 2020))
    assert china[indicator].item() == float(raw_cell(mirror / file, "China", "2020")[indicator])


@pytest.mark.parametrize(("file", "rows", "indicator", "first", "last"), EXPORTS)
def test_grapher_tidy_keeps_every_row_and_places_every_entity(
    mirror, file, rows, indicator, first, last
):
    tidy = grapher.tidy(parse_grapher(mirror / file))
    assert tidy.columns == TIDY_COLUMNS
    assert tidy.height == rows
    assert set(tidy["indicator"]) == {indicator}
    assert tidy.filter(pl.col("geo_kind") == "unknown").height == 0
    world = tidy.filter(pl.col("entity") == "World")
    assert set(world["geo_kind"]) == {"aggregate"} and world["country_iso3"].null_count() > 0
    countries = tidy.filter(pl.col("geo_kind") == "country")
    assert countries["country_iso3"].null_count() == 0
    assert set(tidy.filter(pl.col("entity") == "China")["country_iso3"]) == {"CHN"}


def test_regions_without_a_code_become_aggregates_by_name(mirror):
    raw = parse_grapher(mirror / INBOUND_RATE)
    uncoded = raw.filter(pl.col("code").is_null())
    assert "Sub-Saharan Africa (SDG)" in set(uncoded["entity"])
    tidy = grapher.tidy(raw)
    regions = tidy.filter(pl.col("entity").is_in(uncoded["entity"].unique().implode()))
    assert regions.height == uncoded.height
    assert set(regions["geo_kind"]) == {"aggregate"}
    assert tidy["owid_region"].null_count() == tidy.height  # the old export has no regions


def test_quoted_region_names_with_commas_and_owid_codes(mirror):
    raw = parse_grapher(mirror / GDP_PPP)
    menap = "Middle East, North Africa, Afghanistan and Pakistan (WB)"
    region = raw.filter((pl.col("entity") == menap) & (pl.col("year") == 2020))
    assert region["code"].item() == "WB_MENAP"
    assert region["ny_gdp_pcap_pp_kd"].item() == float(
        raw_cell(mirror / GDP_PPP, menap, "2020")["ny_gdp_pcap_pp_kd"]
    )
    tidy = grapher.tidy(raw)
    kinds = dict(tidy.select("entity", "geo_kind").unique().iter_rows())
    assert kinds[menap] == kinds["High-income countries"] == "aggregate"
    kosovo = tidy.filter(pl.col("entity") == "Kosovo")  # code OWID_KOS
    assert set(kosovo["country_iso3"]) == {"XKX"} and set(kosovo["owid_region"]) == {"Europe"}
    china = tidy.filter(pl.col("country_iso3") == "CHN")
    assert set(china["owid_region"]) == {"Asia"}


def test_grapher_refuses_a_header_without_a_year(mirror, tmp_path):
    text = (mirror / OUTBOUND_RATIO).read_text(encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text(text.replace("Entity,Code,Year,", "Entity,Code,Date,", 1), encoding="utf-8")
    with pytest.raises(ReaderError, match=r"not an OWID grapher export.*\['year'\]"):
        parse_grapher(bad)


def test_grapher_names_the_line_and_column_of_a_bad_number(mirror, tmp_path):
    lines = (mirror / OUTBOUND_RATIO).read_text(encoding="utf-8").splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("China,CHN,2020,"))
    lines[at] = "China,CHN,2020,n/a"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(
        ReaderError, match=rf"line {at + 1}, column 'Share of students studying abroad': 'n/a'"
    ):
        parse_grapher(bad)


def test_grapher_refuses_a_truncated_copy(mirror, tmp_path):
    data = (mirror / GDP_PPP).read_bytes()
    cut = data[: data.index(b"\n", 100_000) + 20]
    truncated = tmp_path / "gdp.csv"
    truncated.write_bytes(cut)
    line = cut.count(b"\n") + 1
    with pytest.raises(ReaderError, match=rf"line {line} has \d field"):
        parse_grapher(truncated)


def test_grapher_tidy_names_a_missing_column(mirror):
    raw = parse_grapher(mirror / INBOUND_RATE)
    with pytest.raises(ReaderError, match="'entity'"):
        grapher.tidy(raw.rename({"entity": "country"}))


@pytest.mark.parametrize("file", [INBOUND_RATE, OUTBOUND_RATIO, GDP_PPP])
def test_the_grapher_suite_passes_on_each_export(mirror, file):
    report = validate_frame(parse_grapher(mirror / file), "owid_grapher", file)
    assert report.failures == [], report.message()


def test_the_grapher_suite_fails_a_duplicated_entity_year(mirror):
    raw = parse_grapher(mirror / INBOUND_RATE)
    report = validate_frame(pl.concat([raw, raw.head(3)]), "owid_grapher", "copy")
    assert [f.expectation for f in report.failures] == ["expect_compound_columns_to_be_unique"]
