"""The ageing-scenario arithmetic of the forecasts: rates, cohorts, pools and policy levers.

A talent pool is forecast as RATE × COHORT. Models (elsewhere) forecast a rate in a
bounded space (``logit(y / cap)``); WPP 2024 gives the cohort under each variant
(Medium, Low, High); the pool of a scenario is the rate forecast times that variant's
cohort. This module holds only that arithmetic, as plain Polars functions:

- :data:`RATE_TARGETS`: what each forecast rate is (its pool, cohort, cap and unit).
- Pools, the rate's numerator, from published tables: :func:`country_pools`
  (talent_pool_metrics), :func:`researcher_inflow_pools` (inflow shares by income group),
  :func:`inbound_student_pools` (china_inbound_students).
- Cohorts, the denominator, from demographic_drivers: :func:`cohorts` (one country) and
  :func:`group_cohorts` (summed over an origin group's countries, see
  :func:`income_group_members` and :func:`world_excluding_china_members`).
- :func:`rate_series`: pool / cohort in the models' long history layout
  (``series_id, year, y``); one builder per target wires the three steps.
- :func:`scenario_pools`: rate forecasts × cohort per variant, bounds included.
- :class:`PolicyLevers` and :func:`apply_levers`: what-if multipliers on China's intake.

The same cohort function feeds the history rate and the projection, so a history year's
pool is given back exactly by its rate × its cohort. docs/metrics.md ("Scenarios") holds
the definitions for readers. Never here: Prefect, files, settings, model fitting, or a
silently dropped row (a pool or forecast without its cohort raises).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from talentflow.core.facts import MPIDR_RELIABLE_YEARS
from talentflow.tasks.features.demography import ESTIMATES_VARIANT, VARIANTS
from talentflow.tasks.features.intake import CHINA, HIGH_INCOME, UIS_SERIES

#: Target families: the model selection picks one model per family.
TALENT_POOL_FAMILY = "talent_pool"
CHINA_INTAKE_FAMILY = "china_intake"
#: What ``series_id`` is for a target.
COUNTRY_SERIES = "country_iso3"
ORIGIN_GROUP_SERIES = "origin_group"

#: World Bank income groups (labels as ``world_bank.country_list`` spells them, the same
#: labels intake.py gives ``origin_income_group``) whose inflows into China are forecast.
#: Moves from origins outside them ("Not in World Bank list": Taiwan; "Not classified":
#: Venezuela; "Unknown origin") have no cohort to divide by and are not forecast.
UPPER_MIDDLE_INCOME = "Upper middle income"
LOWER_MIDDLE_INCOME = "Lower middle income"
LOW_INCOME = "Low income"
INCOME_GROUPS = (HIGH_INCOME, UPPER_MIDDLE_INCOME, LOWER_MIDDLE_INCOME, LOW_INCOME)
#: The one origin group of China's inbound students (UIS 26637 has no origin breakdown).
ALL_ORIGINS = "All origins"
#: The MPIDR database whose moves are forecast (the OpenAlex series is kept out: the two
#: databases disagree in level and trend and are never mixed).
INFLOW_DATABASE = "scopus"

COHORT_COLUMNS = ["series_id", "variant", "year", "cohort"]


@dataclass(frozen=True)
class RateTarget:
    """One forecast rate: ``y = pool / cohort × per``; a pool is ``y × cohort / per``.

    Attributes
    ----------
    name
        The target's name, as in the forecasts table's ``target``.
    family
        :data:`TALENT_POOL_FAMILY` (one series per country) or
        :data:`CHINA_INTAKE_FAMILY` (one series per origin group of China's intake).
    series
        What ``series_id`` holds: :data:`COUNTRY_SERIES` or :data:`ORIGIN_GROUP_SERIES`.
    rate
        The rate's definition, for readers.
    pool
        What the pool (the numerator) counts, and its published table.
    cohort
        The cohort's name.
    cohort_columns
        The demographic_drivers columns whose sum is the cohort (persons).
    cap
        The rate's upper bound, in rate units: models work on ``logit(y / cap)``, so every
        rate must lie in ``[0, cap)``. docs/metrics.md gives the observed maximum behind
        each cap.
    unit
        The rate's unit.
    pool_unit
        The pool's unit (what a scenario pool counts).
    per
        Scale of the rate: 1 for a ratio, 10⁶ for "per million people".
    """

    name: str
    family: str
    series: str
    rate: str
    pool: str
    cohort: str
    cohort_columns: tuple[str, ...]
    cap: float
    unit: str
    pool_unit: str
    per: float = 1.0


RESEARCHERS = RateTarget(
    name="researchers",
    family=TALENT_POOL_FAMILY,
    series=COUNTRY_SERIES,
    rate="researchers in R&D / population aged 25-64, same country and year",
    pool="talent_pool_metrics `researchers` (World Bank SP.POP.SCIE.RD.P6 x SP.POP.TOTL)",
    cohort="population_25_64",
    cohort_columns=("population_25_64",),
    # Observed max 0.0357 (Liechtenstein 2019, a 22,000-person cohort); among larger
    # countries 0.0176 (Denmark 2022), Sweden, Finland, Korea 0.016-0.018.
    cap=0.05,
    unit="researchers per person aged 25-64",
    pool_unit="persons",
)
TERTIARY_STUDENTS = RateTarget(
    name="tertiary_students",
    family=TALENT_POOL_FAMILY,
    series=COUNTRY_SERIES,
    rate="UIS GER.5T8 / 100: tertiary students of any age / population aged 20-24",
    pool="talent_pool_metrics `tertiary_students_approx` (GER.5T8 x population 20-24 / 100)",
    cohort="population_20_24",
    cohort_columns=("population_20_24",),
    # Observed max 1.667 (Greece 2022); then Macao 1.29 (2023), Turkey 1.28, Australia 1.20.
    cap=2.0,
    unit="ratio (gross enrolment ratio / 100; can exceed 1)",
    pool_unit="persons",
)
ADULTS_25PLUS_TERTIARY = RateTarget(
    name="adults_25plus_tertiary",
    family=TALENT_POOL_FAMILY,
    series=COUNTRY_SERIES,
    rate="UIS EA.5T8.AG25T99 / 100: share of the population aged 25+ with tertiary",
    pool="talent_pool_metrics `adults_25plus_tertiary` (EA.5T8.AG25T99 x population 25+ / 100)",
    cohort="population_25_plus",
    # 25+ = 25-64 + 65+: both are sums of whole WPP groups interpolated on the same points,
    # so their sum is the 25-104 band talent.py multiplies the attainment share by.
    cohort_columns=("population_25_64", "population_65_plus"),
    cap=1.0,  # a share of persons; observed max 0.739 (Kazakhstan 2018)
    unit="share of persons aged 25+",
    pool_unit="persons",
)
CHINA_RESEARCHER_INFLOWS = RateTarget(
    name="china_researcher_inflows",
    family=CHINA_INTAKE_FAMILY,
    series=ORIGIN_GROUP_SERIES,
    rate=(
        "MPIDR Scopus researcher moves into China from origins in a World Bank income group "
        "/ that group's population aged 20-24 (China excluded) x 10^6"
    ),
    pool="china_inflow_shares_by_income `migrations`, database scopus, years 1998-2020",
    cohort="origin_group_population_20_24",
    cohort_columns=("population_20_24",),
    # China's intake peaks at 152 per million (high income, 2020). Researchers leaving
    # high-income origins for *any* destination: 1,426 per million at most (2020).
    cap=3000.0,
    unit="moves per million people aged 20-24 in the origin group",
    pool_unit="moves (persons)",
    per=1e6,
)
CHINA_INBOUND_STUDENTS = RateTarget(
    name="china_inbound_students",
    family=CHINA_INTAKE_FAMILY,
    series=ORIGIN_GROUP_SERIES,
    rate=(
        "UIS 26637 for CHN (inbound internationally mobile tertiary students) / the "
        "population aged 20-24 of every WPP place but China x 10^6"
    ),
    pool="china_inbound_students `students`, series uis_degree_mobile (2006-2023)",
    cohort="world_excluding_china_population_20_24",
    cohort_columns=("population_20_24",),
    # China's peak is 431 per million (2020); every mobile student in the world (UIS World,
    # 6.86 million in 2022) would be about 12,900 per million.
    cap=20000.0,
    unit="students per million people aged 20-24 outside China",
    pool_unit="persons",
    per=1e6,
)

#: Every forecast rate, by name.
RATE_TARGETS: dict[str, RateTarget] = {
    target.name: target
    for target in (
        RESEARCHERS,
        TERTIARY_STUDENTS,
        ADULTS_25PLUS_TERTIARY,
        CHINA_RESEARCHER_INFLOWS,
        CHINA_INBOUND_STUDENTS,
    )
}
#: Country targets and the talent_pool_metrics metric that is their pool.
POOL_METRICS = {
    RESEARCHERS.name: "researchers",
    TERTIARY_STUDENTS.name: "tertiary_students_approx",
    ADULTS_25PLUS_TERTIARY.name: "adults_25plus_tertiary",
}


def rate_target(name: str) -> RateTarget:
    """The registered :class:`RateTarget` called ``name``; ValueError names the known ones."""
    if name not in RATE_TARGETS:
        raise ValueError(f"no rate target {name!r}; known targets: {sorted(RATE_TARGETS)}")
    return RATE_TARGETS[name]


# -- pools: the rate's numerator, from published tables ------------------------------------


def country_pools(talent_pool_metrics: pl.DataFrame, target: RateTarget) -> pl.DataFrame:
    """``series_id`` (country ISO3), ``year``, ``pool``: the talent_pool_metrics rows of the
    country target's metric (:data:`POOL_METRICS`)."""
    if target.name not in POOL_METRICS:
        raise ValueError(
            f"{target.name!r} is not a country target; country targets: {sorted(POOL_METRICS)}"
        )
    return (
        talent_pool_metrics.filter(pl.col("metric") == POOL_METRICS[target.name])
        .select(
            pl.col("country_iso3").alias("series_id"),
            pl.col("year").cast(pl.Int32),
            pl.col("value").cast(pl.Float64).alias("pool"),
        )
        .sort("series_id", "year")
    )


def researcher_inflow_pools(
    inflow_shares: pl.DataFrame,
    database: str = INFLOW_DATABASE,
    years: tuple[int, int] = MPIDR_RELIABLE_YEARS,
) -> pl.DataFrame:
    """``series_id`` (income group), ``year``, ``pool``: researcher moves into China from
    each of :data:`INCOME_GROUPS`, from ``inflow_shares_by_income_group``'s table (zeros
    kept: a year nobody came is a 0, not a gap), one database, MPIDR's recommended years."""
    first, last = years
    return (
        inflow_shares.filter(
            (pl.col("database") == database)
            & pl.col("year").is_between(first, last)
            & pl.col("origin_income_group").is_in(INCOME_GROUPS)
        )
        .select(
            pl.col("origin_income_group").alias("series_id"),
            pl.col("year").cast(pl.Int32),
            pl.col("migrations").cast(pl.Float64).alias("pool"),
        )
        .sort("series_id", "year")
    )


def inbound_student_pools(inbound_students: pl.DataFrame) -> pl.DataFrame:
    """``series_id`` (:data:`ALL_ORIGINS`), ``year``, ``pool``: the UIS degree-mobile series
    of china_inbound_students (the MoE headcount counts other people and is not used)."""
    return (
        inbound_students.filter(pl.col("series") == UIS_SERIES)
        .select(
            pl.lit(ALL_ORIGINS).alias("series_id"),
            pl.col("year").cast(pl.Int32),
            pl.col("students").cast(pl.Float64).alias("pool"),
        )
        .sort("year")
    )


# -- cohorts: the denominator, per WPP variant ---------------------------------------------


def _cohort_expression(target: RateTarget) -> pl.Expr:
    return pl.sum_horizontal(*target.cohort_columns).alias("cohort")


def _check_variants(variants: Sequence[str], where: str) -> None:
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"{where}: unknown WPP variant(s) {unknown}; known: {list(VARIANTS)}")


