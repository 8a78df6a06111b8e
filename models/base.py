"""The contract every talentflow forecasting model honours.

A model is fitted on one long frame of many series and predicts a long frame, so the
forecasting task, the backtest and the publisher never special-case a model:

``fit(history, exog=None)``
    ``history``: ``series_id`` (str), ``year`` (Int32), ``y`` (Float64); years may have
    gaps; each series needs at least :attr:`Forecaster.min_observations` rows.
``predict(horizon, levels, exog=None)``
    ``horizon`` years after each series' last observed year. Returns ``series_id, year,
    mean`` and, for each level L in ``levels``, ``lo{L}, hi{L}``: the central L %
    prediction interval.
``exog``
    Known drivers (talentflow's are WPP cohort projections): a long frame ``series_id,
    year`` and one Float64 column per driver, covering every history year at ``fit`` and
    every forecast year at ``predict``. Only models with :attr:`Forecaster.uses_exog`
    read it; the others ignore it. ``predict`` without ``exog`` reuses the frame given to
    ``fit``; passing another one (a Low or High variant) gives that scenario's forecast
    from the same fitted model.
``artefacts()``
    The fitted model as files (name → bytes), never a pickle: JSON parameters, Prophet's
    own JSON, skops for scikit-learn.

Notes
-----
After Nixtla's statsforecast: one long table in, one long table out.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from statistics import NormalDist
from typing import Self

import numpy as np
import polars as pl

HISTORY_SCHEMA = {"series_id": pl.String, "year": pl.Int32, "y": pl.Float64}


class Forecaster(ABC):
    """Base class: subclasses implement :meth:`_fit_series` and :meth:`_predict_series`."""

    name: str = "forecaster"
    min_observations: int = 2
    uses_exog: bool = False

    def fit(self, history: pl.DataFrame, exog: pl.DataFrame | None = None) -> Self:
        check_history(history, self.min_observations)
        self._exog = exog
        self._series = series_arrays(history)
        self._fitted = {
            sid: self._fit_series(sid, years, y) for sid, (years, y) in self._series.items()
        }
        return self

    def predict(
        self, horizon: int, levels: Sequence[int] = (80, 95), exog: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        self._check_fitted(horizon)
        series = list(self._fitted)
        last_years = np.array([int(self._series[sid][0][-1]) for sid in series], dtype=np.int64)
        rows: dict[str, list] = {}
        for series_id, last_year in zip(series, last_years, strict=True):
            years = list(range(int(last_year) + 1, int(last_year) + horizon + 1))
            columns = self._predict_series(self._fitted[series_id], years, levels)
            for column, values in columns.items():
                rows.setdefault(column, []).append(values)
        columns = {column: np.vstack(values) for column, values in rows.items()}
        return prediction_frame(series, last_years, columns, levels)

    def artefacts(self) -> dict[str, bytes]:
        """Per-series fitted state as JSON (plain numbers); models holding richer
        objects override this."""
        if not hasattr(self, "_fitted"):
            raise RuntimeError(f"{self.name}: call fit() before artefacts()")
        state = {sid: _plain(value) for sid, value in self._fitted.items()}
        return {"params.json": json.dumps({"model": self.name, "series": state}).encode()}

    def _check_fitted(self, horizon: int) -> None:
        if not hasattr(self, "_fitted"):
            raise RuntimeError(f"{self.name}: call fit() before predict()")
        if horizon < 1:
            raise ValueError(f"{self.name}: horizon must be at least 1, got {horizon}")

    @abstractmethod
    def _fit_series(self, series_id: str, years, y): ...

    @abstractmethod
    def _predict_series(self, state, years: list[int], levels: Sequence[int]) -> dict: ...


def series_arrays(
    history: pl.DataFrame, value: str = "y"
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each series' ``(years, <value>)`` as NumPy arrays, series in sorted order and years
    ascending: the form per-series fits read. Split at the series' boundaries in one
    sorted frame (iterating a ``group_by`` built a frame per series: a tenth of a naive
    backtest's time on 339 series, bench/README.md)."""
    ordered = history.sort("series_id", "year")
    ids = ordered["series_id"].to_numpy()
    if not len(ids):
        return {}
    cuts = (np.flatnonzero(ids[1:] != ids[:-1]) + 1).tolist()
    years = np.split(ordered["year"].to_numpy(), cuts)
    values = np.split(ordered[value].to_numpy(), cuts)
    return {str(ids[start]): (years[i], values[i]) for i, start in enumerate([0, *cuts])}


def prediction_frame(
    series_ids: Sequence[str],
    last_years: np.ndarray,
    columns: dict[str, np.ndarray],
    levels: Sequence[int],
) -> pl.DataFrame:
    """The contract's output from per-series arrays: ``columns`` maps ``mean``,
    ``lo{L}`` and ``hi{L}`` to arrays of shape (series, horizon), row i the forecast of
    ``series_ids[i]`` for the years after ``last_years[i]``. One frame built from whole
    columns (a frame per series cost more than naive's and drift's arithmetic)."""
    horizon = next(iter(columns.values())).shape[1]
    steps = np.arange(1, horizon + 1)
    ids = pl.Series("series_id", list(series_ids), dtype=pl.String)
    frame = pl.DataFrame(
        {
            "series_id": ids.gather(np.repeat(np.arange(len(ids)), horizon)),
            "year": (np.asarray(last_years, dtype=np.int64)[:, None] + steps).ravel(),
            **{
                column: np.asarray(values, dtype=np.float64).ravel()
                for column, values in columns.items()
            },
        }
    )
    return tidy_prediction(frame, levels)


def tidy_prediction(frame: pl.DataFrame, levels: Sequence[int]) -> pl.DataFrame:
    """The contract's output: columns in order, ``year`` as Int32, sorted."""
    return (
        frame.with_columns(pl.col("year").cast(pl.Int32))
        .select(
            pl.col("series_id").cast(pl.String),
            "year",
            pl.col("mean").cast(pl.Float64),
            *[pl.col(c).cast(pl.Float64) for level in levels for c in (f"lo{level}", f"hi{level}")],
        )
        .sort("series_id", "year")
    )


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    raise TypeError(f"{type(value).__name__} is not plain data; override artefacts()")


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
