"""Rolling-origin backtests (models.origins): which origins, which series, no leakage.

Fake models here spy on, cheat at or fail the backtest.
"""

import numpy as np
import polars as pl
import pytest

from talentflow.models.base import Forecaster
from talentflow.models.baselines import Drift, Naive
from talentflow.models.metrics import backtest_metrics
from talentflow.models.origins import rolling_origin_forecasts
from talentflow.models.selection import select_model
from tests.models.synthetic_backtests import (
    BASELINES,
    synthetic_history,
    synthetic_panel,
)


def test_default_origins_score_every_horizon_one_to_five_at_five_origins():
    backtest = rolling_origin_forecasts(synthetic_panel(), BASELINES)
    # h=5 needs 2015-2019 (actuals to 2024), h=1 the latest five: 2019-2023.
    assert backtest.origins == list(range(2015, 2024))
    assert backtest.failures.is_empty()
    forecasts = backtest.forecasts
    assert (forecasts["year"] - forecasts["origin"] == forecasts["horizon"]).all()
    full = forecasts.filter((pl.col("series_id") == "s0") & (pl.col("model") == "naive"))
    for origin in backtest.origins:
        horizons = full.filter(pl.col("origin") == origin)["horizon"].to_list()
        assert horizons == list(range(1, min(5, 2024 - origin) + 1))
    metrics = backtest_metrics(forecasts)
    naive = metrics.filter(pl.col("model") == "naive")
    assert naive["horizon"].to_list() == [1, 2, 3, 4, 5]
    assert naive["origins"].to_list() == [9, 8, 7, 6, 5]
    # Both models are scored on exactly the same series, origins and years.
    keys = ["origin", "series_id", "year"]
    assert (
        forecasts.filter(pl.col("model") == "naive")
        .select(keys)
        .equals(forecasts.filter(pl.col("model") == "drift").select(keys))
    )


def test_a_final_year_few_series_have_reported_is_not_scored():
    backtest = rolling_origin_forecasts(synthetic_panel(last_year_reporters=1), BASELINES)
    # 2024 has one reporter of eight: no origin is chosen for the sake of scoring 2024,
    # so h=1 takes 2018-2022 and h=5 takes 2014-2018.
    assert backtest.origins == list(range(2014, 2023))
    metrics = backtest_metrics(backtest.forecasts).filter(pl.col("model") == "naive")
    assert metrics["origins"].to_list() == [9, 9, 8, 7, 6]  # 2024's lone reporter adds one


def test_a_series_ending_early_or_with_a_gap_is_scored_at_the_years_it_has():
    history = synthetic_panel()
    backtest = rolling_origin_forecasts(history, {"naive": Naive}, origins=[2018, 2019, 2020, 2021])
    early = backtest.forecasts.filter(pl.col("series_id") == "early")
    assert early.select("origin", "horizon").rows() == [
        (2018, 2),  # 2020: its last training year is 2017, so naive stepped three years
        (2018, 3),
        (2019, 1),
        (2019, 2),
        (2020, 1),  # nothing after 2021, so no forecasts from 2021
    ]
    value_2017 = history.filter((pl.col("series_id") == "early") & (pl.col("year") == 2017))
    assert early.filter(pl.col("origin") < 2020)["mean"].unique().to_list() == [
        value_2017["y"].item()
    ]
    gappy = backtest.forecasts.filter(pl.col("series_id") == "gappy")
    assert sorted(set(gappy["year"].to_list())) == [2020, 2022, 2024]


def test_series_too_short_at_an_origin_are_skipped_and_listed():
    backtest = rolling_origin_forecasts(synthetic_panel(), BASELINES, origins=[2020, 2021, 2022])
    assert backtest.min_train_observations == 3  # drift's minimum binds both models
    late = backtest.skipped.filter(pl.col("series_id") == "late")
    assert late.select("origin", "observations").rows() == [(2020, 1), (2021, 2)]
    scored = backtest.forecasts.filter(pl.col("series_id") == "late")["origin"].unique()
    assert scored.to_list() == [2022]


def test_scale_is_the_mean_one_year_change_with_a_gap_counted_per_year():
    history = synthetic_history(
        [("s", 2000, 10.0), ("s", 2001, 12.0), ("s", 2003, 18.0), ("s", 2004, 20.0)]
    )
    backtest = rolling_origin_forecasts(history, {"naive": Naive}, origins=[2003])
    row = backtest.forecasts.row(0, named=True)
    assert row["scale"] == pytest.approx(2.5)  # mean(|12-10|/1, |18-12|/2)
    assert (row["horizon"], row["actual"], row["mean"]) == (1, 20.0, 18.0)
    mase = backtest_metrics(backtest.forecasts)["mase"].item()
    assert mase == pytest.approx(2 / 2.5)


class FailsFrom2021(Drift):
    """Synthetic flaky model: drift that raises when fitted on data reaching 2021."""

    name = "flaky"

    def fit(self, history, exog=None):
        if history["year"].max() >= 2021:
            raise RuntimeError("synthetic failure: optimiser diverged")
        return super().fit(history, exog)


