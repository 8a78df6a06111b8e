"""Forecast talent pools and China's intake to 2050: the model zoo, rolling-origin
backtests, selection per target family, and pools under the WPP variants and policy levers.

Every target is a RATE forecast in a bounded space (``tasks.features.scenarios``) and
multiplied by WPP cohorts. The plain functions here shape a target into the models' long
history (:func:`forecast_job`), build each model of the zoo for that target
(:func:`model_factories`), backtest one model (:func:`backtest_one`), fit it on all the
data and forecast every variant (:func:`forecast_one`), score and choose
(:func:`score_family`) and write the published rows (:func:`forecast_rows`). The Prefect
tasks at the bottom wrap them one step each; ``flows/forecasting.py`` runs one task per
target and model (never one per series) through the flow's task runner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from talentflow.core.facts import COVERAGE_GOAL, MASE_GOAL, MODEL_NAMES
from talentflow.core.settings import get_settings
from talentflow.core.storage import atomic_write_bytes, model_artefacts_dir
from talentflow.core.tables import FORECASTS_SCHEMA
from talentflow.models.backtest import (
    Backtest,
    backtest_metrics,
    interval_calibration,
    naive_scale,
    rolling_origin_forecasts,
    select_model,
    summary_by_model,
)
from talentflow.models.base import Forecaster
from talentflow.models.baselines import Drift, Naive
from talentflow.models.ensemble import Ensemble
from talentflow.models.global_model import GlobalForecaster
from talentflow.models.prophet_model import ProphetForecaster
from talentflow.models.statsforecast_models import ETS, Theta
from talentflow.models.transforms import Transformed
from talentflow.tasks.features.demography import ESTIMATES_VARIANT, VARIANTS
from talentflow.tasks.features.scenarios import (
    CHINA_INBOUND_STUDENTS,
    CHINA_INTAKE_FAMILY,
    CHINA_RESEARCHER_INFLOWS,
    DEFAULT_LEVERS,
    RATE_TARGETS,
    PolicyLevers,
    RateTarget,
    apply_levers,
    china_inbound_student_rates,
    china_researcher_inflow_rates,
    cohorts,
    country_rate_series,
    group_cohorts,
    income_group_members,
    scenario_pools,
    world_excluding_china_members,
)

LEVELS = (80, 95)
HORIZONS = range(1, 6)
N_ORIGINS = 5
#: The known driver every exog-reading model gets: the yearly growth of the target's own
#: cohort (e.g. the 20-24 population for enrolment), from WPP, per variant.
DRIVER = "cohort_growth"
#: Prophet's simulated futures per forecast: 300 keep the 95 % bounds' sampling error
#: small beside their width and make a backtest of hundreds of series affordable.
PROPHET_SAMPLES = 300
#: A series silent for longer than this before the vintage is not forecast: a country
#: that stopped reporting in the 1980s would otherwise get a "forecast" of the 1990s.
MAX_SILENT_YEARS = 10
#: China's intake targets are forecast per origin group and placed on the host.
HOST = "CHN"


@dataclass(frozen=True)
class ForecastJob:
    """One target's inputs: the rate history (``series_id, year, y``, already cut at the
    run's vintage and to series with enough years) and its cohorts under every variant
    (``series_id, variant, year, cohort``) from the first history year to the horizon."""

    target: RateTarget
    history: pl.DataFrame
    cohorts: pl.DataFrame

    @property
    def space(self) -> str:
        """Counts per cohort are forecast in log1p space (zeros possible, no upper
        bound that binds); talent-pool rates in logit space below their cap."""
        return "log1p" if self.target.family == CHINA_INTAKE_FAMILY else "logit"

    def exog(self, variant: str = ESTIMATES_VARIANT) -> pl.DataFrame:
        """The driver frame of one WPP variant (``series_id, year, cohort_growth``)."""
        return (
            self.cohorts.filter(pl.col("variant") == variant)
            .sort("series_id", "year")
            .select(
                "series_id",
                "year",
                (pl.col("cohort") / pl.col("cohort").shift(1).over("series_id") - 1)
                .fill_null(0.0)
                .alias(DRIVER),
            )
        )


def forecast_job(
    target: RateTarget,
    rates: pl.DataFrame,
    cohorts: pl.DataFrame,
    *,
    vintage: int,
    min_observed_years: int,
    max_silent_years: int = MAX_SILENT_YEARS,
) -> ForecastJob:
    """``rates`` (``series_id, year, y``) cut at ``vintage``, keeping series with at
    least ``min_observed_years`` observed years and an observation in the last
    ``max_silent_years`` before ``vintage``, with ``cohorts`` of the kept series."""
    history = (
        rates.filter(pl.col("year") <= vintage)
        .filter(
            (pl.len().over("series_id") >= min_observed_years)
            & (pl.col("year").max().over("series_id") >= vintage - max_silent_years)
        )
        .with_columns(pl.col("year").cast(pl.Int32), pl.col("y").cast(pl.Float64))
        .sort("series_id", "year")
    )
    if history.is_empty():
        raise ValueError(
            f"{target.name}: no series has {min_observed_years} observed years up to {vintage}"
        )
    kept = cohorts.filter(
        pl.col("series_id").is_in(history["series_id"].unique().implode())
        & (pl.col("year") >= history["year"].min() - 1)
    ).with_columns(pl.col("year").cast(pl.Int32))
    return ForecastJob(target, history, kept)


def model_factories(
    job: ForecastJob, names: Sequence[str] = MODEL_NAMES
) -> dict[str, Callable[[], Forecaster]]:
    """Each model of the zoo as a factory for ``job``'s target.

    Every model but Prophet forecasts the transformed rate (:attr:`ForecastJob.space`),
    so no interval crosses zero or the rate's cap. Prophet on a bounded rate uses its own
    logistic growth with the cap and a floor of 0 (what Prophet offers for saturating
    series); on an intake rate it forecasts in log1p space like the others. Prophet and
    the global model read the cohort's growth under each WPP variant; the ensemble is the
    quantile average of ETS, Theta and drift (M4's lesson: combinations of simple
    methods are hard to beat)."""
    space, cap = job.space, job.target.cap if job.space == "logit" else None

    def bounded(model: Forecaster) -> Forecaster:
        return Transformed(model, space, cap=cap)

    builders: dict[str, Callable[[], Forecaster]] = {
        "naive": lambda: bounded(Naive()),
        "drift": lambda: bounded(Drift()),
        "ets": lambda: bounded(ETS()),
        "theta": lambda: bounded(Theta()),
        "ensemble": lambda: Ensemble(
            [bounded(ETS()), bounded(Theta()), bounded(Drift())], name="ensemble"
        ),
        "prophet": (
            (
                lambda: ProphetForecaster(
                    PROPHET_SAMPLES, growth="logistic", cap=cap, floor=0.0, regressors=[DRIVER]
                )
            )
            if space == "logit"
            else (lambda: bounded(ProphetForecaster(PROPHET_SAMPLES, regressors=[DRIVER])))
        ),
        "global": lambda: bounded(GlobalForecaster(transform="none", drivers=[DRIVER])),
    }
    unknown = sorted(set(names) - set(builders))
    if unknown:
        raise ValueError(f"unknown models {unknown}; the zoo has {sorted(builders)}")
    return {name: builders[name] for name in names}


def min_train_observations(job: ForecastJob, names: Sequence[str]) -> int:
    """The training years every model of ``names`` needs: the backtest scores each model
    on the same series and origins, so the most demanding model sets the bar."""
    factories = model_factories(job, names)
    return max(2, *(factory().min_observations for factory in factories.values()))


def backtest_origins(job: ForecastJob, names: Sequence[str]) -> list[int]:
    from talentflow.models.backtest import default_origins

    return default_origins(
        job.history, n_origins=N_ORIGINS, min_train_observations=min_train_observations(job, names)
    )


def backtest_one(job: ForecastJob, name: str, origins: Sequence[int], min_train: int) -> Backtest:
    """One model's rolling-origin backtest on ``job``, in rate units."""
    return rolling_origin_forecasts(
        job.history,
        model_factories(job, [name]),
        origins=origins,
        horizons=HORIZONS,
        levels=LEVELS,
        exog=job.exog(),
        min_train_observations=min_train,
    )


