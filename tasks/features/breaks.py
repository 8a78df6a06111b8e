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
    (``series_id, year, y`` with ``y`` > 0), by :data:`BREAK_RULE`.

    Each series' medians are taken over all its changes at once, one row per change
    (:func:`_row_medians`), not one NumPy call per change: the same numbers, a seventh
    of the time (≈ 1 s of every run's job building, while the forecast workers wait;
    bench/README.md, sixth session)."""
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
        apart = np.abs(ends[:, None] - ends[None, :])
        others = ~np.eye(len(ends), dtype=bool)
        # Each change less the median of the other changes within `neighbours` years
        # (itself when there are none: a residual of 0).
        neighbours = (apart <= BREAK_RULE["neighbours"]) & others
        residuals = changes - np.where(
            neighbours.any(axis=1), _row_medians(changes, neighbours), changes
        )
        # The robust spread of the other residuals within `window` years.
        nearby = (apart <= BREAK_RULE["window"]) & others
        centre = _row_medians(residuals, nearby)
        spreads = 1.4826 * _row_medians(np.abs(residuals[None, :] - centre[:, None]), nearby)
        tested = (gaps <= 2) & (nearby.sum(axis=1) >= BREAK_RULE["min_residuals"])
        for index in np.flatnonzero(tested & (np.abs(residuals) > np.maximum(k * spreads, floor))):
            rows.append(
                (
                    series_id,
                    int(ends[index]),
                    float(changes[index]),
                    float(residuals[index]),
                    float(spreads[index]),
                )
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


def _row_medians(values: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Row ``i``: the median of ``values`` where ``kept[i]`` (``values`` one row for
    every row, or a matrix), NaN where it keeps none. The middle value, or the mean of
    the two middle values, of each row's kept values sorted: what ``np.median`` returns
    for them, to the bit."""
    matrix = np.where(kept, np.broadcast_to(values, kept.shape), np.nan)
    ordered = np.sort(matrix, axis=1)  # NaN sorts last
    count = kept.sum(axis=1)
    rows = np.arange(len(kept))
    low = ordered[rows, np.maximum((count - 1) // 2, 0)]
    high = ordered[rows, np.maximum(count // 2, 0)]
    medians = np.where(count % 2 == 1, low, (low + high) / 2)
    return np.where(count > 0, medians, np.nan)
