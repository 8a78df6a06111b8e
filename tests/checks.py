"""Assertions several test modules share."""

import polars as pl


def intervals_are_ordered(forecast: pl.DataFrame, point: str = "mean") -> bool:
    """lo95 <= lo80 <= point <= hi80 <= hi95 on every row: the nesting every reader of a
    forecast relies on."""
    return forecast.select(
        (
            (pl.col("lo95") <= pl.col("lo80"))
            & (pl.col("lo80") <= pl.col(point))
            & (pl.col(point) <= pl.col("hi80"))
            & (pl.col("hi80") <= pl.col("hi95"))
        ).all()
    ).item()