def cohorts(
    demographic_drivers: pl.DataFrame, target: RateTarget, variants: Sequence[str] = VARIANTS
) -> pl.DataFrame:
    """``series_id`` (country ISO3), ``variant``, ``year``, ``cohort`` (persons): the sum of
    the target's ``cohort_columns`` per country, variant and year of demographic_drivers.
    The same frame serves the history rates and the projections."""
    if target.series != COUNTRY_SERIES:
        raise ValueError(f"{target.name!r} is forecast per origin group: use group_cohorts")
    _check_variants(variants, f"cohorts of {target.name!r}")
    return (
        demographic_drivers.filter(pl.col("variant").is_in(list(variants)))
        .select(
            pl.col("country_iso3").alias("series_id"),
            "variant",
            pl.col("year").cast(pl.Int32),
            _cohort_expression(target),
        )
        .sort("series_id", "variant", "year")
    )


def income_group_members(country_list: pl.DataFrame) -> pl.DataFrame:
    """``country_iso3, series_id``: the countries of each of :data:`INCOME_GROUPS`, from tidy
    ``world_bank.country_list`` (the current classification, the one intake.py gives
    ``origin_income_group``). China is left out: it is the host, never an origin."""
    return (
        country_list.filter(
            pl.col("country_iso3").is_not_null()
            & (pl.col("country_iso3") != CHINA)
            & pl.col("income_level").is_in(INCOME_GROUPS)
        )
        .select("country_iso3", pl.col("income_level").alias("series_id"))
        .unique()
        .sort("series_id", "country_iso3")
    )


