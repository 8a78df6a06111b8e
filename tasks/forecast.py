"""Forecast talent pools and China's intake to 2050: the jobs, the model zoo and the tasks.

Every target is a RATE forecast in a bounded space (``tasks.features.scenarios``) and
multiplied by its denominator: a WPP cohort, or a forecast world total for China's
shares. The plain functions here shape a target into the models' long history
(:func:`forecast_job`, bounds from evidence included), build each model of the zoo for
it (:func:`model_factories`), backtest one model at horizons 1-12 (:func:`backtest_one`),
fit it on all the data and forecast every variant (:func:`forecast_one`), score and
choose per family (:func:`score_family`: the short-horizon choice, the long-horizon
choice, and the handover between them) and write the published rows
(:func:`forecast_rows`). Evaluation itself lives in ``talentflow.models`` (origins,
metrics, selection, calibration, combine). The Prefect tasks at the bottom wrap one
step each; ``flows/forecasting.py`` runs one task per target and group of models (never
one per series; :func:`model_groups`) through the flow's task runner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from talentflow.core.facts import (
    BASELINE_MODEL,
    COVERAGE_GOAL,
    DEFAULT_MODELS,
    ENSEMBLE_MEMBERS,
    HANDOVER_MODEL,
    INTERVAL_LEVELS,
    LONG_COVERAGE_GOAL,
    LONG_HORIZONS,
    MASE_GOAL,
    SHORT_HORIZONS,
)
from talentflow.core.settings import get_settings
from talentflow.core.storage import atomic_write_bytes, model_artefacts_dir
from talentflow.core.tables import FORECASTS_SCHEMA
from talentflow.models.base import Forecaster
from talentflow.models.baselines import Drift, Naive
from talentflow.models.calibration import calibration_factors, held_out_coverage, widened
from talentflow.models.combine import handover
from talentflow.models.converge import Converging
from talentflow.models.ensemble import Ensemble
from talentflow.models.global_model import GlobalForecaster
from talentflow.models.metrics import backtest_metrics, summary_by_model
from talentflow.models.origins import (
    Backtest,
    default_origins,
    naive_scale,
    rolling_origin_forecasts,
)
from talentflow.models.prophet_model import ProphetForecaster
from talentflow.models.selection import select_model
from talentflow.models.statsforecast_models import ETS, Theta
from talentflow.models.transforms import Transformed, capped_logit, inverse_capped_logit
from talentflow.tasks.features.breaks import BREAKS_SCHEMA, after_last_break, series_breaks
from talentflow.tasks.features.demography import ESTIMATES_VARIANT, VARIANTS
from talentflow.tasks.features.scenarios import (
    CHINA_INTAKE_FAMILY,
    DEFAULT_LEVERS,
    RATE_TARGETS,
    PolicyLevers,
    RateTarget,
    apply_levers,
    evidence_caps,
    scenario_pools,
    target_inputs,
)

LEVELS = INTERVAL_LEVELS
#: A forecast's value columns: the point and every interval bound.
VALUE_COLUMNS = ["mean", *[f"{side}{level}" for level in LEVELS for side in ("lo", "hi")]]
#: Every horizon the backtest scores: the short band and the long one people quote.
HORIZONS = range(1, LONG_HORIZONS[1] + 1)
SHORT = range(SHORT_HORIZONS[0], SHORT_HORIZONS[1] + 1)
LONG = range(LONG_HORIZONS[0], LONG_HORIZONS[1] + 1)
N_ORIGINS = 5
#: The known driver every exog-reading model gets: the yearly growth of the target's own
#: cohort (e.g. the 18-22 population for enrolment), from WPP, per variant.
DRIVER = "cohort_growth"
#: Prophet's simulated futures per forecast: 300 keep the 95 % bounds' sampling error
#: small beside their width.
PROPHET_SAMPLES = 300
#: Workers per batch of origins: a backtest is split into ceil(workers / 8) tasks (each
#: origin is an independent fit), and the fits then get a task of their own. Up to 8
#: workers the target × model-group tasks (27 for the default zoo, :func:`model_groups`)
#: keep every worker busy and more tasks only add Prefect's per-task cost (measured: 2
#: workers, 252 tasks instead of 63, the cold run no faster and a cached rerun 16 s
#: slower); beyond, the longest backtests would set the pace, so they are cut.
WORKERS_PER_ORIGIN_BATCH = 8
#: A series silent for longer than this before the vintage is not forecast: a country
#: that stopped reporting in the 1980s would otherwise get a "forecast" of the 1990s.
MAX_SILENT_YEARS = 10


class NotForecastable(ValueError):
    """A target without enough history at the run's vintage: skipped and reported."""


