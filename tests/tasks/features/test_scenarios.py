"""Scenario arithmetic: rates, cohorts, pools and policy levers, on synthetic frames whose
answers are known by construction, and the rate series on the real mirror files."""

from __future__ import annotations

import polars as pl
import pytest

from talentflow.tasks.features.demography import AGE_BANDS, demographic_drivers
from talentflow.tasks.features.intake import inbound_student_shares, researcher_move_shares
from talentflow.tasks.features.scenarios import (
    ADULTS_25PLUS_TERTIARY,
    ALL_ORIGINS,
    CHINA_INBOUND_STUDENTS,
    CHINA_RESEARCHER_INFLOWS,
    DEFAULT_LEVERS,
    FAMILIES,
    RATE_TARGETS,
    RESEARCHER_MOVES_ABROAD,
    RESEARCHERS,
    TERTIARY_STUDENTS,
    WORLD_MOBILE_STUDENTS,
    Bound,
    PolicyLevers,
    RateTarget,
    apply_levers,
    cohorts,
    evidence_caps,
    group_cohorts,
    income_group_members,
    rate_series,
    rate_target,
    scenario_pools,
    target_inputs,
    world_members,
)
from talentflow.tasks.features.talent import (
    adults_with_tertiary_attainment,
    researchers_in_rd,
    tertiary_students_approx,
)
from talentflow.tasks.sources import china_moe, mpidr, uis, world_bank, wpp

YEARS = range(2018, 2033)
#: Synthetic cohorts: country -> base population per band; variants scale it from 2021 on.
SYNTHETIC_BASE = {"AAA": 1_000.0, "BBB": 2_000.0, "CCC": 4_000.0, "DDD": 8_000.0, "CHN": 16_000.0}
VARIANT_SCALE = {"Medium": 1.0, "Low": 0.9, "High": 1.1}


def synthetic_population(country: str, variant: str, year: int) -> float:
    """Known by construction: grows 1 % a year, variants apart from 2021 (as WPP's are)."""
    scale = VARIANT_SCALE[variant] if year >= 2021 else 1.0
    return SYNTHETIC_BASE[country] * (1.01 ** (year - 2018)) * scale


@pytest.fixture
def synthetic_drivers() -> pl.DataFrame:
    """demographic_drivers' layout; each band is the synthetic population times a band
    factor, so any band sum is known."""
    rows = []
    for country in SYNTHETIC_BASE:
        for variant in VARIANT_SCALE:
            for year in YEARS:
                base = synthetic_population(country, variant, year)
                rows.append(
                    {
                        "country_iso3": country,
                        "variant": variant,
                        "year": year,
                        "population_total": base * 10,
                        "population_20_24": base,
                        "population_15_64": base * 6,
                        "population_25_64": base * 5,
                        "population_65_plus": base * 2,
                        "population_18_22": base * 1.1,
                        "population_25_34": base * 2.5,
                    }
                )
    return pl.DataFrame(rows, schema_overrides={"year": pl.Int32})


@pytest.fixture
def synthetic_country_list() -> pl.DataFrame:
    """world_bank.country_list's layout: two high-income members, China (the host), an
    unclassified country and an aggregate row."""
    return pl.DataFrame(
        {
            "country_iso3": ["AAA", "BBB", "CCC", "DDD", "CHN", None],
            "income_level": [
                "High income",
                "High income",
                "Low income",
                "Not classified",
                "Upper middle income",
                None,
            ],
        }
    )


def synthetic_rate_forecasts(series: dict[str, float], years=(2030, 2031)) -> pl.DataFrame:
    """A flat rate per series with known bounds: ±10 % (80 %) and ±20 % (95 %)."""
    return pl.DataFrame(
        [
            {
                "series_id": series_id,
                "year": year,
                "model": "synthetic",
                "mean": rate,
                "lo80": rate * 0.9,
                "hi80": rate * 1.1,
                "lo95": rate * 0.8,
                "hi95": rate * 1.2,
            }
            for series_id, rate in series.items()
            for year in years
        ],
        schema_overrides={"year": pl.Int32},
    )


