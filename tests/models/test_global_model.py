"""The global model honours the contract, learns what series share, and never peeks."""

import json
from collections import OrderedDict

import numpy as np
import polars as pl
import pytest
import skops.io as sio

from talentflow.models import global_model
from talentflow.models.baselines import Naive
from talentflow.models.global_model import ESTIMATOR_FILE, GlobalForecaster, origin_features

SCHEMA = {"series_id": pl.String, "year": pl.Int32, "y": pl.Float64}


def synthetic_growth_panel(n_series: int = 60, n_years: int = 24, seed: int = 0) -> pl.DataFrame:
    """Synthetic series on very different scales sharing one growth pattern: yearly log
    growth is persistent (AR(1) around 3 %), so a run of rises predicts more rises. Series
    end in different years, and series s001 skips 2003-2004."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_series):
        log_level = np.log(rng.uniform(1e2, 1e6))
        growth = rng.normal(0.03, 0.04)
        last_year = 2020 - s % 3
        for year in range(last_year - n_years + 1, last_year + 1):
            growth = 0.03 + 0.85 * (growth - 0.03) + rng.normal(0, 0.008)
            log_level += growth
            if s == 1 and year in (2003, 2004):
                continue
            rows.append((f"s{s:03d}", year, float(np.exp(log_level + rng.normal(0, 0.005)))))
    return pl.DataFrame(rows, schema=SCHEMA, orient="row")


def synthetic_driven_panel(n_series: int = 40, n_years: int = 24, seed: int = 1):
    """Synthetic series whose log growth is 0.8 × the log growth of a synthetic cohort
    (a driver that wanders between shrinking and growing), and the cohort as exog, with
    ten forecast years beyond each series' last year."""
    rng = np.random.default_rng(seed)
    history, exog = [], []
    for s in range(n_series):
        log_y, log_cohort, cohort_growth = np.log(rng.uniform(1e3, 1e5)), 10.0, 0.0
        for year in range(1997, 1997 + n_years + 10):
            cohort_growth = 0.7 * cohort_growth + rng.normal(0, 0.03)
            log_cohort += cohort_growth
            log_y += 0.01 + 0.8 * cohort_growth + rng.normal(0, 0.004)
            exog.append((f"s{s:03d}", year, float(np.exp(log_cohort))))
            if year < 1997 + n_years:
                history.append((f"s{s:03d}", year, float(np.exp(log_y))))
    exog_schema = {"series_id": pl.String, "year": pl.Int32, "cohort": pl.Float64}
    return (
        pl.DataFrame(history, schema=SCHEMA, orient="row"),
        pl.DataFrame(exog, schema=exog_schema, orient="row"),
    )


