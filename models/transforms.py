"""Forecast in a transformed space so that intervals cannot cross a natural bound.

``Transformed(model, space)`` fits any contract model on transformed ``y`` and maps its
point forecast and every interval bound back. Uses in talentflow: bounded rates
(tertiary enrolment ratio, researchers per working-age adult) in ``"logit"`` space with
a cap, non-negative counts in ``"log"`` or ``"log1p"`` space.

This module must never touch Prefect, files or settings: frames in, frames out.

Notes
-----
The transforms are strictly increasing, so a quantile in transformed space maps to the
same quantile of the back-transformed forecast: the ``lo{L}``/``hi{L}`` bounds stay
valid L % intervals. The mean does not survive a non-linear transform: the ``mean``
column becomes the forecast distribution's median when the inner model's forecast is
symmetric in the transformed space (ETS with additive errors, Theta, drift, naive), and
lies below the back-transformed mean of a skewed count. Bias-adjusting it back to a
mean would need the forecast variance, which the contract does not expose.

References
----------
Hyndman & Athanasopoulos, *Forecasting: Principles and Practice* (3rd ed.), §5.6
"Forecasting using transformations" (back-transformed point forecasts are medians) and
§13.3 "Ensuring forecasts stay within limits" (the scaled logit).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Self

import numpy as np
import polars as pl

from talentflow.models.base import Forecaster, check_history

SPACES = ("log", "log1p", "logit")


class Transformed(Forecaster):
    """Any contract model fitted in ``log``, ``log1p`` or ``logit`` space.

    Parameters
    ----------
    model : Forecaster
        The inner model; it sees transformed ``y`` and the ``exog`` frame unchanged.
    space : {"log", "log1p", "logit"}
        ``"log"``: ``y`` > 0 (sizes that are never zero). ``"log1p"``: ``y`` ≥ 0, counts
        that can be zero, z = log(1 + y); a value that maps back below zero is read as
        zero. ``"logit"``: a rate in [0, cap],
        z = log(y / (cap − y)); forecasts stay inside (0, cap) at every horizon.
    cap : float or Mapping[str, float] or None, default None
        The logit's upper bound, one for all series or one per ``series_id``; required
        for and only allowed with ``"logit"``. A gross enrolment ratio can exceed 100 %
        (repeaters, older students), so cap it well above its observed maximum.
    epsilon : float, default 1e-3
        Logit only: values closer than ``epsilon × cap`` to 0 or to the cap are clipped
        to that distance (the logit of 0 or cap is infinite).
    name : str or None, default None
        The model's name; by default the inner model's, so a transformed ETS still
        publishes as ``ets``. Give one when an ensemble holds both.

    Notes
    -----
    ``min_observations`` and ``uses_exog`` are the inner model's.

    Why epsilon is 1e-3, not smaller: a clipped value becomes an extreme point in logit
    space (logit(1e-3) ≈ −6.9, logit(1e-6) ≈ −13.8), and an ETS or Theta fit chases
    it. A series that really sits at 0 for years is better modelled in ``"log1p"`` space.
    """

    def __init__(
        self,
        model: Forecaster,
        space: str,
        cap: float | Mapping[str, float] | None = None,
        epsilon: float = 1e-3,
        name: str | None = None,
    ) -> None:
        if space not in SPACES:
            raise ValueError(f"Transformed: space must be one of {SPACES}, got {space!r}")
        if (space == "logit") != (cap is not None):
            raise ValueError(
                "Transformed: a cap is required for the logit space and meaningless for "
                f"{space!r}; pass cap= only with space='logit'"
            )
        caps = cap.values() if isinstance(cap, Mapping) else [cap] if cap is not None else []
        if any(not value > 0 for value in caps):
            raise ValueError("Transformed: every cap must be a positive number")
        if not 0 < epsilon < 0.5:
            raise ValueError(f"Transformed: epsilon must be in (0, 0.5), got {epsilon}")
        self.model = model
        self.space = space
        self.cap = cap
        self.epsilon = epsilon
        self._name = name

    @property
    def name(self) -> str:
        return self._name or self.model.name

    @property
    def min_observations(self) -> int:
        return self.model.min_observations

    @property
    def uses_exog(self) -> bool:
        return self.model.uses_exog

    def fit(self, history: pl.DataFrame, exog: pl.DataFrame | None = None) -> Self:
        # The contract's own checks first, so a NaN is named as a NaN, not as out of range.
        check_history(history, self.model.min_observations)
        self._caps = self._caps_by_series(history)
        history = history.with_columns(cap=self._cap_of(history["series_id"]))
        self._check_domain(history)
        transformed = history.with_columns(
            pl.Series("y", self._forward(history["y"].to_numpy(), history["cap"].to_numpy()))
        ).drop("cap")
        self.model.fit(transformed, exog)
        self._fitted = True
        return self

    def predict(
        self, horizon: int, levels: Sequence[int] = (80, 95), exog: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        self._check_fitted(horizon)
        forecast = self.model.predict(horizon, levels, exog)
        values = ["mean", *[f"{side}{level}" for level in levels for side in ("lo", "hi")]]
        cap = self._cap_of(forecast["series_id"]).to_numpy()
        return forecast.with_columns(
            pl.Series(column, self._backward(forecast[column].to_numpy(), cap)) for column in values
        )

    def artefacts(self) -> dict[str, bytes]:
        """The inner model's files plus ``transform.json`` (space, cap, epsilon)."""
        if not hasattr(self, "_fitted"):
            raise RuntimeError(f"{self.name}: call fit() before artefacts()")
        transform: dict = {"space": self.space}
        if self.space == "logit":
            cap = self._caps if isinstance(self.cap, Mapping) else self.cap
            transform |= {"cap": cap, "epsilon": self.epsilon}
        return {**self.model.artefacts(), "transform.json": json.dumps(transform).encode()}

    # A wrapper: fit() and predict() delegate whole frames to the inner model.
    def _fit_series(self, series_id, years, y):
        raise NotImplementedError("Transformed wraps a whole model; call fit()")

    def _predict_series(self, state, years, levels: Sequence[int]) -> dict:
        raise NotImplementedError("Transformed wraps a whole model; call predict()")

    def _caps_by_series(self, history: pl.DataFrame) -> dict[str, float]:
        series = history["series_id"].unique().sort().to_list()
        if not isinstance(self.cap, Mapping):
            return dict.fromkeys(series, math.nan if self.cap is None else float(self.cap))
        missing = sorted(set(series) - set(self.cap))
        if missing:
            raise ValueError(
                f"Transformed(logit): no cap for {len(missing)} series, e.g. {missing[:3]}; "
                "give every series_id a cap or pass one number"
            )
        return {series_id: float(self.cap[series_id]) for series_id in series}

    def _cap_of(self, series_ids: pl.Series) -> pl.Series:
        return series_ids.replace_strict(self._caps, return_dtype=pl.Float64).alias("cap")

    def _check_domain(self, history: pl.DataFrame) -> None:
        y, cap = pl.col("y"), pl.col("cap")
        outside, rule = {
            "log": (y <= 0, "y > 0 (use space='log1p' for counts with zeros)"),
            "log1p": (y < 0, "y >= 0"),
            "logit": ((y < 0) | (y > cap), "0 <= y <= cap (raise the cap?)"),
        }[self.space]
        bad = history.filter(outside)
        if bad.height:
            examples = bad.select("series_id", "year", "y").head(3).rows()
            raise ValueError(
                f"Transformed({self.space}): {bad.height} values break {rule}, in series "
                f"{sorted(bad['series_id'].unique().to_list())[:5]}; e.g. (series, year, y) "
                f"{examples}"
            )

    def _forward(self, y: np.ndarray, cap: np.ndarray) -> np.ndarray:
        if self.space == "log":
            return np.log(y)
        if self.space == "log1p":
            return np.log1p(y)
        return capped_logit(y, cap, self.epsilon)

    def _backward(self, z: np.ndarray, cap: np.ndarray) -> np.ndarray:
        if self.space == "log":
            return np.exp(z)
        if self.space == "log1p":
            # z < 0 would map to a count in (-1, 0): a bound there means "zero"
            return np.maximum(np.expm1(z), 0.0)
        return inverse_capped_logit(z, cap)


def capped_logit(y: np.ndarray, cap: np.ndarray | float, epsilon: float = 1e-3) -> np.ndarray:
    """``log(y / (cap - y))``, with ``y / cap`` clipped to ``[epsilon, 1 - epsilon]``."""
    share = np.clip(np.asarray(y, dtype=float) / cap, epsilon, 1 - epsilon)
    return np.log(share) - np.log1p(-share)


def inverse_capped_logit(z: np.ndarray, cap: np.ndarray | float) -> np.ndarray:
    """``cap · sigmoid(z)``, written to neither overflow nor exceed cap in floating point."""
    return cap * np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=float)))
