"""Prophet (Meta's additive trend model) behind talentflow's model contract.

Yearly public statistics have no seasonality, so every seasonal component is off and
Prophet is a piecewise-linear trend with automatic changepoints. Intervals come from
Prophet's own simulation of future trend changes plus noise (``predictive_samples``),
so every level is read off one set of samples.

Notes
-----
Prophet's intervals are mostly observation noise: on a steady trend they barely widen
with the horizon (trend uncertainty only comes from changepoints like the historical
ones), so their coverage at long horizons must be measured by backtests, not assumed.

Sampling uses numpy's global generator; each series is seeded from ``seed`` so that a
rerun on the same data publishes the same numbers.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from models.base import Forecaster


class ProphetForecaster(Forecaster):
    """Prophet with linear growth and no seasonality.

    Parameters
    ----------
    uncertainty_samples : int, default 1000
        Simulated futures behind the intervals.
    changepoint_prior_scale : float, default 0.05
        Prophet's default trend flexibility.
    seed : int, default 0
    """

    name = "prophet"
    min_observations = 3

    def __init__(
        self, uncertainty_samples: int = 1000, changepoint_prior_scale: float = 0.05, seed: int = 0
    ) -> None:
        self.uncertainty_samples = uncertainty_samples
        self.changepoint_prior_scale = changepoint_prior_scale
        self.seed = seed

    def _fit_series(self, series_id, years, y):
        from prophet import Prophet  # heavy import; only when a Prophet model is fitted

        _quiet_prophet_logs()
        model = Prophet(
            growth="linear",
            yearly_seasonality=False,
            weekly_seasonality=False,
            daily_seasonality=False,
            uncertainty_samples=self.uncertainty_samples,
            changepoint_prior_scale=self.changepoint_prior_scale,
        )
        model.fit(pd.DataFrame({"ds": _year_starts(years), "y": y}))
        return model

    def _predict_series(self, model, years, levels: Sequence[int]) -> dict:
        future = pd.DataFrame({"ds": _year_starts(years)})
        np.random.seed(self.seed)
        samples = model.predictive_samples(future)["yhat"]  # (len(years), samples)
        keep = model.uncertainty_samples
        model.uncertainty_samples = 0  # the point forecast needs no sampling
        try:
            mean = model.predict(future)["yhat"].to_numpy()
        finally:
            model.uncertainty_samples = keep
        columns = {"mean": mean}
        for level in levels:
            tail = (100 - level) / 200
            columns[f"lo{level}"] = np.quantile(samples, tail, axis=1)
            columns[f"hi{level}"] = np.quantile(samples, 1 - tail, axis=1)
        return columns


def _quiet_prophet_logs() -> None:
    """cmdstanpy logs every chain at INFO and re-arms itself when its logger has no
    handler; Prophet logs an error when plotly (plots only) is absent."""
    cmdstanpy_logger = logging.getLogger("cmdstanpy")
    if not cmdstanpy_logger.handlers:
        cmdstanpy_logger.addHandler(logging.NullHandler())
    cmdstanpy_logger.setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)


def _year_starts(years) -> pd.DatetimeIndex:
    return pd.to_datetime([f"{int(year)}-01-01" for year in years])
