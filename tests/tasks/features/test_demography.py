"""Demographic drivers on the real WPP 2024 file, checked against the raw CSV read here
independently of talentflow's reader."""

import polars as pl
import pytest

from talentflow.tasks.features.demography import VARIANTS, demographic_drivers
from talentflow.tasks.sources.wpp import population_by_age
from talentflow.tasks.validate import validate_frame

WPP_FILE = "wpp2024/WPP2024_PopulationByAge5GroupSex_5yr.csv"


@pytest.fixture(scope="module")
def wpp(mirror):
    return population_by_age.tidy(population_by_age.parse(mirror / WPP_FILE))


@pytest.fixture(scope="module")
def drivers(wpp):
    return demographic_drivers(wpp)


@pytest.fixture(scope="module")
def raw_groups(mirror):
    """The raw 5-year groups of the UN CSV (thousands of persons), read with plain Polars."""
    return pl.read_csv(
        mirror / WPP_FILE,
        columns=["ISO3_code", "Variant", "Time", "AgeGrpStart", "PopTotal"],
        schema_overrides={"Time": pl.Int64, "AgeGrpStart": pl.Int64, "PopTotal": pl.Float64},
    ).filter(pl.col("ISO3_code").is_in(["CHN", "USA"]))


def raw_thousands(raw_groups, code, variant, year, first_age, last_age=200):
    return raw_groups.filter(
        (pl.col("ISO3_code") == code)
        & (pl.col("Variant") == variant)
        & (pl.col("Time") == year)
        & pl.col("AgeGrpStart").is_between(first_age, last_age)
    )["PopTotal"].sum()


def series(drivers, code, variant, column, first_year=1950, last_year=2100):
    return drivers.filter(
        (pl.col("country_iso3") == code)
        & (pl.col("variant") == variant)
        & pl.col("year").is_between(first_year, last_year)
    ).sort("year")[column]


def value(drivers, code, variant, year, column):
    return series(drivers, code, variant, column, year, year).item()


@pytest.mark.parametrize("variant", VARIANTS)
def test_china_old_age_dependency_ratio_rises_every_year_from_2025_to_2050(drivers, variant):
    ratio = series(drivers, "CHN", variant, "old_age_dependency_ratio", 2025, 2050)
    assert len(ratio) == 26
    assert (ratio.diff().drop_nulls() > 0).all()
    assert 0.21 < ratio[0] < 0.22  # 2025: about one person of 65+ per 4.7 aged 15-64
    assert ratio[-1] > 0.5  # 2050: more than one per two


@pytest.mark.parametrize(
    ("code", "variant", "year", "wpp_variant"),
    [
        ("CHN", "Medium", 2025, "Medium"),
        ("CHN", "Low", 2050, "Low"),
        ("USA", "High", 1990, "Medium"),  # estimates: High is WPP's Medium row
    ],
)
def test_values_at_wpp_points_are_sums_of_the_raw_age_groups(
    drivers, raw_groups, code, variant, year, wpp_variant
):
    def raw(first_age, last_age=200):
        return 1000 * raw_thousands(raw_groups, code, wpp_variant, year, first_age, last_age)

    expected = {
        "population_total": raw(0),
        "population_20_24": raw(20, 20),
        "population_15_64": raw(15, 60),
        "population_25_64": raw(25, 60),
        "population_65_plus": raw(65),
    }
    for column, persons in expected.items():
        assert value(drivers, code, variant, year, column) == pytest.approx(persons), column
    assert value(drivers, code, variant, year, "old_age_dependency_ratio") == pytest.approx(
        expected["population_65_plus"] / expected["population_15_64"]
    )


def test_china_2025_total_is_the_manifest_check_value(drivers):
    assert value(drivers, "CHN", "Medium", 2025, "population_total") == pytest.approx(
        1_416_096_000, abs=500
    )