def world_excluding_china_members(demographic_drivers: pl.DataFrame) -> pl.DataFrame:
    """``country_iso3, series_id``: every WPP place but China, in one group
    :data:`ALL_ORIGINS` (the origins of China's inbound students)."""
    return (
        demographic_drivers.filter(pl.col("country_iso3") != CHINA)
        .select("country_iso3", pl.lit(ALL_ORIGINS).alias("series_id"))
        .unique()
        .sort("country_iso3")
    )


def group_cohorts(
    demographic_drivers: pl.DataFrame,
    members: pl.DataFrame,
    target: RateTarget,
    variants: Sequence[str] = VARIANTS,
) -> pl.DataFrame:
    """``series_id`` (origin group), ``variant``, ``year``, ``cohort``: the target's cohort
    summed over the group's member countries (``members``: ``country_iso3, series_id``).

    Raises ValueError when a member has no demographic_drivers rows, or lacks some of the
    years its group has: the group's cohort would silently shrink."""
    _check_variants(variants, f"group cohorts of {target.name!r}")
    drivers = demographic_drivers.filter(pl.col("variant").is_in(list(variants))).select(
        "country_iso3", "variant", pl.col("year").cast(pl.Int32), _cohort_expression(target)
    )
    absent = members.join(drivers, on="country_iso3", how="anti")
    if absent.height:
        raise ValueError(
            f"group cohorts of {target.name!r}: member(s) {absent.rows()} have no "
            "demographic_drivers rows; add them to WPP's places or drop them from the group"
        )
    by_group = members.join(drivers, on="country_iso3", how="inner")
    size = members.group_by("series_id").agg(pl.len().alias("_members"))
    summed = (
        by_group.group_by("series_id", "variant", "year")
        .agg(pl.col("cohort").sum(), pl.len().alias("_present"))
        .join(size, on="series_id")
    )
    short = summed.filter(pl.col("_present") < pl.col("_members"))
    if short.height:
        example = short.sort("series_id", "variant", "year").head(5)
        raise ValueError(
            f"group cohorts of {target.name!r}: {short.height} group-variant-years lack some "
            f"member countries, e.g. {example.select('series_id', 'variant', 'year').rows()}"
        )
    return summed.select(COHORT_COLUMNS).sort("series_id", "variant", "year")


