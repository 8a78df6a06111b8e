"""The ageing-scenario arithmetic of the forecasts: rates, bounds, cohorts, pools, levers.

Every talent pool is forecast as RATE × DENOMINATOR. Models (elsewhere) forecast a rate in
a bounded space (``logit(y / cap)``); the denominator is a WPP 2024 cohort under each
variant (Medium, Low, High), or, for China's intake, a world total that is itself
forecast, so that China's share can never make its intake exceed the world's. This
module holds only that arithmetic, as plain Polars functions:

- :data:`RATE_TARGETS`: what each forecast rate is (its pool, denominator, bound, unit).
- :func:`target_inputs`: a target's rate history and its denominators, from the
  pipeline's feature tables.
- :func:`evidence_caps`: each series' bound, from what the panel has shown
  (:class:`Bound`; docs/metrics.md, "Bounds", has the observations behind them).
- :func:`scenario_pools`: rate forecasts × denominators per variant, bounds included.
- :class:`PolicyLevers` and :func:`apply_levers`: what-if multipliers on China's intake.

The same denominators feed the history rate and the projection, so a history year's pool
is given back exactly by its rate × its denominator. docs/metrics.md ("Scenarios") holds
the definitions for readers. Never here: Prefect, files, settings, model fitting, or a
silently dropped row (a pool or forecast without its denominator raises).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from talentflow.tasks.features.demography import ESTIMATES_VARIANT, VARIANTS
from talentflow.tasks.features.intake import CHINA, HIGH_INCOME, INCOME_GROUP_LABELS, WORLD

#: Target families: the model selection picks one model per family. Families are forecast
#: in this order, because a share target's denominator is another family's forecast.
TALENT_POOL_FAMILY = "talent_pool"
STEM_DEGREES_FAMILY = "stem_degrees"
WORLD_MOBILITY_FAMILY = "world_mobility"
CHINA_INTAKE_FAMILY = "china_intake"
FAMILIES = (TALENT_POOL_FAMILY, STEM_DEGREES_FAMILY, WORLD_MOBILITY_FAMILY, CHINA_INTAKE_FAMILY)

#: World Bank income groups (labels as ``world_bank.country_list`` spells them, the same
#: labels intake.py gives ``origin_income_group``).
UPPER_MIDDLE_INCOME, LOWER_MIDDLE_INCOME, LOW_INCOME = INCOME_GROUP_LABELS[1:]
INCOME_GROUPS = INCOME_GROUP_LABELS
#: The one origin group of China's inbound students (UIS 26637 has no origin breakdown).
ALL_ORIGINS = "All origins"
#: The MPIDR database whose moves are forecast (the OpenAlex series is kept out: the two
#: databases disagree in level and trend and are never mixed).
INFLOW_DATABASE = "scopus"
#: A share series of researcher moves is ``<destination>|<origin income group>``.
SERIES_SEPARATOR = "|"

COHORT_COLUMNS = ["series_id", "variant", "year", "cohort"]
#: A share panel keeps the places large enough for their share to be more than noise: a
#: host that has held at least this many mobile students in some year, a destination
#: that has received at least this many researcher moves from the group in some year.
#: (A share of 1 move in 100,000 says nothing about how shares move, and its one-year
#: changes would dominate every scale-free error; China passes both.)
MIN_HOST_STUDENTS = 1_000
MIN_DESTINATION_MOVES = 20


@dataclass(frozen=True)
class Bound:
    """How a rate's upper bound (the cap of its logit) is set from the evidence.

    Attributes
    ----------
    rule
        ``"frontier"``: the highest rate any series reached in a year its denominator was
        at least ``min_denominator``, plus ``headroom``; a series that itself went higher
        (a small country) is bounded by its own record plus ``headroom``.
        ``"growth"``: for a series with no panel to compare with (a world total), its own
        record times the growth it showed over its whole history (record / first value),
        and at least its record plus ``headroom``: it may grow, beyond its record, by as
        much as it has grown so far, and no more.
    min_denominator
        ``"frontier"`` only: the denominator (persons; moves or students for a share) a
        series-year needs for its rate to set the frontier: a country of 22,000 adults
        with 3.6 % researchers says little about what China can reach.
    headroom
        How far above the evidence a rate may go (0.10: 10 %).
    ceiling
        A hard upper bound whatever the evidence (1.0 for a share of a whole).
    """

    rule: str = "frontier"
    min_denominator: float = 3e6
    headroom: float = 0.10
    ceiling: float | None = None

    def __post_init__(self) -> None:
        if self.rule not in ("frontier", "growth"):
            raise ValueError(f"bound rule {self.rule!r} is not 'frontier' or 'growth'")
        if self.headroom < 0 or self.min_denominator < 0:
            raise ValueError("a bound's headroom and min_denominator must not be negative")


@dataclass(frozen=True)
class RateTarget:
    """One forecast rate: ``y = pool / denominator × per``; a pool is ``y × denominator /
    per``.

    Attributes
    ----------
    name
        The target's name, as in the forecasts table's ``target``.
    family
        One of :data:`FAMILIES`; the model selection picks one model per family.
    rate, pool, cohort
        For readers: the rate's definition, what the pool counts (and its table), the
        denominator's name.
    unit, pool_unit
        The rate's and the pool's units.
    per
        Scale of the rate: 1 for a ratio, 10³ per thousand, 10⁶ per million.
    bound
        How the rate's cap is set (:class:`Bound`).
    cohort_columns
        The demographic_drivers columns whose sum is a WPP denominator (persons).
    denominator
        Instead of a WPP cohort: the target whose forecast pool is the denominator (a
        share of a world total). Its series are the share target's ``denominator_of``.
    host
        Share targets: the place whose series are published (the panel of every other
        host only teaches the model how shares move).
    age_structure
        How the age structure enters the target, for readers (docs/metrics.md).
    """

    name: str
    family: str
    rate: str
    pool: str
    cohort: str
    unit: str
    pool_unit: str
    per: float = 1.0
    bound: Bound = Bound()
    cohort_columns: tuple[str, ...] = ()
    denominator: str | None = None
    host: str | None = None
    age_structure: str = ""

    def __post_init__(self) -> None:
        if bool(self.cohort_columns) == bool(self.denominator):
            raise ValueError(
                f"{self.name}: a target has WPP cohort_columns or a denominator target, exactly one"
            )
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: family {self.family!r} not in {FAMILIES}")

    @property
    def is_share(self) -> bool:
        return self.denominator is not None

    def published(self, series_id: pl.Expr) -> pl.Expr:
        """Whether a series is published: every series, or a share panel's host's."""
        if self.host is None:
            return pl.lit(True)
        return (series_id == self.host) | series_id.str.starts_with(self.host + SERIES_SEPARATOR)

    def origin_group(self, series_id: pl.Expr) -> pl.Expr:
        """The published ``origin_group`` of a series (null for country targets)."""
        if self.family == CHINA_INTAKE_FAMILY:
            parts = series_id.str.split(SERIES_SEPARATOR)
            return (
                pl.when(parts.list.len() > 1).then(parts.list.get(1)).otherwise(pl.lit(ALL_ORIGINS))
            )
        if self.name == RESEARCHER_MOVES_ABROAD_NAME:
            return series_id
        return pl.lit(None, dtype=pl.String)

    def place(self, series_id: pl.Expr) -> pl.Expr:
        """The published ``country_iso3`` of a series: the host for China's intake, the
        world (WLD) for world totals, else the country itself."""
        if self.family == CHINA_INTAKE_FAMILY:
            return series_id.str.split(SERIES_SEPARATOR).list.first()
        if self.family == WORLD_MOBILITY_FAMILY:
            return pl.lit(WORLD)
        return series_id


RESEARCHER_MOVES_ABROAD_NAME = "researcher_moves_abroad"

RESEARCHERS = RateTarget(
    name="researchers",
    family=TALENT_POOL_FAMILY,
    rate="researchers in R&D / population aged 25-64, same country and year",
    pool="talent_pool_metrics `researchers` (World Bank SP.POP.SCIE.RD.P6 x SP.POP.TOTL)",
    cohort="population_25_64",
    cohort_columns=("population_25_64",),
    unit="researchers per person aged 25-64",
    pool_unit="persons",
    age_structure=(
        "Researchers are adults of working age: the rate is per person aged 25-64, so a "
        "shrinking working-age population shrinks the pool at a given rate. Everyone aged "
        "25-64 in 2050 is already born: the WPP variants cannot differ before 2050."
    ),
)
TERTIARY_STUDENTS = RateTarget(
    name="tertiary_students",
    family=TALENT_POOL_FAMILY,
    rate="UIS GER.5T8 / 100: tertiary students of any age / population aged 18-22",
    pool="talent_pool_metrics `tertiary_students_approx` (GER.5T8 x population 18-22 / 100)",
    cohort="population_18_22",
    cohort_columns=("population_18_22",),
    unit="ratio (gross enrolment ratio / 100; can exceed 1)",
    pool_unit="persons",
    age_structure=(
        "UIS divides enrolment by the five years after secondary school, 18-22 for "
        "China: the pool is the ratio times that cohort, so China's shrinking cohorts "
        "shrink its student numbers unless the ratio rises. Those aged 18-22 are born by "
        "2042 at the latest for a 2025 projection start: the variants differ from 2043."
    ),
)
ADULTS_25PLUS_TERTIARY = RateTarget(
    name="adults_25plus_tertiary",
    family=TALENT_POOL_FAMILY,
    rate="UIS EA.5T8.AG25T99 / 100: share of the population aged 25+ with tertiary",
    pool="talent_pool_metrics `adults_25plus_tertiary` (EA.5T8.AG25T99 x population 25+ / 100)",
    cohort="population_25_plus",
    # 25+ = 25-64 + 65+: both are sums of whole WPP groups interpolated on the same points,
    # so their sum is the 25-104 band talent.py multiplies the attainment share by.
    cohort_columns=("population_25_64", "population_65_plus"),
    unit="share of persons aged 25+",
    pool_unit="persons",
    bound=Bound(ceiling=1.0),
    age_structure=(
        "A share of all adults: the young, better-educated cohorts replace older ones, "
        "which the panel's path carries; the 25+ population is born before 2025 up to "
        "2049, so the variants cannot differ before 2050."
    ),
)
SE_DOCTORATES = RateTarget(
    name="se_doctorates",
    family=STEM_DEGREES_FAMILY,
    rate="NCSES S&E doctoral degrees (ISCED 8) awarded in the year per 1,000 people aged 25-34",
    pool="talent_pool_metrics `se_doctorates` (NCSES SEI tables S2-16 and SHED-12)",
    cohort="population_25_34",
    cohort_columns=("population_25_34",),
    unit="S&E doctorates per 1,000 people aged 25-34",
    pool_unit="degrees awarded in the year",
    per=1e3,
    age_structure=(
        "Most doctorates are awarded at 28-35: the rate is per person aged 25-34, whose "
        "numbers in China fall by about a third by 2050. Everyone aged 25-34 in 2050 is "
        "already born: the variants cannot differ before 2050."
    ),
)
SE_FIRST_DEGREES = RateTarget(
    name="se_first_degrees",
    family=STEM_DEGREES_FAMILY,
    rate="NCSES S&E first university degrees awarded in the year per 1,000 people aged 20-24",
    pool="talent_pool_metrics `se_first_degrees` (NCSES SEI tables S2-15 and SHED-11)",
    cohort="population_20_24",
    cohort_columns=("population_20_24",),
    unit="S&E first degrees per 1,000 people aged 20-24",
    pool_unit="degrees awarded in the year",
    per=1e3,
    age_structure=(
        "First degrees are mostly awarded at 21-24 (NCSES compares them with the "
        "24-year-olds): the rate is per person aged 20-24; the variants differ from 2045."
    ),
)
WORLD_MOBILE_STUDENTS = RateTarget(
    name="world_mobile_students",
    family=WORLD_MOBILITY_FAMILY,
    rate="UIS 26637 world total (internationally mobile tertiary students) per 1,000 "
    "people aged 18-22 in the world",
    pool="inbound_student_shares, host WLD (UIS's own world total, 2000-2022)",
    cohort="world_population_18_22",
    cohort_columns=("population_18_22",),
    unit="mobile students per 1,000 people aged 18-22 in the world",
    pool_unit="persons",
    per=1e3,
    bound=Bound(rule="growth"),
    age_structure=(
        "Mobile students are of college age: the world's total is a rate per person aged "
        "18-22 in the world; the variants differ from 2043."
    ),
)
RESEARCHER_MOVES_ABROAD = RateTarget(
    name=RESEARCHER_MOVES_ABROAD_NAME,
    family=WORLD_MOBILITY_FAMILY,
    rate="MPIDR Scopus researcher moves from the countries of a World Bank income group to "
    "any other country, per million people aged 25-64 in the group",
    pool="researcher_move_shares `moves_abroad`, database scopus, years 1998-2020",
    cohort="origin_group_population_25_64",
    cohort_columns=("population_25_64",),
    unit="moves abroad per million people aged 25-64 in the origin group",
    pool_unit="moves (persons)",
    per=1e6,
    bound=Bound(rule="growth"),
    age_structure=(
        "Researchers move at working age: the rate is per person aged 25-64 in the origin "
        "group; everyone aged 25-64 in 2050 is born, so the variants differ only after."
    ),
)
CHINA_INBOUND_STUDENTS = RateTarget(
    name="china_inbound_students",
    family=CHINA_INTAKE_FAMILY,
    rate="UIS 26637: a host's share of the world's internationally mobile tertiary students "
    "(every host is a series; China's is published)",
    pool="inbound_student_shares (UIS 26637 per host, over UIS's world total)",
    cohort="world_mobile_students",
    denominator=WORLD_MOBILE_STUDENTS.name,
    host=CHINA,
    unit="share of the world's mobile students",
    pool_unit="persons",
    bound=Bound(min_denominator=0.0, ceiling=1.0),
    age_structure=(
        "China's intake is its share of the world's mobile students times their number, "
        "which follows the world's 18-22 cohort: ageing in China itself does not shrink "
        "it, ageing elsewhere does."
    ),
)
CHINA_RESEARCHER_INFLOWS = RateTarget(
    name="china_researcher_inflows",
    family=CHINA_INTAKE_FAMILY,
    rate="MPIDR Scopus: a destination's share of the researcher moves out of a World Bank "
    "income group (every destination is a series; China's are published)",
    pool="researcher_move_shares (moves into the destination over moves abroad from the group)",
    cohort="researcher_moves_abroad",
    denominator=RESEARCHER_MOVES_ABROAD.name,
    host=CHINA,
    unit="share of the group's researcher moves abroad",
    pool_unit="moves (persons)",
    bound=Bound(min_denominator=0.0, ceiling=1.0),
    age_structure=(
        "China's intake from a group is its share of the group's researchers moving "
        "abroad times their number, which follows the group's 25-64 population."
    ),
)

#: Every forecast rate, by name, in :data:`FAMILIES` order.
RATE_TARGETS: dict[str, RateTarget] = {
    target.name: target
    for target in (
        RESEARCHERS,
        TERTIARY_STUDENTS,
        ADULTS_25PLUS_TERTIARY,
        SE_DOCTORATES,
        SE_FIRST_DEGREES,
        WORLD_MOBILE_STUDENTS,
        RESEARCHER_MOVES_ABROAD,
        CHINA_INBOUND_STUDENTS,
        CHINA_RESEARCHER_INFLOWS,
    )
}
#: Country targets and the talent_pool_metrics metric that is their pool.
POOL_METRICS = {
    RESEARCHERS.name: "researchers",
    TERTIARY_STUDENTS.name: "tertiary_students_approx",
    ADULTS_25PLUS_TERTIARY.name: "adults_25plus_tertiary",
    SE_DOCTORATES.name: "se_doctorates",
    SE_FIRST_DEGREES.name: "se_first_degrees",
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


def world_student_pools(student_shares: pl.DataFrame) -> pl.DataFrame:
    """``series_id`` (WLD), ``year``, ``pool``: UIS's world total of mobile students."""
    return (
        student_shares.filter(pl.col("host_iso3") == WORLD)
        .select(pl.col("host_iso3").alias("series_id"), "year", pl.col("students").alias("pool"))
        .sort("year")
    )


