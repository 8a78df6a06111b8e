"""The long-horizon panel model (models.converge): each series follows the path the
panel took from its level, its own lead fading; intervals from in-sample replays."""

import json

import numpy as np
import polars as pl
import pytest

from talentflow.models.converge import DAMPING_GRID, Converging, _error_growth
from tests.checks import intervals_are_ordered


def synthetic_s_curves(series: int = 30, seed: int = 3) -> pl.DataFrame:
    """Synthetic logit-like levels: every series climbs the same S-curve (fast at low
    levels, slowing towards 4), starting at different levels and years, with noise."""
    rng = np.random.default_rng(seed)
    rows = []
    for index in range(series):
        level = rng.uniform(-3.0, 2.0)
        for year in range(1995 + index % 7, 2021):
            rows.append((f"s{index:02d}", year, level + rng.normal(0, 0.02)))
            level += 0.25 * (4.0 - level) / 7.0  # the panel's path: slower near 4
    return pl.DataFrame(rows, schema=["series_id", "year", "y"], orient="row").with_columns(
        pl.col("year").cast(pl.Int32)
    )


def test_the_panel_path_slows_where_the_panel_slowed():
    model = Converging().fit(synthetic_s_curves())
    low, high = model.path_change(np.array([-2.0, 3.0]))
    assert low > high > 0  # a series low on the scale gains faster than one near the top


def test_a_series_converges_to_the_panel_path_instead_of_extending_its_own_trend():
    panel = synthetic_s_curves()
    # A synthetic outlier that rose four times faster than the panel for ten years.
    rebel = pl.DataFrame(
        {"series_id": "rebel", "year": list(range(2011, 2021)), "y": [0.4 * k for k in range(10)]}
    ).with_columns(pl.col("year").cast(pl.Int32))
    model = Converging().fit(pl.concat([panel, rebel]))
    path = model.predict(30).filter(pl.col("series_id") == "rebel")["mean"].to_numpy()
    straight_line = 3.6 + 0.4 * np.arange(1, 31)
    assert path[-1] < straight_line[-1] - 5  # not the trend carried on for 30 years
    yearly = np.diff(np.concatenate([[3.6], path]))
    assert yearly.max() < 0.4 / 2  # its own pace (0.4 a year) is not carried on
    assert yearly[-1] <= yearly[0]  # and what remains of its lead fades


def test_damping_is_chosen_in_sample_from_the_grid_and_recorded():
    model = Converging().fit(synthetic_s_curves())
    artefacts = json.loads(model.artefacts()["params.json"])
    assert artefacts["damping"] in DAMPING_GRID
    scores = artefacts["damping_replay_mae"]
    assert artefacts["damping"] == min(DAMPING_GRID, key=lambda phi: (scores[str(phi)], phi))


def test_intervals_widen_with_the_horizon_and_stay_ordered():
    forecast = Converging().fit(synthetic_s_curves()).predict(25)
    assert intervals_are_ordered(forecast)
    one = forecast.filter(pl.col("series_id") == "s00")
    width = (one["hi80"] - one["lo80"]).to_numpy()
    assert width[-1] > width[0]


def test_replayed_intervals_cover_about_their_share_of_held_out_years():
    panel = synthetic_s_curves(series=40, seed=11)
    train = panel.filter(pl.col("year") <= 2012)
    forecast = Converging().fit(train).predict(8)
    scored = forecast.join(panel, on=["series_id", "year"])
    covered = scored.select(
        ((pl.col("y") >= pl.col("lo80")) & (pl.col("y") <= pl.col("hi80"))).mean()
    ).item()
    assert 0.6 <= covered <= 0.97