# -- rates: pool / cohort -------------------------------------------------------------------


def _years_by_series(frame: pl.DataFrame, keys: Sequence[str]) -> str:
    """``<series> [<variant>]: [years]`` for the first 10 keys of ``frame``, for errors."""
    listed = frame.group_by(keys).agg(pl.col("year").unique().sort()).sort(keys)
    shown = "; ".join(
        f"{' '.join(str(row[key]) for key in keys)}: {row['year']}"
        for row in listed.head(10).iter_rows(named=True)
    )
    more = listed.height - 10
    return shown + (f"; and {more} more" if more > 0 else "")


def rate_series(
    pools: pl.DataFrame, cohort: pl.DataFrame, target: RateTarget, keep_zeros: bool = False
) -> pl.DataFrame:
    """The models' history ``series_id, year, y``: ``y = pool / cohort × target.per``.

    ``pools``: ``series_id, year, pool``; ``cohort``: :func:`cohorts` or
    :func:`group_cohorts` output, whose :data:`~tasks.features.demography.ESTIMATES_VARIANT`
    rows are used (the past has one variant; every variant's cohort is the same up to 2040).

    A rate of exactly 0 is left out unless ``keep_zeros``: ``logit(0)`` has no value, and on
    the mirror most zeros are missing-value codes published as 0 % (India's attainment in
    2018, 2020, 2022-23; 475 tertiary GER rows of 22 small places). The few true zeros
    (no Scopus move from low-income origins in 1999 and 2000) become gaps, which the models
    accept.

    Raises ValueError naming the series and years when a pool has no cohort, a cohort of 0
    or less, or a rate at or above ``target.cap`` (the cap would then be wrong): a row is
    never dropped for want of a cohort."""
    history = cohort.filter(pl.col("variant") == ESTIMATES_VARIANT).drop("variant")
    joined = pools.join(history, on=["series_id", "year"], how="left")
    missing = joined.filter(pl.col("cohort").is_null())
    if missing.height:
        raise ValueError(
            f"{target.name}: no {ESTIMATES_VARIANT} cohort ({target.cohort}) for "
            f"{_years_by_series(missing, ['series_id'])}"
        )
    empty = joined.filter(pl.col("cohort") <= 0)
    if empty.height:
        raise ValueError(
            f"{target.name}: cohort ({target.cohort}) is 0 or less for "
            f"{_years_by_series(empty, ['series_id'])}"
        )
    rates = joined.select(
        pl.col("series_id").cast(pl.String),
        pl.col("year").cast(pl.Int32),
        (pl.col("pool") / pl.col("cohort") * target.per).cast(pl.Float64).alias("y"),
    )
    above_cap = rates.filter(pl.col("y") >= target.cap)
    if above_cap.height:
        raise ValueError(
            f"{target.name}: rate at or above its cap {target.cap} ({target.unit}) for "
            f"{_years_by_series(above_cap, ['series_id'])}; raise the cap in "
            f"tasks.features.scenarios and say why in docs/metrics.md"
        )
    if not keep_zeros:
        rates = rates.filter(pl.col("y") != 0)
    return rates.sort("series_id", "year")


