"""Rolling-origin backtests: how every model would have done at past origins, and which
model a target family should publish.

Three steps, each a plain function on long frames:

1. :func:`rolling_origin_forecasts` refits every model at each past origin year ``T`` on
   the history up to ``T`` only and keeps its forecasts for ``T+1 … T+max(h)`` beside the
   actuals that followed.
2. :func:`backtest_metrics` scores them per model and horizon (MASE, sMAPE, interval
   coverage): the rows of the published ``backtest_metrics`` table, less the run columns.
3. :func:`select_model` picks one model per target family from the pooled scores, with a
   sentence saying why and which goal it misses: a ``model_selection`` row.

:func:`interval_calibration` (optional) measures how much each model's intervals would
have had to widen to reach their nominal coverage at past origins.

This module must never let a model see a year after its origin, other than the WPP
projections passed as ``exog`` for the forecast years (see
:func:`rolling_origin_forecasts`), and it never reads files, settings or Prefect.

References
----------
Tashman, L. J. (2000). Out-of-sample tests of forecasting accuracy: an analysis and
review. *International Journal of Forecasting*, 16(4), 437-450.

Hyndman, R. J., & Koehler, A. B. (2006). Another look at measures of forecast accuracy.
*International Journal of Forecasting*, 22(4), 679-688.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from talentflow.core.facts import COVERAGE_GOAL, MASE_GOAL, MODEL_NAMES
from talentflow.models.base import HISTORY_SCHEMA, Forecaster, check_history

DEFAULT_HORIZONS = range(1, 6)

#: Simplest first: on a near-tie the backtest prefers the model earlier in this list
#: (the zoo's own order). Models not listed rank after every listed one.
SIMPLICITY_ORDER = MODEL_NAMES

FAILURES_SCHEMA = {
    "model": pl.String,
    "origin": pl.Int32,  # null when the model could not even be created
    "stage": pl.String,  # create, fit, predict or score
    "message": pl.String,
}
SKIPPED_SCHEMA = {
    "origin": pl.Int32,
    "series_id": pl.String,
    "observations": pl.UInt32,  # training observations up to the origin
}

_LEVEL_COLUMN = re.compile(r"^lo(\d+)$")
_COVERAGE_COLUMN = re.compile(r"^coverage(\d+)$")


@dataclass(frozen=True)
class Backtest:
    """What :func:`rolling_origin_forecasts` returns.

    Attributes
    ----------
    forecasts : pl.DataFrame
        One row per model, origin, series and scored year: ``model, origin, series_id,
        year, horizon, actual, mean, lo{L}, hi{L} …, scale``. ``horizon`` is
        ``year - origin``; ``scale`` is the series' in-sample naive MAE at that origin
        (the MASE denominator).
    failures : pl.DataFrame
        ``model, origin, stage, message``: every model that raised (or returned no
        usable forecast) at an origin. Those origins are missing from ``forecasts`` for
        that model; report them, never drop them.
    skipped : pl.DataFrame
        ``origin, series_id, observations``: series with actuals after the origin but
        too few training observations up to it, so not scored at that origin.
    origins : list[int]
        The origins backtested.
    min_train_observations : int
        The training observations a series needed at an origin to be scored.
    """

    forecasts: pl.DataFrame
    failures: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=FAILURES_SCHEMA))
    skipped: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=SKIPPED_SCHEMA))
    origins: list[int] = field(default_factory=list)
    min_train_observations: int = 2


def rolling_origin_forecasts(
    history: pl.DataFrame,
    model_factories: Mapping[str, Callable[[], Forecaster]],
    origins: Sequence[int] | None = None,
    n_origins: int = 5,
    horizons: Iterable[int] = DEFAULT_HORIZONS,
    levels: Sequence[int] = (80, 95),
    exog: pl.DataFrame | None = None,
    min_train_observations: int | None = None,
    min_origin_share: float = 0.5,
) -> Backtest:
    """Forecasts every model would have made at each past origin, beside the actuals.

    An expanding-window backtest: at each origin year ``T`` a fresh model from each
    factory is fitted on the rows of ``history`` with ``year <= T`` and predicts far
    enough that every scored series reaches ``T + max(horizons)``; the forecasts for
    years ``T+h`` (``h`` in ``horizons``) are kept where an actual exists.

    Parameters
    ----------
    history : pl.DataFrame
        The model contract's long frame ``series_id, year, y`` (years may have gaps).
    model_factories : Mapping[str, Callable[[], Forecaster]]
        Model name → a callable returning a new, unfitted model; called once per origin
        so no state carries over from one origin to the next.
    origins : Sequence[int] or None, default None
        Origin years. None chooses them by the default rule (Notes).
    n_origins : int, default 5
        Origins the default rule scores each horizon at (Notes).
    horizons : Iterable[int], default range(1, 6)
        Years after the origin to score.
    levels : Sequence[int], default (80, 95)
        Prediction-interval levels, as in ``Forecaster.predict``.
    exog : pl.DataFrame or None, default None
        Known drivers ``series_id, year, <driver> …`` (WPP projections). At ``fit`` a
        model sees only rows with ``year <= T``; at ``predict`` it gets the whole frame
        (the one exception to "nothing after the origin", see Notes).
    min_train_observations : int or None, default None
        Training observations a series needs at an origin to be scored there; never
        fewer than any model's ``min_observations`` (every model is scored on the same
        series and origins) nor 2 (MASE needs one change). None uses that floor.
    min_origin_share : float, default 0.5
        Default-origin rule: a year qualifies for a horizon when the series it can score
        there number at least this share of the best year's (Notes).

    Returns
    -------
    Backtest
        ``forecasts``, plus ``failures`` and ``skipped`` for the caller to report.

    Raises
    ------
    ValueError
        If ``history`` breaks the model contract, ``horizons`` is empty or not positive,
        or no year qualifies as an origin.

    Notes
    -----
    *Leakage.* A model fitted at origin ``T`` sees history and exog rows with
    ``year <= T`` only. The one documented exception is ``exog`` for the forecast years
    at ``predict``: WPP's cohort projections. At a real origin the forecaster would have
    used the WPP revision published by then; the backtest uses the current revision, so
    models that read exog look slightly better here than they would have been in real
    time. The series set a model is fitted on is every series with enough observations
    up to ``T``, as a real run at ``T`` would see it; only the number of years requested
    from ``predict`` depends on which series have actuals later (it never changes a
    forecast's value).

    *Default origins.* Every horizon ``h`` is scored at ``n_origins`` origins where the
    data allow. For each ``h`` and each year ``T``, count the series that could be
    scored at ``T + h``: at least ``min_train_observations`` observations up to ``T``
    and an actual at ``T + h``. ``T`` qualifies for ``h`` when that count reaches
    ``min_origin_share`` of the largest count over all years (so a final year that few
    countries have reported yet is not scored on a handful of series); ``h`` takes its
    ``n_origins`` latest qualifying years, and the origins are the union over the
    horizons. With annual data to 2024 and horizons 1-5 that is 2015-2023: ``h=5`` is
    scored at 2015-2019, ``h=1`` at all nine (every origin scores every horizon its
    actuals reach). A horizon gets fewer origins only when fewer years qualify (short
    histories), which the ``origins`` column of :func:`backtest_metrics` shows.

    *Skipped series.* A series with actuals after ``T`` but too few observations up to
    ``T`` is left out at that origin (listed in ``skipped``), not an error.

    *Failures.* A model that raises (creating, fitting or predicting), or returns no
    finite forecast for a scored series and year, is recorded in ``failures`` with its
    message; its other origins still count.

    References
    ----------
    Tashman, L. J. (2000). Out-of-sample tests of forecasting accuracy: an analysis and
    review. *International Journal of Forecasting*, 16(4), 437-450.
    """
    history = _checked_history(history)
    horizons = sorted(set(horizons))
    if not horizons or horizons[0] < 1:
        raise ValueError(f"horizons must be positive years after the origin, got {horizons}")
    failures: list[dict] = []
    factories: dict[str, Callable[[], Forecaster]] = {}
    floor = max(2, min_train_observations or 0)
    for name, factory in model_factories.items():
        try:
            floor = max(floor, int(factory().min_observations))
            factories[name] = factory
        except Exception as error:  # a broken model must be reported, not kill the run
            failures.append(_failure(name, None, "create", error))
    if origins is None:
        origins = default_origins(history, n_origins, floor, horizons, min_origin_share)
    origins = sorted({int(origin) for origin in origins})

    frames: list[pl.DataFrame] = []
    skipped: list[pl.DataFrame] = []
    for origin in origins:
        train, scored, skipped_here = _origin_split(history, origin, horizons, floor)
        skipped.append(skipped_here)
        if scored.is_empty():
            continue
        fit_exog = None if exog is None else exog.filter(pl.col("year") <= origin)
        steps = origin + horizons[-1] - int(scored["last_year"].min())
        scored = scored.drop("last_year")
        for name, factory in factories.items():
            forecast, failure = _forecast_one(
                name, factory, origin, train, fit_exog, exog, steps, levels, scored
            )
            if failure:
                failures.append(failure)
            if forecast is not None:
                frames.append(forecast)

    columns = ["model", "origin", "series_id", "year", "horizon", "actual", "mean"]
    columns += [f"{side}{level}" for level in levels for side in ("lo", "hi")] + ["scale"]
    forecasts = (
        pl.concat(frames).select(columns).sort("model", "origin", "series_id", "year")
        if frames
        else pl.DataFrame(schema=_forecasts_schema(levels))
    )
    return Backtest(
        forecasts=forecasts,
        failures=pl.DataFrame(failures, schema=FAILURES_SCHEMA),
        skipped=pl.concat(skipped) if skipped else pl.DataFrame(schema=SKIPPED_SCHEMA),
        origins=origins,
        min_train_observations=floor,
    )


def default_origins(
    history: pl.DataFrame,
    n_origins: int = 5,
    min_train_observations: int = 2,
    horizons: Iterable[int] = DEFAULT_HORIZONS,
    min_origin_share: float = 0.5,
) -> list[int]:
    """The latest origin years that score every horizon at ``n_origins`` origins.

    Parameters
    ----------
    history : pl.DataFrame
        ``series_id, year, y``.
    n_origins : int, default 5
        Origins each horizon should be scored at.
    min_train_observations : int, default 2
        Observations up to the origin a series needs to count.
    horizons : Iterable[int], default range(1, 6)
    min_origin_share : float, default 0.5
        Share of the best year's count a year must reach.

    Returns
    -------
    list[int]
        Ascending origin years.

    Raises
    ------
    ValueError
        If no year qualifies as an origin for any horizon.

    Notes
    -----
    The rule is stated in :func:`rolling_origin_forecasts` (Notes, "Default origins").
    """
    if n_origins < 1:
        raise ValueError(f"n_origins must be at least 1, got {n_origins}")
    years = history.select("series_id", pl.col("year").cast(pl.Int32)).sort("series_id", "year")
    # Per row: observations of its series up to and including this year.
    years = years.with_columns(seen=pl.int_range(1, pl.len() + 1).over("series_id"))
    pairs = years.join(years, on="series_id", suffix="_train")
    chosen: set[int] = set()
    for horizon in sorted(set(horizons)):
        # Each actual (series, year) proposes origin T = year - horizon; the series counts
        # at T when its rows with year <= T number at least min_train_observations.
        counts = (
            pairs.filter(pl.col("year_train") <= pl.col("year") - horizon)
            .group_by("series_id", "year")
            .agg(pl.col("seen_train").max())
            .filter(pl.col("seen_train") >= min_train_observations)
            .group_by(origin=pl.col("year") - horizon)
            .agg(series=pl.len())
            .sort("origin")
        )
        if counts.is_empty():
            continue
        needed = max(1, math.ceil(min_origin_share * int(counts["series"].max())))
        qualifying = counts.filter(pl.col("series") >= needed)["origin"].to_list()
        chosen.update(int(origin) for origin in qualifying[-n_origins:])
    if not chosen:
        raise ValueError(
            f"no year can be a backtest origin: no series has {min_train_observations} "
            f"observations followed by another within {max(horizons)} years; pass "
            "origins= explicitly or lower min_train_observations"
        )
    return sorted(chosen)


def backtest_metrics(forecasts: pl.DataFrame) -> pl.DataFrame:
    """Accuracy and interval coverage per model and horizon.

    Parameters
    ----------
    forecasts : pl.DataFrame
        :attr:`Backtest.forecasts` (one or more models).

    Returns
    -------
    pl.DataFrame
        ``model, horizon, origins, forecasts, mase, smape, coverage{L} …,
        mase_excluded``: the ``backtest_metrics`` table's columns after its run columns
        (run_id, vintage, family, target), in its order, plus ``mase_excluded`` (the
        forecasts left out of MASE for a zero in-sample scale; not published).

    Notes
    -----
    ``forecasts`` counts the (series, origin) pairs scored at the horizon; ``origins``
    the distinct origins among them.

    MASE is the mean over those pairs of ``|actual - mean| / scale``, where ``scale`` is
    the series' in-sample one-year naive MAE on its training data at that origin: the
    mean of ``|y_t - y_s| / (t - s)`` over consecutive observed years ``s < t`` (a gap of
    k years counts its change as k one-year steps). A series that never changed before
    the origin has scale 0: it is excluded from MASE and counted in ``mase_excluded``
    (sMAPE and coverage still score it). MASE < 1 beats the one-year in-sample naive
    forecast; note that it is a harder bar at long horizons, where errors grow.

    sMAPE is the mean of ``200 |actual - mean| / (|actual| + |mean|)`` in percent
    (0-200), with 0/0 defined as 0 (a zero forecast of a zero actual is perfect).

    ``coverage{L}`` is the share of actuals inside ``[lo{L}, hi{L}]``, bounds included.

    References
    ----------
    Hyndman, R. J., & Koehler, A. B. (2006). Another look at measures of forecast
    accuracy. *International Journal of Forecasting*, 22(4), 679-688.
    """
    levels = _levels(forecasts)
    error = (pl.col("actual") - pl.col("mean")).abs()
    has_scale = pl.col("scale").is_not_null() & (pl.col("scale") > 0)
    magnitude = pl.col("actual").abs() + pl.col("mean").abs()
    coverage = [
        ((pl.col("actual") >= pl.col(f"lo{level}")) & (pl.col("actual") <= pl.col(f"hi{level}")))
        .mean()
        .alias(f"coverage{level}")
        for level in levels
    ]
    return (
        forecasts.group_by("model", "horizon")
        .agg(
            pl.col("origin").n_unique().cast(pl.Int32).alias("origins"),
            pl.len().cast(pl.Int32).alias("forecasts"),
            pl.when(has_scale).then(error / pl.col("scale")).mean().alias("mase"),
            pl.when(magnitude > 0)
            .then(200 * error / magnitude)
            .otherwise(0.0)
            .mean()
            .alias("smape"),
            *coverage,
            (~has_scale).sum().cast(pl.Int32).alias("mase_excluded"),
        )
        .with_columns(pl.col("horizon").cast(pl.Int32))
        .sort("model", "horizon")
    )


def summary_by_model(
    metrics: pl.DataFrame, horizons: Iterable[int] = DEFAULT_HORIZONS
) -> pl.DataFrame:
    """One row per model: its metrics averaged over ``horizons``, weighted by forecasts.

    Parameters
    ----------
    metrics : pl.DataFrame
        :func:`backtest_metrics`' output.
    horizons : Iterable[int], default range(1, 6)

    Returns
    -------
    pl.DataFrame
        ``model, horizons, origins, forecasts, mase, smape, coverage{L} …,
        mase_excluded``; ``horizons`` counts the horizons scored, ``origins`` is the
        most origins any one horizon had.

    Notes
    -----
    Weighting by forecasts makes the average the pooled score of every (series, origin,
    horizon) forecast, so a horizon scored at one origin weighs less than one scored at
    five. MASE is weighted by the forecasts it scored (``forecasts - mase_excluded``).
    """
    levels = _levels(metrics)
    horizons = list(horizons)
    weight = pl.col("forecasts").cast(pl.Float64)
    mase_weight = weight - (pl.col("mase_excluded") if "mase_excluded" in metrics.columns else 0)
    mase_weight = pl.when(pl.col("mase").is_not_null()).then(mase_weight).otherwise(0.0)

    def weighted(column: str, by: pl.Expr) -> pl.Expr:
        total = by.filter(pl.col(column).is_not_null()).sum()
        value = (pl.col(column) * by).filter(pl.col(column).is_not_null()).sum() / total
        return pl.when(total > 0).then(value).otherwise(None).alias(column)

    excluded = pl.col("mase_excluded") if "mase_excluded" in metrics.columns else pl.lit(0)
    return (
        metrics.filter(pl.col("horizon").is_in(horizons))
        .group_by("model")
        .agg(
            pl.len().cast(pl.Int32).alias("horizons"),
            pl.col("origins").max().cast(pl.Int32),
            pl.col("forecasts").sum().cast(pl.Int32),
            weighted("mase", mase_weight),
            weighted("smape", weight),
            *[weighted(f"coverage{level}", weight) for level in levels],
            excluded.sum().cast(pl.Int32).alias("mase_excluded"),
        )
        .sort("model")
    )


def select_model(
    metrics: pl.DataFrame,
    naive: str = "naive",
    coverage_goal: tuple[float, float] = COVERAGE_GOAL,
    mase_goal: float = MASE_GOAL,
    near_tie: float = 0.02,
    simplicity: Sequence[str] = SIMPLICITY_ORDER,
    horizons: Iterable[int] = DEFAULT_HORIZONS,
) -> pl.DataFrame:
    """The model a target family publishes, chosen from its pooled backtest.

    Parameters
    ----------
    metrics : pl.DataFrame
        :func:`backtest_metrics`' output for one target family (every series and origin
        of the family pooled: one decision per family, not per series).
    naive : str, default "naive"
        The baseline's model name; it must be in ``metrics``.
    coverage_goal : tuple[float, float], default COVERAGE_GOAL
        The range the 80 % interval's coverage should fall in.
    mase_goal : float, default MASE_GOAL
        The improvement over the baseline's MASE (``1 - mase / naive_mase``) to reach.
    near_tie : float, default 0.02
        Models whose MASE is within this share of the lowest count as tied with it.
    simplicity : Sequence[str], default SIMPLICITY_ORDER
        Model names, simplest first; unlisted models rank after all listed ones.
    horizons : Iterable[int], default range(1, 6)
        Horizons averaged (weighted by forecasts, see :func:`summary_by_model`).

    Returns
    -------
    pl.DataFrame
        One row: ``selected_model, mase, naive_mase, mase_improvement, coverage80,
        coverage95, meets_mase_goal, meets_coverage_goal, reason``, the
        ``model_selection`` table's columns after its run columns.

    Raises
    ------
    ValueError
        If the baseline is missing from ``metrics`` or no model has a MASE.

    Notes
    -----
    Rule: among models scored on every forecast the most complete model was (a model
    that failed at some origins was scored on easier or fewer cases and is not compared
    like for like), take the lowest mean MASE over ``horizons``; every model within
    ``near_tie`` (relative) of it ties, and the simplest tied model wins: a 2 % edge is
    within the noise of a few origins and not worth a more complex model. Coverage does
    not choose the model; ``meets_coverage_goal`` and ``reason`` report it, and
    :func:`interval_calibration` can correct it.
    """
    summary = summary_by_model(metrics, horizons)
    if naive not in summary["model"].to_list():
        raise ValueError(
            f"the backtest has no rows for the baseline {naive!r} (models: "
            f"{summary['model'].to_list()}); backtest it alongside the candidates"
        )
    horizon_list = sorted(set(horizons))
    span = f"horizons {horizon_list[0]}-{horizon_list[-1]}"
    most = int(summary["forecasts"].max())
    complete = summary.filter((pl.col("forecasts") == most) & pl.col("mase").is_not_null())
    if complete.is_empty():
        raise ValueError("no model has a MASE: every scored series had a zero in-sample scale")
    incomplete = summary.filter(pl.col("forecasts") < most)
    rank = {name: position for position, name in enumerate(simplicity)}
    best_mase = float(complete["mase"].min())
    tied = complete.filter(pl.col("mase") <= best_mase * (1 + near_tie)).to_dicts()
    tied.sort(key=lambda row: (rank.get(row["model"], len(rank)), row["mase"], row["model"]))
    chosen = tied[0]
    lowest = complete.sort("mase", "model").row(0, named=True)
    baseline = summary.filter(pl.col("model") == naive).row(0, named=True)

    mase, naive_mase = chosen["mase"], baseline["mase"]
    improvement = 1 - mase / naive_mase if naive_mase else None
    coverage80, coverage95 = chosen.get("coverage80"), chosen.get("coverage95")
    meets_mase = improvement is not None and improvement >= mase_goal
    low, high = coverage_goal
    meets_coverage = coverage80 is not None and low <= coverage80 <= high

    if chosen["model"] == lowest["model"]:
        why = f"{chosen['model']}: lowest mean MASE over {span} ({mase:.3f})"
    else:
        why = (
            f"{chosen['model']}: MASE {mase:.3f} within {_pct(near_tie)} of the lowest "
            f"({lowest['model']} {lowest['mase']:.3f}) and simpler"
        )
    parts = [why]
    goal_text = f"goal {_pct(mase_goal)} better than naive"
    if chosen["model"] == naive:
        parts.append(f"no model beat the naive baseline: MASE goal missed ({goal_text})")
    elif improvement is None:
        parts.append(f"naive MASE is {naive_mase}: no improvement measurable, MASE goal missed")
    else:
        change = (
            f"{_pct(improvement)} better" if improvement >= 0 else f"{_pct(-improvement)} worse"
        )
        verdict = "MASE goal met" if meets_mase else "MASE goal missed"
        parts.append(f"{verdict}: {change} than naive ({naive_mase:.3f}), {goal_text}")
    parts.append(_coverage_sentence(coverage80, coverage95, coverage_goal))
    if incomplete.height:
        names = ", ".join(
            f"{row['model']} ({row['forecasts']} of {most} forecasts)"
            for row in incomplete.iter_rows(named=True)
        )
        parts.append(f"not compared, incomplete backtest: {names}")
    return pl.DataFrame(
        [
            {
                "selected_model": chosen["model"],
                "mase": mase,
                "naive_mase": naive_mase,
                "mase_improvement": improvement,
                "coverage80": coverage80,
                "coverage95": coverage95,
                "meets_mase_goal": meets_mase,
                "meets_coverage_goal": meets_coverage,
                "reason": "; ".join(parts) + ".",
            }
        ],
        schema={
            "selected_model": pl.String,
            "mase": pl.Float64,
            "naive_mase": pl.Float64,
            "mase_improvement": pl.Float64,
            "coverage80": pl.Float64,
            "coverage95": pl.Float64,
            "meets_mase_goal": pl.Boolean,
            "meets_coverage_goal": pl.Boolean,
            "reason": pl.String,
        },
    )


def interval_calibration(forecasts: pl.DataFrame, levels: Sequence[int] = (80, 95)) -> pl.DataFrame:
    """Per model, horizon and level: the factor by which the intervals would have had to
    widen (or narrow) to reach their nominal coverage at the backtest's origins.

    Parameters
    ----------
    forecasts : pl.DataFrame
        :attr:`Backtest.forecasts`.
    levels : Sequence[int], default (80, 95)

    Returns
    -------
    pl.DataFrame
        ``model, horizon, level, forecasts, coverage, factor``: ``coverage`` as
        backtested, ``factor`` the multiplier of each half-interval.

    Notes
    -----
    Each actual's ratio is its distance from the mean over the half-interval on its
    side: ``(actual - mean) / (hi - mean)`` above the mean, ``(mean - actual) / (mean -
    lo)`` below (asymmetric intervals keep their shape). ``factor`` is the empirical
    L % quantile of those ratios (inverted CDF: the smallest ratio with at least L % at
    or below it), so intervals widened to ``mean - factor (mean - lo)`` and
    ``mean + factor (hi - mean)`` would have covered at least L % of the backtest's
    actuals. A factor above 1 means the intervals were too narrow, below 1 too wide;
    ``inf`` means intervals of zero width missed more than ``100 - L`` % of actuals.

    The factors are estimated on past origins only, so they carry the same caveat as the
    backtest itself: they say how wrong the intervals were then, and applying them to
    today's forecasts assumes the future errs as the past did. Few origins at a long
    horizon make its factor noisy.
    """
    above = pl.col("actual") >= pl.col("mean")
    frames = []
    for level in levels:
        lo, hi = pl.col(f"lo{level}"), pl.col(f"hi{level}")
        distance = (pl.col("actual") - pl.col("mean")).abs()
        half = pl.when(above).then(hi - pl.col("mean")).otherwise(pl.col("mean") - lo)
        ratio = (
            pl.when(distance == 0)
            .then(0.0)
            .when(half <= 0)
            .then(float("inf"))
            .otherwise(distance / half)
        )
        covered = (pl.col("actual") >= lo) & (pl.col("actual") <= hi)
        frames.append(
            forecasts.select(
                "model",
                pl.col("horizon").cast(pl.Int32),
                pl.lit(level, pl.Int32).alias("level"),
                ratio.alias("ratio"),
                covered.alias("covered"),
            )
        )
    ratios = pl.concat(frames)
    rows = []
    for (model, horizon, level), group in ratios.group_by(
        "model", "horizon", "level", maintain_order=True
    ):
        rows.append(
            {
                "model": model,
                "horizon": horizon,
                "level": level,
                "forecasts": group.height,
                "coverage": float(group["covered"].mean()),
                "factor": float(
                    np.quantile(group["ratio"].to_numpy(), level / 100, method="inverted_cdf")
                ),
            }
        )
    schema = {
        "model": pl.String,
        "horizon": pl.Int32,
        "level": pl.Int32,
        "forecasts": pl.Int32,
        "coverage": pl.Float64,
        "factor": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema).sort("model", "horizon", "level")


# --- helpers ---------------------------------------------------------------------------


def _checked_history(history: pl.DataFrame) -> pl.DataFrame:
    check_history(history, 1)
    return history.select(pl.col(name).cast(dtype) for name, dtype in HISTORY_SCHEMA.items()).sort(
        "series_id", "year"
    )


def _origin_split(
    history: pl.DataFrame, origin: int, horizons: list[int], min_observations: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Training rows (years up to the origin, series with enough of them), the actuals
    to score (with each series' scale and last training year) and the skipped series."""
    train = history.filter(pl.col("year") <= origin)
    counts = train.group_by("series_id").agg(observations=pl.len(), last_year=pl.col("year").max())
    enough = counts.filter(pl.col("observations") >= min_observations)
    train = train.join(enough.select("series_id"), on="series_id", how="semi")
    actuals = history.filter((pl.col("year") - origin).is_in(horizons)).select(
        pl.lit(origin, pl.Int32).alias("origin"),
        "series_id",
        "year",
        (pl.col("year") - origin).cast(pl.Int32).alias("horizon"),
        pl.col("y").alias("actual"),
    )
    skipped = (
        actuals.select("series_id")
        .unique()
        .join(enough, on="series_id", how="anti")
        .join(counts, on="series_id", how="left")
        .select(
            pl.lit(origin, pl.Int32).alias("origin"),
            "series_id",
            pl.col("observations").fill_null(0).cast(pl.UInt32),
        )
        .sort("series_id")
    )
    scored = actuals.join(enough.select("series_id", "last_year"), on="series_id").join(
        naive_scale(train), on="series_id", how="left"
    )
    return train, scored, skipped


