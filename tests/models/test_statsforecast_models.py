"""ETS and Theta (statsforecast) honour the model contract on gappy yearly series."""

import json

import numpy as np
import polars as pl
import pytest

from talentflow.models.statsforecast_models import ETS, Theta, fill_year_gaps
from tests.checks import intervals_are_ordered

LEVEL = 50.0


def synthetic_gappy_panel() -> pl.DataFrame:
    """Three synthetic series ending in different years: a rising trend with two missing
    years, a flat noisy level and a falling trend."""
    rng = np.random.default_rng(11)
    rising_years = [y for y in range(1996, 2021) if y not in (2003, 2004)]
    rising = [100 + 5 * (y - 1996) + rng.normal(0, 3) for y in rising_years]
    flat_years = list(range(2000, 2018))
    flat = [LEVEL + rng.normal(0, 2) for _ in flat_years]
    falling_years = list(range(2005, 2020))
    falling = [80 - 2 * (y - 2005) + rng.normal(0, 1) for y in falling_years]
    return pl.DataFrame(
        {
            "series_id": ["rising"] * len(rising)
            + ["flat"] * len(flat)
            + ["falling"] * len(falling),
            "year": rising_years + flat_years + falling_years,
            "y": rising + flat + falling,
        }
    ).with_columns(pl.col("year").cast(pl.Int32))


@pytest.fixture(scope="module")
def synthetic_fitted() -> dict:
    """ETS and Theta fitted once on the synthetic panel (the first fit pays the import)."""
    history = synthetic_gappy_panel()
    return {"ets": ETS().fit(history), "theta": Theta().fit(history)}


@pytest.mark.parametrize("model_name", ["ets", "theta"])
def test_each_series_gets_its_own_horizon_with_ordered_intervals(synthetic_fitted, model_name):
    forecast = synthetic_fitted[model_name].predict(4, levels=(80, 95))
    assert forecast.columns == ["series_id", "year", "mean", "lo80", "hi80", "lo95", "hi95"]
    assert forecast.schema["year"] == pl.Int32
    years = dict(forecast.group_by("series_id").agg(pl.col("year").sort()).iter_rows())
    assert years == {
        "rising": [2021, 2022, 2023, 2024],
        "flat": [2018, 2019, 2020, 2021],
        "falling": [2020, 2021, 2022, 2023],
    }
    assert forecast.null_count().sum_horizontal().item() == 0
    assert intervals_are_ordered(forecast)


@pytest.mark.parametrize("model_name", ["ets", "theta"])
def test_a_shorter_horizon_is_the_start_of_a_longer_one(synthetic_fitted, model_name):
    model = synthetic_fitted[model_name]
    long = model.predict(6, levels=(80,))
    short = model.predict(2, levels=(80,))
    assert short.equals(long.filter(pl.col("year") <= pl.col("year").min().over("series_id") + 1))


def test_ets_on_a_flat_noisy_series_forecasts_about_its_level(synthetic_fitted):
    flat = synthetic_fitted["ets"].predict(10, levels=(95,)).filter(pl.col("series_id") == "flat")
    assert flat["mean"].to_numpy() == pytest.approx(np.full(10, LEVEL), abs=3.0)
    assert (flat["lo95"] < LEVEL).all() and (flat["hi95"] > LEVEL).all()


def test_theta_follows_the_direction_of_a_trend(synthetic_fitted):
    forecast = synthetic_fitted["theta"].predict(5, levels=(80,))
    history = synthetic_gappy_panel()
    for series_id, sign in (("rising", 1), ("falling", -1)):
        mean = forecast.filter(pl.col("series_id") == series_id)["mean"].to_numpy()
        assert (sign * np.diff(mean) > 0).all()
        last = history.filter(pl.col("series_id") == series_id)["y"][-1]
        assert sign * (mean[-1] - last) > 0


def test_missing_years_are_filled_by_linear_interpolation():
    history = pl.DataFrame(
        {"series_id": ["s"] * 3, "year": [2000, 2001, 2004], "y": [1.0, 2.0, 8.0]}
    ).with_columns(pl.col("year").cast(pl.Int32))
    filled = fill_year_gaps(history)
    assert filled["year"].to_list() == [2000, 2001, 2002, 2003, 2004]
    assert filled["y"].to_list() == pytest.approx([1.0, 2.0, 4.0, 6.0, 8.0])
    assert filled["interpolated"].to_list() == [False, False, True, True, False]


@pytest.mark.parametrize("model_name", ["ets", "theta"])
def test_artefacts_are_json_parameters_naming_the_interpolated_years(synthetic_fitted, model_name):
    artefacts = synthetic_fitted[model_name].artefacts()
    assert list(artefacts) == ["params.json"]
    params = json.loads(artefacts["params.json"])  # would fail on a pickle
    assert params["model"] == model_name
    assert set(params["series"]) == {"rising", "flat", "falling"}
    assert params["series"]["rising"]["interpolated_years"] == [2003, 2004]
    assert params["series"]["flat"]["interpolated_years"] == []
    rising = params["series"]["rising"]
    if model_name == "ets":
        assert rising["method"].startswith("ETS(") and 0 < rising["alpha"] < 1
    else:
        assert rising["variant"] in {"STM", "OTM", "DSTM", "DOTM"} and "theta" in rising


