"""Prophet's logistic growth, regressors (scenarios) and JSON artefacts."""

import numpy as np
import polars as pl
import pytest

from talentflow.models.prophet_model import ProphetForecaster

SCHEMA = {"series_id": pl.String, "year": pl.Int32, "y": pl.Float64}
FAST = {"uncertainty_samples": 200}


def synthetic_saturating_history() -> pl.DataFrame:
    """Two synthetic enrolment ratios (percent) on S-curves towards 100, one already
    near its cap (about 95 by 2020), one half-way there."""
    rng = np.random.default_rng(3)
    years = np.arange(1995, 2021)
    near = 100 / (1 + np.exp(-0.25 * (years - 2008))) + rng.normal(0, 0.4, len(years))
    half = 100 / (1 + np.exp(-0.15 * (years - 2020))) + rng.normal(0, 0.4, len(years))
    return pl.DataFrame(
        {
            "series_id": ["near_cap"] * len(years) + ["half_way"] * len(years),
            "year": np.concatenate([years, years]),
            "y": np.concatenate([np.minimum(near, 99.5), half]),
        },
        schema=SCHEMA,
    )


def synthetic_driven_history() -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two synthetic series that move with a synthetic cohort driver (y = 20 + 3·cohort
    + trend + noise), and the cohort for the history and eight forecast years."""
    rng = np.random.default_rng(5)
    years = np.arange(1996, 2029)
    history, exog = [], []
    for series_id, offset in (("p", 0.0), ("q", 40.0)):
        cohort = 10 + np.cumsum(rng.normal(0, 1.0, len(years)))
        y = offset + 20 + 3 * cohort + 0.5 * (years - 1996) + rng.normal(0, 0.3, len(years))
        for year, c, value in zip(years, cohort, y, strict=True):
            exog.append((series_id, int(year), float(c)))
            if year <= 2020:
                history.append((series_id, int(year), float(value)))
    exog_schema = {"series_id": pl.String, "year": pl.Int32, "cohort": pl.Float64}
    return (
        pl.DataFrame(history, schema=SCHEMA, orient="row"),
        pl.DataFrame(exog, schema=exog_schema, orient="row"),
    )


def test_logistic_forecasts_stay_within_floor_and_cap_at_long_horizons():
    history = synthetic_saturating_history()
    logistic = ProphetForecaster(growth="logistic", cap=100.0, floor=0.0, **FAST)
    forecast = logistic.fit(history).predict(30, levels=(80, 95))
    assert forecast.select(
        (pl.col("lo95") >= 0.0).all() & (pl.col("hi95") <= 100.0).all(),
        (pl.col("mean") <= 100.0).all() & (pl.col("mean") >= 0.0).all(),
    ).row(0) == (True, True)
    near = forecast.filter(pl.col("series_id") == "near_cap")
    assert near["mean"].item(-1) > 95.0  # saturates near the cap, neither falls nor crosses
    # The same series under linear growth runs through the cap: the bound is the model's.
    linear = ProphetForecaster(**FAST).fit(history.filter(pl.col("series_id") == "near_cap"))
    assert linear.predict(30, levels=(95,))["hi95"].max() > 100.0


def test_logistic_cap_per_series_or_from_each_series_history():
    history = synthetic_saturating_history()
    by_series = ProphetForecaster(
        growth="logistic", cap={"near_cap": 100.0, "half_way": 80.0}, **FAST
    ).fit(history)
    half = by_series.predict(25, levels=(95,)).filter(pl.col("series_id") == "half_way")
    assert half["hi95"].max() <= 80.0
    from_history = ProphetForecaster(growth="logistic", cap=lambda y: 1.05 * y.max(), **FAST)
    forecast = from_history.fit(history).predict(25, levels=(95,))
    caps = history.group_by("series_id").agg((pl.col("y").max() * 1.05).alias("cap"))
    assert (
        forecast.join(caps, on="series_id").select((pl.col("hi95") <= pl.col("cap")).all()).item()
    )
    with pytest.raises(ValueError, match="'near_cap'.*outside its floor..cap"):
        ProphetForecaster(growth="logistic", cap=90.0, **FAST).fit(history)
    with pytest.raises(ValueError, match="needs a cap"):
        ProphetForecaster(growth="logistic")


def test_a_regressor_gives_another_scenario_from_the_same_fit():
    history, exog = synthetic_driven_history()
    model = ProphetForecaster(regressors=("cohort",), **FAST).fit(history, exog)
    assert model.uses_exog
    base = model.predict(5)
    assert base.equals(model.predict(5, exog=exog))
    high = exog.with_columns(
        pl.when(pl.col("year") > 2020).then(pl.col("cohort") + 5.0).otherwise("cohort")
    )
    gap = model.predict(5, exog=high)["mean"] - base["mean"]
    assert gap.to_numpy() == pytest.approx(15.0, rel=0.2)  # 3 × 5, learnt from the data


def test_missing_exog_years_are_refused_with_the_series_and_years():
    history, exog = synthetic_driven_history()
    model = ProphetForecaster(regressors=("cohort",), **FAST)
    holed = exog.filter(~((pl.col("series_id") == "q") & pl.col("year").is_in([2001, 2002])))
    with pytest.raises(ValueError, match=r"series 'q' in years \[2001, 2002\]"):
        model.fit(history, holed)
    model.fit(history, exog)
    with pytest.raises(ValueError, match=r"series 'p' in years \[2029, 2030\]"):
        model.predict(10)
    with pytest.raises(ValueError, match="need exog"):
        ProphetForecaster(regressors=("cohort",)).fit(history)


@pytest.mark.parametrize("kind", ["logistic", "regressor"])
def test_json_artefacts_rebuild_a_forecaster_with_identical_forecasts(kind):
    if kind == "logistic":
        history, exog = synthetic_saturating_history(), None
        model = ProphetForecaster(growth="logistic", cap=lambda y: 1.1 * y.max(), **FAST)
    else:
        history, exog = synthetic_driven_history()
        model = ProphetForecaster(regressors=("cohort",), **FAST)
    model.fit(history, exog)
    files = model.artefacts()
    assert "params.json" in files
    assert all(name.endswith(".json") for name in files)
    loaded = ProphetForecaster.from_artefacts(files)
    original = model.predict(6, levels=(80, 95))
    rebuilt = loaded.predict(6, levels=(80, 95))
    assert rebuilt["mean"].to_list() == original["mean"].to_list()
    assert rebuilt.equals(original)  # same seed, same samples: the intervals too