def in_pool_units(job: ForecastJob, forecasts: pl.DataFrame) -> pl.DataFrame:
    """Backtest forecasts of the rate turned into the published quantity: actual, mean and
    bounds × the Medium cohort of the year / ``per``, with MASE's scale recomputed on the
    pool's own history before each origin. (The cohort of a past year is WPP 2024's
    estimate, which a forecaster at that origin did not have: the documented exception.)"""
    medium = job.cohorts.filter(pl.col("variant") == ESTIMATES_VARIANT).select(
        "series_id", "year", (pl.col("cohort") / job.target.per).alias("_cohort")
    )
    pool_history = job.history.join(medium, on=["series_id", "year"], how="inner").select(
        "series_id", "year", (pl.col("y") * pl.col("_cohort")).alias("y")
    )
    scales = pl.concat(
        [
            naive_scale(pool_history.filter(pl.col("year") <= origin)).with_columns(
                pl.lit(origin, dtype=forecasts.schema["origin"]).alias("origin")
            )
            for origin in forecasts["origin"].unique().to_list()
        ]
    )
    values = ["actual", "mean", *[f"{side}{level}" for level in LEVELS for side in ("lo", "hi")]]
    return (
        forecasts.drop("scale")
        .join(medium, on=["series_id", "year"], how="inner")
        .with_columns(*[pl.col(c) * pl.col("_cohort") for c in values])
        .drop("_cohort")
        .join(scales, on=["origin", "series_id"], how="left")
    )


