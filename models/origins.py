"""Rolling-origin backtests: the forecasts every model would have made at past origins.

After statsforecast's ``cross_validation``: this module only produces forecasts in the
long format (``model, origin, series_id, year, horizon, actual, mean, lo/hi…, scale``);
scoring is :mod:`talentflow.models.metrics`, choosing :mod:`talentflow.models.selection`,
interval calibration :mod:`talentflow.models.calibration`.

This module must never let a model see a year after its origin, other than the WPP
projections passed as ``exog`` for the forecast years (see
:func:`rolling_origin_forecasts`), and it never reads files, settings or Prefect.

References
----------
Tashman, L. J. (2000). Out-of-sample tests of forecasting accuracy: an analysis and
review. *International Journal of Forecasting*, 16(4), 437-450.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from talentflow.models.base import HISTORY_SCHEMA, Forecaster, check_history

DEFAULT_HORIZONS = range(1, 6)

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
