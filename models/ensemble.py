"""An equal-weight combination of contract models, intervals by quantile averaging.

Combining forecasts from different methods is among the most reliable ways to cut
forecast error; talentflow's ensemble averages its members' point forecasts and, at
each level, their interval bounds.

This module must never touch Prefect, files or settings: frames in, frames out.

Notes
-----
Averaging bounds is averaging quantiles ("Vincentization"): the combined lo80 is the
mean of the members' 10 % quantiles. Unlike averaging the members' probability
distributions (a mixture), it keeps the common shape and gives intervals no wider than
the widest member's; a mixture would widen them where members disagree. Because every
member's bounds are ordered (lo95 ≤ lo80 ≤ mean ≤ hi80 ≤ hi95), so are their means.

Members with a transformed space (models.transforms) contribute medians, so the
ensemble ``mean`` is then a mean of medians.

References
----------
Vincent, "The function of the vibrissae in the behavior of the white rat", *Behavior
Monographs* 1(5), 1912 (the averaging of quantiles). Genest, "Vincentization
revisited", *Annals of Statistics* 20(2), 1992. Lichtendahl, Grushka-Cockayne &
Winkler, "Is it better to average probabilities or quantiles?", *Management Science*
59(7), 2013. Bates & Granger, "The combination of forecasts", *Operational Research
Quarterly* 20(4), 1969.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Self

import polars as pl

from talentflow.models.base import Forecaster, check_history, tidy_prediction


class Ensemble(Forecaster):
    """The mean of its members' forecasts: point forecast and every bound.

    Parameters
    ----------
    members : Sequence[Forecaster]
        At least two models with distinct names (wrap one in
        ``Transformed(..., name=...)`` to tell apart two variants of one model).
    name : str, default "ensemble"

    Notes
    -----
    Each member is fitted on the same history and ``exog``, restricted to the series
    with at least its ``min_observations``; a series too short for some members is
    forecast by the others. ``min_observations`` is therefore the smallest of the
    members', and ``uses_exog`` is true when any member reads ``exog``.
    """

    def __init__(self, members: Sequence[Forecaster], name: str = "ensemble") -> None:
        names = [member.name for member in members]
        if len(members) < 2:
            raise ValueError(f"{name}: an ensemble needs at least two members, got {names}")
        duplicated = sorted({member for member in names if names.count(member) > 1})
        if duplicated:
            raise ValueError(
                f"{name}: member names must be distinct, {duplicated} repeat; name one, "
                "e.g. Transformed(ETS(), 'log', name='ets_log')"
            )
        self.members = list(members)
        self.name = name

    @property
    def min_observations(self) -> int:
        return min(member.min_observations for member in self.members)

    @property
    def uses_exog(self) -> bool:
        return any(member.uses_exog for member in self.members)

    def fit(self, history: pl.DataFrame, exog: pl.DataFrame | None = None) -> Self:
        check_history(history, self.min_observations)
        observations = pl.len().over("series_id")
        self._fitted = {}  # member name → the series it forecasts
        for member in self.members:
            enough = history.filter(observations >= member.min_observations)
            if enough.is_empty():
                continue
            member.fit(enough, exog)
            self._fitted[member.name] = enough["series_id"].unique().sort().to_list()
        return self

    def predict(
        self, horizon: int, levels: Sequence[int] = (80, 95), exog: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        self._check_fitted(horizon)
        values = ["mean", *[f"{side}{level}" for level in levels for side in ("lo", "hi")]]
        forecasts = [
            member.predict(horizon, levels, exog)
            for member in self.members
            if member.name in self._fitted
        ]
        combined = (
            pl.concat(forecasts)
            .group_by("series_id", "year")
            .agg(pl.col(values).mean(), pl.len().alias("members"))
        )
        return tidy_prediction(combined, levels)

    def artefacts(self) -> dict[str, bytes]:
        """Every member's files as ``{member}/{file}``, and ``ensemble.json``: the
        members, the series each one forecasts and the combination rule."""
        if not hasattr(self, "_fitted"):
            raise RuntimeError(f"{self.name}: call fit() before artefacts()")
        files = {
            f"{member.name}/{file_name}": content
            for member in self.members
            if member.name in self._fitted
            for file_name, content in member.artefacts().items()
        }
        summary = {
            "model": self.name,
            "combination": "equal-weight mean of means and of bounds (quantile averaging)",
            "members": self._fitted,
        }
        return {**files, "ensemble.json": json.dumps(summary).encode()}

    # A combination: fit() and predict() hand whole frames to the members.
    def _fit_series(self, series_id, years, y):
        raise NotImplementedError("Ensemble combines whole models; call fit()")

    def _predict_series(self, state, years, levels: Sequence[int]) -> dict:
        raise NotImplementedError("Ensemble combines whole models; call predict()")
