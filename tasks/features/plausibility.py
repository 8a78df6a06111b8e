"""Plausibility: the checks anyone in the field makes first, on every forecast to 2050.

A backtest at 1-5 years cannot see a forecast wander off over 27 years. Before a forecast
is published as selected, each series' forecast of each model is held to five rules
(:data:`RULES`), computed from the forecast, its denominators, its evidence-based cap and
the panel's own history:

``rate_within_bound``
    In every year and scenario the rate (pool / denominator) stays at or below the
    series' cap (docs/metrics.md, "Bounds").
``growth_within_panel``
    Every year-on-year change of the rate lies within what the panel has shown: the 1st
    to 99th percentile of the observed yearly log changes of the rates of all series of
    the target. (The rate, not the pool: a pool that shrinks with its cohort under WPP's
    Low variant is the variant, not an implausible forecast.)
``intake_below_world``
    A share of a world total (China's intake) never exceeds that total.
``scenario_order``
    High ≥ Medium ≥ Low in every year: the variants differ only by fertility, so a pool
    driven by a cohort cannot rank them otherwise (relative tolerance :data:`ORDER_TOLERANCE`).
``informative_interval``
    The 80 % interval does not run from (about) zero to (about) the cap, nor span more
    than :data:`MAX_INTERVAL_RATIO` times its lower bound: such a band says "we know
    nothing". This rule does not reject a forecast; it ends it: the series is published as
    selected up to the last informative year, and said to be not forecastable beyond.

:func:`choose_plausible` picks, per series, the first model in the order of preference
that passes the first four rules; :func:`plausibility_table` is what the
``forecast_plausibility`` suite (critical) validates. Pure Polars: no Prefect, no files.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

RULES = (
    "rate_within_bound",
    "growth_within_panel",
    "intake_below_world",
    "scenario_order",
    "informative_interval",
)
#: Rules whose failure rejects a model for a series (the last one shortens it instead).
REJECTING_RULES = RULES[:4]
#: High may fall below Medium (or Medium below Low) by this share before it counts.
ORDER_TOLERANCE = 1e-3
#: An 80 % interval whose upper bound is more than this many times its lower one.
MAX_INTERVAL_RATIO = 100.0
#: "About zero" and "about the cap", as shares of the cap.
NEAR_ZERO, NEAR_CAP = 0.01, 0.90
#: The percentiles of the panel's yearly log changes a forecast's changes must lie in.
GROWTH_PERCENTILES = (0.01, 0.99)
BASE_VARIANTS = ("Low", "Medium", "High")

CHECK_COLUMNS = ["series_id", "model", "rule", "passed", "detail", "last_informative_year"]


def panel_growth_range(history: pl.DataFrame) -> tuple[float, float]:
    """The :data:`GROWTH_PERCENTILES` of the yearly log changes of the rates in
    ``history`` (``series_id, year, y``), over consecutive years only."""
    changes = (
        history.sort("series_id", "year")
        .with_columns(
            change=(pl.col("y").log() - pl.col("y").log().shift(1)).over("series_id"),
            gap=pl.col("year").diff().over("series_id"),
        )
        .filter((pl.col("gap") == 1) & pl.col("change").is_finite())
    )
    if changes.is_empty():
        return (-float("inf"), float("inf"))
    low, high = GROWTH_PERCENTILES
    return (
        float(changes["change"].quantile(low, "nearest")),
        float(changes["change"].quantile(high, "nearest")),
    )


def plausibility_checks(
    pools: pl.DataFrame,
    denominators: pl.DataFrame,
    caps: pl.DataFrame,
    per: float,
    growth_range: tuple[float, float],
    is_share: bool,
) -> pl.DataFrame:
    """Every rule of :data:`RULES` for every series and model of ``pools``.

    Parameters
    ----------
    pools : pl.DataFrame
        ``series_id, year, model, variant, scenario, mean, lo80, hi80`` (pool units, the
        WPP variants only, no lever scenarios).
    denominators : pl.DataFrame
        ``series_id, variant, year, cohort``.
    caps : pl.DataFrame
        ``series_id, cap`` (rate units).
    per : float
        The target's rate scale.
    growth_range : tuple[float, float]
        :func:`panel_growth_range` of the target's observed pools.
    is_share : bool
        Whether the pool is a share of its denominator (``intake_below_world`` applies).

    Returns
    -------
    pl.DataFrame
        ``series_id, model, rule, passed, detail, last_informative_year``: one row per
        series, model and rule; ``detail`` names the first offending year and value.
    """
    frame = (
        pools.filter(pl.col("variant").is_in(list(BASE_VARIANTS)))
        .join(denominators, on=["series_id", "variant", "year"], how="left")
        .join(caps.select("series_id", "cap"), on="series_id", how="left")
        .with_columns(
            (pl.col("mean") / pl.col("cohort") * per).alias("rate"),
            (pl.col("cap") * pl.col("cohort") / per).alias("ceiling"),
        )
        .sort("series_id", "model", "variant", "year")
    )
    keys = ["series_id", "model"]
    low, high = growth_range
    growth = frame.with_columns(
        change=(pl.col("rate").log() - pl.col("rate").log().shift(1)).over(
            "series_id", "model", "variant"
        )
    )
    wide = frame.pivot(on="variant", index=[*keys, "year"], values="mean")
    for variant in BASE_VARIANTS:
        if variant not in wide.columns:
            wide = wide.with_columns(pl.col("Medium").alias(variant))
    uninformative = frame.filter(pl.col("variant") == "Medium").with_columns(
        (
            (
                (pl.col("lo80") <= NEAR_ZERO * pl.col("ceiling"))
                & (pl.col("hi80") >= NEAR_CAP * pl.col("ceiling"))
            )
            | (pl.col("hi80") > MAX_INTERVAL_RATIO * pl.col("lo80"))
        ).alias("_wide")
    )
    first_wide = (
        uninformative.filter(pl.col("_wide"))
        .group_by(keys)
        .agg(pl.col("year").min().alias("_first_wide"))
    )
    last_year = frame.group_by(keys).agg(
        pl.col("year").min().alias("_first"), pl.col("year").max().alias("_last")
    )
    informative = last_year.join(first_wide, on=keys, how="left").select(
        *keys,
        pl.when(pl.col("_first_wide").is_null())
        .then(pl.col("_last"))
        .otherwise(pl.col("_first_wide") - 1)
        .alias("last_informative_year"),
        pl.col("_first_wide"),
    )

    def first_failure(failing: pl.DataFrame, rule: str, describe: pl.Expr) -> pl.DataFrame:
        return (
            failing.sort("year")
            .group_by(keys)
            .agg(describe.first().alias("detail"))
            .with_columns(pl.lit(rule).alias("rule"), pl.lit(False).alias("passed"))
        )

    failures = [
        first_failure(
            frame.filter(pl.col("rate") > pl.col("cap") * (1 + 1e-9)),
            "rate_within_bound",
            pl.format(
                "{} {}: rate {} above the cap {}",
                "variant",
                "year",
                pl.col("rate").round_sig_figs(4),
                pl.col("cap").round_sig_figs(4),
            ),
        ),
        first_failure(
            growth.filter((pl.col("change") < low) | (pl.col("change") > high)),
            "growth_within_panel",
            pl.format(
                "{} {}: yearly change {} outside the panel's {} to {}",
                "variant",
                "year",
                pl.col("change").round(4),
                pl.lit(round(low, 4)),
                pl.lit(round(high, 4)),
            ),
        ),
        first_failure(
            wide.filter(
                (pl.col("High") < pl.col("Medium") * (1 - ORDER_TOLERANCE))
                | (pl.col("Medium") < pl.col("Low") * (1 - ORDER_TOLERANCE))
            ),
            "scenario_order",
            pl.format(
                "{}: High {} / Medium {} / Low {}",
                "year",
                pl.col("High").round(0),
                pl.col("Medium").round(0),
                pl.col("Low").round(0),
            ),
        ),
        first_failure(
            informative.filter(pl.col("_first_wide").is_not_null()).rename({"_first_wide": "year"}),
            "informative_interval",
            pl.format(
                "the 80 % interval says nothing from {} on: not forecastable beyond {}",
                "year",
                "last_informative_year",
            ),
        ),
    ]
    if is_share:
        failures.append(
            first_failure(
                frame.filter(pl.col("mean") > pl.col("cohort") * (1 + 1e-9)),
                "intake_below_world",
                pl.format(
                    "{} {}: {} above the world total {}",
                    "variant",
                    "year",
                    pl.col("mean").round(0),
                    pl.col("cohort").round(0),
                ),
            )
        )
    every = last_year.select(keys).join(pl.DataFrame({"rule": list(RULES)}), how="cross")
    failed = pl.concat([f.select(*keys, "rule", "passed", "detail") for f in failures])
    return (
        every.join(failed, on=[*keys, "rule"], how="left")
        .with_columns(
            pl.col("passed").fill_null(True),
            pl.col("detail").fill_null(""),
        )
        .join(informative.select(*keys, "last_informative_year"), on=keys, how="left")
        .select(CHECK_COLUMNS)
        .sort("series_id", "model", "rule")
    )


def choose_plausible(
    checks: pl.DataFrame, preference: Sequence[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per series, the first model of ``preference`` that passes every rejecting rule.

    Returns ``(selected, rejected)``: ``selected`` is ``series_id, model, last_year`` (the
    last informative year; a series whose interval is uninformative from its first year
    is not selected at all), ``rejected`` the failing checks of every preferred model
    tried before the one chosen (or of all, when none passes): ``series_id, model, rule,
    detail``."""
    rank = {name: index for index, name in enumerate(dict.fromkeys(preference))}
    verdicts = (
        checks.filter(pl.col("model").is_in(list(rank)))
        .group_by("series_id", "model")
        .agg(
            pl.col("passed").filter(pl.col("rule").is_in(list(REJECTING_RULES))).all().alias("ok"),
            pl.col("last_informative_year").first(),
        )
        .with_columns(pl.col("model").replace_strict(rank, return_dtype=pl.Int32).alias("_rank"))
    )
    first_ok = (
        verdicts.filter(pl.col("ok"))
        .sort("_rank")
        .group_by("series_id")
        .agg(
            pl.col("model").first(),
            pl.col("last_informative_year").first(),
            pl.col("_rank").first(),
        )
    )
    selected = first_ok.select(
        "series_id", "model", pl.col("last_informative_year").alias("last_year"), "_rank"
    )
    tried = verdicts.join(
        selected.select("series_id", pl.col("_rank").alias("_chosen")), on="series_id", how="left"
    ).filter(pl.col("_chosen").is_null() | (pl.col("_rank") < pl.col("_chosen")))
    rejected = (
        checks.join(tried.select("series_id", "model"), on=["series_id", "model"])
        .filter(~pl.col("passed") & pl.col("rule").is_in(list(REJECTING_RULES)))
        .select("series_id", "model", "rule", "detail")
        .sort("series_id", "model", "rule")
    )
    return selected.drop("_rank").sort("series_id"), rejected
