"""The ensemble averages its members' forecasts: point forecast and every bound."""

import json

import numpy as np
import polars as pl
import pytest

from talentflow.models.baselines import Drift, Naive
from talentflow.models.ensemble import Ensemble
from talentflow.models.statsforecast_models import ETS, Theta
from talentflow.models.transforms import Transformed
from tests.checks import intervals_are_ordered

VALUES = ["mean", "lo80", "hi80", "lo95", "hi95"]


def synthetic_mixed_lengths() -> pl.DataFrame:
    """Synthetic series ending in different years: a long trend with a gap in its years,
    a long noisy level and a short series only the baselines can forecast (4 years)."""
    rng = np.random.default_rng(5)
    long_years = [y for y in range(1998, 2021) if y not in (2006, 2007)]
    level_years = list(range(2001, 2018))
    short_years = list(range(2012, 2016))
    return pl.DataFrame(
        {
            "series_id": ["long"] * len(long_years)
            + ["level"] * len(level_years)
            + ["short"] * len(short_years),
            "year": long_years + level_years + short_years,
            "y": [200 + 4 * (y - 1998) + rng.normal(0, 4) for y in long_years]
            + [30 + rng.normal(0, 1) for _ in level_years]
            + [10.0, 11.5, 11.0, 12.5],
        }
    ).with_columns(pl.col("year").cast(pl.Int32))


def members_average(forecasts: list[pl.DataFrame]) -> dict[tuple[str, int], np.ndarray]:
    """The row-wise average of several forecasts, computed without the ensemble."""
    rows: dict[tuple[str, int], list[np.ndarray]] = {}
    for forecast in forecasts:
        for row in forecast.iter_rows(named=True):
            values = np.array([row[column] for column in VALUES])
            rows.setdefault((row["series_id"], row["year"]), []).append(values)
    return {key: np.mean(np.stack(values), axis=0) for key, values in rows.items()}


def test_mean_and_bounds_are_the_members_average():
    history = synthetic_mixed_lengths()
    ensemble = Ensemble([Naive(), Drift()]).fit(history).predict(6)
    expected = members_average([Naive().fit(history).predict(6), Drift().fit(history).predict(6)])
    assert ensemble.columns == ["series_id", "year", *VALUES]
    assert ensemble.height == len(expected) == 18
    for row in ensemble.iter_rows(named=True):
        got = np.array([row[column] for column in VALUES])
        assert got == pytest.approx(expected[(row["series_id"], row["year"])], rel=1e-12)


def test_series_too_short_for_a_member_use_the_members_that_can_forecast_them():
    history = synthetic_mixed_lengths()
    ensemble = Ensemble([ETS(), Theta(), Drift()])
    assert ensemble.min_observations == Drift.min_observations
    forecast = ensemble.fit(history).predict(5)
    drift = Drift().fit(history).predict(5)
    short = forecast.filter(pl.col("series_id") == "short")
    assert short.equals(drift.filter(pl.col("series_id") == "short"))
    assert short["year"].to_list() == [2016, 2017, 2018, 2019, 2020]
    long_history = history.filter(pl.col("series_id") != "short")
    expected = members_average(
        [model.fit(long_history).predict(5) for model in (ETS(), Theta(), Drift())]
    )
    for row in forecast.filter(pl.col("series_id") != "short").iter_rows(named=True):
        got = np.array([row[column] for column in VALUES])
        assert got == pytest.approx(expected[(row["series_id"], row["year"])], rel=1e-9)
    assert forecast.filter(pl.col("series_id") == "long")["year"].min() == 2021
    assert intervals_are_ordered(forecast)


def test_artefacts_are_the_members_json_prefixed_by_member_name():
    history = synthetic_mixed_lengths()
    ensemble = Ensemble([ETS(), Transformed(Drift(), "log", name="drift_log")]).fit(history)
    artefacts = ensemble.artefacts()
    assert set(artefacts) == {
        "ets/params.json",
        "drift_log/params.json",
        "drift_log/transform.json",
        "ensemble.json",
    }
    decoded = {name: json.loads(content) for name, content in artefacts.items()}
    assert decoded["ensemble.json"]["members"] == {
        "ets": ["level", "long"],
        "drift_log": ["level", "long", "short"],
    }
    assert decoded["drift_log/transform.json"] == {"space": "log"}


def test_members_must_be_at_least_two_with_distinct_names():
    with pytest.raises(ValueError, match="distinct"):
        Ensemble([ETS(), Transformed(ETS(), "log")])
    with pytest.raises(ValueError, match="at least two"):
        Ensemble([ETS()])
    with pytest.raises(RuntimeError, match="fit"):
        Ensemble([Naive(), Drift()]).predict(3)
