"""Combine forecasts that already exist: the handover from a short- to a long-horizon model.

A backtest can choose one model for the first years (where a series' own recent movement
is the best guide) and another for the decades people quote (where a model that knows
where rates level off does better). :func:`handover` writes the rule once, for backtest
forecasts and published forecasts alike: the short model alone up to year ``a`` after
the last observation, the long model alone from year ``b``, and in between a linear
blend of the two, point forecast and every interval bound (quantile averaging, as
:mod:`talentflow.models.ensemble` does).

Nothing is refitted here: after statsforecast, "ensembles combine forecasts that already
exist". Never here: files, settings or Prefect.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from talentflow.core.facts import HANDOVER_MODEL, HANDOVER_YEARS


def long_weight(horizon: pl.Expr, years: tuple[int, int] = HANDOVER_YEARS) -> pl.Expr:
    """The long model's weight at ``horizon``: 0 up to ``years[0]``, 1 from ``years[1]``,
    linear between."""
    first, last = years
    if not 0 <= first < last:
        raise ValueError(f"handover years must satisfy 0 <= first < last, got {years}")
    return ((horizon.cast(pl.Float64) - first) / (last - first)).clip(0.0, 1.0)


def handover(
    forecasts: pl.DataFrame,
    short: str,
    long: str,
    values: Sequence[str],
    years: tuple[int, int] = HANDOVER_YEARS,
    name: str = HANDOVER_MODEL,
) -> pl.DataFrame:
    """The ``short`` model's rows of ``forecasts`` handed over to the ``long`` model's.

    Parameters
    ----------
    forecasts : pl.DataFrame
        Long frame with a ``model`` and a ``horizon`` column; every other column that is
        not in ``values`` is a key the two models' rows are matched on (``series_id,
        year`` and, for backtests, ``origin``, ``actual``, ``scale``; for published
        forecasts, ``variant``).
    short, long : str
        The two models' names.
    values : Sequence[str]
        The columns blended: ``mean`` and the interval bounds.
    years : tuple[int, int], default HANDOVER_YEARS
        See :func:`long_weight`.
    name : str, default HANDOVER_MODEL
        The combined rows' model name.

    Returns
    -------
    pl.DataFrame
        The combined rows, with ``forecasts``' columns. A key that only one of the two
        models forecast is left out (the combination needs both).
    """
    if short == long:
        raise ValueError(f"handover needs two different models, got {short!r} twice")
    keys = [c for c in forecasts.columns if c not in (*values, "model")]
    present = set(forecasts["model"].unique().to_list())
    missing = sorted({short, long} - present)
    if missing:
        raise ValueError(f"handover: no forecasts of {missing} (models present: {sorted(present)})")
    first = forecasts.filter(pl.col("model") == short).drop("model")
    second = forecasts.filter(pl.col("model") == long).drop("model")
    weight = long_weight(pl.col("horizon"), years)
    joined = first.join(second, on=keys, how="inner", suffix="_long", nulls_equal=True)
    return joined.select(
        *keys,
        pl.lit(name).alias("model"),
        *[((1 - weight) * pl.col(c) + weight * pl.col(f"{c}_long")).alias(c) for c in values],
    ).select(forecasts.columns)


def quantile_average(
    forecasts: pl.DataFrame, members: Sequence[str], values: Sequence[str], name: str
) -> pl.DataFrame:
    """The equal-weight mean of ``members``' rows of ``forecasts``, point and every bound
    (quantile averaging: :mod:`talentflow.models.ensemble` fits its members itself; this
    combines forecasts the members already made, for backtests and published forecasts
    alike, so an ensemble of models in the zoo costs nothing more). Keys are every column
    but ``model`` and ``values``; a key some member did not forecast is averaged over the
    members that did, as the ensemble does for a series too short for one of them.
    Rows come in the order of their keys' first appearance, so the same forecasts give
    the same frame row for row, and the sums taken over it later (a backtest's scores)
    the same digits: Polars' parallel ``group_by`` otherwise returns groups in a
    different order each call."""
    present = set(forecasts["model"].unique().to_list())
    missing = sorted(set(members) - present)
    if missing:
        raise ValueError(f"{name}: no forecasts of members {missing} (present: {sorted(present)})")
    keys = [c for c in forecasts.columns if c not in (*values, "model")]
    return (
        forecasts.filter(pl.col("model").is_in(list(members)))
        .group_by(keys, maintain_order=True)
        .agg(pl.col(list(values)).mean())
        .with_columns(pl.lit(name).alias("model"))
        .select(forecasts.columns)
    )
