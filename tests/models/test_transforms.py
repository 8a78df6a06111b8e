"""Transformed keeps forecasts of rates and counts inside their natural bounds."""

import json

import numpy as np
import polars as pl
import pytest

from talentflow.models.baselines import Drift, Naive
from talentflow.models.statsforecast_models import ETS
from talentflow.models.transforms import Transformed
from tests.checks import intervals_are_ordered


def synthetic_series(values: dict[str, list[float]], first_year: int = 2000) -> pl.DataFrame:
    """A synthetic long history: each named series observed yearly from ``first_year``."""
    return pl.DataFrame(
        {
            "series_id": [sid for sid, ys in values.items() for _ in ys],
            "year": [first_year + i for ys in values.values() for i in range(len(ys))],
            "y": [float(y) for ys in values.values() for y in ys],
        }
    ).with_columns(pl.col("year").cast(pl.Int32))


def synthetic_rate_near_cap() -> pl.DataFrame:
    """A synthetic enrolment ratio climbing towards its cap of 100, with noise, and a
    second one ending earlier."""
    rng = np.random.default_rng(3)
    climbing = [60 + 1.6 * i + rng.normal(0, 1.5) for i in range(22)]  # ends near 94
    younger = [20 + 2.0 * i + rng.normal(0, 1.0) for i in range(12)]
    return synthetic_series({"climbing": climbing, "younger": younger})


def test_logit_forecasts_of_a_rate_near_its_cap_never_exceed_it():
    history = synthetic_rate_near_cap()
    plain = Drift().fit(history).predict(60)
    assert plain["hi95"].max() > 100  # what the transform is for
    forecast = Transformed(Drift(), "logit", cap=100.0).fit(history).predict(60)
    bounds = forecast.select("mean", "lo80", "hi80", "lo95", "hi95")
    assert bounds.max_horizontal().max() <= 100.0
    assert bounds.min_horizontal().min() >= 0.0
    assert intervals_are_ordered(forecast)


def test_logit_takes_a_cap_per_series():
    history = synthetic_rate_near_cap()
    caps = {"climbing": 100.0, "younger": 45.0}
    forecast = Transformed(Drift(), "logit", cap=caps).fit(history).predict(40)
    highest = dict(forecast.group_by("series_id").agg(pl.col("hi95").max()).iter_rows())
    assert highest["younger"] <= 45.0 < highest["climbing"] <= 100.0


def test_log_forecasts_of_a_shrinking_count_are_never_negative():
    history = synthetic_series({"shrinking": [100 * 0.8**i for i in range(15)]})
    assert Drift().fit(history).predict(30)["lo95"].min() < 0  # without the transform
    forecast = Transformed(Drift(), "log").fit(history).predict(30)
    assert forecast.select("mean", "lo80", "lo95").min_horizontal().min() > 0
    # a constant rate of decline is a straight line in log space
    assert forecast["mean"][0] == pytest.approx(100 * 0.8**15, rel=1e-9)


def test_log1p_accepts_zero_counts_and_forecasts_no_negative_count():
    history = synthetic_series({"rare": [0, 0, 1, 0, 2, 1, 0, 3, 1, 0]})
    forecast = Transformed(Naive(), "log1p").fit(history).predict(10)
    assert forecast.select("mean", "lo80", "lo95").min_horizontal().min() >= 0.0
    assert intervals_are_ordered(forecast)


@pytest.mark.parametrize(
    ("space", "cap", "level"),
    [("log", None, 250.0), ("log1p", None, 0.0), ("logit", 1.0, 0.37), ("logit", 100.0, 100.0)],
)
def test_a_constant_series_back_transforms_to_itself(space, cap, level):
    history = synthetic_series({"constant": [level] * 8})
    forecast = Transformed(Naive(), space, cap=cap).fit(history).predict(5)
    expected = level if level != cap else cap * (1 - 1e-3)  # at the cap: clipped inward
    for column in ("mean", "lo80", "hi80", "lo95", "hi95"):
        assert forecast[column].to_list() == pytest.approx([expected] * 5, rel=1e-12)


def test_wrapping_ets_honours_the_contract_and_keeps_its_identity():
    history = synthetic_rate_near_cap()
    model = Transformed(ETS(), "logit", cap=100.0)
    assert (model.name, model.min_observations, model.uses_exog) == ("ets", 7, False)
    forecast = model.fit(history).predict(8)
    assert forecast.columns == ["series_id", "year", "mean", "lo80", "hi80", "lo95", "hi95"]
    assert forecast.filter(pl.col("series_id") == "younger")["year"].to_list() == list(
        range(2012, 2020)
    )
    assert forecast["hi95"].max() <= 100.0
    assert intervals_are_ordered(forecast)
    assert Transformed(ETS(), "log", name="ets_log").name == "ets_log"


def test_artefacts_add_the_space_and_cap_to_the_inner_models_json():
    model = Transformed(Drift(), "logit", cap={"climbing": 100.0, "younger": 45.0})
    artefacts = model.fit(synthetic_rate_near_cap()).artefacts()
    decoded = {name: json.loads(content) for name, content in artefacts.items()}
    assert decoded["params.json"]["model"] == "drift"
    assert decoded["transform.json"] == {
        "space": "logit",
        "cap": {"climbing": 100.0, "younger": 45.0},
        "epsilon": 1e-3,
    }


def test_exog_reaches_the_inner_model_unchanged():
    class SyntheticExogSpy(Naive):
        uses_exog = True

        def fit(self, history, exog=None):
            self.fit_exog = exog
            return super().fit(history, exog)

        def predict(self, horizon, levels=(80, 95), exog=None):
            self.predict_exog = exog
            return super().predict(horizon, levels, exog)

    history = synthetic_series({"s": [1.0, 2.0, 3.0, 4.0]})
    drivers = pl.DataFrame({"series_id": ["s"], "year": [2000], "cohort": [1.0]})
    scenario = drivers.with_columns(pl.col("cohort") * 2)
    model = Transformed(SyntheticExogSpy(), "log")
    model.fit(history, drivers).predict(2, exog=scenario)
    assert model.uses_exog
    assert model.model.fit_exog is drivers and model.model.predict_exog is scenario


def test_values_outside_the_space_are_refused_naming_the_series():
    with pytest.raises(ValueError, match=r"y > 0.*\['negative'\]"):
        Transformed(Naive(), "log").fit(synthetic_series({"ok": [1, 2], "negative": [1, -1]}))
    with pytest.raises(ValueError, match=r"y >= 0.*\['negative'\]"):
        Transformed(Naive(), "log1p").fit(synthetic_series({"negative": [1, -1]}))
    with pytest.raises(ValueError, match=r"cap.*\['above'\]"):
        Transformed(Naive(), "logit", cap=100.0).fit(synthetic_series({"above": [90, 120]}))
    with pytest.raises(ValueError, match=r"no cap for 1 series.*'other'"):
        Transformed(Naive(), "logit", cap={"s": 1.0}).fit(
            synthetic_series({"s": [0.5, 0.6], "other": [0.1, 0.2]})
        )
    with pytest.raises(ValueError, match="cap is required"):
        Transformed(Naive(), "logit")
    with pytest.raises(ValueError, match="space must be one of"):
        Transformed(Naive(), "sqrt")