class NanForGappy(Naive):
    """Synthetic model that returns NaN for one series."""

    name = "nan_gappy"

    def _predict_series(self, state, years, levels):
        columns = super()._predict_series(state, years, levels)
        return {key: value * np.nan if state["gappy"] else value for key, value in columns.items()}

    def _fit_series(self, series_id, years, y):
        return {**super()._fit_series(series_id, years, y), "gappy": series_id == "gappy"}


def broken_factory() -> Forecaster:
    raise ImportError("synthetic: optional dependency missing")


def test_a_failing_model_is_reported_and_the_rest_of_the_backtest_still_runs():
    models = {
        "naive": Naive,
        "flaky": FailsFrom2021,
        "nan_gappy": NanForGappy,
        "broken": broken_factory,
    }
    backtest = rolling_origin_forecasts(synthetic_panel(), models)
    failures = backtest.failures
    flaky = failures.filter(pl.col("model") == "flaky")
    assert flaky["origin"].to_list() == [2021, 2022, 2023]
    assert (flaky["stage"] == "fit").all()
    assert flaky["message"].str.contains("RuntimeError: synthetic failure").all()
    assert failures.filter(pl.col("model") == "broken").select("origin", "stage").rows() == [
        (None, "create")
    ]
    gappy = failures.filter(pl.col("model") == "nan_gappy")
    assert (gappy["stage"] == "score").all() and gappy["message"].str.contains("gappy").all()

    forecasts = backtest.forecasts
    flaky_origins = forecasts.filter(pl.col("model") == "flaky")["origin"].unique().sort()
    assert flaky_origins.to_list() == list(range(2015, 2021))
    assert forecasts.filter(pl.col("model") == "naive")["origin"].n_unique() == 9
    assert forecasts.filter(pl.col("model") == "nan_gappy")["mean"].is_finite().all()

    # The flaky model beat naive where it ran, but on fewer forecasts: not compared.
    selection = select_model(backtest_metrics(forecasts)).row(0, named=True)
    assert selection["selected_model"] == "naive"
    assert "not compared, incomplete backtest: flaky" in selection["reason"]


class Spy(Naive):
    """Synthetic naive that records what it was shown at fit and predict."""

    name = "spy"

    def __init__(self, log: list[dict]) -> None:
        self.log = log

    def fit(self, history, exog=None):
        self.log.append(
            {
                "fit_max_year": history["year"].max(),
                "fit_exog_max_year": exog["year"].max(),
            }
        )
        return super().fit(history, exog)

    def predict(self, horizon, levels=(80, 95), exog=None):
        self.log[-1]["predict_exog_max_year"] = exog["year"].max()
        return super().predict(horizon, levels, exog)


class Memoriser(Naive):
    """Synthetic cheat: naive forecasts, plus a "forecast" equal to the actual for every
    year it was fitted on. If the backtest leaked a year after the origin into fit, the
    memoriser's forecast for that year would be perfect."""

    name = "memoriser"

    def fit(self, history, exog=None):
        self.seen = history
        return super().fit(history, exog)

    def predict(self, horizon, levels=(80, 95), exog=None):
        forecast = super().predict(horizon, levels, exog)
        bounds = [pl.col("y").alias(f"{side}{level}") for level in levels for side in ("lo", "hi")]
        recalled = self.seen.select("series_id", "year", pl.col("y").alias("mean"), *bounds)
        return pl.concat([recalled, forecast]).sort("series_id", "year")


def synthetic_exog(history: pl.DataFrame) -> pl.DataFrame:
    """Synthetic WPP-like driver for every series and year 1996-2040."""
    series = history["series_id"].unique().sort().to_list()
    return pl.DataFrame(
        [(sid, year, float(year - 1990)) for sid in series for year in range(1996, 2041)],
        schema={"series_id": pl.String, "year": pl.Int32, "cohort": pl.Float64},
        orient="row",
    )


def test_no_model_is_fitted_on_a_year_after_its_origin():
    history = synthetic_panel()
    log: list[dict] = []
    backtest = rolling_origin_forecasts(
        history, {"spy": lambda: Spy(log)}, exog=synthetic_exog(history)
    )
    assert len(log) == len(backtest.origins) == 9  # one fresh, fitted spy per origin
    for origin, seen in zip(backtest.origins, log, strict=True):
        assert seen["fit_max_year"] == origin  # all data up to the origin, none after
        assert seen["fit_exog_max_year"] == origin
        # The documented exception: WPP projections for the forecast years at predict.
        assert seen["predict_exog_max_year"] >= origin + 5


def test_a_model_that_memorises_its_training_data_gains_nothing():
    backtest = rolling_origin_forecasts(synthetic_panel(), {"memoriser": Memoriser, "naive": Naive})
    assert backtest.failures.is_empty()
    forecasts = backtest.forecasts
    memoriser = forecasts.filter(pl.col("model") == "memoriser")
    naive = forecasts.filter(pl.col("model") == "naive")
    assert memoriser.height == naive.height > 0
    assert memoriser["mean"].to_list() == naive["mean"].to_list()
    assert (memoriser["mean"] != memoriser["actual"]).sum() > 0.9 * memoriser.height
    assert backtest_metrics(memoriser)["mase"].min() > 0.1