def synthetic_driver(panel: pl.DataFrame, effect: float) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A synthetic cohort whose yearly change moves the level by ``effect`` × its log."""
    rng = np.random.default_rng(5)
    exog = panel.select("series_id", "year").with_columns(
        pl.Series("cohort_growth", rng.normal(0, 0.05, panel.height))
    )
    shifted = (
        panel.join(exog, on=["series_id", "year"])
        .sort("series_id", "year")
        .with_columns(
            (
                pl.col("y") + (effect * pl.col("cohort_growth").log1p()).cum_sum().over("series_id")
            ).alias("y")
        )
        .select("series_id", "year", "y")
    )
    return shifted, exog


def test_an_age_structure_driver_is_used_only_where_the_evidence_holds():
    panel = synthetic_s_curves()
    linked, exog = synthetic_driver(panel, effect=-1.0)
    with_link = Converging(driver="cohort_growth").fit(linked, exog)
    evidence = json.loads(with_link.artefacts()["params.json"])["driver"]
    assert evidence["used"] and evidence["slope"] == pytest.approx(-1.0, abs=0.15)
    _, noise = synthetic_driver(panel, effect=0.0)
    without = Converging(driver="cohort_growth").fit(panel, noise)
    assert not json.loads(without.artefacts()["params.json"])["driver"]["used"]


def test_the_driver_moves_the_forecast_by_variant():
    panel = synthetic_s_curves()
    linked, exog = synthetic_driver(panel, effect=-1.0)
    model = Converging(driver="cohort_growth").fit(linked, exog)
    future = pl.DataFrame({"series_id": "s00", "year": list(range(2021, 2031))}).with_columns(
        pl.col("year").cast(pl.Int32)
    )
    shrinking = future.with_columns(pl.lit(-0.03).alias("cohort_growth"))
    steady = future.with_columns(pl.lit(0.0).alias("cohort_growth"))
    others = (
        exog.filter(pl.col("series_id") != "s00").group_by("series_id").agg(pl.col("year").max())
    )
    rest = pl.concat(
        [
            pl.DataFrame({"series_id": sid, "year": list(range(year + 1, year + 11))})
            for sid, year in others.iter_rows()
        ]
    ).with_columns(pl.col("year").cast(pl.Int32), pl.lit(0.0).alias("cohort_growth"))
    low = model.predict(10, exog=pl.concat([shrinking, rest])).filter(pl.col("series_id") == "s00")
    flat = model.predict(10, exog=pl.concat([steady, rest])).filter(pl.col("series_id") == "s00")
    # a shrinking cohort raises the rate when the panel says the link is negative
    assert low["mean"][-1] > flat["mean"][-1]


def test_a_driver_missing_from_exog_is_named():
    with pytest.raises(ValueError, match="cohort_growth"):
        Converging(driver="cohort_growth").fit(synthetic_s_curves())


def _noisy_climb(series: int, years: range, seed: int) -> pl.DataFrame:
    """Synthetic series rising 0.1 a year with yearly noise (sd 0.05)."""
    rng = np.random.default_rng(seed)
    rows = [
        (f"s{index:02d}", year, 0.1 * (year - years.start) + rng.normal(0, 0.05))
        for index in range(series)
        for year in years
    ]
    return pl.DataFrame(rows, schema=["series_id", "year", "y"], orient="row").with_columns(
        pl.col("year").cast(pl.Int32)
    )


def test_one_short_series_gets_intervals_from_its_pooled_replay_errors():
    # The world's mobile students: one series, twelve years at a backtest origin, so no
    # horizon has MIN_ERRORS replay errors of its own. Its intervals were of zero width,
    # and covered none of the later years.
    history = _noisy_climb(1, range(1998, 2010), seed=4)
    model = Converging().fit(history)
    forecast = model.predict(12)
    width = (forecast["hi80"] - forecast["lo80"]).to_numpy()
    assert (width > 0).all() and (np.diff(width) > 0).all()
    assert intervals_are_ordered(forecast)
    recorded = json.loads(model.artefacts()["params.json"])
    assert "replay errors pooled over horizons as e / h^" in recorded["interval_source"]
    assert list(recorded["error_quantiles"]) == ["1"]
    assert 0.5 <= recorded["error_growth"] <= 1.0
    assert recorded["replay_start"] == "each series' min_observations-th year"
    # The pooled errors are this series' own replay: noise of sd 0.05 a year, so the
    # 80 % interval one year ahead spans about 2 × 1.28 × 0.05 × √2 (two noisy levels).
    assert 0.05 < width[0] < 0.4


def test_series_just_min_observations_long_still_get_a_replay():
    # A backtest's first origin for the S&E degree targets: every series has three
    # years (2000-2002), so no replay from the third year has an actual after it. φ was
    # then chosen on no errors at all (NaN scores, which params.json cannot hold) and
    # the intervals had zero width.
    history = _noisy_climb(21, range(2000, 2003), seed=5)
    model = Converging().fit(history)
    recorded = json.loads(model.artefacts()["params.json"])
    assert all(np.isfinite(score) for score in recorded["damping_replay_mae"].values())
    forecast = model.predict(5)
    assert ((forecast["hi80"] - forecast["lo80"]) > 0).all()
    assert recorded["replay_start"] == "each series' second year"
    assert recorded["interval_source"] == "replay errors per horizon"  # 21 at horizon 1


def test_a_well_supplied_panel_keeps_its_per_horizon_quantiles():
    model = Converging().fit(synthetic_s_curves())
    recorded = json.loads(model.artefacts()["params.json"])
    assert recorded["interval_source"] == "replay errors per horizon"
    assert recorded["replay_start"] == "each series' min_observations-th year"
    assert len(recorded["error_quantiles"]) == 12 and recorded["error_growth"] == 0.5


@pytest.mark.parametrize(("power", "expected"), [(1.0, 1.0), (0.5, 0.5), (0.75, 0.75)])
def test_pooled_errors_grow_at_the_rate_the_replay_shows(power, expected):
    # Synthetic replay errors whose spread grows as h^power: a misjudged trend (1), a
    # random walk (0.5), between (0.75). Their pooled one-year errors are scaled back
    # at that rate, not at an assumed one.
    rng = np.random.default_rng(8)
    horizons = np.repeat(np.arange(1, 13), 200)
    errors = rng.normal(0, 0.1, len(horizons)) * horizons**power
    assert _error_growth(horizons, errors) == pytest.approx(expected, abs=0.08)
    # Outside the bounds it is clipped: errors that shrink with the horizon are not
    # taken to shrink beyond a random walk's growth.
    assert _error_growth(horizons, errors / horizons**2) == 0.5
    assert _error_growth(np.array([1, 1, 2]), np.array([0.1, 0.2, 0.3])) == 0.5