@dataclass(frozen=True)
class ForecastJob:
    """One target's inputs: the rate history (``series_id, year, y``, already cut at the
    run's vintage and to series with enough years), its denominators under every variant
    (``series_id, variant, year, cohort``; for a share target only the history years
    until the denominator target is forecast, see :meth:`with_denominators`) and each
    series' evidence-based cap (``tasks.features.scenarios.evidence_caps``)."""

    target: RateTarget
    history: pl.DataFrame
    cohorts: pl.DataFrame
    caps: pl.DataFrame
    breaks: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=BREAKS_SCHEMA))

    @property
    def cap_by_series(self) -> dict[str, float]:
        return dict(self.caps.select("series_id", "cap").iter_rows())

    @property
    def drivers(self) -> list[str]:
        """WPP targets give models their cohort's growth; a share's denominator is a
        forecast, not a known driver."""
        return [] if self.target.is_share else [DRIVER]

    def exog(self, variant: str = ESTIMATES_VARIANT) -> pl.DataFrame | None:
        """The driver frame of one WPP variant (``series_id, year, cohort_growth``)."""
        if not self.drivers:
            return None
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

    def of_series(self, series: Sequence[str]) -> ForecastJob:
        """The same job restricted to ``series``: history, denominators, caps, breaks."""
        keep = pl.col("series_id").is_in(list(series))
        return replace(
            self,
            history=self.history.filter(keep),
            cohorts=self.cohorts.filter(keep),
            caps=self.caps.filter(keep),
            breaks=self.breaks.filter(keep),
        )

    def with_denominators(self, cohorts: pl.DataFrame) -> ForecastJob:
        """The same job with its denominators extended to the horizon."""
        return replace(self, cohorts=cohorts)


def forecast_job(
    target: RateTarget,
    rates: pl.DataFrame,
    cohorts: pl.DataFrame,
    *,
    vintage: int,
    min_observed_years: int,
    max_silent_years: int = MAX_SILENT_YEARS,
) -> ForecastJob:
    """``rates`` (``series_id, year, y``) cut at ``vintage``, each series after its
    latest break where enough years follow it (``tasks.features.breaks``), keeping series
    with at least ``min_observed_years`` observed years and an observation in the last
    ``max_silent_years`` before ``vintage``, with the kept series' denominators and the
    caps the evidence up to ``vintage`` gives. Raises :class:`NotForecastable` when no
    series qualifies."""
    cut, breaks = after_last_break(
        rates.filter(pl.col("year") <= vintage),
        series_breaks(rates.filter(pl.col("year") <= vintage)),
        min_observed_years,
    )
    history = (
        cut.filter(
            (pl.len().over("series_id") >= min_observed_years)
            & (pl.col("year").max().over("series_id") >= vintage - max_silent_years)
        )
        .with_columns(pl.col("year").cast(pl.Int32), pl.col("y").cast(pl.Float64))
        .sort("series_id", "year")
    )
    if history.is_empty():
        longest = cut.group_by("series_id").len()["len"].max() if cut.height else 0
        raise NotForecastable(
            f"{target.name}: no series has {min_observed_years} observed years up to "
            f"{vintage} (the longest has {longest or 0})"
        )
    kept = history["series_id"].unique().implode()
    kept_cohorts = cohorts.filter(
        pl.col("series_id").is_in(kept) & (pl.col("year") >= history["year"].min() - 1)
    ).with_columns(pl.col("year").cast(pl.Int32))
    # The bounds see only the evidence a forecaster at the vintage had.
    caps = evidence_caps(cut, cohorts.filter(pl.col("year") <= vintage), target).filter(
        pl.col("series_id").is_in(kept)
    )
    return ForecastJob(target, history, kept_cohorts, caps, breaks)


