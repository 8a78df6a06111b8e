"""The country-year panel, checked against the raw files by hand-computable formulas."""

import polars as pl
import pytest

from talentflow.tasks.features.panel import (
    annual_by_linear_interpolation,
    country_year_panel,
    population_by_age_band,
)
from talentflow.tasks.sources.world_bank import bulk_indicator
from talentflow.tasks.sources.wpp import population_by_age


@pytest.fixture(scope="module")
def sources(mirror):
    def read(fmt, relative):
        return fmt.tidy(fmt.parse(mirror / relative))

    return (
        read(bulk_indicator, "wdi/API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.csv"),
        read(bulk_indicator, "wdi/API_SP.POP.TOTL_DS2_en_csv_v2.csv"),
        read(population_by_age, "wpp2024/WPP2024_PopulationByAge5GroupSex_5yr.csv"),
    )


@pytest.fixture(scope="module")
def panel(sources):
    return country_year_panel(*sources)


def value(frame, code, year, column="value", key="country_iso3"):
    return frame.filter((pl.col(key) == code) & (pl.col("year") == year))[column].item()


def test_china_researchers_2020_are_per_million_times_population(sources, panel):
    per_million, population, _ = sources
    expected = value(per_million, "CHN", 2020) * value(population, "CHN", 2020) / 1e6
    assert value(panel, "CHN", 2020, "researchers", "country_iso3") == pytest.approx(expected)
    assert 2.2e6 < expected < 2.3e6  # 1,600.3 per million × 1.411 billion


def test_the_panel_holds_countries_only(panel):
    codes = set(panel["country_iso3"])
    assert {"CHN", "USA", "XKX"} <= codes
    assert not codes & {"WLD", "EAS", "HIC", "EUU"}
    assert panel.select(pl.struct("country_iso3", "year").is_duplicated().any()).item() is False


def test_working_age_population_keeps_wpp_points_and_is_linear_between(sources, panel):
    wpp = sources[2]
    points = population_by_age_band(wpp, 25, 64)
    china_2020 = value(points, "CHN", 2020, "population", "country_iso3")
    china_2025 = value(points, "CHN", 2025, "population", "country_iso3")
    manual_2020 = wpp.filter(
        (pl.col("country_iso3") == "CHN")
        & (pl.col("year") == 2020)
        & (pl.col("variant") == "Medium")
        & pl.col("age_start").is_between(25, 60)
    )["population"].sum()
    assert china_2020 == pytest.approx(manual_2020)
    assert value(panel, "CHN", 2020, "population_25_64", "country_iso3") == pytest.approx(
        china_2020
    )
    assert value(panel, "CHN", 2022, "population_25_64", "country_iso3") == pytest.approx(
        china_2020 + (china_2025 - china_2020) * 2 / 5
    )


def test_interpolation_fills_every_year_and_nothing_beyond():
    points = pl.DataFrame(
        {"country_iso3": ["AAA", "AAA", "BBB"], "year": [2000, 2010, 2005], "v": [0.0, 10.0, 7.0]}
    ).with_columns(pl.col("year").cast(pl.Int32))
    annual = annual_by_linear_interpolation(points, "v")
    assert annual.filter(pl.col("country_iso3") == "AAA")["v"].to_list() == [
        float(i) for i in range(11)
    ]
    assert annual.filter(pl.col("country_iso3") == "BBB")["v"].to_list() == [7.0]


def test_age_bands_must_fall_on_wpp_groups(sources):
    with pytest.raises(ValueError, match="5-year groups"):
        population_by_age_band(sources[2], 18, 22)