def value(frame: pl.DataFrame, column: str, **keys) -> float:
    rows = frame.filter(*(pl.col(k) == v for k, v in keys.items()))
    assert rows.height == 1, f"expected one row for {keys}, found {rows.height}"
    return rows[column].item()


# -- the registry ---------------------------------------------------------------------------


def test_every_target_names_a_cohort_demographic_drivers_has_or_a_forecast_denominator():
    assert list(RATE_TARGETS) == [
        "researchers",
        "tertiary_students",
        "adults_25plus_tertiary",
        "se_doctorates",
        "se_first_degrees",
        "world_mobile_students",
        "researcher_moves_abroad",
        "china_inbound_students",
        "china_researcher_inflows",
    ]
    drivers = {*AGE_BANDS, "population_18_22", "population_25_34"}
    for target in RATE_TARGETS.values():
        if target.is_share:
            # a denominator target is forecast in an earlier family
            denominator = RATE_TARGETS[target.denominator]
            assert FAMILIES.index(denominator.family) < FAMILIES.index(target.family)
        else:
            assert set(target.cohort_columns) <= drivers, target.name
        assert target.age_structure, f"{target.name}: say how the age structure enters"
    assert rate_target("researchers") is RESEARCHERS
    with pytest.raises(ValueError, match="no rate target 'talent'.*researchers"):
        rate_target("talent")
    with pytest.raises(ValueError, match="exactly one"):
        RateTarget("x", "talent_pool", "", "", "", "", "")


# -- cohorts --------------------------------------------------------------------------------


def test_country_cohort_sums_the_target_columns(synthetic_drivers):
    adults = cohorts(synthetic_drivers, ADULTS_25PLUS_TERTIARY)
    # 25+ = 25-64 (5 × base) + 65+ (2 × base)
    expected = 7 * synthetic_population("BBB", "Low", 2030)
    assert value(adults, "cohort", series_id="BBB", variant="Low", year=2030) == pytest.approx(
        expected
    )
    assert adults.columns == ["series_id", "variant", "year", "cohort"]


def test_group_cohorts_sum_the_groups_countries(synthetic_drivers, synthetic_country_list):
    members = income_group_members(synthetic_country_list)
    assert members.rows() == [
        ("AAA", "High income"),
        ("BBB", "High income"),
        ("CCC", "Low income"),
        ("CHN", "Upper middle income"),  # China's own researchers move abroad too
    ]
    groups = group_cohorts(synthetic_drivers, members, RESEARCHER_MOVES_ABROAD)
    for variant in VARIANT_SCALE:
        high = value(groups, "cohort", series_id="High income", variant=variant, year=2030)
        assert high == pytest.approx(
            5
            * (
                synthetic_population("AAA", variant, 2030)
                + synthetic_population("BBB", variant, 2030)
            )
        )
    # The unclassified DDD is in no group.
    assert set(groups["series_id"]) == {"High income", "Low income", "Upper middle income"}


def test_the_world_cohort_of_mobile_students_is_every_place_aged_18_22(synthetic_drivers):
    world = group_cohorts(
        synthetic_drivers, world_members(synthetic_drivers), WORLD_MOBILE_STUDENTS
    )
    expected = 1.1 * sum(synthetic_population(c, "High", 2025) for c in SYNTHETIC_BASE)
    assert value(world, "cohort", series_id="WLD", variant="High", year=2025) == pytest.approx(
        expected
    )


def test_a_group_member_missing_from_the_drivers_or_some_years_is_refused(
    synthetic_drivers, synthetic_country_list
):
    members = income_group_members(synthetic_country_list)
    with pytest.raises(ValueError, match="CCC.*no demographic_drivers rows"):
        group_cohorts(
            synthetic_drivers.filter(pl.col("country_iso3") != "CCC"),
            members,
            RESEARCHER_MOVES_ABROAD,
        )
    gappy = synthetic_drivers.filter(
        ~((pl.col("country_iso3") == "AAA") & (pl.col("year") == 2030))
    )
    with pytest.raises(ValueError, match="lack some member countries.*High income"):
        group_cohorts(gappy, members, RESEARCHER_MOVES_ABROAD)