def naive_scale(train: pl.DataFrame) -> pl.DataFrame:
    """Each series' in-sample one-year naive MAE: mean |change| / years it spans."""
    step = (pl.col("y").diff().abs() / pl.col("year").diff().cast(pl.Float64)).over("series_id")
    return (
        train.sort("series_id", "year")
        .with_columns(step=step)
        .group_by("series_id")
        .agg(scale=pl.col("step").mean())
    )


def _forecast_one(
    name: str,
    factory: Callable[[], Forecaster],
    origin: int,
    train: pl.DataFrame,
    fit_exog: pl.DataFrame | None,
    exog: pl.DataFrame | None,
    steps: int,
    levels: Sequence[int],
    scored: pl.DataFrame,
) -> tuple[pl.DataFrame | None, dict | None]:
    """One model at one origin: its scored forecasts, or the failure that stopped it."""
    stage = "create"
    try:
        model = factory()
        stage = "fit"
        model.fit(train, exog=fit_exog)
        stage = "predict"
        prediction = model.predict(steps, levels=levels, exog=exog)
    except Exception as error:  # collected and returned: the caller reports it
        return None, _failure(name, origin, stage, error)
    wanted = ["series_id", "year", "mean"] + [
        f"{side}{level}" for level in levels for side in ("lo", "hi")
    ]
    missing = [column for column in wanted if column not in prediction.columns]
    if missing:
        return None, _failure(
            name,
            origin,
            "predict",
            f"prediction lacks columns {missing} (has {prediction.columns})",
        )
    joined = scored.join(
        prediction.select(
            pl.col("series_id").cast(pl.String),
            pl.col("year").cast(pl.Int32),
            *[pl.col(column).cast(pl.Float64) for column in wanted[2:]],
        ),
        on=["series_id", "year"],
        how="left",
    ).with_columns(pl.lit(name).alias("model"))
    usable = pl.all_horizontal(pl.col(column).is_finite().fill_null(False) for column in wanted[2:])
    kept = joined.filter(usable)
    failure = None
    if kept.height < joined.height:
        lost = joined.filter(~usable)
        failure = _failure(
            name,
            origin,
            "score",
            f"no finite forecast for {lost.height} of {joined.height} scored series-years, "
            f"e.g. {lost.select('series_id', 'year').head(3).rows()}",
        )
    return kept, failure