def observed_pools(job: ForecastJob) -> pl.DataFrame:
    """The history a target's forecasts continue, in pool units (rate × the Medium cohort
    / ``per``): ``target, country_iso3, origin_group, year, value``, for the outlook."""
    intake = job.target.family == CHINA_INTAKE_FAMILY
    medium = job.cohorts.filter(pl.col("variant") == ESTIMATES_VARIANT)
    return job.history.join(medium, on=["series_id", "year"], how="inner").select(
        pl.lit(job.target.name).alias("target"),
        (pl.lit(HOST) if intake else pl.col("series_id")).alias("country_iso3"),
        (pl.col("series_id") if intake else pl.lit(None, dtype=pl.String)).alias("origin_group"),
        "year",
        (pl.col("y") * pl.col("cohort") / job.target.per).alias("value"),
    )


def forecast_one(
    job: ForecastJob, name: str, until_year: int
) -> tuple[pl.DataFrame, dict[str, bytes]]:
    """``name`` fitted on the whole history and forecast to ``until_year``: rate
    forecasts with a ``variant`` column (one prediction per WPP variant for a model that
    reads the drivers, else the same forecast under every variant), and the model's
    artefacts."""
    model = model_factories(job, [name])[name]()
    model.fit(job.history, exog=job.exog())
    horizon = until_year - int(
        job.history.group_by("series_id").agg(pl.col("year").max())["year"].min()
    )
    fixed = None if model.uses_exog else model.predict(horizon, levels=LEVELS)
    frames = []
    for variant in VARIANTS:
        # A model that reads no drivers makes one forecast, the same under every variant.
        predicted = (
            fixed
            if fixed is not None
            else model.predict(horizon, levels=LEVELS, exog=job.exog(variant))
        )
        frames.append(
            predicted.filter(pl.col("year") <= until_year).with_columns(
                pl.lit(name).alias("model"), pl.lit(variant).alias("variant")
            )
        )
    rates = pl.concat(frames)
    return rates, model.artefacts()


#: Calibration only widens, and at most fourfold: a few calm origins cannot justify
#: intervals narrower than the model's own (measured: China's inbound students, one
#: series, narrowed on 2012-2016 and then missed the 2020-2023 drop), and an interval of
#: zero width (factor inf) is widened by the largest factor instead.
CALIBRATION_BOUNDS = (1.0, 4.0)


