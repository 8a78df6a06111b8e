"""Naive and drift: the baselines every other model must beat.

Both handle gaps between observed years (public statistics skip years): a step of k
years counts as k one-year steps of a random walk.

References
----------
Hyndman & Athanasopoulos, *Forecasting: Principles and Practice* (3rd ed.), §5.2 and
§5.5, "benchmark methods" and their prediction intervals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from talentflow.models.base import Forecaster, normal_quantile


def _steps(years: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    gaps = np.diff(years).astype(float)
    return np.diff(y), gaps


class Naive(Forecaster):
    """Random walk: the last value, with intervals widening as sqrt(h).

    σ² is the mean of squared one-year changes (a k-year change counts as k years)."""

    name = "naive"

    def _fit_series(self, series_id, years, y):
        changes, gaps = _steps(years, y)
        sigma2 = float(np.sum(changes**2) / np.sum(gaps))
        return {"last": float(y[-1]), "sigma2": sigma2}

    def _predict_series(self, state, years, levels: Sequence[int]) -> dict:
        h = np.arange(1, len(years) + 1, dtype=float)
        mean = np.full(len(years), state["last"])
        sd = np.sqrt(state["sigma2"] * h)
        return _with_intervals(mean, sd, levels)


class Drift(Forecaster):
    """Random walk with drift: the line through the first and last observations.

    slope b = (y_T − y_1)/(t_T − t_1); σ² from the one-year residual changes
    (change − b·gap), with m − 1 degrees of freedom for m changes; forecast variance at
    h years σ²·h·(1 + h/(t_T − t_1))."""

    name = "drift"
    min_observations = 3

    def _fit_series(self, series_id, years, y):
        changes, gaps = _steps(years, y)
        span = float(years[-1] - years[0])
        slope = float((y[-1] - y[0]) / span)
        residuals = changes - slope * gaps
        sigma2 = float(np.sum(residuals**2 / gaps) / max(len(changes) - 1, 1))
        return {"last": float(y[-1]), "slope": slope, "sigma2": sigma2, "span": span}

    def _predict_series(self, state, years, levels: Sequence[int]) -> dict:
        h = np.arange(1, len(years) + 1, dtype=float)
        mean = state["last"] + state["slope"] * h
        sd = np.sqrt(state["sigma2"] * h * (1 + h / state["span"]))
        return _with_intervals(mean, sd, levels)


def _with_intervals(mean: np.ndarray, sd: np.ndarray, levels: Sequence[int]) -> dict:
    columns = {"mean": mean}
    for level in levels:
        z = normal_quantile(level)
        columns[f"lo{level}"] = mean - z * sd
        columns[f"hi{level}"] = mean + z * sd
    return columns