def test_an_interpolated_year_lies_on_the_line_between_its_wpp_points(drivers):
    # 2022 of the Low series: two fifths of the way from the 2020 estimate to Low's 2025.
    for column in ["population_total", "population_15_64", "population_65_plus"]:
        low_2020 = value(drivers, "CHN", "Low", 2020, column)
        low_2025 = value(drivers, "CHN", "Low", 2025, column)
        assert value(drivers, "CHN", "Low", 2022, column) == pytest.approx(
            low_2020 + (low_2025 - low_2020) * 2 / 5
        )
    # The ratio is taken of the interpolated populations, not interpolated itself.
    assert value(drivers, "CHN", "Low", 2022, "old_age_dependency_ratio") == pytest.approx(
        value(drivers, "CHN", "Low", 2022, "population_65_plus")
        / value(drivers, "CHN", "Low", 2022, "population_15_64")
    )


def test_low_and_high_equal_medium_up_to_2020_and_differ_after(drivers):
    values = [c for c in drivers.columns if c not in ("country_iso3", "variant", "year")]
    keys = ["country_iso3", "year"]
    medium = drivers.filter(pl.col("variant") == "Medium").drop("variant")
    for variant in ("Low", "High"):
        other = drivers.filter(pl.col("variant") == variant).drop("variant")
        estimates = medium.filter(pl.col("year") <= 2020).join(
            other.filter(pl.col("year") <= 2020), on=keys, how="full", suffix="_other"
        )
        assert estimates.height == 236 * 71
        for column in values:
            same = estimates.select(
                pl.col(column).eq_missing(pl.col(f"{column}_other")).all()
            ).item()
            assert same, f"{variant} {column} differs from Medium before 2021"
        # From 2021 the line heads for the variant's own 2025 point (its 0-4 group).
        projected = series(drivers, "CHN", variant, "population_total", 2021, 2100)
        assert (projected != series(drivers, "CHN", "Medium", "population_total", 2021)).all()
    college_age_2050 = {v: value(drivers, "CHN", v, 2050, "population_20_24") for v in VARIANTS}
    assert college_age_2050["Low"] < college_age_2050["Medium"] < college_age_2050["High"]


def test_china_college_age_cohort_grows_to_2035_then_shrinks_every_year_to_2050(drivers):
    # What WPP shows: the cohorts born 2006-2015 are larger, so 20-24 grows 2026-2035
    # (the 2025 change, the end of the 2020-2025 line, is still negative); from 2036 the
    # smaller cohorts born after 2016 arrive, and the 2021-2025 births make 2041-2045 fall
    # by about a tenth a year.
    for variant in VARIANTS:
        change = series(drivers, "CHN", variant, "college_age_change_percent", 2025, 2050)
        assert change[0] < 0
        assert (change[1:11] > 0).all(), variant  # 2026-2035
        assert (change[11:21] < 0).all(), variant  # 2036-2045
    for variant in ("Medium", "Low"):
        change = series(drivers, "CHN", variant, "college_age_change_percent", 2046, 2050)
        assert (change < 0).all(), variant
    # Only the High variant's fertility brings growth back in 2046-2050.
    assert (series(drivers, "CHN", "High", "college_age_change_percent", 2046, 2050) > 0).all()
    assert series(drivers, "CHN", "Medium", "college_age_change_percent", 2041, 2045).max() < -8


def test_college_age_change_is_null_in_the_first_year_only(drivers):
    nulls = drivers.filter(pl.col("college_age_change_percent").is_null())
    assert nulls["year"].unique().to_list() == [1950]
    assert nulls.height == drivers.select(pl.struct("country_iso3", "variant").n_unique()).item()


def test_every_country_has_all_151_years_in_each_variant(wpp, drivers):
    years = drivers.group_by("country_iso3", "variant").agg(
        pl.len().alias("years"), pl.col("year").min().alias("first"), pl.col("year").max()
    )
    assert years.height == wpp["country_iso3"].n_unique() * 3
    assert set(years["years"]) == {151}
    assert set(years["first"]) == {1950}
    assert set(years["year"]) == {2100}
    assert set(drivers["variant"]) == set(VARIANTS)


def test_a_missing_variant_is_refused(wpp):
    with pytest.raises(ValueError, match="High"):
        demographic_drivers(wpp.filter(pl.col("variant") != "High"))


def test_the_demographic_drivers_suite_passes(drivers):
    report = validate_frame(drivers, "demographic_drivers", "demographic_drivers")
    assert report.failures == [], report.message()
    assert report.evaluated == 14