def _failure(name: str, origin: int | None, stage: str, error: Exception | str) -> dict:
    message = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {"model": name, "origin": origin, "stage": stage, "message": message}


def _levels(frame: pl.DataFrame) -> list[int]:
    """Interval levels present in a forecasts frame (lo80 …) or a metrics frame."""
    found = {int(m.group(1)) for c in frame.columns if (m := _LEVEL_COLUMN.match(c))}
    found |= {int(m.group(1)) for c in frame.columns if (m := _COVERAGE_COLUMN.match(c))}
    return sorted(found)


def _forecasts_schema(levels: Sequence[int]) -> dict:
    schema = {
        "model": pl.String,
        "origin": pl.Int32,
        "series_id": pl.String,
        "year": pl.Int32,
        "horizon": pl.Int32,
        "actual": pl.Float64,
        "mean": pl.Float64,
    }
    schema |= {f"{side}{level}": pl.Float64 for level in levels for side in ("lo", "hi")}
    return schema | {"scale": pl.Float64}


def _coverage_sentence(
    coverage80: float | None, coverage95: float | None, goal: tuple[float, float]
) -> str:
    low, high = goal
    goal_text = f"goal {low * 100:.0f}-{_pct(high)}"
    tail = "" if coverage95 is None else f"; 95 % interval covered {_pct(coverage95)}"
    if coverage80 is None:
        return f"coverage goal missed: no 80 % interval was backtested ({goal_text})"
    if coverage80 < low:
        return (
            f"coverage goal missed, intervals too narrow: 80 % interval covered "
            f"{_pct(coverage80)} ({goal_text}){tail}"
        )
    if coverage80 > high:
        return (
            f"coverage goal missed, intervals too wide: 80 % interval covered "
            f"{_pct(coverage80)} ({goal_text}){tail}"
        )
    return f"coverage goal met: 80 % interval covered {_pct(coverage80)} ({goal_text}){tail}"


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"