def held_out(history: pl.DataFrame, years: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    cut = pl.col("year") <= pl.col("year").max().over("series_id") - years
    return history.filter(cut), history.filter(~cut)


@pytest.fixture(scope="module")
def growth_panel() -> pl.DataFrame:
    return synthetic_growth_panel()


@pytest.fixture(scope="module")
def fitted(growth_panel) -> GlobalForecaster:
    return GlobalForecaster().fit(growth_panel)


def test_predicts_each_series_horizon_after_its_own_last_year(fitted, growth_panel):
    forecast = fitted.predict(4, levels=(80, 95))
    assert forecast.columns == ["series_id", "year", "mean", "lo80", "hi80", "lo95", "hi95"]
    assert forecast.schema["year"] == pl.Int32
    assert forecast.null_count().sum_horizontal().item() == 0
    last = growth_panel.group_by("series_id").agg(pl.col("year").max().alias("last"))
    assert last["last"].n_unique() == 3  # the fixture's series end in different years
    expected = last.select(
        "series_id", pl.int_ranges(pl.col("last") + 1, pl.col("last") + 5).alias("year")
    ).explode("year")
    got = forecast.select("series_id", "year")
    assert got.sort("series_id", "year").equals(
        expected.with_columns(pl.col("year").cast(pl.Int32)).sort("series_id", "year")
    )
    gappy = forecast.filter(pl.col("series_id") == "s001")["year"].to_list()
    assert gappy == [2020, 2021, 2022, 2023]  # s001 ends in 2019 and skips 2003-2004


def test_intervals_are_ordered_around_the_point(fitted):
    forecast = fitted.predict(12, levels=(50, 80, 95))
    ordered = forecast.select(
        (
            (pl.col("lo95") <= pl.col("lo80"))
            & (pl.col("lo80") <= pl.col("lo50"))
            & (pl.col("lo50") <= pl.col("mean"))
            & (pl.col("mean") <= pl.col("hi50"))
            & (pl.col("hi50") <= pl.col("hi80"))
            & (pl.col("hi80") <= pl.col("hi95"))
        ).all()
    ).item()
    assert ordered


def test_interval_widths_grow_with_the_horizon_beyond_the_trained_ones(fitted):
    horizon = fitted.max_horizon + 4
    forecast = fitted.predict(horizon, levels=(80,)).with_columns(
        (pl.col("hi80") / pl.col("lo80")).log().alias("log_width")
    )
    per_series = forecast.group_by("series_id").agg(pl.col("log_width").sort_by("year"))
    for widths in per_series["log_width"]:
        assert np.all(np.diff(widths.to_numpy()) >= 0)
        assert widths[-1] > 2 * widths[0]


def test_learns_a_shared_growth_pattern_better_than_naive(growth_panel):
    train, test = held_out(growth_panel, 5)
    scale = train.group_by("series_id").agg(
        pl.col("y").sort_by("year").diff().abs().mean().alias("scale")
    )

    def mase(model) -> float:
        scored = model.fit(train).predict(5).join(test, on=["series_id", "year"])
        assert scored.height == test.height
        return (
            scored.join(scale, on="series_id")
            .select(((pl.col("mean") - pl.col("y")).abs() / pl.col("scale")).mean())
            .item()
        )

    assert mase(GlobalForecaster()) < 0.6 * mase(Naive())


def test_a_driver_moves_the_forecast_and_a_scenario_reuses_the_fit(tmp_path):
    history, exog = synthetic_driven_panel()
    model = GlobalForecaster(drivers=("cohort",)).fit(history, exog)
    assert model.uses_exog
    base = model.predict(5)
    assert base.equals(model.predict(5, exog=exog))
    future = pl.col("year") > 2020
    high = exog.with_columns(
        pl.when(future).then(pl.col("cohort") * 1.04 ** (pl.col("year") - 2020)).otherwise("cohort")
    )
    low = exog.with_columns(
        pl.when(future).then(pl.col("cohort") * 0.96 ** (pl.col("year") - 2020)).otherwise("cohort")
    )
    at_h5 = pl.col("year") == 2025
    high_mean = model.predict(5, exog=high).filter(at_h5)["mean"].to_numpy()
    low_mean = model.predict(5, exog=low).filter(at_h5)["mean"].to_numpy()
    assert np.all(high_mean > low_mean)
    # 0.8 × a 0.08 log-growth gap per year over 5 years ≈ 0.32; the model learnt most of it.
    assert np.median(np.log(high_mean / low_mean)) > 0.15


def test_missing_driver_years_are_refused_with_the_series_and_years():
    history, exog = synthetic_driven_panel(n_series=12)
    model = GlobalForecaster(drivers=("cohort",))
    with pytest.raises(ValueError, match=r"'s003': \[2001\]"):
        model.fit(
            history, exog.filter(~((pl.col("series_id") == "s003") & (pl.col("year") == 2001)))
        )
    model.fit(history, exog)
    short = exog.filter(pl.col("year") <= 2022)
    with pytest.raises(ValueError, match=r"'s000': \[2023, 2024\]"):
        model.predict(4, exog=short)
    with pytest.raises(ValueError, match="need exog"):
        GlobalForecaster(drivers=("cohort",)).fit(history)


def test_artefacts_round_trip_through_skops_to_identical_predictions():
    history, exog = synthetic_driven_panel(n_series=20)
    model = GlobalForecaster(drivers=("cohort",)).fit(history, exog)
    files = model.artefacts()
    assert set(files) == {"global.skops", "global.json", "exog.json"}
    assert not any(b"pickle" in name.encode() for name in files)
    loaded = GlobalForecaster.from_artefacts(files)
    assert loaded.predict(10, levels=(80, 95)).equals(model.predict(10, levels=(80, 95)))
    assert loaded.params() == model.params()
    scenario = exog.with_columns(pl.col("cohort") * 1.1)
    assert loaded.predict(3, exog=scenario).equals(model.predict(3, exog=scenario))


def test_artefacts_saved_before_max_bins_was_a_setting_report_the_bins_they_used():
    """A manifest without ``max_bins`` (written before 2026-12-06) holds an estimator
    fitted with scikit-learn's default, 255 bins: the loaded model must say so, not claim
    today's default."""
    history = synthetic_growth_panel(n_series=20)
    files = GlobalForecaster(max_bins=255).fit(history).artefacts()
    manifest = json.loads(files["global.json"])
    del manifest["params"]["max_bins"]
    files["global.json"] = json.dumps(manifest).encode()
    loaded = GlobalForecaster.from_artefacts(files)
    assert loaded.params()["max_bins"] == loaded._estimator.max_bins == 255


class SyntheticUntrustedObject:
    """A type skops does not trust: the loader must refuse it before building it."""

    def __init__(self) -> None:
        self.payload = "not an estimator"


def test_loader_refuses_an_estimator_file_with_untrusted_types(fitted):
    files = fitted.artefacts()
    files[ESTIMATOR_FILE] = sio.dumps(SyntheticUntrustedObject())
    with pytest.raises(ValueError, match="SyntheticUntrustedObject"):
        GlobalForecaster.from_artefacts(files)


def test_features_at_an_origin_never_read_values_after_it():
    """Mutating (or deleting) every value after 2010 must leave every origin up to 2010
    unchanged; the series s001 has a gap (2003-2004) before the cut and one straddling
    it (2011 missing), where interpolation could otherwise reach across the origin."""
    history = synthetic_growth_panel(n_series=8).filter(
        ~((pl.col("series_id") == "s001") & (pl.col("year") == 2011))
    )
    cut = 2010
    after = pl.col("year") > cut
    mutated = history.with_columns(pl.when(after).then(pl.col("y") * 7.0 + 3.0).otherwise("y"))
    for transform in ("log", "none", "scaled"):
        original = origin_features(history, transform=transform)
        changed = origin_features(mutated, transform=transform)
        truncated = origin_features(history.filter(~after), transform=transform)
        up_to_cut = pl.col("year") <= cut
        assert original.filter(up_to_cut).equals(changed.filter(up_to_cut))
        assert original.filter(up_to_cut).equals(truncated)
        # The mutation is visible to later origins: the comparison above can fail.
        assert not original.filter(after).equals(changed.filter(after))


def features_by_the_definition(history, n_lags, transform, min_observations):
    """origin_features as the module's Notes define it, one origin at a time: the loop
    the vectorised version must reproduce number for number."""
    z_of = {"log": np.log, "none": lambda y: y, "scaled": lambda y: y}[transform]
    names = [f"change_{lag}" for lag in range(1, n_lags + 1)] + list(global_model.OWN_FEATURES)
    out = {"series_id": [], "year": [], "level": [], "scale": [], **{n: [] for n in names}}
    for (series_id,), frame in history.sort("series_id", "year").group_by(
        "series_id", maintain_order=True
    ):
        years = frame["year"].to_numpy().astype(np.int64)
        z = z_of(frame["y"].to_numpy())
        grid_years = np.arange(years[0], years[-1] + 1)
        grid = np.interp(grid_years, years, z)
        observed = np.isin(grid_years, years)
        observed_so_far = np.cumsum(observed)
        for year in years:
            i = int(year - years[0])
            if observed_so_far[i] < min_observations:
                continue
            start = max(i - n_lags, 0)
            window = grid[start : i + 1]
            scale = 1.0
            if transform == "scaled":
                scale = float(np.mean(np.abs(window)))
                scale = scale if scale > 0 else 1.0
            changes = np.diff(window)[::-1] / scale
            lags = np.full(n_lags, np.nan)
            lags[: len(changes)] = changes
            past = grid[: i + 1]
            span = float(past.max() - past.min())
            row = {
                "series_id": series_id,
                "year": int(year),
                "level": float(grid[i]),
                "scale": scale,
                **{f"change_{lag + 1}": float(lags[lag]) for lag in range(n_lags)},
                "mean_change": float(np.mean(changes)) if len(changes) else np.nan,
                "change_spread": float(np.std(changes)) if len(changes) >= 2 else np.nan,
                "long_run_change": float((grid[i] - grid[0]) / (i * scale)) if i else np.nan,
                "below_own_max": float((grid[i] - past.max()) / scale),
                "range_position": float((grid[i] - past.min()) / span) if span else np.nan,
                "years_observed": float(observed_so_far[i]),
                "interpolated_share": float(1 - observed[start : i + 1].mean()),
            }
            for name, value in row.items():
                out[name].append(value)
    schema = {"series_id": pl.String, "year": pl.Int32, "level": pl.Float64, "scale": pl.Float64}
    return pl.DataFrame(out, schema=schema | dict.fromkeys(names, pl.Float64)).fill_nan(None)


@pytest.mark.parametrize("transform", ["log", "none", "scaled"])
@pytest.mark.parametrize(("n_lags", "min_observations"), [(3, 3), (1, 2), (5, 1)])
def test_features_are_the_definitions_numbers_bit_for_bit(transform, n_lags, min_observations):
    # Gaps of several lengths, a flat stretch (span 0, a zero scale) and values on very
    # different scales; equality is exact, so a sum taken in another order fails.
    history = (
        synthetic_growth_panel(n_series=30, seed=4)
        .filter(~((pl.col("series_id") == "s002") & pl.col("year").is_between(2005, 2009)))
        .with_columns(
            pl.when(pl.col("series_id") == "s003").then(pl.lit(5.0)).otherwise("y").alias("y")
        )
    )
    computed = origin_features(
        history, n_lags=n_lags, transform=transform, min_observations=min_observations
    )
    expected = features_by_the_definition(history, n_lags, transform, min_observations)
    assert computed.height == expected.height > 0
    assert computed.equals(expected)


def test_fitting_is_deterministic(monkeypatch):
    # Fitted afresh each time (an empty memo): the memo below relies on this.
    history = synthetic_growth_panel(n_series=20)
    monkeypatch.setattr(global_model, "_estimators", OrderedDict())
    first = GlobalForecaster().fit(history).predict(3)
    monkeypatch.setattr(global_model, "_estimators", OrderedDict())
    assert first.equals(GlobalForecaster().fit(history).predict(3))


def test_a_refit_on_data_seen_before_reuses_its_estimators_and_changes_no_number(monkeypatch):
    """A backtest refits at every origin; folds whose training pairs an earlier fit saw
    are not fitted again, and a fit on other data never gets an estimator of the first."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    fits, real_fit = [], HistGradientBoostingRegressor.fit

    def counted(self, features, target, *args, **kwargs):
        fits.append(len(target))
        return real_fit(self, features, target, *args, **kwargs)

    monkeypatch.setattr(HistGradientBoostingRegressor, "fit", counted)
    monkeypatch.setattr(global_model, "_estimators", OrderedDict())
    history = synthetic_growth_panel(n_series=20)
    first = GlobalForecaster().fit(history).predict(3)
    fitted_once = len(fits)
    assert fitted_once == GlobalForecaster().calibration_folds + 1
    assert GlobalForecaster().fit(history).predict(3).equals(first)
    assert len(fits) == fitted_once, "the same data and settings: nothing fitted again"

    # One value changed: every estimator whose training pairs include it is fitted anew,
    # and the forecast is the one a fresh process (an empty memo) gives.
    changed = history.with_columns(
        pl.when((pl.col("series_id") == "s000") & (pl.col("year") == pl.col("year").max()))
        .then(pl.col("y") * 1.5)
        .otherwise(pl.col("y"))
        .alias("y")
    )
    remembered = GlobalForecaster().fit(changed).predict(3)
    assert len(fits) > fitted_once and not remembered.equals(first)
    monkeypatch.setattr(global_model, "_estimators", OrderedDict())
    assert remembered.equals(GlobalForecaster().fit(changed).predict(3))
    # Other settings are another estimator.
    assert not GlobalForecaster(max_iter=20).fit(history).predict(3).equals(first)
    assert not GlobalForecaster(max_bins=255).fit(history).predict(3).equals(first)


def test_short_series_and_non_positive_values_are_refused_clearly():
    history = synthetic_growth_panel(n_series=10)
    short = pl.DataFrame({"series_id": ["tiny"] * 2, "year": [2019, 2020], "y": [1.0, 2.0]})
    with pytest.raises(ValueError, match="fewer than 3 observations"):
        GlobalForecaster().fit(pl.concat([history, short.cast(SCHEMA)]))
    zeros = history.with_columns(
        pl.when(pl.col("series_id") == "s002").then(0.0).otherwise("y").alias("y")
    )
    with pytest.raises(ValueError, match="transform='scaled'"):
        GlobalForecaster().fit(zeros)
    for transform in ("none", "scaled"):
        forecast = GlobalForecaster(transform=transform).fit(zeros).predict(3)
        assert forecast.null_count().sum_horizontal().item() == 0
    with pytest.raises(ValueError, match="max_bins must be between 2 and 255, got 256"):
        GlobalForecaster(max_bins=256)


def test_a_series_just_long_enough_is_forecast_with_missing_lags():
    history = synthetic_growth_panel(n_series=20)
    young = pl.DataFrame(
        {"series_id": ["young"] * 3, "year": [2016, 2018, 2020], "y": [10.0, 11.0, 12.5]}
    ).cast(SCHEMA)
    forecast = GlobalForecaster().fit(pl.concat([history, young])).predict(2)
    young_forecast = forecast.filter(pl.col("series_id") == "young")
    assert young_forecast["year"].to_list() == [2021, 2022]
    assert young_forecast["mean"].is_finite().all()


def test_one_short_series_falls_back_to_in_sample_errors_and_says_so():
    # China's inbound students: one series of under twenty years, too short to hold
    # origins out. The model still forecasts, with intervals from its own errors.
    years = list(range(2006, 2020))
    noise = np.random.default_rng(5).lognormal(0, 0.05, len(years))
    history = pl.DataFrame(
        {
            "series_id": ["all"] * len(years),
            "year": years,
            "y": [100.0 * 1.08**i * noise[i] for i in range(len(years))],
        }
    ).with_columns(pl.col("year").cast(pl.Int32))
    model = GlobalForecaster().fit(history)
    assert model.calibration_source.startswith("in-sample")
    forecast = model.predict(5, levels=(80, 95))
    assert forecast["year"].to_list() == [2020, 2021, 2022, 2023, 2024]
    width = (forecast["hi80"] - forecast["lo80"]).to_list()
    assert all(b >= a for a, b in zip(width, width[1:], strict=False)) and width[0] > 0
    assert (forecast["lo95"] <= forecast["lo80"]).all() and (
        forecast["hi80"] <= forecast["hi95"]
    ).all()


def test_many_series_calibrate_on_held_out_origins():
    rng = np.random.default_rng(3)
    rows = [
        (f"s{i}", year, 50.0 * (1.03 + 0.01 * (i % 5)) ** (year - 1996) * rng.lognormal(0, 0.02))
        for i in range(40)
        for year in range(1996, 2021)
    ]
    history = pl.DataFrame(
        rows, schema={"series_id": pl.String, "year": pl.Int32, "y": pl.Float64}, orient="row"
    )
    assert GlobalForecaster().fit(history).calibration_source == "held-out origins"


@pytest.mark.parametrize("n_threads", [1, 2])
def test_fit_and_predict_run_on_n_threads_and_leave_the_process_as_it_was(monkeypatch, n_threads):
    """``n_threads`` caps OpenMP while the estimator fits and predicts (every core, the
    estimator's default, was measured six to eight times slower on a shared machine),
    and the process's own setting is back afterwards, with the controller made once."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from threadpoolctl import threadpool_info, threadpool_limits

    def openmp_threads() -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "openmp"}

    seen = []
    real_fit = HistGradientBoostingRegressor.fit
    real_predict = HistGradientBoostingRegressor.predict

    def fit(self, *args, **kwargs):
        seen.append(("fit", openmp_threads()))
        return real_fit(self, *args, **kwargs)

    def predict(self, *args, **kwargs):
        seen.append(("predict", openmp_threads()))
        return real_predict(self, *args, **kwargs)

    monkeypatch.setattr(HistGradientBoostingRegressor, "fit", fit)
    monkeypatch.setattr(HistGradientBoostingRegressor, "predict", predict)
    monkeypatch.setattr(global_model, "_estimators", OrderedDict())
    with threadpool_limits(limits=3, user_api="openmp"):  # the process's own setting
        assert openmp_threads() == {3}, "scikit-learn's OpenMP runtime is loaded"
        GlobalForecaster(n_threads=n_threads, calibration_folds=1).fit(
            synthetic_growth_panel(n_series=12)
        ).predict(2)
        assert openmp_threads() == {3}
    assert {step for step, _ in seen} == {"fit", "predict"}
    assert all(threads == {n_threads} for _, threads in seen), seen
    assert global_model._thread_pools.cache_info().currsize == 1


def test_a_feature_no_training_row_has_is_fitted_not_refused():
    # Forty series observed 1998-2003: the calibration fold cut at 2001 trains on the
    # 2000 origins alone, which have two changes behind them, so change_3 is missing in
    # every row. scikit-learn 1.9 refuses such a column; the model's backtest failed at
    # origins 2004-2006 of china_researcher_inflows that way.
    rng = np.random.default_rng(7)
    rows = [
        (f"s{i}", year, 100.0 * 1.04 ** (year - 1998) * rng.lognormal(0, 0.03))
        for i in range(40)
        for year in range(1998, 2004)
    ]
    history = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    model = GlobalForecaster().fit(history)
    assert model.calibration_source == "held-out origins"
    forecast = model.predict(3)
    assert forecast.height == 40 * 3 and forecast["mean"].is_finite().all()
    assert ((forecast["lo80"] < forecast["mean"]) & (forecast["mean"] < forecast["hi80"])).all()


def test_an_empty_feature_column_is_fitted_as_if_it_were_not_there():
    from sklearn.ensemble import HistGradientBoostingRegressor

    rng = np.random.default_rng(11)
    features = rng.normal(size=(300, 5))
    features[rng.random(features.shape) < 0.2] = np.nan
    target = np.nan_to_num(features[:, 0]) - np.nan_to_num(features[:, 3]) + rng.normal(size=300)
    features[:, 2] = np.nan
    ready = global_model._with_empty_columns_constant(features)
    assert np.isnan(features[:, 2]).all(), "the caller's array is left as it was"
    later = rng.normal(size=(200, 5))  # the column may be observed when forecasting
    settings = {"max_iter": 30, "max_leaf_nodes": 7, "early_stopping": False, "random_state": 0}
    with_column = HistGradientBoostingRegressor(**settings).fit(ready, target)
    without = HistGradientBoostingRegressor(**settings).fit(np.delete(features, 2, 1), target)
    np.testing.assert_array_equal(
        with_column.predict(later), without.predict(np.delete(later, 2, 1))
    )
    complete = rng.normal(size=(10, 3))
    assert global_model._with_empty_columns_constant(complete) is complete


def test_too_few_pairs_to_calibrate_are_refused_with_their_count():
    # Tertiary attainment in the early 1990s: six countries with four years each give
    # one (origin, target) pair apiece, too few to hold origins out or to calibrate on.
    rows = [
        (f"s{i}", year, 10.0 + i + 0.5 * (year - 1990))
        for i in range(6)
        for year in range(1991, 1995)
    ]
    history = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    with pytest.raises(ValueError, match=r"only 6 \(origin, target\) pairs to learn from"):
        GlobalForecaster().fit(history)
    more = [
        (f"s{i}", year, 10.0 + i + 0.5 * (year - 1990))
        for i in range(10)
        for year in range(1991, 1995)
    ]
    model = GlobalForecaster().fit(pl.DataFrame(more, schema=SCHEMA, orient="row"))
    assert model.calibration_source.startswith("in-sample")
