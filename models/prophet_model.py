"""Prophet (Meta's additive trend model) behind talentflow's model contract.

Yearly public statistics have no seasonality, so every seasonal component is off and
Prophet is a trend with automatic changepoints: piecewise-linear, or logistic between a
floor and a cap for bounded rates (tertiary enrolment ratio, researchers per working-age
adult), plus optional known drivers added as linear regressors. Intervals come from
Prophet's own simulation of future trend changes plus noise (``predictive_samples``),
so every level is read off one set of samples.

This module must never read files, settings or Prefect: frames in, frames out, and the
fitted state out as Prophet's own JSON (never a pickle).

Notes
-----
Prophet's intervals are mostly observation noise: on a steady trend they barely widen
with the horizon (trend uncertainty only comes from changepoints like the historical
ones), so their coverage at long horizons must be measured by backtests, not assumed.

Sampling uses numpy's global generator; each series is seeded from ``seed`` so that a
rerun on the same data publishes the same numbers.

References
----------
Taylor, S. J. & Letham, B. (2018). Forecasting at scale. *The American Statistician*
72(1), 37-45. Prophet documentation, "Saturating forecasts" (cap and floor columns in
both the history and the future frame) and "Additional regressors"; ``prophet.serialize``
(``model_to_json`` / ``model_from_json``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Self
from urllib.parse import quote

import numpy as np
import pandas as pd
import polars as pl

from talentflow.models.base import Forecaster

if TYPE_CHECKING:
    from prophet import Prophet

Bound = float | Mapping[str, float] | Callable[[np.ndarray], float]
MANIFEST = "params.json"
FIT_EXOG = "exog.json"


@dataclass
class _SeriesFit:
    """One series' fitted Prophet and the bounds its forecasts are kept within."""

    series_id: str
    model: Prophet
    cap: float | None
    floor: float | None


