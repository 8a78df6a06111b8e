"""The handover from a short- to a long-horizon model, and the quantile average of an
ensemble's members (models.combine)."""

import numpy as np
import polars as pl
import pytest

from talentflow.models.combine import handover, long_weight, quantile_average

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


def test_the_quantile_average_gives_the_same_frame_row_for_row_every_time():
    """A backtest's scores are sums over the ensemble's rows: rows in another order give
    other last digits, and a rerun would publish other scores. Synthetic members' rows
    of 600 series x 10 years: averaged, they come in their keys' first order."""
    rng = np.random.default_rng(5)
    keys = [(f"s{s:03d}", 2010 + y) for s in range(600) for y in range(10)]
    members = pl.concat(
        pl.DataFrame(
            {
                "model": model,
                "series_id": [s for s, _ in keys],
                "year": [y for _, y in keys],
                **{value: rng.normal(size=len(keys)) for value in VALUES},
            }
        )
        for model in ("naive", "drift", "theta")
    )
    first = quantile_average(members, ["naive", "drift", "theta"], VALUES, "ensemble")
    assert first.select("series_id", "year").rows() == keys
    for _ in range(3):
        again = quantile_average(members, ["naive", "drift", "theta"], VALUES, "ensemble")
        assert again.equals(first)
    one = members.filter((pl.col("series_id") == "s123") & (pl.col("year") == 2014))
    assert first.filter((pl.col("series_id") == "s123") & (pl.col("year") == 2014))[
        "mean"
    ].item() == pytest.approx(one["mean"].mean())
