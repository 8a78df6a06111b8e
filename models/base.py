"""The contract every talentflow forecasting model honours.

A model is fitted on one long frame of many series and predicts a long frame, so the
forecasting task, the backtest and the publisher never special-case a model:

``fit(history)``
    ``history``: ``series_id`` (str), ``year`` (Int32), ``y`` (Float64); years may have
    gaps; each series needs at least :attr:`Forecaster.min_observations` rows.
``predict(horizon, levels)``
    ``horizon`` years after each series' last observed year. Returns ``series_id, year,
    mean`` and, for each level L in ``levels``, ``lo{L}, hi{L}``: the central L %
    prediction interval.

Notes
-----
After Nixtla's statsforecast: one long table in, one long table out.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from statistics import NormalDist
from typing import Self

import polars as pl

HISTORY_SCHEMA = {"series_id": pl.String, "year": pl.Int32, "y": pl.Float64}


class Forecaster(ABC):
    """Base class: subclasses implement :meth:`_fit_series` and :meth:`_predict_series`."""

    name: str = "forecaster"
    min_observations: int = 2

    def fit(self, history: pl.DataFrame) -> Self:
        check_history(history, self.min_observations)
        self._series = {
            series_id: (frame["year"].to_numpy(), frame["y"].to_numpy())
            for (series_id,), frame in history.sort("series_id", "year").group_by(
                "series_id", maintain_order=True
            )
        }
        self._fitted = {
            sid: self._fit_series(sid, years, y) for sid, (years, y) in self._series.items()
        }
        return self

    def predict(self, horizon: int, levels: Sequence[int] = (80, 95)) -> pl.DataFrame:
        if not hasattr(self, "_fitted"):
            raise RuntimeError(f"{self.name}: call fit() before predict()")
        if horizon < 1:
            raise ValueError(f"{self.name}: horizon must be at least 1, got {horizon}")
        frames = []
        for series_id, state in self._fitted.items():
            last_year = int(self._series[series_id][0][-1])
            years = list(range(last_year + 1, last_year + horizon + 1))
            columns = self._predict_series(state, years, levels)
            frames.append(pl.DataFrame({"series_id": series_id, "year": years, **columns}))
        return (
            pl.concat(frames)
            .with_columns(pl.col("year").cast(pl.Int32))
            .select(
                "series_id",
                "year",
                "mean",
                *[c for level in levels for c in (f"lo{level}", f"hi{level}")],
            )
        )

    @abstractmethod
    def _fit_series(self, series_id: str, years, y): ...

    @abstractmethod
    def _predict_series(self, state, years: list[int], levels: Sequence[int]) -> dict: ...


def check_history(history: pl.DataFrame, min_observations: int) -> None:
    missing = set(HISTORY_SCHEMA) - set(history.columns)
    if missing:
        raise ValueError(f"history lacks columns {sorted(missing)}; it needs {HISTORY_SCHEMA}")
    if history["y"].null_count() or history["y"].is_nan().any():
        raise ValueError("history has null or NaN values of y; drop them before fitting")
    if history.select(pl.struct("series_id", "year").is_duplicated().any()).item():
        raise ValueError("history has more than one row for a series and year")
    short = history.group_by("series_id").len().filter(pl.col("len") < min_observations)
    if short.height:
        raise ValueError(
            f"{short.height} series have fewer than {min_observations} observations, "
            f"e.g. {short['series_id'].head(3).to_list()}"
        )


def normal_quantile(level: int) -> float:
    """z such that a normal variable falls within ±z with probability level %."""
    return NormalDist().inv_cdf(0.5 + level / 200)