def country_rate_series(
    talent_pool_metrics: pl.DataFrame, demographic_drivers: pl.DataFrame, target: RateTarget
) -> pl.DataFrame:
    """``series_id, year, y`` of a country target (researchers, tertiary_students,
    adults_25plus_tertiary): its talent_pool_metrics pool / its cohort."""
    return rate_series(
        country_pools(talent_pool_metrics, target),
        cohorts(demographic_drivers, target, [ESTIMATES_VARIANT]),
        target,
    )


def china_researcher_inflow_rates(
    inflow_shares: pl.DataFrame, country_list: pl.DataFrame, demographic_drivers: pl.DataFrame
) -> pl.DataFrame:
    """``series_id`` (income group), ``year``, ``y``: Scopus moves into China per million
    people aged 20-24 in the origin group, 1998-2020.

    ``inflow_shares``: ``inflow_shares_by_income_group``'s table; ``country_list``: tidy
    ``world_bank.country_list``, the same list the inflows were classified with."""
    target = CHINA_RESEARCHER_INFLOWS
    members = income_group_members(country_list)
    return rate_series(
        researcher_inflow_pools(inflow_shares),
        group_cohorts(demographic_drivers, members, target, [ESTIMATES_VARIANT]),
        target,
    )


def china_inbound_student_rates(
    inbound_students: pl.DataFrame, demographic_drivers: pl.DataFrame
) -> pl.DataFrame:
    """``series_id`` (:data:`ALL_ORIGINS`), ``year``, ``y``: UIS inbound mobile students in
    China per million people aged 20-24 outside China (china_inbound_students table)."""
    target = CHINA_INBOUND_STUDENTS
    members = world_excluding_china_members(demographic_drivers)
    return rate_series(
        inbound_student_pools(inbound_students),
        group_cohorts(demographic_drivers, members, target, [ESTIMATES_VARIANT]),
        target,
    )


# -- scenario pools: rate forecasts × cohorts -----------------------------------------------


def _value_columns(frame: pl.DataFrame) -> list[str]:
    """``mean`` and every ``lo<L>``/``hi<L>`` bound of a forecast frame."""
    return [
        column
        for column in frame.columns
        if column == "mean" or (column[:2] in ("lo", "hi") and column[2:].isdigit())
    ]


