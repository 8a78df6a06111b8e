"""Series breaks (tasks.features.breaks): a definition change is found and modelled after;
an ordinary fast-growing series is left alone."""

import numpy as np
import polars as pl

from talentflow.tasks.features.breaks import after_last_break, series_breaks


def synthetic_series(series_id: str, values: list[float], first_year: int = 2000) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "series_id": series_id,
            "year": list(range(first_year, first_year + len(values))),
            "y": values,
        }
    ).with_columns(pl.col("year").cast(pl.Int32))


def test_a_level_shift_is_a_break_and_steady_fast_growth_is_not():
    rng = np.random.default_rng(1)
    # synthetic: 8 % a year with noise, then a definition change adds 30 % in 2014
    growth = [0.08 + rng.normal(0, 0.01) for _ in range(23)]
    growth[13] += 0.30
    shifted = list(np.exp(np.cumsum([np.log(0.1), *growth])))
    steady = list(
        np.exp(np.cumsum([np.log(0.1), *[0.08 + rng.normal(0, 0.01) for _ in range(23)]]))
    )
    found = series_breaks(
        pl.concat([synthetic_series("shift", shifted), synthetic_series("steady", steady)])
    )
    assert found.select("series_id", "year").rows() == [("shift", 2014)]
    assert found["residual"].item() > 0.25


def test_a_series_is_modelled_after_its_break_only_when_enough_years_follow():
    years_after = {"long": 12, "short": 4}
    frames = []
    for name, after in years_after.items():
        before = [1.0] * 10
        frames.append(synthetic_series(name, before + [2.0] * after))
    history = pl.concat(frames)
    breaks = series_breaks(history.with_columns(pl.col("y") * (1 + 0.001 * pl.col("year"))))
    assert set(breaks["series_id"]) == {"long", "short"}
    cut, annotated = after_last_break(history, breaks, min_years=8)
    assert cut.filter(pl.col("series_id") == "long")["year"].min() == 2010
    assert cut.filter(pl.col("series_id") == "short").height == 14  # kept whole
    actions = dict(annotated.select("series_id", "action").iter_rows())
    assert actions["long"] == "modelled after the break"
    assert actions["short"].startswith("kept whole: 4 observed year(s) from the latest break on")