def test_an_unknown_variant_is_refused_when_asking_for_cohorts(synthetic_drivers):
    with pytest.raises(ValueError, match=r"unknown WPP variant\(s\) \['Constant'\]"):
        cohorts(synthetic_drivers, RESEARCHERS, ["Medium", "Constant"])


# -- rates ----------------------------------------------------------------------------------


def synthetic_pools(series_id: str, years: dict[int, float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"series_id": series_id, "year": list(years), "pool": list(years.values())},
        schema_overrides={"year": pl.Int32},
    )


def test_rate_is_pool_over_the_medium_cohort_and_per_million_for_moves(
    synthetic_drivers, synthetic_country_list
):
    members = income_group_members(synthetic_country_list)
    cohort = group_cohorts(synthetic_drivers, members, RESEARCHER_MOVES_ABROAD)
    rates = rate_series(
        synthetic_pools("High income", {2019: 3.0, 2020: 6.0}), cohort, RESEARCHER_MOVES_ABROAD
    )
    high_2020 = 5 * (
        synthetic_population("AAA", "Medium", 2020) + synthetic_population("BBB", "Medium", 2020)
    )
    assert rates.columns == ["series_id", "year", "y"]
    assert value(rates, "y", year=2020) == pytest.approx(6.0 / high_2020 * 1e6)


def test_a_pool_without_a_cohort_is_refused_naming_series_and_years(synthetic_drivers):
    pools = synthetic_pools("AAA", {2016: 1.0, 2017: 1.0, 2018: 1.0})
    with pytest.raises(ValueError, match=r"researchers: no Medium cohort.*AAA: \[2016, 2017\]"):
        rate_series(pools, cohorts(synthetic_drivers, RESEARCHERS), RESEARCHERS)