def calibration_factors(forecasts: pl.DataFrame) -> pl.DataFrame:
    """``model, horizon, level, factor``: how much each model's half-intervals must be
    scaled, per horizon, for its backtest intervals to have covered their nominal share
    (``models.backtest.interval_calibration``), within :data:`CALIBRATION_BOUNDS`."""
    low, high = CALIBRATION_BOUNDS
    return interval_calibration(forecasts, LEVELS).select(
        "model",
        "horizon",
        "level",
        pl.col("factor").fill_nan(high).clip(low, high).alias("factor"),
    )


def widened(frame: pl.DataFrame, factors: pl.DataFrame, point: str) -> pl.DataFrame:
    """``frame``'s intervals scaled around ``point`` by the factor of its model and
    ``horizon`` (years beyond the backtested ones take the longest horizon's factor;
    a model without factors keeps its intervals)."""
    longest = int(factors["horizon"].max()) if factors.height else 1
    wide = factors.pivot(on="level", index=["model", "horizon"], values="factor")
    wide = wide.rename({str(level): f"_f{level}" for level in LEVELS})
    keyed = frame.with_columns(
        pl.col("horizon").clip(1, longest).cast(pl.Int32).alias("_horizon")
    ).join(wide.rename({"horizon": "_horizon"}), on=["model", "_horizon"], how="left")
    centre = pl.col(point)
    return keyed.with_columns(
        *[
            expression
            for level in LEVELS
            for expression in (
                (
                    centre - pl.col(f"_f{level}").fill_null(1.0) * (centre - pl.col(f"lo{level}"))
                ).alias(f"lo{level}"),
                (
                    centre + pl.col(f"_f{level}").fill_null(1.0) * (pl.col(f"hi{level}") - centre)
                ).alias(f"hi{level}"),
            )
        ]
    ).drop("_horizon", *[f"_f{level}" for level in LEVELS])