def scenario_pools(
    rate_forecasts: pl.DataFrame, cohort_projections: pl.DataFrame, target: RateTarget
) -> pl.DataFrame:
    """Pools under each WPP variant: rate forecasts × that variant's cohort / ``target.per``.

    Parameters
    ----------
    rate_forecasts
        ``series_id, year, model, mean, lo80, hi80, lo95, hi95`` in rate units (any
        ``lo<L>``/``hi<L>`` pair is scaled alike; other columns pass through). With a
        ``variant`` column (a model that read WPP regressors forecasts per variant), each
        row meets its own variant's cohort; without one, each row is broadcast to every
        variant of ``cohort_projections``.
    cohort_projections
        :func:`cohorts` or :func:`group_cohorts` output (``series_id, variant, year,
        cohort``) covering every forecast year.
    target
        The :class:`RateTarget` forecast (for ``per``).

    Returns
    -------
    The forecast columns with ``mean`` and bounds in pool units (persons or moves), plus
    ``variant`` and ``scenario`` (= the variant's name), sorted by series, scenario, model,
    year. The cohort is treated as known under a variant, so a pool's interval reflects the
    rate's uncertainty only; WPP's own uncertainty shows as the spread between variants.

    Raises ValueError for missing forecast columns, a variant outside :data:`VARIANTS` or
    absent from the cohorts, and forecast years without a cohort (naming the series,
    variant and years).
    """
    lacking = sorted({"series_id", "year", "model", "mean"} - set(rate_forecasts.columns))
    if lacking:
        raise ValueError(
            f"{target.name}: rate forecasts lack {lacking}; they need the model contract's "
            "series_id, year, model, mean, lo<L>, hi<L>"
        )
    _check_variants(cohort_projections["variant"].unique().to_list(), "cohort projections")
    available = cohort_projections["variant"].unique().sort().to_list()
    if "variant" in rate_forecasts.columns:
        asked = rate_forecasts["variant"].unique().to_list()
        _check_variants(asked, f"rate forecasts of {target.name}")
        unmatched = sorted(set(asked) - set(available))
        if unmatched:
            raise ValueError(
                f"{target.name}: rate forecasts for variant(s) {unmatched} but cohort "
                f"projections only for {available}"
            )
        by_variant = rate_forecasts
    else:
        by_variant = rate_forecasts.join(
            pl.DataFrame({"variant": available}, schema={"variant": pl.String}), how="cross"
        )
    keys = ["series_id", "variant", "year"]
    joined = by_variant.with_columns(pl.col("year").cast(pl.Int32)).join(
        cohort_projections.select(COHORT_COLUMNS), on=keys, how="left"
    )
    missing = joined.filter(pl.col("cohort").is_null())
    if missing.height:
        raise ValueError(
            f"{target.name}: no cohort ({target.cohort}) for forecast years of "
            f"{_years_by_series(missing.unique(keys), ['series_id', 'variant'])}"
        )
    values = _value_columns(rate_forecasts)
    passed = [c for c in rate_forecasts.columns if c not in (*values, "variant")]
    return (
        joined.with_columns(
            *[(pl.col(c) * pl.col("cohort") / target.per).alias(c) for c in values],
            pl.col("variant").alias("scenario"),
        )
        .select(*passed, "variant", "scenario", *values)
        .sort("series_id", "scenario", "model", "year")
    )


# -- policy levers on China's intake ---------------------------------------------------------

#: The first year a lever can act: a policy decided now (late 2026) reaches the 2027 intake.
DEFAULT_LEVER_START_YEAR = 2027
#: Origin groups whose inflows the scholarship lever grows: the Chinese Government
#: Scholarship's main recipients, and the inbound-student series, which has no origins.
SCHOLARSHIP_SERIES = (LOW_INCOME, LOWER_MIDDLE_INCOME, ALL_ORIGINS)
#: Every series an intake pool may hold.
INTAKE_SERIES = (*INCOME_GROUPS, ALL_ORIGINS)