def moves_abroad_pools(move_shares: pl.DataFrame) -> pl.DataFrame:
    """``series_id`` (income group), ``year``, ``pool``: researcher moves abroad from each
    income group's countries (researcher_move_shares)."""
    return (
        move_shares.group_by("origin_income_group", "year")
        .agg(pl.col("moves_abroad").first().alias("pool"))
        .select(pl.col("origin_income_group").alias("series_id"), "year", "pool")
        .sort("series_id", "year")
    )


def host_share_rates(student_shares: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every host's share of the world's mobile students (``series_id`` = host, ``year``,
    ``y``) and the history denominators (``series_id, variant, year, cohort``: the world
    total of every observed year, for every host, under every variant: the past has one).
    A host's forecast starts after its own last report, so the world totals it is
    multiplied by are the observed ones until they run out, the forecast ones after."""
    hosts = student_shares.filter(
        (pl.col("host_iso3") != WORLD)
        & (pl.col("students").max().over("host_iso3") >= MIN_HOST_STUDENTS)
    )
    rates = hosts.select(pl.col("host_iso3").alias("series_id"), "year", pl.col("share").alias("y"))
    world = student_shares.filter(pl.col("host_iso3") == WORLD).select(
        "year", pl.col("students").alias("cohort")
    )
    denominators = rates.select("series_id").unique().join(world, how="cross")
    return rates.sort("series_id", "year"), _every_variant(denominators)


def destination_share_rates(move_shares: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every destination's share of the moves abroad from each income group
    (``series_id`` = ``<destination>|<group>``, ``year``, ``y``) and the history
    denominators (the group's moves abroad in every observed year, under every variant)."""
    series = pl.concat_str("destination_iso3", pl.lit(SERIES_SEPARATOR), "origin_income_group")
    kept = move_shares.filter(
        pl.col("moves").max().over("destination_iso3", "origin_income_group")
        >= MIN_DESTINATION_MOVES
    )
    rates = kept.select(series.alias("series_id"), "year", pl.col("share").alias("y"))
    totals = move_shares.group_by("origin_income_group", "year").agg(
        pl.col("moves_abroad").first().alias("cohort")
    )
    denominators = (
        kept.select(series.alias("series_id"), "origin_income_group")
        .unique()
        .join(totals, on="origin_income_group")
        .select("series_id", "year", "cohort")
    )
    return rates.sort("series_id", "year"), _every_variant(denominators)


def _every_variant(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (``series_id, year, cohort``) repeated under every WPP variant."""
    return (
        frame.join(pl.DataFrame({"variant": list(VARIANTS)}), how="cross")
        .select(COHORT_COLUMNS)
        .with_columns(pl.col("year").cast(pl.Int32), pl.col("cohort").cast(pl.Float64))
        .sort("series_id", "variant", "year")
    )


def denominator_series(target: RateTarget) -> pl.Expr:
    """For a share target: the series of its denominator target each series divides by
    (the world for host shares, the origin group for destination shares)."""
    if not target.is_share:
        raise ValueError(f"{target.name} is not a share target")
    parts = pl.col("series_id").str.split(SERIES_SEPARATOR)
    return pl.when(parts.list.len() > 1).then(parts.list.get(1)).otherwise(pl.lit(WORLD))


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
    if not target.cohort_columns:
        raise ValueError(f"{target.name!r} divides by another target's forecast, not a cohort")
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
    ``origin_income_group``)."""
    return (
        country_list.filter(
            pl.col("country_iso3").is_not_null() & pl.col("income_level").is_in(INCOME_GROUPS)
        )
        .select("country_iso3", pl.col("income_level").alias("series_id"))
        .unique()
        .sort("series_id", "country_iso3")
    )


def world_members(demographic_drivers: pl.DataFrame) -> pl.DataFrame:
    """``country_iso3, series_id``: every WPP place, in one group :data:`WORLD`."""
    return (
        demographic_drivers.select("country_iso3", pl.lit(WORLD).alias("series_id"))
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


# -- rates: pool / denominator ----------------------------------------------------------------


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
    rows are used (the past has one variant).

    A rate of exactly 0 is left out unless ``keep_zeros``: ``logit(0)`` has no value, and on
    the mirror most zeros are missing-value codes. The few true zeros (no Scopus move from
    low-income origins in 1999 and 2000) become gaps, which the models accept.

    Raises ValueError naming the series and years when a pool has no cohort or a cohort
    of 0 or less: a row is never dropped for want of a denominator."""
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
    if not keep_zeros:
        rates = rates.filter(pl.col("y") != 0)
    return rates.sort("series_id", "year")


def target_inputs(
    target: RateTarget, features: dict[str, pl.DataFrame], country_list: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A target's rate history (``series_id, year, y``) and its denominators
    (``series_id, variant, year, cohort``) from the pipeline's feature tables
    (``talent_pool_metrics``, ``demographic_drivers``, ``inbound_student_shares``,
    ``researcher_move_shares``) and the World Bank country list (income groups).

    WPP denominators cover every year to 2100 under every variant; a share target's
    denominators are the observed world totals of its history years only: their future is
    the denominator target's forecast (:func:`attach_denominators`)."""
    drivers = features["demographic_drivers"]
    if target.name == WORLD_MOBILE_STUDENTS.name:
        cohort = group_cohorts(drivers, world_members(drivers), target)
        return rate_series(
            world_student_pools(features["inbound_student_shares"]), cohort, target
        ), cohort
    if target.name == RESEARCHER_MOVES_ABROAD.name:
        cohort = group_cohorts(drivers, income_group_members(country_list), target)
        pools = moves_abroad_pools(features["researcher_move_shares"])
        return rate_series(pools, cohort, target), cohort
    if target.name == CHINA_INBOUND_STUDENTS.name:
        return host_share_rates(features["inbound_student_shares"])
    if target.name == CHINA_RESEARCHER_INFLOWS.name:
        return destination_share_rates(features["researcher_move_shares"])
    cohort = cohorts(drivers, target)
    return rate_series(
        country_pools(features["talent_pool_metrics"], target), cohort, target
    ), cohort


def attach_denominators(
    target: RateTarget, history_denominators: pl.DataFrame, denominator_pools: pl.DataFrame
) -> pl.DataFrame:
    """A share target's denominators to the horizon: its observed ones, then the
    denominator target's forecast pools (``series_id, variant, year, cohort`` and its
    interval bounds as ``cohort_lo80 … cohort_hi95``: the published forecast of the
    world total or group total) for every later year, mapped onto each share series
    (:func:`denominator_series`)."""
    series = (
        history_denominators.select("series_id")
        .unique()
        .with_columns(denominator_series(target).alias("_denominator"))
    )
    last = history_denominators.group_by("series_id").agg(pl.col("year").max().alias("_last"))
    future = (
        series.join(
            denominator_pools.rename({"series_id": "_denominator"}), on="_denominator", how="inner"
        )
        .join(last, on="series_id")
        .filter(pl.col("year") > pl.col("_last"))
        .drop("_denominator", "_last")
    )
    return pl.concat(
        [history_denominators.select(COHORT_COLUMNS), future], how="diagonal_relaxed"
    ).sort("series_id", "variant", "year")


# -- bounds from evidence ---------------------------------------------------------------------

BOUNDS_SCHEMA = {
    "series_id": pl.String,
    "cap": pl.Float64,
    "record": pl.Float64,  # the series' own highest rate
    "frontier": pl.Float64,  # the highest rate among series-years large enough to count
    "frontier_series": pl.String,
    "frontier_year": pl.Int32,
}


def evidence_caps(
    rates: pl.DataFrame, denominators: pl.DataFrame, target: RateTarget
) -> pl.DataFrame:
    """Each series' upper bound (``cap``, in rate units) from the evidence, by the
    target's :class:`Bound`, with the observations behind it (:data:`BOUNDS_SCHEMA`).

    Every cap lies strictly above the series' own record, so every observed rate fits
    the logit; a ``ceiling`` (a share's 1.0) is never passed, and a record at or above
    it is refused."""
    bound = target.bound
    medium = denominators.filter(pl.col("variant") == ESTIMATES_VARIANT).drop("variant")
    joined = rates.join(medium, on=["series_id", "year"], how="left")
    records = joined.group_by("series_id").agg(
        pl.col("y").max().alias("record"),
        pl.col("y").sort_by("year").first().alias("first"),
    )
    if bound.ceiling is not None:
        over = records.filter(pl.col("record") >= bound.ceiling)
        if over.height:
            raise ValueError(
                f"{target.name}: rates at or above the ceiling {bound.ceiling} for "
                f"{over['series_id'].to_list()[:5]}: the data or the target is wrong"
            )
    if bound.rule == "frontier":
        large = joined.filter(pl.col("cohort") >= bound.min_denominator)
        pool = large if large.height else joined
        best = pool.sort("y", descending=True).row(0, named=True)
        frontier = (
            float(best["y"]),
            str(best["series_id"]),
            int(best["year"]),
        )
        caps = records.with_columns(
            (pl.max_horizontal(pl.col("record"), pl.lit(frontier[0])) * (1 + bound.headroom)).alias(
                "cap"
            ),
            pl.lit(frontier[0]).alias("frontier"),
            pl.lit(frontier[1]).alias("frontier_series"),
            pl.lit(frontier[2], dtype=pl.Int32).alias("frontier_year"),
        )
    else:
        growth = pl.max_horizontal(pl.col("record") / pl.col("first"), pl.lit(1 + bound.headroom))
        caps = records.with_columns(
            (pl.col("record") * growth).alias("cap"),
            pl.col("record").alias("frontier"),
            pl.col("series_id").alias("frontier_series"),
            pl.lit(None, dtype=pl.Int32).alias("frontier_year"),
        )
    if bound.ceiling is not None:
        # never past the ceiling, and always above the record (the logit needs y < cap)
        caps = caps.with_columns(
            pl.min_horizontal(pl.col("cap"), pl.lit(bound.ceiling)).alias("cap")
        )
    return caps.select(list(BOUNDS_SCHEMA)).cast(BOUNDS_SCHEMA).sort("series_id")


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