def held_out_coverage(forecasts: pl.DataFrame) -> pl.DataFrame:
    """``model, calibrated_coverage80, calibrated_coverage95``: the coverage of
    calibrated intervals measured honestly — factors estimated on the earlier half of the
    origins, coverage counted on the later half, which the factors never saw."""
    origins = sorted(forecasts["origin"].unique().to_list())
    split = origins[(len(origins) + 1) // 2 - 1]
    early = forecasts.filter(pl.col("origin") <= split)
    late = widened(forecasts.filter(pl.col("origin") > split), calibration_factors(early), "mean")
    return late.group_by("model").agg(
        *[
            (
                (pl.col("actual") >= pl.col(f"lo{level}"))
                & (pl.col("actual") <= pl.col(f"hi{level}"))
            )
            .mean()
            .alias(f"calibrated_coverage{level}")
            for level in LEVELS
        ]
    )


def in_goal(coverage80: float) -> bool:
    """Whether an 80 % interval's coverage is inside :data:`COVERAGE_GOAL`."""
    low, high = COVERAGE_GOAL
    return low <= coverage80 <= high


@dataclass(frozen=True)
class FamilyScores:
    metrics: pl.DataFrame  # backtest_metrics columns per target, model and horizon
    selection: pl.DataFrame  # model_selection columns, one row per target
    family_choice: str
    factors: dict[str, pl.DataFrame]  # target -> calibration factors of every model


def score_family(family: str, backtests: dict[str, pl.DataFrame]) -> FamilyScores:
    """Score every target of ``family`` (target → its backtest forecasts in pool units,
    every model) and choose ONE model for the family from the pooled scores; then say,
    per target, how that model did against naive and the interval goals."""
    per_target = pl.concat(
        [
            backtest_metrics(forecasts).with_columns(pl.lit(target).alias("target"))
            for target, forecasts in backtests.items()
        ]
    )
    pooled = backtest_metrics(pl.concat(list(backtests.values())))
    choice = select_model(pooled)
    chosen = choice["selected_model"].item()
    rows, factors = [], {}
    for target, forecasts in backtests.items():
        factors[target] = calibration_factors(forecasts)
        summary = summary_by_model(per_target.filter(pl.col("target") == target))
        model = summary.filter(pl.col("model") == chosen).row(0, named=True)
        naive = summary.filter(pl.col("model") == "naive").row(0, named=True)
        improvement = 1 - model["mase"] / naive["mase"] if naive["mase"] else None
        held_out = held_out_coverage(forecasts.filter(pl.col("model") == chosen)).row(0, named=True)
        coverage80 = held_out["calibrated_coverage80"]
        meets_mase = improvement is not None and improvement >= MASE_GOAL
        meets_coverage = coverage80 is not None and in_goal(coverage80)
        rows.append(
            {
                "family": family,
                "target": target,
                "selected_model": chosen,
                "mase": model["mase"],
                "naive_mase": naive["mase"],
                "mase_improvement": improvement,
                "coverage80": model["coverage80"],
                "coverage95": model["coverage95"],
                "calibrated_coverage80": coverage80,
                "calibrated_coverage95": held_out["calibrated_coverage95"],
                "meets_mase_goal": meets_mase,
                "meets_coverage_goal": meets_coverage,
                "reason": target_reason(
                    chosen,
                    improvement,
                    (model["coverage80"], model["coverage95"]),
                    (coverage80, held_out["calibrated_coverage95"]),
                    choice["reason"].item(),
                ),
            }
        )
    return FamilyScores(
        per_target.with_columns(pl.lit(family).alias("family")),
        pl.DataFrame(rows),
        chosen,
        factors,
    )


def target_reason(
    chosen: str,
    improvement: float | None,
    raw: tuple[float | None, float | None],
    calibrated: tuple[float | None, float | None],
    family_reason: str,
) -> str:
    """Why a target publishes ``chosen``, and which goal it misses and why. ``raw`` are
    the model's own 80 %/95 % coverages in the backtest; ``calibrated`` those of the
    published (calibrated) intervals on held-out origins."""
    parts = []
    if improvement is None:
        parts.append("naive's MASE is 0 here: no improvement measurable, MASE goal missed")
    elif improvement >= MASE_GOAL:
        parts.append(f"MASE goal met: {improvement:.0%} better than naive")
    elif improvement >= 0:
        parts.append(
            f"MASE goal missed: only {improvement:.0%} better than naive (goal "
            f"{MASE_GOAL:.0%}): over "
            "1-5 years these series move much like random walks, so little beats the last value"
        )
    else:
        parts.append(
            f"MASE goal missed: {-improvement:.0%} worse than naive on this target (the "
            "family's pooled choice does not win on every target)"
        )
    (raw80, raw95), (cal80, cal95) = raw, calibrated
    own = f"the model's own 80 % interval covered {raw80:.0%} (95 %: {raw95:.0%})"
    if cal80 is None:
        parts.append(f"{own}; calibrated coverage not measurable (too few origins)")
    elif cal80 < COVERAGE_GOAL[0]:
        parts.append(
            f"coverage goal missed: {own}; calibrated on earlier origins, it covered "
            f"{cal80:.0%} of later ones (95 %: {cal95:.0%}): errors grew faster than in "
            "the origins the factors were estimated on (breaks, revisions, few origins)"
        )
    elif cal80 > COVERAGE_GOAL[1]:
        parts.append(
            f"coverage goal missed, intervals too wide: {own}; calibrated, {cal80:.0%} of "
            f"later origins (95 %: {cal95:.0%})"
        )
    else:
        parts.append(
            f"coverage goal met: {own}; calibrated on earlier origins, it covered "
            f"{cal80:.0%} of later ones (95 %: {cal95:.0%})"
        )
    return f"{'; '.join(parts)}. Family choice: {family_reason}"


def forecast_rows(
    job: ForecastJob,
    rates: pl.DataFrame,
    *,
    selected_model: str | None,
    run_id: str,
    vintage: int,
    created_at: datetime,
    factors: pl.DataFrame | None = None,
    levers: Sequence[PolicyLevers] = DEFAULT_LEVERS,
) -> pl.DataFrame:
    """The published ``forecasts`` rows of one target: every model's rate forecast ×
    each variant's cohort (and, for China's intake, each policy lever), its intervals
    calibrated by ``factors`` (:func:`calibration_factors`) where given, marked
    ``is_selected`` for the family's chosen model, in :data:`FORECASTS_SCHEMA`."""
    pools = scenario_pools(rates, job.cohorts, job.target)
    if factors is not None:
        # Each model's intervals, scaled by what its backtest says they needed.
        last = job.history.group_by("series_id").agg(pl.col("year").max().alias("_last"))
        pools = widened(
            pools.join(last, on="series_id").with_columns(
                (pl.col("year") - pl.col("_last")).alias("horizon")
            ),
            factors,
            "mean",
        ).drop("_last", "horizon")
        # Widening happens in pool units, so a bound could pass what the rate's cap
        # allows (e.g. more students than twice the 20-24 cohort): it stops there.
        ceiling = job.cohorts.select(
            "series_id",
            "variant",
            "year",
            (pl.col("cohort") * job.target.cap / job.target.per).alias("_ceiling"),
        )
        pools = (
            pools.join(ceiling, on=["series_id", "variant", "year"], how="left")
            .with_columns(
                pl.col(c).clip(upper_bound=pl.col("_ceiling"))
                for c in ("mean", "lo80", "hi80", "lo95", "hi95")
            )
            .drop("_ceiling")
        )
    if job.target.family == CHINA_INTAKE_FAMILY:
        pools = apply_levers(pools, levers)
    intake = job.target.family == CHINA_INTAKE_FAMILY
    lo80, hi80, lo95, hi95 = (
        pl.col(c).clip(lower_bound=0.0) for c in ("lo80", "hi80", "lo95", "hi95")
    )
    point = pl.col("mean").clip(lower_bound=0.0)
    # A sampled interval (Prophet) can miss its own point, or the wider the narrower, by
    # a hair: each bound is widened to keep lo95 <= lo80 <= yhat <= hi80 <= hi95.
    lower80, upper80 = pl.min_horizontal(lo80, point), pl.max_horizontal(hi80, point)
    return (
        pools.select(
            pl.lit(run_id).alias("run_id"),
            pl.lit(vintage, dtype=pl.Int32).alias("vintage"),
            pl.lit(job.target.name).alias("target"),
            (pl.lit(HOST) if intake else pl.col("series_id")).alias("country_iso3"),
            (pl.col("series_id") if intake else pl.lit(None, dtype=pl.String)).alias(
                "origin_group"
            ),
            pl.col("year").cast(pl.Int32),
            "scenario",
            "model",
            (pl.col("model") == (selected_model or "")).alias("is_selected"),
            point.alias("yhat"),
            lower80.alias("lo80"),
            upper80.alias("hi80"),
            pl.min_horizontal(lo95, lower80).alias("lo95"),
            pl.max_horizontal(hi95, upper80).alias("hi95"),
            pl.lit(created_at).dt.replace_time_zone("UTC").alias("created_at"),
        )
        .cast(FORECASTS_SCHEMA)
        .sort("target", "country_iso3", "origin_group", "scenario", "model", "year")
    )


def forecast_checks(
    forecasts: pl.DataFrame, drivers: pl.DataFrame, until_year: int
) -> pl.DataFrame:
    """One row per forecast series (target, place, origin group, scenario, model), for
    the ``forecast_checks`` suite: the years it covers (``years`` must equal ``span``,
    ending at ``until_year``) and, for country targets, its largest 95 % upper bound as
    a share of the country's whole population under the scenario's WPP variant (no talent
    pool can exceed the people who live there)."""
    population = drivers.select(
        "country_iso3", pl.col("variant").alias("_variant"), "year", "population_total"
    )
    bounded = forecasts.with_columns(
        pl.col("scenario").str.split("+").list.first().alias("_variant")
    ).join(population, on=["country_iso3", "_variant", "year"], how="left")
    share = pl.when(pl.col("origin_group").is_null()).then(
        pl.col("hi95") / pl.col("population_total")
    )
    return (
        bounded.group_by("target", "country_iso3", "origin_group", "scenario", "model")
        .agg(
            pl.col("year").min().alias("first_year"),
            pl.col("year").max().alias("last_year"),
            pl.col("year").n_unique().alias("years"),
            share.max().alias("max_upper_share"),
        )
        .with_columns(
            (pl.col("last_year") - pl.col("first_year") + 1).cast(pl.UInt32).alias("span"),
            pl.col("years").cast(pl.UInt32),
            pl.lit(until_year, dtype=pl.Int32).alias("until_year"),
        )
        .sort("target", "country_iso3", "origin_group", "scenario", "model")
    )


# -- Prefect tasks: one step each -------------------------------------------------------------


@task(name="backtest", task_run_name="backtest-{job.target.name}-{name}", cache_policy=NO_CACHE)
def backtest_model(
    job: ForecastJob, name: str, origins: list[int], min_train: int
) -> tuple[pl.DataFrame, list[str]]:
    """One model's backtest on one target, in pool units, and its failures as text."""
    result = backtest_one(job, name, origins, min_train)
    failures = [
        f"{job.target.name} / {row['model']} at origin {row['origin']} ({row['stage']}): "
        f"{row['message']}"
        for row in result.failures.iter_rows(named=True)
    ]
    return in_pool_units(job, result.forecasts), failures


@task(name="fit-forecast", task_run_name="forecast-{job.target.name}-{name}", cache_policy=NO_CACHE)
def fit_and_forecast(job: ForecastJob, name: str, until_year: int, run_id: str) -> pl.DataFrame:
    """One model fitted on all of one target's history, its forecasts to ``until_year``
    under every variant, and its artefacts written under the run's model folder."""
    rates, artefacts = forecast_one(job, name, until_year)
    folder = model_artefacts_dir(get_settings(), run_id) / job.target.name / name
    for filename, content in artefacts.items():
        atomic_write_bytes(folder / filename, content)
    return rates


def rates_and_cohorts(
    target: RateTarget, features: dict[str, pl.DataFrame], country_list: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A target's rate history and its cohorts under every variant, from the pipeline's
    feature tables (``talent_pool_metrics``, ``demographic_drivers``,
    ``china_inflow_shares_by_income``, ``china_inbound_students``) and the World Bank
    country list (income groups)."""
    drivers = features["demographic_drivers"]
    if target.name == CHINA_RESEARCHER_INFLOWS.name:
        members = income_group_members(country_list)
        return (
            china_researcher_inflow_rates(
                features["china_inflow_shares_by_income"], country_list, drivers
            ),
            group_cohorts(drivers, members, target),
        )
    if target.name == CHINA_INBOUND_STUDENTS.name:
        members = world_excluding_china_members(drivers)
        return (
            china_inbound_student_rates(features["china_inbound_students"], drivers),
            group_cohorts(drivers, members, target),
        )
    return (
        country_rate_series(features["talent_pool_metrics"], drivers, target),
        cohorts(drivers, target),
    )


@task(name="forecast-jobs", cache_policy=NO_CACHE)
def build_forecast_jobs(
    features: dict[str, pl.DataFrame],
    country_list: pl.DataFrame,
    targets: list[str],
    vintage: int | None,
    min_observed_years: int,
) -> list[ForecastJob]:
    """One job per target, every history cut at ``vintage`` (None: all data)."""
    jobs = []
    for name in targets:
        target = RATE_TARGETS[name]
        rates, target_cohorts = rates_and_cohorts(target, features, country_list)
        jobs.append(
            forecast_job(
                target,
                rates,
                target_cohorts,
                vintage=vintage if vintage is not None else int(rates["year"].max()),
                min_observed_years=min_observed_years,
            )
        )
    return jobs
