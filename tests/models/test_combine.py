"""The handover from a short- to a long-horizon model (models.combine)."""

import polars as pl
import pytest

from talentflow.models.combine import handover, long_weight

VALUES = ["mean", "lo80", "hi80"]


def synthetic_pair() -> pl.DataFrame:
    """Two synthetic models' forecasts of one series, horizons 1-12: the short one says
    10 everywhere, the long one 20, with bands of ±1 and ±4."""
    rows = []
    for horizon in range(1, 13):
        rows.append(("short", "s", 2020 + horizon, horizon, 10.0, 9.0, 11.0))
        rows.append(("long", "s", 2020 + horizon, horizon, 20.0, 16.0, 24.0))
    return pl.DataFrame(
        rows, schema=["model", "series_id", "year", "horizon", *VALUES], orient="row"
    )


def test_the_short_model_alone_first_the_long_one_alone_later_a_line_between():
    combined = handover(synthetic_pair(), "short", "long", VALUES, years=(5, 10)).sort("horizon")
    assert combined["model"].unique().to_list() == ["handover"]
    means = dict(zip(combined["horizon"], combined["mean"], strict=True))
    assert [means[h] for h in (1, 5)] == [10.0, 10.0]
    assert means[7] == pytest.approx(14.0)  # two fifths of the way
    assert [means[h] for h in (10, 12)] == [20.0, 20.0]
    assert combined.filter(pl.col("horizon") == 7)["lo80"].item() == pytest.approx(11.8)


def test_keys_only_one_model_forecast_are_left_out_and_bad_requests_refused():
    pair = synthetic_pair().filter(~((pl.col("model") == "long") & (pl.col("horizon") == 12)))
    assert handover(pair, "short", "long", VALUES).height == 11
    with pytest.raises(ValueError, match="different"):
        handover(pair, "short", "short", VALUES)
    with pytest.raises(ValueError, match="theta"):
        handover(pair, "short", "theta", VALUES)
    with pytest.raises(ValueError, match="first < last"):
        long_weight(pl.col("horizon"), (10, 5))
