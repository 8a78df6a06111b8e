"""Rolling-origin backtests, their metrics and the model selection (models.backtest).

Every frame here is synthetic: small made-up series whose answers can be worked out by
hand, and fake models that spy on, cheat at or fail the backtest.
"""

import numpy as np
import polars as pl
import pytest

from talentflow.models.backtest import (
    backtest_metrics,
    interval_calibration,
    rolling_origin_forecasts,
    select_model,
    summary_by_model,
)
from talentflow.models.base import Forecaster
from talentflow.models.baselines import Drift, Naive

BASELINES = {"naive": Naive, "drift": Drift}


def synthetic_history(rows: list[tuple[str, int, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows, schema={"series_id": pl.String, "year": pl.Int32, "y": pl.Float64}, orient="row"
    )


def synthetic_panel(last_year_reporters: int | None = None) -> pl.DataFrame:
    """Synthetic annual series 1996-2024: six noisy trends ("s0".."s5"), "gappy" observed
    every other year, "early" observed to 2017 then 2020-2021 only, and "late" starting
    in 2020. With ``last_year_reporters``, only that many series report 2024 (a final
    year most countries have not reported yet)."""
    rng = np.random.default_rng(42)
    rows = []
    for index in range(6):
        for year in range(1996, 2025):
            rows.append((f"s{index}", year, 100 + 3 * index * (year - 1996) + rng.normal(0, 4)))
    rows += [("gappy", year, 50 + 2 * (year - 1996)) for year in range(1996, 2025, 2)]
    early_years = [*range(1996, 2018), 2020, 2021]
    rows += [("early", year, 200 - (year - 1996) + rng.normal(0, 2)) for year in early_years]
    rows += [("late", year, 10 + year - 2020) for year in range(2020, 2025)]
    history = synthetic_history(rows)
    if last_year_reporters is not None:
        reporters = [f"s{index}" for index in range(last_year_reporters)]
        history = history.filter((pl.col("year") < 2024) | pl.col("series_id").is_in(reporters))
    return history


def synthetic_metrics(models: dict[str, tuple[float, float]]) -> pl.DataFrame:
    """Synthetic backtest_metrics rows: model → (MASE, 80 % coverage) at horizons 1-5."""
    return pl.DataFrame(
        [
            {
                "model": name,
                "horizon": horizon,
                "origins": 5,
                "forecasts": 100,
                "mase": mase,
                "smape": 10.0,
                "coverage80": coverage80,
                "coverage95": 0.95,
                "mase_excluded": 0,
            }
            for name, (mase, coverage80) in models.items()
            for horizon in range(1, 6)
        ]
    ).with_columns(pl.col("horizon", "origins", "forecasts", "mase_excluded").cast(pl.Int32))


# --- origins, horizons and which series are scored -------------------------------------


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


# --- metric formulas against hand-computed values --------------------------------------


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


def synthetic_forecasts() -> pl.DataFrame:
    """Four synthetic scored forecasts of one model, worked by hand in the tests."""
    columns = ["origin", "series_id", "horizon", "actual", "mean", "lo80", "hi80", "lo95"]
    columns += ["hi95", "scale"]
    rows = [
        (2010, "a", 1, 12.0, 10.0, 9.0, 11.0, 8.0, 13.0, 2.0),  # outside 80 %, inside 95 %
        (2011, "a", 1, 9.0, 10.0, 9.0, 11.0, 8.0, 13.0, 0.5),  # on the 80 % bound: inside
        (2011, "b", 1, 0.0, 0.0, -1.0, 1.0, -2.0, 2.0, 0.0),  # zero scale, 0/0 sMAPE
        (2010, "a", 2, 16.0, 10.0, 8.0, 12.0, 6.0, 14.0, 2.0),
    ]
    frame = pl.DataFrame(rows, schema=columns, orient="row")
    return frame.with_columns(
        pl.lit("m").alias("model"),
        (pl.col("origin") + pl.col("horizon")).cast(pl.Int32).alias("year"),
        pl.col("origin", "horizon").cast(pl.Int32),
    )


def test_metrics_match_hand_computed_mase_smape_and_coverage():
    metrics = backtest_metrics(synthetic_forecasts())
    assert metrics.columns == [
        "model",
        "horizon",
        "origins",
        "forecasts",
        "mase",
        "smape",
        "coverage80",
        "coverage95",
        "mase_excluded",
    ]
    first = metrics.row(0, named=True)
    assert (first["origins"], first["forecasts"], first["mase_excluded"]) == (2, 3, 1)
    assert first["mase"] == pytest.approx((2 / 2 + 1 / 0.5) / 2)  # series b excluded
    assert first["smape"] == pytest.approx((200 * 2 / 22 + 200 * 1 / 19 + 0) / 3)
    assert first["coverage80"] == pytest.approx(2 / 3)
    assert first["coverage95"] == pytest.approx(1.0)
    second = metrics.row(1, named=True)
    assert (second["mase"], second["coverage80"], second["coverage95"]) == (3.0, 0.0, 0.0)


def test_summary_weights_each_horizon_by_its_forecasts():
    summary = summary_by_model(backtest_metrics(synthetic_forecasts()))
    row = summary.row(0, named=True)
    assert (row["horizons"], row["origins"], row["forecasts"], row["mase_excluded"]) == (
        2,
        2,
        4,
        1,
    )
    assert row["mase"] == pytest.approx((1.5 * 2 + 3.0 * 1) / 3)  # 2 and 1 scored forecasts
    assert row["coverage80"] == pytest.approx((2 / 3 * 3 + 0 * 1) / 4)


# --- selection --------------------------------------------------------------------------


def test_selection_picks_the_lower_mase_and_states_both_goals():
    selection = select_model(synthetic_metrics({"naive": (1.0, 0.80), "drift": (0.7, 0.80)}))
    row = selection.row(0, named=True)
    assert selection.columns == [
        "selected_model",
        "mase",
        "naive_mase",
        "mase_improvement",
        "coverage80",
        "coverage95",
        "meets_mase_goal",
        "meets_coverage_goal",
        "reason",
    ]
    assert row["selected_model"] == "drift"
    assert row["mase_improvement"] == pytest.approx(0.3)
    assert row["meets_mase_goal"] and row["meets_coverage_goal"]
    assert "MASE goal met" in row["reason"] and "coverage goal met" in row["reason"]


def test_on_a_near_tie_the_simpler_model_wins():
    near_tie = {"naive": (1.0, 0.8), "drift": (0.70, 0.8), "prophet": (0.69, 0.8)}
    row = select_model(synthetic_metrics(near_tie)).row(0, named=True)
    assert row["selected_model"] == "drift"
    assert "within 2 % of the lowest (prophet 0.690)" in row["reason"]
    clear_win = {"naive": (1.0, 0.8), "drift": (0.70, 0.8), "prophet": (0.60, 0.8)}
    assert select_model(synthetic_metrics(clear_win))["selected_model"].item() == "prophet"
    caller_order = select_model(synthetic_metrics(near_tie), simplicity=["naive", "prophet"])
    assert caller_order["selected_model"].item() == "prophet"


def test_the_reason_names_each_missed_goal_and_why():
    narrow = select_model(synthetic_metrics({"naive": (1.0, 0.8), "drift": (0.9, 0.61)}))
    row = narrow.row(0, named=True)
    assert not row["meets_mase_goal"] and not row["meets_coverage_goal"]
    assert "MASE goal missed: 10 % better than naive" in row["reason"]
    assert "intervals too narrow: 80 % interval covered 61 %" in row["reason"]
    wide = select_model(synthetic_metrics({"naive": (1.0, 0.97)})).row(0, named=True)
    assert wide["selected_model"] == "naive" and not wide["meets_mase_goal"]
    assert "no model beat the naive baseline" in wide["reason"]
    assert "intervals too wide: 80 % interval covered 97 %" in wide["reason"]


def test_selection_refuses_metrics_without_the_naive_baseline():
    with pytest.raises(ValueError, match="baseline 'naive'"):
        select_model(synthetic_metrics({"drift": (0.7, 0.8)}))


# --- failures are reported, not swallowed ----------------------------------------------


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


# --- leakage ------------------------------------------------------------------------------


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


# --- interval calibration ---------------------------------------------------------------


def test_calibration_factor_widens_intervals_to_their_nominal_coverage():
    actuals = [0.5, -1.5, 2.0, 0.2, -0.4, 0.9, 3.0, -0.1, 0.3, 0.6]  # 7 of 10 in ±1
    frame = pl.DataFrame({"actual": actuals}).with_columns(
        pl.lit("m").alias("model"),
        pl.lit(1, pl.Int32).alias("horizon"),
        pl.lit(0.0).alias("mean"),
        pl.lit(-1.0).alias("lo80"),
        pl.lit(1.0).alias("hi80"),
    )
    row = interval_calibration(frame, levels=(80,)).row(0, named=True)
    assert row["coverage"] == pytest.approx(0.7)
    assert row["factor"] == pytest.approx(1.5)  # the 8th smallest of the 10 ratios
    widened = frame.filter(pl.col("actual").abs() <= row["factor"] * 1.0)
    assert widened.height / frame.height >= 0.8