def test_theta_refits_to_the_same_numbers():
    history = synthetic_gappy_panel()
    assert Theta().fit(history).predict(3).equals(Theta().fit(history).predict(3))


@pytest.mark.parametrize(("make_model", "too_few"), [(ETS, 6), (Theta, 4)], ids=["ets", "theta"])
def test_series_below_min_observations_are_refused(make_model, too_few):
    history = synthetic_gappy_panel().filter(
        (pl.col("series_id") != "flat") | (pl.col("year") < 2000 + too_few)
    )
    with pytest.raises(ValueError, match=f"fewer than {make_model.min_observations}"):
        make_model().fit(history)
    with pytest.raises(RuntimeError, match="fit"):
        make_model().predict(3)


def test_ets_fits_a_constant_series_among_others():
    # statsforecast fits a constant series with a fallback that names no method; a panel
    # of host shares holds such series (a share clipped at the logit's floor).
    history = pl.DataFrame(
        {
            "series_id": ["flat"] * 10 + ["rising"] * 10,
            "year": list(range(2000, 2010)) * 2,
            "y": [1.0] * 10 + [float(i) + 0.3 * (i % 2) for i in range(10)],
        }
    ).with_columns(pl.col("year").cast(pl.Int32))
    model = ETS().fit(history)
    forecast = model.predict(3)
    assert forecast.filter(pl.col("series_id") == "flat")["mean"].to_list() == pytest.approx(
        [1.0] * 3
    )
    assert "flat" in json.loads(model.artefacts()["params.json"])["series"]


@pytest.mark.parametrize("first_year", [2008, 1990], ids=["short", "long"])
@pytest.mark.parametrize("make_model", [ETS, Theta], ids=["ets", "theta"])
def test_the_interval_shortcuts_give_statsforecasts_own_numbers(
    make_model, first_year, monkeypatch
):
    # Short series (fewer than 13 years) take statsforecast's frozen-distribution path
    # for Theta's simulated errors, long ones its direct draw; ETS's quantiles always
    # freeze a distribution. With the kept distributions and the direct normal draws, the
    # numbers must be those statsforecast computes on its own.
    from statsforecast import distributions, simulation

    from talentflow.models import statsforecast_models

    history = synthetic_gappy_panel().filter(pl.col("year") >= first_year)
    statsforecast_models.share_error_distributions()  # whichever test ran first
    hits = distributions.frozen_error_distribution.cache_info().hits
    fast = make_model().fit(history).predict(12, levels=(50, 80, 95))

    kept, drawn = distributions.frozen_error_distribution, simulation.sample_errors
    if make_model is ETS:
        assert kept.cache_info().hits > hits  # the path under test was taken
    monkeypatch.setattr(distributions, "frozen_error_distribution", kept.statsforecast_original)
    monkeypatch.setattr(simulation, "frozen_error_distribution", kept.statsforecast_original)
    monkeypatch.setattr(simulation, "sample_errors", drawn.statsforecast_original)
    monkeypatch.setattr(statsforecast_models, "share_error_distributions", lambda: None)
    monkeypatch.setattr(statsforecast_models, "draw_normal_errors_directly", lambda: None)
    own = make_model().fit(history).predict(12, levels=(50, 80, 95))
    assert fast.equals(own)


def test_normal_errors_are_statsforecasts_own_draws_taken_directly(monkeypatch):
    from statsforecast import simulation

    from talentflow.models.statsforecast_models import draw_normal_errors_directly

    draw_normal_errors_directly()
    fast = simulation.sample_errors
    own = fast.statsforecast_original
    noise = np.random.default_rng(3).normal(0, 1.5, 15)
    noise[4] = np.nan
    for sigma in (1e-9, 0.37, 2.0, 1234.5, np.float64(0.8)):
        for residuals in (None, noise[:6], noise):  # none, too few, enough to fit
            for size in (200, (12, 200)):
                ours, theirs = np.random.default_rng(0), np.random.default_rng(0)
                drawn = fast(size, sigma, "normal", None, residuals, ours)
                expected = own(size, sigma, "normal", None, residuals, theirs)
                assert drawn.dtype == expected.dtype and np.array_equal(drawn, expected)
                assert ours.bit_generator.state == theirs.bit_generator.state

    def no_freezing(*args, **kwargs):
        raise AssertionError("a distribution was frozen")

    monkeypatch.setattr(simulation, "frozen_error_distribution", no_freezing)
    fast(200, 2.0, "normal", None, None, np.random.default_rng(0))  # the shortcut
    for other in [("t", {"df": 5}, 2.0), ("normal", {"loc": 1.0}, 2.0), ("normal", None, 0.0)]:
        distribution, params, sigma = other
        with pytest.raises(AssertionError, match="frozen"):  # statsforecast's own path
            fast(200, sigma, distribution, params, None, np.random.default_rng(0))