@dataclass(frozen=True)
class PolicyLevers:
    """A what-if on China's intake, applied to baseline pools by :func:`apply_levers`.

    Attributes
    ----------
    name
        The lever set's name; its rows get ``scenario = "<variant>+<name>"``.
    high_income_inflow_multiplier
        Scales researcher inflows from high-income origins in every year from
        ``start_year`` on: technology denial or tighter vetting of people from
        high-income countries (0.7 = 30 % fewer moves). 1.0 leaves them as forecast.
    scholarship_growth_rate
        Extra growth a year, compounded from ``start_year`` on, of the inflows from low- and
        lower-middle-income origins and of inbound students (all origins): an expansion of
        the Chinese Government Scholarship (0.03 = +3 % a year). In year ``t`` the pool is
        multiplied by ``(1 + rate) ** (t - start_year + 1)``: the first lever year already
        gets one year's growth. 0.0 leaves them as forecast.
    start_year
        First year the lever acts; earlier years keep the baseline exactly.
    """

    name: str
    high_income_inflow_multiplier: float = 1.0
    scholarship_growth_rate: float = 0.0
    start_year: int = DEFAULT_LEVER_START_YEAR

    def __post_init__(self) -> None:
        if not self.name or "+" in self.name:
            raise ValueError(f"lever name {self.name!r} must be non-empty and hold no '+'")
        if self.high_income_inflow_multiplier < 0:
            raise ValueError(
                f"lever {self.name!r}: high_income_inflow_multiplier "
                f"{self.high_income_inflow_multiplier} is negative; inflows cannot be"
            )
        if self.scholarship_growth_rate <= -1:
            raise ValueError(
                f"lever {self.name!r}: scholarship_growth_rate {self.scholarship_growth_rate} "
                "must be above -1 (-100 % a year)"
            )

    def factor(self) -> pl.Expr:
        """The multiplier of a pool row (needs ``series_id`` and ``year``)."""
        acting = pl.col("year") >= self.start_year
        years_of_growth = (pl.col("year") - self.start_year + 1).cast(pl.Float64)
        return (
            pl.when(acting & (pl.col("series_id") == HIGH_INCOME))
            .then(pl.lit(self.high_income_inflow_multiplier, dtype=pl.Float64))
            .when(acting & pl.col("series_id").is_in(SCHOLARSHIP_SERIES))
            .then(pl.lit(1.0 + self.scholarship_growth_rate).pow(years_of_growth))
            .otherwise(pl.lit(1.0))
        )


#: The published lever scenarios. Illustrative what-ifs, not estimates of any policy.
DEFAULT_LEVERS: tuple[PolicyLevers, ...] = (
    PolicyLevers(name="tech_denial", high_income_inflow_multiplier=0.7),
    PolicyLevers(name="scholarships", scholarship_growth_rate=0.03),
)


def apply_levers(
    intake_pools: pl.DataFrame, levers: PolicyLevers | Sequence[PolicyLevers] = DEFAULT_LEVERS
) -> pl.DataFrame:
    """Baseline intake pools and, for each lever set, a copy of them under the lever.

    ``intake_pools``: :func:`scenario_pools` output of the China intake targets (baseline
    rows only, ``scenario == variant``; ``series_id`` an origin group). Each lever set adds
    every baseline row again with ``scenario = "<variant>+<lever name>"`` and ``mean`` and
    bounds multiplied by :meth:`PolicyLevers.factor` (groups a lever does not touch are
    copied unchanged, so each scenario is complete). The baseline rows are kept as they
    are. Raises ValueError for rows that already carry a lever, or an unknown series."""
    lever_sets = [levers] if isinstance(levers, PolicyLevers) else list(levers)
    names = [lever.name for lever in lever_sets]
    if len(set(names)) < len(names):
        raise ValueError(f"lever names repeat: {names}; each scenario needs its own name")
    levered = intake_pools.filter(pl.col("scenario") != pl.col("variant"))
    if levered.height:
        raise ValueError(
            f"apply_levers takes baseline pools only; found scenarios "
            f"{sorted(levered['scenario'].unique())}"
        )
    unknown = sorted(set(intake_pools["series_id"]) - set(INTAKE_SERIES))
    if unknown:
        raise ValueError(
            f"apply_levers: series {unknown} are not origin groups the levers know "
            f"({list(INTAKE_SERIES)})"
        )
    values = _value_columns(intake_pools)
    frames = [intake_pools]
    for lever in lever_sets:
        factor = lever.factor()
        frames.append(
            intake_pools.with_columns(
                *[(pl.col(c) * factor).alias(c) for c in values],
                pl.format("{}+{}", pl.col("variant"), pl.lit(lever.name)).alias("scenario"),
            )
        )
    return pl.concat(frames).sort("series_id", "scenario", "model", "year")