def synthetic_caps_inputs() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rates of a large country (AAA, 5 million), a larger one (BBB, 9 million) and a
    small one whose record is higher than both (CCC, 50,000)."""
    rates = pl.DataFrame(
        {
            "series_id": ["AAA", "AAA", "BBB", "BBB", "CCC", "CCC"],
            "year": [2019, 2020] * 3,
            "y": [0.5, 0.6, 1.0, 1.2, 1.5, 1.9],
        }
    ).with_columns(pl.col("year").cast(pl.Int32))
    sizes = {"AAA": 5e6, "BBB": 9e6, "CCC": 5e4}
    denominators = pl.DataFrame(
        [(s, "Medium", year, size) for s, size in sizes.items() for year in (2019, 2020)],
        schema={
            "series_id": pl.String,
            "variant": pl.String,
            "year": pl.Int32,
            "cohort": pl.Float64,
        },
        orient="row",
    )
    return rates, denominators


def test_caps_are_the_large_countries_frontier_or_a_small_countrys_own_record_plus_headroom():
    rates, denominators = synthetic_caps_inputs()
    caps = evidence_caps(rates, denominators, TERTIARY_STUDENTS)
    by_series = dict(caps.select("series_id", "cap").iter_rows())
    # the frontier is BBB's 1.2 (CCC is too small to set it); +10 %
    assert by_series["AAA"] == pytest.approx(1.32) and by_series["BBB"] == pytest.approx(1.32)
    assert by_series["CCC"] == pytest.approx(1.9 * 1.1)  # above the frontier already
    assert caps["frontier_series"].unique().to_list() == ["BBB"]
    assert (caps["cap"] > caps["record"]).all()


def test_a_series_without_a_panel_is_bounded_by_its_own_growth():
    rates, denominators = synthetic_caps_inputs()
    growth = RateTarget(
        "world",
        "world_mobility",
        "",
        "",
        "",
        "",
        "",
        cohort_columns=("population_18_22",),
        bound=Bound(rule="growth"),
    )
    caps = dict(evidence_caps(rates, denominators, growth).select("series_id", "cap").iter_rows())
    assert caps["AAA"] == pytest.approx(0.6 * 0.6 / 0.5)  # its record × (record / first)


def test_a_share_at_or_above_its_ceiling_is_refused():
    rates, denominators = synthetic_caps_inputs()
    with pytest.raises(ValueError, match="ceiling 1.0.*BBB"):
        evidence_caps(rates, denominators, CHINA_INBOUND_STUDENTS)


def test_zero_rates_leave_the_history_unless_kept(synthetic_drivers):
    pools = synthetic_pools("AAA", {2018: 0.0, 2019: 10.0})
    cohort = cohorts(synthetic_drivers, RESEARCHERS)
    assert rate_series(pools, cohort, RESEARCHERS)["year"].to_list() == [2019]
    assert rate_series(pools, cohort, RESEARCHERS, keep_zeros=True)["year"].to_list() == [
        2018,
        2019,
    ]


# -- scenario pools -------------------------------------------------------------------------


def test_pool_is_rate_times_cohort_for_each_variant(synthetic_drivers):
    forecasts = synthetic_rate_forecasts({"AAA": 0.002, "CCC": 0.01})
    pools = scenario_pools(forecasts, cohorts(synthetic_drivers, RESEARCHERS), RESEARCHERS)
    assert pools.height == forecasts.height * 3
    for series_id, rate in (("AAA", 0.002), ("CCC", 0.01)):
        for variant in VARIANT_SCALE:
            cohort = 5 * synthetic_population(series_id, variant, 2031)
            row = pools.filter(
                (pl.col("series_id") == series_id)
                & (pl.col("scenario") == variant)
                & (pl.col("year") == 2031)
            )
            assert row["variant"].item() == variant
            assert row["mean"].item() == pytest.approx(rate * cohort)
            assert row["lo80"].item() == pytest.approx(0.9 * rate * cohort)
            assert row["hi80"].item() == pytest.approx(1.1 * rate * cohort)
            assert row["lo95"].item() == pytest.approx(0.8 * rate * cohort)
            assert row["hi95"].item() == pytest.approx(1.2 * rate * cohort)


def test_pool_bounds_stay_ordered(synthetic_drivers):
    forecasts = synthetic_rate_forecasts({"AAA": 0.002, "BBB": 0.004})
    pools = scenario_pools(forecasts, cohorts(synthetic_drivers, RESEARCHERS), RESEARCHERS)
    ordered = (
        (pl.col("lo95") <= pl.col("lo80"))
        & (pl.col("lo80") <= pl.col("mean"))
        & (pl.col("mean") <= pl.col("hi80"))
        & (pl.col("hi80") <= pl.col("hi95"))
    )
    assert pools.select(ordered.all()).item()


def test_low_medium_high_pools_follow_their_cohorts(synthetic_drivers):
    forecasts = synthetic_rate_forecasts({"AAA": 0.3})
    pools = scenario_pools(
        forecasts, cohorts(synthetic_drivers, TERTIARY_STUDENTS), TERTIARY_STUDENTS
    )
    by_scenario = {
        scenario: value(pools, "mean", scenario=scenario, year=2030)
        for scenario in ("Low", "Medium", "High")
    }
    assert by_scenario["Low"] < by_scenario["Medium"] < by_scenario["High"]


def test_move_pools_divide_by_a_million(synthetic_drivers):
    members = world_members(synthetic_drivers)
    cohort = group_cohorts(synthetic_drivers, members, RESEARCHER_MOVES_ABROAD).with_columns(
        pl.lit("High income").alias("series_id")
    )
    pools = scenario_pools(
        synthetic_rate_forecasts({"High income": 400.0}), cohort, RESEARCHER_MOVES_ABROAD
    )
    world = 5 * sum(synthetic_population(c, "Medium", 2030) for c in SYNTHETIC_BASE)
    assert value(pools, "mean", scenario="Medium", year=2030) == pytest.approx(400.0 * world / 1e6)


def test_forecasts_per_variant_meet_their_own_variants_cohort(synthetic_drivers):
    forecasts = pl.concat(
        [
            synthetic_rate_forecasts({"AAA": 0.01}).with_columns(pl.lit("Low").alias("variant")),
            synthetic_rate_forecasts({"AAA": 0.02}).with_columns(pl.lit("High").alias("variant")),
        ]
    )
    pools = scenario_pools(forecasts, cohorts(synthetic_drivers, RESEARCHERS), RESEARCHERS)
    assert sorted(pools["scenario"].unique()) == ["High", "Low"]
    assert value(pools, "mean", scenario="Low", year=2030) == pytest.approx(
        0.01 * 5 * synthetic_population("AAA", "Low", 2030)
    )
    assert value(pools, "mean", scenario="High", year=2030) == pytest.approx(
        0.02 * 5 * synthetic_population("AAA", "High", 2030)
    )


def test_a_forecast_variant_without_cohorts_is_refused(synthetic_drivers):
    forecasts = synthetic_rate_forecasts({"AAA": 0.01}).with_columns(
        pl.lit("Instant-replacement").alias("variant")
    )
    with pytest.raises(ValueError, match=r"unknown WPP variant\(s\) \['Instant-replacement'\]"):
        scenario_pools(forecasts, cohorts(synthetic_drivers, RESEARCHERS), RESEARCHERS)
    medium_only = cohorts(synthetic_drivers, RESEARCHERS, ["Medium"])
    low = synthetic_rate_forecasts({"AAA": 0.01}).with_columns(pl.lit("Low").alias("variant"))
    with pytest.raises(ValueError, match=r"variant\(s\) \['Low'\] but cohort projections only"):
        scenario_pools(low, medium_only, RESEARCHERS)


def test_forecast_years_without_a_cohort_are_refused_naming_series_and_years(synthetic_drivers):
    forecasts = synthetic_rate_forecasts({"AAA": 0.01, "BBB": 0.01}, years=(2032, 2033, 2034))
    with pytest.raises(ValueError, match=r"AAA High: \[2033, 2034\]"):
        scenario_pools(forecasts, cohorts(synthetic_drivers, RESEARCHERS), RESEARCHERS)


# -- policy levers --------------------------------------------------------------------------


@pytest.fixture
def synthetic_intake_pools(synthetic_drivers) -> pl.DataFrame:
    """Baseline intake pools of 100 moves or students a year in every group and variant."""
    rows = [
        {
            "series_id": series_id,
            "year": year,
            "model": "synthetic",
            "variant": variant,
            "scenario": variant,
            "mean": 100.0,
            "lo80": 90.0,
            "hi80": 110.0,
            "lo95": 80.0,
            "hi95": 120.0,
        }
        for series_id in (
            "High income",
            "Upper middle income",
            "Lower middle income",
            "Low income",
            ALL_ORIGINS,
        )
        for variant in ("Medium", "Low")
        for year in (2025, 2026, 2027, 2028, 2029)
    ]
    return pl.DataFrame(rows, schema_overrides={"year": pl.Int32})


def test_tech_denial_scales_only_high_income_and_only_from_its_start_year(
    synthetic_intake_pools,
):
    lever = PolicyLevers("denial", high_income_inflow_multiplier=0.7, start_year=2027)
    out = apply_levers(synthetic_intake_pools, lever)
    levered = out.filter(pl.col("scenario") == "Medium+denial")
    high = dict(levered.filter(pl.col("series_id") == "High income").select("year", "mean").rows())
    assert high == pytest.approx({2025: 100.0, 2026: 100.0, 2027: 70.0, 2028: 70.0, 2029: 70.0})
    assert value(levered, "lo95", series_id="High income", year=2028) == pytest.approx(56.0)
    others = levered.filter(pl.col("series_id") != "High income")
    assert others["mean"].to_list() == [100.0] * others.height


def test_scholarships_compound_from_the_start_year_on_low_income_origins_and_students(
    synthetic_intake_pools,
):
    lever = PolicyLevers("cgs", scholarship_growth_rate=0.03, start_year=2027)
    out = apply_levers(synthetic_intake_pools, lever)
    expected = {2025: 100.0, 2026: 100.0, 2027: 103.0, 2028: 106.09, 2029: 109.2727}
    for series_id in ("Low income", "Lower middle income", ALL_ORIGINS):
        grown = out.filter((pl.col("scenario") == "Low+cgs") & (pl.col("series_id") == series_id))
        assert dict(grown.select("year", "mean").rows()) == pytest.approx(expected)
        assert value(grown, "hi80", year=2029) == pytest.approx(110 * 1.03**3)
    untouched = out.filter(
        (pl.col("scenario") == "Low+cgs")
        & pl.col("series_id").is_in(["High income", "Upper middle income"])
    )
    assert untouched["mean"].to_list() == [100.0] * untouched.height


def test_levers_add_named_scenarios_and_keep_the_baseline(synthetic_intake_pools):
    out = apply_levers(synthetic_intake_pools, DEFAULT_LEVERS)
    assert sorted(out["scenario"].unique()) == [
        "Low",
        "Low+scholarships",
        "Low+tech_denial",
        "Medium",
        "Medium+scholarships",
        "Medium+tech_denial",
    ]
    baseline = out.filter(pl.col("scenario") == pl.col("variant")).sort(
        synthetic_intake_pools.columns
    )
    assert baseline.equals(synthetic_intake_pools.sort(synthetic_intake_pools.columns))
    assert out.height == 3 * synthetic_intake_pools.height


def test_levers_refuse_levered_rows_unknown_groups_and_bad_values(synthetic_intake_pools):
    once = apply_levers(synthetic_intake_pools, DEFAULT_LEVERS[0])
    with pytest.raises(ValueError, match="baseline pools only.*Low\\+tech_denial"):
        apply_levers(once, DEFAULT_LEVERS[1])
    taiwan = synthetic_intake_pools.with_columns(
        pl.lit("Not in World Bank list").alias("series_id")
    )
    with pytest.raises(ValueError, match="Not in World Bank list"):
        apply_levers(taiwan, DEFAULT_LEVERS)
    with pytest.raises(ValueError, match="negative"):
        PolicyLevers("bad", high_income_inflow_multiplier=-0.1)
    with pytest.raises(ValueError, match="no '\\+'"):
        PolicyLevers("a+b")


# -- the real mirror ------------------------------------------------------------------------

WPP_FILE = "wpp2024/WPP2024_PopulationByAge5GroupSex_5yr.csv"


@pytest.fixture(scope="module")
def real(mirror):
    def read(fmt, relative):
        return fmt.tidy(fmt.parse(mirror / relative))

    population_by_age = read(wpp.population_by_age, WPP_FILE)
    uis_attainment = read(uis.api_records, "uis/uis_api_sdg_tertiary_enrolment_attainment.csv")
    uis_inbound = read(uis.api_records, "uis/uis_api_inbound_26637_and_netflow_MENF5T8.csv")
    flows = read(
        mpidr.flows, "scholarly_migration/scopus_2024_V1_scholarlymigration_countryflows.csv"
    )
    countries = read(world_bank.country_list, "wdi/wb_api_countries.csv")
    moe = read(china_moe.international_students, "china_moe/china_international_students_moe.csv")
    metrics = pl.concat(
        [
            researchers_in_rd(
                read(
                    world_bank.bulk_indicator, "wdi/API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.csv"
                ),
                read(world_bank.bulk_indicator, "wdi/API_SP.POP.TOTL_DS2_en_csv_v2.csv"),
                population_by_age,
            ),
            tertiary_students_approx(uis_attainment, population_by_age),
            adults_with_tertiary_attainment(uis_attainment, population_by_age),
        ]
    )
    return {
        "features": {
            "demographic_drivers": demographic_drivers(population_by_age),
            "talent_pool_metrics": metrics,
            "inbound_student_shares": inbound_student_shares(uis_inbound),
            "researcher_move_shares": researcher_move_shares(flows, countries),
        },
        "uis": uis_attainment,
        "countries": countries,
        "moe": moe,
    }


def test_real_china_intake_is_a_share_of_world_totals(real):
    rates, denominators = target_inputs(
        CHINA_RESEARCHER_INFLOWS, real["features"], real["countries"]
    )
    china_high = rates.filter(pl.col("series_id") == "CHN|High income")
    assert china_high["year"].to_list() == list(range(1998, 2021))
    # 11,191 of the 105,149 Scopus moves abroad from high-income countries went to China in 2020
    assert value(china_high, "y", year=2020) == pytest.approx(11_191 / 105_149)
    # every destination with 20 or more moves from a group in some year teaches the model
    assert 250 < rates["series_id"].n_unique() < 400
    assert value(
        denominators, "cohort", series_id="CHN|High income", variant="Low", year=2020
    ) == pytest.approx(105_149)
    students, world = target_inputs(CHINA_INBOUND_STUDENTS, real["features"], real["countries"])
    china = students.filter(pl.col("series_id") == "CHN")
    # 210,903 of UIS's 6,859,426.5 mobile students in 2022
    assert value(china, "y", year=2022) == pytest.approx(210_903 / 6_859_426.5)
    totals, _ = target_inputs(WORLD_MOBILE_STUDENTS, real["features"], real["countries"])
    assert totals["year"].to_list() == list(range(2000, 2023))


def test_real_country_rates_fit_their_evidence_caps_and_tertiary_is_uis_ger(real):
    rates = {
        target.name: target_inputs(target, real["features"], real["countries"])
        for target in (RESEARCHERS, TERTIARY_STUDENTS, ADULTS_25PLUS_TERTIARY)
    }
    china = rates["researchers"][0].filter(pl.col("series_id") == "CHN")
    assert value(china, "y", year=2020) == pytest.approx(0.00273, abs=1e-5)
    tertiary, cohort = rates["tertiary_students"]
    caps = evidence_caps(tertiary, cohort, TERTIARY_STUDENTS)
    # the frontier among countries with 3 million or more aged 18-22: Türkiye, 2022
    frontier = caps.row(0, named=True)
    assert (frontier["frontier_series"], frontier["frontier_year"]) == ("TUR", 2022)
    assert frontier["frontier"] == pytest.approx(1.2758, abs=1e-3)
    china_cap = caps.filter(pl.col("series_id") == "CHN")["cap"].item()
    assert china_cap == pytest.approx(frontier["frontier"] * 1.1)
    ger = real["uis"].filter(
        (pl.col("indicator_id") == "GER.5T8") & (pl.col("geo_kind") == "country")
    )
    joined = tertiary.join(
        ger.select(
            pl.col("country_iso3").alias("series_id"), pl.col("year").cast(pl.Int32), "value"
        ),
        on=["series_id", "year"],
    )
    assert joined.height == tertiary.height
    assert joined.select((pl.col("y") - pl.col("value") / 100).abs().max()).item() < 1e-12
    # China reports tertiary attainment for two years only.
    adults_china = rates["adults_25plus_tertiary"][0].filter(pl.col("series_id") == "CHN")
    assert adults_china["year"].to_list() == [2010, 2020]


def test_real_definition_changes_are_found_and_modelled_after(real):
    from talentflow.tasks.forecast import forecast_job

    found = {}
    for target in (RESEARCHERS, TERTIARY_STUDENTS):
        rates, denominators = target_inputs(target, real["features"], real["countries"])
        job = forecast_job(target, rates, denominators, vintage=2024, min_observed_years=8)
        china = job.breaks.filter(pl.col("series_id") == "CHN")
        found[target.name] = (
            china["year"].to_list(),
            job.history.filter(pl.col("series_id") == "CHN")["year"].min(),
        )
    # China adopted the OECD's Frascati definition of researchers in 2009 (a third fewer)
    assert 2009 in found["researchers"][0] and found["researchers"][1] == 2009
    # and its tertiary enrolment ratio jumped 11 points from 2013 to 2014
    assert 2014 in found["tertiary_students"][0] and found["tertiary_students"][1] == 2014
