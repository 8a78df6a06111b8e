"""Accuracy and interval coverage of backtest forecasts, per model and horizon.

After utilsforecast's losses: plain functions on the long frame that
:func:`talentflow.models.origins.rolling_origin_forecasts` produces (MASE with a
gap-aware in-sample scale, sMAPE, coverage), and their pooled summary over a band of
horizons. Never here: files, settings or Prefect.

References
----------
Hyndman, R. J., & Koehler, A. B. (2006). Another look at measures of forecast
accuracy. *International Journal of Forecasting*, 22(4), 679-688.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import polars as pl

from talentflow.models.origins import DEFAULT_HORIZONS

_LEVEL_COLUMN = re.compile(r"^lo(\d+)$")

_COVERAGE_COLUMN = re.compile(r"^coverage(\d+)$")


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


def _levels(frame: pl.DataFrame) -> list[int]:
    """Interval levels present in a forecasts frame (lo80 …) or a metrics frame."""
    found = {int(m.group(1)) for c in frame.columns if (m := _LEVEL_COLUMN.match(c))}
    found |= {int(m.group(1)) for c in frame.columns if (m := _COVERAGE_COLUMN.match(c))}
    return sorted(found)


def horizon_band(horizon: pl.Expr, bands: Mapping[str, tuple[int, int]]) -> pl.Expr:
    """The name of the band (``"1-5"``, ``"6-12"``) a horizon falls in; null outside."""
    expression = pl.lit(None, dtype=pl.String)
    for name, (first, last) in reversed(list(bands.items())):
        expression = (
            pl.when(horizon.is_between(first, last)).then(pl.lit(name)).otherwise(expression)
        )
    return expression


def replay_scores(
    stored: pl.DataFrame,
    observed: pl.DataFrame,
    bands: Mapping[str, tuple[int, int]],
    scenario: str = "Medium",
    baselines: Sequence[str] = ("naive", "drift"),
) -> pl.DataFrame:
    """How each replayed run's published forecasts did on the years that followed.

    Parameters
    ----------
    stored : pl.DataFrame
        Published ``forecasts`` rows of replay runs (``run_id, vintage, target,
        country_iso3, origin_group, year, scenario, model, is_selected, yhat, lo80, hi80,
        lo95, hi95``); every model's rows, so the selected forecast can be compared with
        the run's own baselines on the same series and years.
    observed : pl.DataFrame
        ``target, country_iso3, origin_group, year, value``: the observed pools today.
    bands : Mapping[str, tuple[int, int]]
        Band name → first and last horizon (years after the run's vintage).
    scenario : str, default "Medium"
        The scenario scored (the past is one variant; levers are what-ifs).
    baselines : Sequence[str], default ("naive", "drift")

    Returns
    -------
    pl.DataFrame
        One row per run, vintage, target and band: ``forecasts`` (series-years scored),
        ``series``, ``mase`` of the selected forecast and of each baseline
        (``mase_<baseline>``), ``mae_ratio_<baseline>`` (selected MAE / baseline MAE on
        the same series-years: below 1 beats it) and ``coverage80``, ``coverage95`` of
        the selected intervals.

    Notes
    -----
    MASE's scale is each series' mean one-year change over its observed history up to
    the run's vintage (gaps counted per year), as in :func:`backtest_metrics`; series
    whose scale is 0 are left out of MASE. A selected forecast is scored only where every
    baseline forecast the same series-year, so the ratios compare like with like.
    """
    keys = ["run_id", "vintage", "target", "country_iso3", "origin_group", "year"]
    rows = stored.filter(pl.col("scenario") == scenario)
    selected = rows.filter(pl.col("is_selected")).select(
        *keys, "yhat", "lo80", "hi80", "lo95", "hi95"
    )
    with_baselines = selected
    for baseline in baselines:
        with_baselines = with_baselines.join(
            rows.filter(pl.col("model") == baseline).select(
                *keys, pl.col("yhat").alias(f"yhat_{baseline}")
            ),
            on=keys,
            how="inner",
            nulls_equal=True,
        )
    series = ["target", "country_iso3", "origin_group"]
    history = observed.select(*series, "year", "value").sort(*series, "year")
    vintages = with_baselines.select("vintage").unique()
    scales = (
        vintages.join(history, how="cross")
        .filter(pl.col("year") <= pl.col("vintage"))
        .sort(*series, "vintage", "year")
        .with_columns(
            step=(pl.col("value").diff().abs() / pl.col("year").diff()).over([*series, "vintage"])
        )
        .group_by(*series, "vintage")
        .agg(scale=pl.col("step").mean())
    )
    scored = (
        with_baselines.join(
            history.rename({"value": "actual"}), on=[*series, "year"], nulls_equal=True
        )
        .join(scales, on=[*series, "vintage"], how="left", nulls_equal=True)
        .with_columns(band=horizon_band(pl.col("year") - pl.col("vintage"), bands))
        .filter(pl.col("band").is_not_null())
    )
    has_scale = pl.col("scale").is_not_null() & (pl.col("scale") > 0)

    def mase(column: str) -> pl.Expr:
        return (pl.col("actual") - pl.col(column)).abs().filter(has_scale) / pl.col("scale").filter(
            has_scale
        )

    def mae(column: str) -> pl.Expr:
        return (pl.col("actual") - pl.col(column)).abs().mean()

    return (
        scored.group_by("run_id", "vintage", "target", "band")
        .agg(
            pl.len().cast(pl.Int32).alias("forecasts"),
            pl.struct(series).n_unique().cast(pl.Int32).alias("series"),
            mase("yhat").mean().alias("mase"),
            *[mase(f"yhat_{b}").mean().alias(f"mase_{b}") for b in baselines],
            *[(mae("yhat") / mae(f"yhat_{b}")).alias(f"mae_ratio_{b}") for b in baselines],
            *[
                (
                    (pl.col("actual") >= pl.col(f"lo{level}"))
                    & (pl.col("actual") <= pl.col(f"hi{level}"))
                )
                .mean()
                .alias(f"coverage{level}")
                for level in (80, 95)
            ],
        )
        .sort("vintage", "target", "band", "run_id")
    )