def model_factories(
    job: ForecastJob, names: Sequence[str] = DEFAULT_MODELS
) -> dict[str, Callable[[], Forecaster]]:
    """Each model of the zoo as a factory for ``job``'s target.

    Every model forecasts the rate in logit space below each series' evidence-based cap
    (``Transformed``), so no interval crosses zero or the cap; Prophet uses its own
    logistic growth with the same caps. Converge, Prophet and the global model read the
    cohort's growth under each WPP variant (WPP targets only; converge uses it only where
    the panel's evidence supports it); the ensemble is the quantile average of ETS, Theta
    and drift (M4's lesson: combinations of simple methods are hard to beat)."""
    caps = job.cap_by_series
    drivers = job.drivers

    def bounded(model: Forecaster, name: str | None = None) -> Forecaster:
        return Transformed(model, "logit", cap=caps, name=name)

    builders: dict[str, Callable[[], Forecaster]] = {
        "naive": lambda: bounded(Naive()),
        "drift": lambda: bounded(Drift()),
        "ets": lambda: bounded(ETS()),
        "theta": lambda: bounded(Theta()),
        "ensemble": lambda: Ensemble(
            [builders[member]() for member in ENSEMBLE_MEMBERS], name="ensemble"
        ),
        "converge": lambda: bounded(Converging(driver=drivers[0] if drivers else None)),
        "global": lambda: bounded(GlobalForecaster(transform="none", drivers=drivers)),
        "prophet": lambda: ProphetForecaster(
            PROPHET_SAMPLES, growth="logistic", cap=caps, floor=0.0, regressors=drivers
        ),
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
    """Origins scoring every horizon 1-12 at :data:`N_ORIGINS` origins where the data
    allow (``models.origins.default_origins``); none when the history is too short."""
    try:
        return default_origins(
            job.history,
            n_origins=N_ORIGINS,
            min_train_observations=min_train_observations(job, names),
            horizons=HORIZONS,
        )
    except ValueError:
        return []


#: Each model's cost per series relative to naive's (bench/forecast_stage.py, model by
#: model, 2026-12-05: bench/README.md); only the order of submission reads it.
RELATIVE_COST = {
    "naive": 1,
    "drift": 1,
    "converge": 4,
    "ets": 8,
    "theta": 12,
    "global": 25,
    "prophet": 150,
}


def model_groups(names: Sequence[str]) -> list[list[str]]:
    """``names`` packed into the models of one task each: cheapest first
    (:data:`RELATIVE_COST`), a group closed when the next model would make it costlier
    than the costliest model alone. No task is longer than the longest one-model task,
    and the cheap models of a target share one task instead of paying Prefect's per-task
    cost each (naive, drift and converge took under 0.3 s a task, mostly that cost;
    bench/README.md). The default zoo: naive, drift, converge and ETS; Theta; global."""
    cap = max((RELATIVE_COST.get(name, 1) for name in names), default=0)
    groups: list[list[str]] = []
    cost = 0
    for name in sorted(names, key=lambda name: RELATIVE_COST.get(name, 1)):
        if groups and cost + RELATIVE_COST.get(name, 1) <= cap:
            groups[-1].append(name)
            cost += RELATIVE_COST.get(name, 1)
        else:
            groups.append([name])
            cost = RELATIVE_COST.get(name, 1)
    return groups


def longest_first(
    jobs: Sequence[ForecastJob], groups: Sequence[Sequence[str]]
) -> list[tuple[ForecastJob, list[str]]]:
    """Every (job, group of models) pair, the costliest first (series × the group's
    :data:`RELATIVE_COST`): a pool that takes tasks in order then ends with short ones,
    not with one worker still fitting the largest target while the others wait
    (longest-processing-time first)."""
    pairs = [(job, list(group)) for job in jobs for group in groups]
    return sorted(
        pairs,
        key=lambda pair: (
            -pair[0].history["series_id"].n_unique()
            * sum(RELATIVE_COST.get(name, 1) for name in pair[1])
        ),
    )


#: Models that fit and forecast each series on its own, so a target's series may be split
#: between tasks for them. Any other model (converge's panel path and the global model's
#: one estimator read every series; a model added later until it is listed here) keeps
#: the whole job: an allow-list, so forgetting a model costs speed, never its numbers.
SERIES_ALONE_MODELS = frozenset({"naive", "drift", "ets", "theta", "ensemble", "prophet"})


def series_batches(job: ForecastJob, size: int) -> list[ForecastJob]:
    """``job`` cut into jobs of at most ``size`` series each, in series order, for the
    models that fit each series on its own (:data:`SERIES_ALONE_MODELS`): their backtests
    and forecasts of the batches together are the whole job's, because each series is
    fitted and forecast alone (a test holds the published tables to it). ``[job]`` when
    it has no more series than ``size``."""
    series = job.history["series_id"].unique().sort().to_list()
    if len(series) <= size:
        return [job]
    return [job.of_series(series[start : start + size]) for start in range(0, len(series), size)]


def split_by_series(
    names: Sequence[str], job: ForecastJob, size: int
) -> list[tuple[list[str], ForecastJob, int | None]]:
    """A group of models on one job as the tasks it becomes, ``(models, job, batch)``:
    its models that fit series alone on each batch of :func:`series_batches` (numbered
    from 1), its other models on the whole job (batch None). One task, batch
    None, when the job has no more series than ``size``."""
    batches = series_batches(job, size)
    if len(batches) == 1:
        return [(list(names), job, None)]
    alone = [name for name in names if name in SERIES_ALONE_MODELS]
    pooled = [name for name in names if name not in SERIES_ALONE_MODELS]
    return [
        *((alone, batch, number) for number, batch in enumerate(batches, 1) if alone),
        *([(pooled, job, None)] if pooled else []),
    ]


def origin_batches(origins: Sequence[int], workers: int) -> list[list[int]]:
    """``origins`` in ascending batches, one backtest task each: ceil(``workers`` /
    :data:`WORKERS_PER_ORIGIN_BATCH`) batches of nearly equal size. Each origin is fitted
    on its own (an expanding window), so the batches' forecasts together are the whole
    backtest's."""
    ordered = sorted(origins)
    count = min(len(ordered), max(1, -(-workers // WORKERS_PER_ORIGIN_BATCH)))
    size = -(-len(ordered) // count) if ordered else 1
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]


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
    bounds × the Medium denominator of the year / ``per``, with MASE's scale recomputed
    on the pool's own history before each origin. (The denominator of a past year is
    WPP 2024's estimate, or the world total observed that year, which a forecaster at
    that origin did not have: the documented exception.) Rows come sorted by origin,
    series and year, whatever the joins' order: scores summed over them are then the same
    numbers however the backtest was split into tasks."""
    medium = job.cohorts.filter(pl.col("variant") == ESTIMATES_VARIANT).select(
        "series_id", "year", (pl.col("cohort") / job.target.per).alias("_cohort")
    )
    pool_history = job.history.join(medium, on=["series_id", "year"], how="inner").select(
        "series_id", "year", (pl.col("y") * pl.col("_cohort")).alias("y")
    )
    if forecasts.is_empty():
        return forecasts
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
        .sort("origin", "series_id", "year")
    )


def in_logit_space(job: ForecastJob, pool_forecasts: pl.DataFrame) -> pl.DataFrame:
    """Backtest forecasts in pool units (:func:`in_pool_units`) taken back to the space
    the models forecast in: the rate (÷ the year's Medium denominator × ``per``) as
    ``logit(rate / cap)`` with each series' cap. Interval calibration is measured and
    applied there, so a widened interval can never leave ``(0, cap)``; coverage, a
    matter of which side of a bound an actual falls, is the same in either space."""
    if pool_forecasts.is_empty():
        return pool_forecasts
    medium = job.cohorts.filter(pl.col("variant") == ESTIMATES_VARIANT).select(
        "series_id", "year", (job.target.per / pl.col("cohort")).alias("_to_rate")
    )
    keyed = pool_forecasts.join(medium, on=["series_id", "year"], how="inner").join(
        job.caps.select("series_id", pl.col("cap").alias("_cap")), on="series_id", how="inner"
    )
    cap = keyed["_cap"].to_numpy()
    return keyed.with_columns(
        pl.Series(column, capped_logit((keyed[column] * keyed["_to_rate"]).to_numpy(), cap))
        for column in ["actual", *VALUE_COLUMNS]
    ).drop("_to_rate", "_cap")


def observed_pools(job: ForecastJob) -> pl.DataFrame:
    """The history a target's published forecasts continue, in pool units (rate × the
    Medium denominator / ``per``): ``target, country_iso3, origin_group, year, value``."""
    target = job.target
    medium = job.cohorts.filter(pl.col("variant") == ESTIMATES_VARIANT)
    return (
        job.history.join(medium, on=["series_id", "year"], how="inner")
        .filter(target.published(pl.col("series_id")))
        .select(
            pl.lit(target.name).alias("target"),
            target.place(pl.col("series_id")).alias("country_iso3"),
            target.origin_group(pl.col("series_id")).alias("origin_group"),
            "year",
            (pl.col("y") * pl.col("cohort") / target.per).alias("value"),
        )
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
    return pl.concat(frames), model.artefacts()


# -- scoring and choosing ------------------------------------------------------------------


@dataclass(frozen=True)
class FamilyScores:
    metrics: pl.DataFrame  # backtest_metrics columns per target, model and horizon
    selection: pl.DataFrame  # model_selection columns, one row per target
    short_model: str  # the best at horizons 1-5
    long_model: str  # the best at horizons 6-12 (the short one when nothing was scored there)
    factors: dict[str, pl.DataFrame]  # target -> calibration factors of every model

    @property
    def family_choice(self) -> str:
        """The published model: the short and long choice, or the handover between them."""
        return self.short_model if self.short_model == self.long_model else HANDOVER_MODEL


def with_handover(forecasts: pl.DataFrame, short: str, long: str) -> pl.DataFrame:
    """Backtest ``forecasts`` plus the handover's rows when the two choices differ."""
    if short == long:
        return forecasts
    return pl.concat(
        [forecasts, handover(forecasts, short, long, VALUE_COLUMNS)], how="vertical_relaxed"
    )


def score_family(
    family: str,
    backtests: dict[str, pl.DataFrame],
    calibration: dict[str, pl.DataFrame] | None = None,
) -> FamilyScores:
    """Score every target of ``family`` (target → its backtest forecasts in pool units,
    every model), choose the family's model at horizons 1-5 and at 6-12 from the pooled
    scores (``models.selection.select_model``), and, where they differ, hand the first
    over to the second (``models.combine.handover``); then say, per target, how the
    published model did against naive and drift in each band and the interval goals.
    ``calibration`` holds the same forecasts in the space the intervals are calibrated
    in (:func:`in_logit_space`; default: pool units)."""
    calibration = calibration or backtests
    pooled = backtest_metrics(pl.concat(list(backtests.values())))
    short_choice = select_model(pooled, horizons=SHORT).row(0, named=True)
    short, short_reason = short_choice["selected_model"], short_choice["reason"]
    long_scored = pooled.filter(pl.col("horizon").is_in(list(LONG)))
    long = (
        select_model(long_scored, horizons=LONG)["selected_model"].item()
        if long_scored.height and BASELINE_MODEL in long_scored["model"].to_list()
        else short
    )
    chosen = short if short == long else HANDOVER_MODEL
    rows, factors, metrics = [], {}, []
    for target, raw in backtests.items():
        forecasts = with_handover(raw, short, long)
        calibrated = with_handover(calibration[target], short, long)
        target_metrics = backtest_metrics(forecasts).with_columns(pl.lit(target).alias("target"))
        metrics.append(target_metrics)
        factors[target] = calibration_factors(calibrated)
        rows.append(
            target_selection(
                family, target, chosen, short, long, calibrated, target_metrics, short_reason
            )
        )
    return FamilyScores(
        pl.concat(metrics).with_columns(pl.lit(family).alias("family")),
        pl.DataFrame(rows),
        short,
        long,
        factors,
    )


def _band(metrics: pl.DataFrame, model: str, horizons: range) -> dict:
    summary = summary_by_model(metrics, horizons)
    row = summary.filter(pl.col("model") == model)
    return row.row(0, named=True) if row.height else {}


def target_selection(
    family: str,
    target: str,
    chosen: str,
    short: str,
    long: str,
    calibrated: pl.DataFrame,
    metrics: pl.DataFrame,
    family_reason: str,
) -> dict:
    """One ``model_selection`` row: the published model's scores in both bands against
    naive and drift, its calibrated coverage on held-out origins per band (``calibrated``:
    the backtest forecasts in the calibration space), whether it meets each goal, and
    why, in words."""
    model, naive, drift = (
        {
            band: _band(metrics, name, horizons)
            for band, horizons in (("short", SHORT), ("long", LONG))
        }
        for name in (chosen, BASELINE_MODEL, "drift")
    )

    def mase(scores: dict, band: str) -> float | None:
        return scores[band].get("mase")

    improvement = (
        1 - mase(model, "short") / mase(naive, "short")
        if mase(model, "short") is not None and mase(naive, "short")
        else None
    )
    held_out = {
        (row["band"], level): row[f"calibrated_coverage{level}"]
        for row in held_out_coverage(
            calibrated.filter(pl.col("model") == chosen), {"short": SHORT, "long": LONG}
        ).iter_rows(named=True)
        for level in LEVELS
    }
    coverage80 = held_out.get(("short", 80))
    long_coverage80 = held_out.get(("long", 80))
    long_mase = mase(model, "long")
    beats_long = (
        long_mase is not None
        and mase(naive, "long") is not None
        and mase(drift, "long") is not None
        and long_mase < mase(naive, "long")
        and long_mase < mase(drift, "long")
    )
    meets_mase = improvement is not None and improvement >= MASE_GOAL
    low, high = COVERAGE_GOAL
    meets_coverage = coverage80 is not None and low <= coverage80 <= high
    long_low, long_high = LONG_COVERAGE_GOAL
    meets_long_coverage = long_coverage80 is not None and long_low <= long_coverage80 <= long_high
    return {
        "family": family,
        "target": target,
        "selected_model": chosen,
        "short_model": short,
        "long_model": long,
        "mase": mase(model, "short"),
        "naive_mase": mase(naive, "short"),
        "mase_improvement": improvement,
        "coverage80": model["short"].get("coverage80"),
        "coverage95": model["short"].get("coverage95"),
        "calibrated_coverage80": coverage80,
        "calibrated_coverage95": held_out.get(("short", 95)),
        "meets_mase_goal": meets_mase,
        "meets_coverage_goal": meets_coverage,
        "long_mase": long_mase,
        "long_naive_mase": mase(naive, "long"),
        "long_drift_mase": mase(drift, "long"),
        "long_calibrated_coverage80": long_coverage80,
        "long_calibrated_coverage95": held_out.get(("long", 95)),
        "beats_naive_and_drift_long": beats_long,
        "meets_long_coverage_goal": meets_long_coverage,
        "reason": target_reason(
            chosen,
            short,
            long,
            improvement,
            (model["short"].get("coverage80"), model["short"].get("coverage95")),
            (coverage80, held_out.get(("short", 95))),
            (long_mase, mase(naive, "long"), mase(drift, "long"), long_coverage80),
            family_reason,
        ),
    }


def target_reason(
    chosen: str,
    short: str,
    long: str,
    improvement: float | None,
    raw: tuple[float | None, float | None],
    calibrated: tuple[float | None, float | None],
    long_scores: tuple[float | None, float | None, float | None, float | None],
    family_reason: str,
) -> str:
    """Why a target publishes ``chosen``, and which goal it misses and why. ``raw`` are
    the model's own 80 %/95 % coverages at 1-5 years; ``calibrated`` those of the
    published (calibrated) intervals on held-out origins; ``long_scores`` its MASE at
    6-12 years, naive's, drift's, and its held-out 80 % coverage there."""
    parts = []
    if chosen == HANDOVER_MODEL:
        parts.append(
            f"{short} for the first years (best at 1-5), handed over to {long} (best at "
            "6-12) by a linear blend"
        )
    if improvement is None:
        parts.append("naive's MASE is 0 here: no improvement measurable, MASE goal missed")
    elif improvement >= MASE_GOAL:
        parts.append(f"MASE goal met: {improvement:.0%} better than naive at 1-5 years")
    elif improvement >= 0:
        parts.append(
            f"MASE goal missed: only {improvement:.0%} better than naive at 1-5 years (goal "
            f"{MASE_GOAL:.0%}): over 1-5 years these series move much like random walks"
        )
    else:
        parts.append(
            f"MASE goal missed: {-improvement:.0%} worse than naive at 1-5 years on this "
            "target (the family's pooled choice does not win on every target)"
        )
    (raw80, raw95), (cal80, cal95) = raw, calibrated
    own = f"the model's own 80 % interval covered {_share(raw80)} (95 %: {_share(raw95)})"
    if cal80 is None:
        parts.append(f"{own}; calibrated coverage not measurable (too few origins)")
    elif cal80 < COVERAGE_GOAL[0]:
        parts.append(
            f"coverage goal missed: {own}; calibrated on earlier origins, it covered "
            f"{cal80:.0%} of later ones (95 %: {_share(cal95)}): errors grew faster than in "
            "the origins the factors were estimated on (breaks, revisions, few origins)"
        )
    elif cal80 > COVERAGE_GOAL[1]:
        parts.append(
            f"coverage goal missed, intervals too wide: {own}; calibrated, {cal80:.0%} of "
            f"later origins (95 %: {_share(cal95)})"
        )
    else:
        parts.append(
            f"coverage goal met: {own}; calibrated on earlier origins, it covered "
            f"{cal80:.0%} of later ones (95 %: {_share(cal95)})"
        )
    long_mase, naive_long, drift_long, long80 = long_scores
    if long_mase is None or naive_long is None or drift_long is None:
        parts.append("6-12 years not scored: the history is too short for origins that far back")
    else:
        verdict = (
            "beats naive and drift"
            if long_mase < naive_long and long_mase < drift_long
            else "does not beat both naive and drift"
        )
        parts.append(
            f"at 6-12 years it {verdict} (MASE {long_mase:.2f}; naive {naive_long:.2f}, "
            f"drift {drift_long:.2f}); its 80 % interval covered {_share(long80)} there "
            f"(goal {LONG_COVERAGE_GOAL[0]:.0%}-{LONG_COVERAGE_GOAL[1]:.0%})"
        )
    return f"{'; '.join(parts)}. Short-horizon choice: {family_reason}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


# -- the published rows ----------------------------------------------------------------------


def forecast_pools(
    job: ForecastJob, rates: pl.DataFrame, factors: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Every model's rate forecast × each variant's denominator / ``per`` (``series_id,
    year, model, variant, scenario, mean, lo80 … hi95``), its intervals calibrated by
    ``factors`` where given, widened by the denominator's own uncertainty for a share
    of a forecast total (:func:`with_denominator_uncertainty`), and stopped at what each
    series' cap allows. The point forecast is never clipped: the plausibility rules judge
    it."""
    if factors is not None:
        rates = calibrated_rates(job, rates, factors)
    pools = scenario_pools(rates, job.cohorts, job.target)
    if job.target.is_share:
        pools = with_denominator_uncertainty(pools, job.cohorts)
    ceiling = job.cohorts.join(job.caps.select("series_id", "cap"), on="series_id").select(
        "series_id",
        "variant",
        "year",
        (pl.col("cohort") * pl.col("cap") / job.target.per).alias("_ceiling"),
    )
    return (
        pools.join(ceiling, on=["series_id", "variant", "year"], how="left")
        .with_columns(pl.col(c).clip(upper_bound=pl.col("_ceiling")) for c in _bounds())
        .drop("_ceiling")
    )


def calibrated_rates(job: ForecastJob, rates: pl.DataFrame, factors: pl.DataFrame) -> pl.DataFrame:
    """Rate forecasts with each model's intervals widened by its backtest factors
    (``models.calibration``), in the logit space the factors were measured in: so a
    widened bound stays inside ``(0, cap)``."""
    last = job.history.group_by("series_id").agg(pl.col("year").max().alias("_last"))
    keyed = rates.join(last, on="series_id").join(
        job.caps.select("series_id", pl.col("cap").alias("_cap")), on="series_id"
    )
    cap = keyed["_cap"].to_numpy()
    in_logit = keyed.with_columns(
        (pl.col("year") - pl.col("_last")).alias("horizon"),
        *[pl.Series(c, capped_logit(keyed[c].to_numpy(), cap)) for c in VALUE_COLUMNS],
    )
    wide = widened(in_logit, factors, "mean")
    return wide.with_columns(
        pl.Series(c, inverse_capped_logit(wide[c].to_numpy(), wide["_cap"].to_numpy()))
        for c in VALUE_COLUMNS
    ).drop("_last", "_cap", "horizon")


def with_denominator_uncertainty(pools: pl.DataFrame, denominators: pl.DataFrame) -> pl.DataFrame:
    """A share's pool intervals widened by its forecast denominator's: the two relative
    half-widths (in logs, per level and side) are added in quadrature, as for a product
    of two independent uncertain factors. History years, whose denominator is observed,
    carry no ``cohort_lo…`` columns and keep their intervals."""
    extra = [c for c in denominators.columns if c.startswith("cohort_")]
    if not extra:
        return pools
    joined = pools.join(
        denominators.select("series_id", "variant", "year", "cohort", *extra),
        on=["series_id", "variant", "year"],
        how="left",
    )
    widened_bounds = []
    for level in LEVELS:
        for side, sign in (("lo", -1.0), ("hi", 1.0)):
            # a lower bound at 0 stays at 0 (log 0 is -inf: exp(-inf) = 0)
            own = (pl.col(f"{side}{level}").clip(lower_bound=0.0) / pl.col("mean")).log().abs()
            theirs = (pl.col(f"cohort_{side}{level}") / pl.col("cohort")).log().abs()
            combined = (own.pow(2) + theirs.pow(2)).sqrt()
            widened_bounds.append(
                pl.when(pl.col(f"cohort_{side}{level}").is_not_null() & (pl.col("mean") > 0))
                .then(pl.col("mean") * (sign * combined).exp())
                .otherwise(pl.col(f"{side}{level}"))
                .alias(f"{side}{level}")
            )
    return joined.with_columns(widened_bounds).drop("cohort", *extra)


def _bounds() -> list[str]:
    return [f"{side}{level}" for level in LEVELS for side in ("lo", "hi")]


def handover_rates(rates: pl.DataFrame, job: ForecastJob, short: str, long: str) -> pl.DataFrame:
    """The handover's rate forecasts from its two members' (``rates`` of every model)."""
    last = job.history.group_by("series_id").agg(pl.col("year").max().alias("_last"))
    members = rates.filter(pl.col("model").is_in([short, long])).join(last, on="series_id")
    keyed = members.with_columns((pl.col("year") - pl.col("_last")).alias("horizon")).drop("_last")
    return handover(keyed, short, long, VALUE_COLUMNS).drop("horizon")


def forecast_rows(
    job: ForecastJob,
    pools: pl.DataFrame,
    *,
    selected: pl.DataFrame,
    run_id: str,
    vintage: int,
    created_at: datetime,
    levers: Sequence[PolicyLevers] = DEFAULT_LEVERS,
) -> pl.DataFrame:
    """The published ``forecasts`` rows of one target in :data:`FORECASTS_SCHEMA`: the
    published series' pools (``forecast_pools``), for China's intake each policy lever
    too, marked ``is_selected`` where ``selected`` (``series_id, model, last_year``: the
    model published as selected per series, up to the last year it is informative)
    says so."""
    target = job.target
    published = pools.filter(target.published(pl.col("series_id")))
    place = target.place(pl.col("series_id"))
    keyed_selected = selected
    if target.family == CHINA_INTAKE_FAMILY:
        # Levers act per origin group: key the rows by group, the place is the host.
        as_group = target.origin_group(pl.col("series_id")).alias("series_id")
        published = apply_levers(published.with_columns(as_group), levers)
        keyed_selected = selected.with_columns(as_group)
        place = pl.lit(target.host)
        origin = pl.col("series_id")
    else:
        origin = target.origin_group(pl.col("series_id"))
    lo80, hi80, lo95, hi95 = (pl.col(c).clip(lower_bound=0.0) for c in _bounds())
    point = pl.col("mean").clip(lower_bound=0.0)
    # A sampled interval (Prophet) can miss its own point, or the wider the narrower, by
    # a hair: each bound is widened to keep lo95 <= lo80 <= yhat <= hi80 <= hi95.
    lower80, upper80 = pl.min_horizontal(lo80, point), pl.max_horizontal(hi80, point)
    is_selected = pl.col("_last_year").is_not_null() & (pl.col("year") <= pl.col("_last_year"))
    return (
        published.join(
            keyed_selected.select("series_id", "model", pl.col("last_year").alias("_last_year")),
            on=["series_id", "model"],
            how="left",
        )
        .select(
            pl.lit(run_id).alias("run_id"),
            pl.lit(vintage, dtype=pl.Int32).alias("vintage"),
            pl.lit(target.name).alias("target"),
            place.alias("country_iso3"),
            origin.alias("origin_group"),
            pl.col("year").cast(pl.Int32),
            "scenario",
            "model",
            is_selected.fill_null(False).alias("is_selected"),
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


def _models_run_name() -> str:
    """A forecast-models task run's name: what it does, to which target, with which
    models (``forecast-researchers-naive+drift+converge+ets``; ``backtest-…`` for a batch
    of origins without the fit)."""
    from prefect.runtime import task_run

    arguments = task_run.parameters
    step = "backtest" if arguments["until_year"] is None else "forecast"
    return f"{step}-{arguments['job'].target.name}-{'+'.join(arguments['names'])}"


@task(name="forecast-models", task_run_name=_models_run_name, cache_policy=NO_CACHE)
def forecast_models(
    job: ForecastJob,
    names: list[str],
    origins: list[int],
    min_train: int,
    until_year: int | None,
) -> dict[str, dict]:
    """Each model of ``names`` on one target: its backtest at ``origins`` (none: no
    backtest) and, unless ``until_year`` is None, its fit on the whole history and
    forecasts to ``until_year``. Per model: ``backtest`` (pool units) and ``failures``
    (as text), ``rates`` and ``artefacts`` (:func:`save_artefacts` writes them under a
    run's folder), each None or empty for the step not asked. One task per target and
    group of models (:func:`model_groups`): a backtest and its fit share a worker (the
    global model's memo then serves the fit's calibration folds). Cacheable on its
    inputs' content (``tasks.caching.cache_options``)."""
    outcomes = {}
    for name in names:
        outcome: dict = {"backtest": None, "failures": [], "rates": None, "artefacts": {}}
        if origins:
            result = backtest_one(job, name, origins, min_train)
            outcome["backtest"] = in_pool_units(job, result.forecasts)
            outcome["failures"] = [
                f"{job.target.name} / {row['model']} at origin {row['origin']} "
                f"({row['stage']}): {row['message']}"
                for row in result.failures.iter_rows(named=True)
            ]
        if until_year is not None:
            outcome["rates"], outcome["artefacts"] = forecast_one(job, name, until_year)
        outcomes[name] = outcome
    return outcomes


def save_artefacts(run_id: str, target: str, name: str, artefacts: dict[str, bytes]) -> None:
    """A fitted model's artefacts under the run's model folder: written for every run,
    also when the fit came from the cache."""
    folder = model_artefacts_dir(get_settings(), run_id) / target / name
    for filename, content in artefacts.items():
        atomic_write_bytes(folder / filename, content)


@task(name="forecast-jobs", cache_policy=NO_CACHE)
def build_forecast_jobs(
    features: dict[str, pl.DataFrame],
    country_list: pl.DataFrame,
    targets: list[str],
    vintage: int | None,
    min_observed_years: int,
) -> tuple[list[ForecastJob], list[str]]:
    """One job per target, every history cut at ``vintage`` (None: all data), and, for
    the targets without enough history at that vintage, why they are skipped. A share
    target whose denominator target is skipped is skipped too."""
    jobs, skipped = [], []
    for name in targets:
        target = RATE_TARGETS[name]
        if target.denominator and target.denominator not in {job.target.name for job in jobs}:
            skipped.append(f"{name}: its denominator {target.denominator} is not forecast")
            continue
        rates, denominators = target_inputs(target, features, country_list)
        cut_at = vintage if vintage is not None else int(rates["year"].max())
        try:
            job = forecast_job(
                target, rates, denominators, vintage=cut_at, min_observed_years=min_observed_years
            )
        except NotForecastable as reason:
            skipped.append(str(reason))
            continue
        published = job.history.filter(target.published(pl.col("series_id")))
        if published.is_empty():
            # The panel can be fitted, but the series users read (China's) cannot.
            skipped.append(
                f"{name}: {target.host} has fewer than {min_observed_years} observed years "
                f"up to {cut_at}; the panel of other places is not forecast without it"
            )
            continue
        jobs.append(job)
    return jobs, skipped