class ProphetForecaster(Forecaster):
    """Prophet with linear or logistic growth, optional regressors, no seasonality.

    Parameters
    ----------
    uncertainty_samples : int, default 1000
        Simulated futures behind the intervals; predict time grows linearly with it
        (200 is enough for tests and quick runs).
    changepoint_prior_scale : float, default 0.05
        Prophet's default trend flexibility.
    seed : int, default 0
        Seeds numpy's global generator before each series' sampling.
    growth : {"linear", "logistic"}, default "linear"
        ``"logistic"`` saturates between ``floor`` and ``cap``, for bounded rates.
    cap : float, mapping or callable, optional
        Logistic growth only, and required there: the carrying capacity, as one number
        for every series, a mapping ``series_id → cap``, or a callable given the series'
        observed values (a 1-d float array, in year order) that returns its cap, e.g.
        ``lambda y: max(100.0, 1.1 * y.max())``. Constant over the forecast.
    floor : float or mapping, default 0.0
        Logistic growth only: the saturating minimum, one number or ``series_id → floor``.
    regressors : sequence of str, default ()
        Columns of ``exog`` added as linear regressors (``Prophet.add_regressor``).
        When given, the model reads ``exog`` (:attr:`uses_exog` is True): at ``fit`` for
        every history year, at ``predict`` for every forecast year, from the ``exog``
        passed to ``predict`` or else the one given to ``fit``.

    Notes
    -----
    A logistic trend never leaves ``(floor, cap)``, but Prophet adds Gaussian noise and
    additive regressor effects on top of it; since the quantity is bounded by definition,
    the mean and every sampled future are clipped to ``[floor, cap]``. An observed value
    outside ``[floor, cap]`` is refused (a cap below the data is a mistake, not a model).

    :meth:`artefacts` writes ``params.json`` (settings, each series' resolved cap and
    floor, the file holding its model), one Prophet JSON per series
    (``prophet.serialize.model_to_json``) and, with regressors, the fit's ``exog`` as
    ``exog.json``; :meth:`from_artefacts` rebuilds a forecaster that predicts the same.

    References
    ----------
    Taylor & Letham (2018), "Forecasting at scale"; Prophet docs, "Saturating forecasts"
    and "Additional regressors".
    """

    name = "prophet"
    min_observations = 3

    def __init__(
        self,
        uncertainty_samples: int = 1000,
        changepoint_prior_scale: float = 0.05,
        seed: int = 0,
        *,
        growth: Literal["linear", "logistic"] = "linear",
        cap: Bound | None = None,
        floor: float | Mapping[str, float] = 0.0,
        regressors: Sequence[str] = (),
    ) -> None:
        if growth not in ("linear", "logistic"):
            raise ValueError(f"prophet: growth must be 'linear' or 'logistic', got {growth!r}")
        if growth == "logistic" and cap is None:
            raise ValueError("prophet: logistic growth needs a cap (number, mapping or callable)")
        if growth == "linear" and cap is not None:
            raise ValueError("prophet: cap applies to logistic growth only; pass growth='logistic'")
        if isinstance(regressors, str):
            raise TypeError(f"prophet: regressors must be a sequence of names, not {regressors!r}")
        self.uncertainty_samples = uncertainty_samples
        self.changepoint_prior_scale = changepoint_prior_scale
        self.seed = seed
        self.growth = growth
        self.cap = cap
        self.floor = floor
        self.regressors = tuple(regressors)
        self.uses_exog = bool(self.regressors)

    # -- fit ---------------------------------------------------------------------------

    def fit(self, history: pl.DataFrame, exog: pl.DataFrame | None = None) -> Self:
        """Fit one Prophet per series of ``history`` (``series_id, year, y``).

        Parameters
        ----------
        history : pl.DataFrame
            The contract's long history (see :mod:`models.base`).
        exog : pl.DataFrame, optional
            ``series_id, year`` and the ``regressors`` columns for every history year;
            required when ``regressors`` are given, ignored otherwise.

        Returns
        -------
        ProphetForecaster
            ``self``, fitted.
        """
        if self.regressors:
            _check_exog_columns(exog, self.regressors, "fit")
        self._fit_exog_by_series = _by_series(exog) if self.regressors else {}
        return super().fit(history, exog if self.regressors else None)

    def _fit_series(self, series_id, years, y) -> _SeriesFit:
        _quiet_prophet_logs()  # before the import, which logs that plotly is absent
        from prophet import Prophet  # heavy import; only when a Prophet model is fitted

        # Importing prophet sets its logger to INFO: quiet it again, or every short
        # series logs "n_changepoints greater than number of observations".
        _quiet_prophet_logs()
        cap, floor = self._bounds(series_id, y)
        model = Prophet(
            growth=self.growth,
            yearly_seasonality=False,
            weekly_seasonality=False,
            daily_seasonality=False,
            uncertainty_samples=self.uncertainty_samples,
            changepoint_prior_scale=self.changepoint_prior_scale,
        )
        frame = pd.DataFrame({"ds": _year_starts(years), "y": y})
        for name in self.regressors:
            model.add_regressor(name)
        if self.regressors:
            values = _regressor_values(
                self._fit_exog_by_series, series_id, years, self.regressors, "fit"
            )
            for name in self.regressors:
                frame[name] = values[name]
        if cap is not None:
            frame["cap"], frame["floor"] = cap, floor
        model.fit(frame)
        return _SeriesFit(series_id, model, cap, floor)

    def _bounds(self, series_id: str, y: np.ndarray) -> tuple[float | None, float | None]:
        """The series' (cap, floor) under logistic growth, checked against its data."""
        if self.growth != "logistic":
            return None, None
        cap = _resolve_bound(self.cap, series_id, y, "cap")
        floor = _resolve_bound(self.floor, series_id, y, "floor")
        if not cap > floor:
            raise ValueError(
                f"prophet: series {series_id!r} has cap {cap} not above floor {floor}; "
                "a logistic trend needs floor < cap"
            )
        if y.max() > cap or y.min() < floor:
            raise ValueError(
                f"prophet: series {series_id!r} has observed values in "
                f"[{y.min():g}, {y.max():g}], outside its floor..cap [{floor:g}, {cap:g}]; "
                "raise the cap (or lower the floor) for this series"
            )
        return cap, floor

    # -- predict -----------------------------------------------------------------------

    def predict(
        self, horizon: int, levels: Sequence[int] = (80, 95), exog: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """Forecast ``horizon`` years after each series' last observed year.

        Parameters
        ----------
        horizon : int
            Years to forecast, at least 1.
        levels : sequence of int, default (80, 95)
            Central prediction intervals to return, as ``lo{L}, hi{L}``.
        exog : pl.DataFrame, optional
            With regressors: the scenario's driver values for every forecast year
            (default: the frame given to ``fit``). Ignored without regressors.

        Returns
        -------
        pl.DataFrame
            ``series_id, year, mean, lo{L}, hi{L}…`` (see :mod:`models.base`).
        """
        if self.regressors and exog is not None:
            _check_exog_columns(exog, self.regressors, "predict")
            self._predict_exog_by_series = _by_series(exog)
        else:
            self._predict_exog_by_series = getattr(self, "_fit_exog_by_series", {})
        try:
            return super().predict(horizon, levels)
        finally:
            del self._predict_exog_by_series

    def _predict_series(self, state: _SeriesFit, years, levels: Sequence[int]) -> dict:
        model = state.model
        future = pd.DataFrame({"ds": _year_starts(years)})
        if self.regressors:
            values = _regressor_values(
                self._predict_exog_by_series, state.series_id, years, self.regressors, "predict"
            )
            for name in self.regressors:
                future[name] = values[name]
        if state.cap is not None:
            future["cap"], future["floor"] = state.cap, state.floor
        np.random.seed(self.seed)
        samples = model.predictive_samples(future)["yhat"]  # (len(years), samples)
        keep = model.uncertainty_samples
        model.uncertainty_samples = 0  # the point forecast needs no sampling
        try:
            mean = model.predict(future)["yhat"].to_numpy()
        finally:
            model.uncertainty_samples = keep
        if state.cap is not None:
            # The quantity is bounded by definition; Prophet's noise and regressors are not.
            samples = np.clip(samples, state.floor, state.cap)
            mean = np.clip(mean, state.floor, state.cap)
        columns = {"mean": mean}
        for level in levels:
            tail = (100 - level) / 200
            columns[f"lo{level}"] = np.quantile(samples, tail, axis=1)
            columns[f"hi{level}"] = np.quantile(samples, 1 - tail, axis=1)
        return columns

    # -- artefacts ---------------------------------------------------------------------

    def artefacts(self) -> dict[str, bytes]:
        """The fitted model as files: ``params.json``, one Prophet JSON per series
        (``prophet-<series_id, URL-quoted>.json``) and, with regressors, ``exog.json``.

        Returns
        -------
        dict of str to bytes
            File name → content; load them back with :meth:`from_artefacts`.
        """
        from prophet.serialize import model_to_json

        if not hasattr(self, "_fitted"):
            raise RuntimeError(f"{self.name}: call fit() before artefacts()")
        files: dict[str, bytes] = {}
        series = {}
        for series_id, state in self._fitted.items():
            file_name = f"prophet-{quote(series_id, safe='')}.json"
            files[file_name] = model_to_json(state.model).encode()
            series[series_id] = {"file": file_name, "cap": state.cap, "floor": state.floor}
        manifest = {
            "model": self.name,
            "params": {
                "uncertainty_samples": self.uncertainty_samples,
                "changepoint_prior_scale": self.changepoint_prior_scale,
                "seed": self.seed,
                "growth": self.growth,
                "regressors": list(self.regressors),
            },
            "series": series,
        }
        files[MANIFEST] = json.dumps(manifest).encode()
        if self.regressors and self._exog is not None:
            fit_exog = self._exog.select("series_id", "year", *self.regressors).filter(
                pl.col("series_id").is_in(list(self._fitted))
            )
            files[FIT_EXOG] = json.dumps(fit_exog.to_dict(as_series=False)).encode()
        return files

    @classmethod
    def from_artefacts(cls, artefacts: Mapping[str, bytes]) -> ProphetForecaster:
        """Rebuild a fitted forecaster from :meth:`artefacts`' files.

        Parameters
        ----------
        artefacts : mapping of str to bytes
            The files :meth:`artefacts` returned.

        Returns
        -------
        ProphetForecaster
            Fitted; its ``predict`` gives the same forecasts as the original's.
        """
        _quiet_prophet_logs()
        from prophet.serialize import model_from_json

        if MANIFEST not in artefacts:
            raise ValueError(f"prophet artefacts lack {MANIFEST}; got {sorted(artefacts)}")
        manifest = json.loads(artefacts[MANIFEST])
        if manifest.get("model") != cls.name:
            raise ValueError(f"{MANIFEST} is for model {manifest.get('model')!r}, not {cls.name!r}")
        params, series = manifest["params"], manifest["series"]
        logistic = params["growth"] == "logistic"
        forecaster = cls(
            uncertainty_samples=params["uncertainty_samples"],
            changepoint_prior_scale=params["changepoint_prior_scale"],
            seed=params["seed"],
            growth=params["growth"],
            cap={sid: entry["cap"] for sid, entry in series.items()} if logistic else None,
            floor={sid: entry["floor"] for sid, entry in series.items()} if logistic else 0.0,
            regressors=params["regressors"],
        )
        forecaster._fitted, forecaster._series = {}, {}
        for series_id, entry in series.items():
            model = model_from_json(artefacts[entry["file"]].decode())
            forecaster._fitted[series_id] = _SeriesFit(
                series_id, model, entry["cap"], entry["floor"]
            )
            forecaster._series[series_id] = (
                model.history["ds"].dt.year.to_numpy(),
                model.history["y"].to_numpy(),
            )
        exog = None
        if FIT_EXOG in artefacts:
            exog = pl.DataFrame(json.loads(artefacts[FIT_EXOG])).with_columns(
                pl.col("year").cast(pl.Int32),
                *[pl.col(name).cast(pl.Float64) for name in forecaster.regressors],
            )
        forecaster._exog = exog
        forecaster._fit_exog_by_series = _by_series(exog) if forecaster.regressors else {}
        return forecaster


def _resolve_bound(bound: Bound, series_id: str, y: np.ndarray, what: str) -> float:
    if callable(bound):
        return float(bound(y))
    if isinstance(bound, Mapping):
        if series_id not in bound:
            raise ValueError(
                f"prophet: no {what} for series {series_id!r}; the {what} mapping has "
                f"{len(bound)} series, e.g. {sorted(bound)[:3]}"
            )
        return float(bound[series_id])
    return float(bound)


def _check_exog_columns(exog: pl.DataFrame | None, columns: Sequence[str], when: str) -> None:
    if exog is None:
        raise ValueError(
            f"prophet: regressors {list(columns)} need exog at {when}: a long frame "
            "series_id, year and one Float64 column per regressor"
        )
    missing = [c for c in ("series_id", "year", *columns) if c not in exog.columns]
    if missing:
        raise ValueError(f"prophet: exog at {when} lacks columns {missing}; it has {exog.columns}")


def _by_series(exog: pl.DataFrame | None) -> dict[str, pl.DataFrame]:
    if exog is None:
        return {}
    return {key[0]: frame for key, frame in exog.partition_by("series_id", as_dict=True).items()}


def _regressor_values(
    exog_by_series: Mapping[str, pl.DataFrame],
    series_id: str,
    years: Sequence[int] | np.ndarray,
    columns: Sequence[str],
    when: str,
) -> dict[str, np.ndarray]:
    """Each regressor's values for ``years`` of one series; a ValueError names the
    series and every year the frame lacks (or holds as null)."""
    wanted = pl.DataFrame({"year": [int(year) for year in years]}, schema={"year": pl.Int32})
    rows = exog_by_series.get(series_id)
    if rows is None:
        found = wanted.with_columns(*[pl.lit(None, pl.Float64).alias(c) for c in columns])
    else:
        rows = rows.select(pl.col("year").cast(pl.Int32), *[pl.col(c) for c in columns])
        if rows["year"].is_duplicated().any():
            raise ValueError(f"prophet: exog has more than one row for a year of {series_id!r}")
        found = wanted.join(rows, on="year", how="left", maintain_order="left")
    incomplete = found.filter(pl.any_horizontal([pl.col(c).is_null() for c in columns]))
    if incomplete.height:
        raise ValueError(
            f"prophet: exog at {when} has no {list(columns)} for series {series_id!r} in "
            f"years {incomplete['year'].to_list()}; exog must cover every history year at "
            "fit and every forecast year at predict"
        )
    return {c: found[c].cast(pl.Float64).to_numpy() for c in columns}


def _quiet_prophet_logs() -> None:
    """cmdstanpy logs every chain at INFO and re-arms itself when its logger has no
    handler; Prophet logs an error when plotly (plots only) is absent."""
    cmdstanpy_logger = logging.getLogger("cmdstanpy")
    if not cmdstanpy_logger.handlers:
        cmdstanpy_logger.addHandler(logging.NullHandler())
    cmdstanpy_logger.setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)


def _year_starts(years: Any) -> pd.DatetimeIndex:
    return pd.to_datetime([f"{int(year)}-01-01" for year in years])
