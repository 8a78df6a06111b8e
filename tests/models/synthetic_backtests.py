"""Synthetic series, metrics and forecasts for the evaluation tests (tests/models/).

Every frame here is synthetic: small made-up series whose answers can be worked out by
hand.
"""

import numpy as np
import polars as pl

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
