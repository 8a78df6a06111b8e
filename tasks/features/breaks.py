"""Series breaks: a one-year jump far outside a series' own changes, and what is done about it.

Public statistics change definitions: China's researcher count fell by a third in 2009
when it adopted the OECD's Frascati definition, and its tertiary enrolment ratio jumped 11
points from 2013 to 2014. A model fitted across such a break reads the jump as growth (or
decline) to be continued. The rule (:data:`BREAK_RULE`), on the log of the rate:

1. each yearly change (over a gap of at most two years) is compared with the median of the
   series' other changes within ``neighbours`` years: its *residual*;
2. the residual is a break when it exceeds ``k`` times the robust spread (1.4826 × median
   absolute deviation) of the series' other residuals within ``window`` years, and
   ``floor`` in absolute terms (a 10 % jump in a year beyond the usual).

:func:`after_last_break` then models each series after its latest break when at least
``min_years`` observations follow it, and otherwise keeps the series whole and flags it;
either way the break is reported. Pure Polars and NumPy: no Prefect, no files.
"""

from __future__ import annotations

import numpy as np
import polars as pl

BREAK_RULE = {"k": 5.0, "floor": 0.10, "neighbours": 4, "window": 10, "min_residuals": 5}
BREAKS_SCHEMA = {
    "series_id": pl.String,
    "year": pl.Int32,  # the first year of the new level
    "change": pl.Float64,  # the yearly log change into that year
    "residual": pl.Float64,  # the change less the median of its neighbours
    "spread": pl.Float64,  # the robust spread of the series' nearby residuals
    "action": pl.String,  # "modelled after the break" or "kept whole: …"
}


def series_breaks(history: pl.DataFrame) -> pl.DataFrame:
    """``series_id, year, change, residual, spread`` of every break in ``history``
    (``series_id, year, y`` with ``y`` > 0), by :data:`BREAK_RULE`."""
    k, floor = BREAK_RULE["k"], BREAK_RULE["floor"]
    rows = []
    for (series_id,), group in history.sort("series_id", "year").group_by(
        "series_id", maintain_order=True
    ):
        years = group["year"].to_numpy()
        values = group["y"].to_numpy()
        if len(values) < BREAK_RULE["min_residuals"] + 2 or (values <= 0).any():
            continue
        gaps = np.diff(years)
        changes = np.diff(np.log(values)) / gaps
        ends = years[1:]
        residuals = np.array(
            [
                change - _median_near(changes, ends, index, BREAK_RULE["neighbours"], change)
                for index, change in enumerate(changes)
            ]
        )
        for index, residual in enumerate(residuals):
            nearby = residuals[
                (np.abs(ends - ends[index]) <= BREAK_RULE["window"])
                & (np.arange(len(ends)) != index)
            ]
            if gaps[index] > 2 or len(nearby) < BREAK_RULE["min_residuals"]:
                continue
            spread = 1.4826 * float(np.median(np.abs(nearby - np.median(nearby))))
            if abs(residual) > max(k * spread, floor):
                rows.append(
                    (series_id, int(ends[index]), float(changes[index]), float(residual), spread)
                )
    columns = {name: dtype for name, dtype in BREAKS_SCHEMA.items() if name != "action"}
    return pl.DataFrame(rows, schema=columns, orient="row")


def after_last_break(
    history: pl.DataFrame, breaks: pl.DataFrame, min_years: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``history`` with each broken series cut to the years from its latest break on,
    where at least ``min_years`` observations remain; and ``breaks`` with the
    ``action`` taken on each (:data:`BREAKS_SCHEMA`)."""
    if breaks.is_empty():
        return history, breaks.with_columns(pl.lit(None, dtype=pl.String).alias("action"))
    latest = breaks.group_by("series_id").agg(pl.col("year").max().alias("_break"))
    counted = (
        history.join(latest, on="series_id")
        .filter(pl.col("year") >= pl.col("_break"))
        .group_by("series_id")
        .agg(pl.len().alias("_after"))
    )
    decisions = latest.join(counted, on="series_id", how="left").with_columns(
        (pl.col("_after").fill_null(0) >= min_years).alias("_cut")
    )
    cut = (
        history.join(decisions, on="series_id", how="left")
        .filter(pl.col("_cut").is_null() | ~pl.col("_cut") | (pl.col("year") >= pl.col("_break")))
        .select(history.columns)
    )
    action = (
        pl.when(pl.col("_cut") & (pl.col("year") == pl.col("_break")))
        .then(pl.lit("modelled after the break"))
        .when(pl.col("_cut"))
        .then(pl.lit("before the latest break: left out"))
        .otherwise(
            pl.format(
                "kept whole: {} observed year(s) from the latest break on, fewer than {}",
                "_after",
                pl.lit(min_years),
            )
        )
    )
    annotated = breaks.join(decisions, on="series_id").with_columns(
        pl.col("_after").fill_null(0), action.alias("action")
    )
    return cut, annotated.select(list(BREAKS_SCHEMA)).cast(BREAKS_SCHEMA)


def _median_near(
    changes: np.ndarray, ends: np.ndarray, index: int, neighbours: int, default: float
) -> float:
    near = changes[(np.abs(ends - ends[index]) <= neighbours) & (np.arange(len(ends)) != index)]
    return float(np.median(near)) if len(near) else default
