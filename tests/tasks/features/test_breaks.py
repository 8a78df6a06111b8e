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


def _breaks_as_written(history: pl.DataFrame) -> list[tuple]:
    """BREAK_RULE applied change by change, one NumPy median per change, as the module's
    docstring states it: the reference the batched computation must equal to the bit."""
    from talentflow.tasks.features.breaks import BREAK_RULE as rule

    found = []
    for (series_id,), group in history.sort("series_id", "year").group_by(
        "series_id", maintain_order=True
    ):
        years, values = group["year"].to_numpy(), group["y"].to_numpy()
        if len(values) < rule["min_residuals"] + 2:
            continue
        gaps = np.diff(years)
        changes = np.diff(np.log(values)) / gaps
        ends = years[1:]
        others = [np.arange(len(ends)) != index for index in range(len(ends))]
        residuals = []
        for index, change in enumerate(changes):
            near = changes[(np.abs(ends - ends[index]) <= rule["neighbours"]) & others[index]]
            residuals.append(change - (float(np.median(near)) if len(near) else change))
        residuals = np.array(residuals)
        for index, residual in enumerate(residuals):
            nearby = residuals[(np.abs(ends - ends[index]) <= rule["window"]) & others[index]]
            if gaps[index] > 2 or len(nearby) < rule["min_residuals"]:
                continue
            spread = 1.4826 * float(np.median(np.abs(nearby - np.median(nearby))))
            if abs(residual) > max(rule["k"] * spread, rule["floor"]):
                found.append((series_id, int(ends[index]), changes[index], residual, spread))
    return found


def test_the_batched_medians_find_the_breaks_of_the_rule_as_written_to_the_bit():
    """Synthetic series of every length the rule reads, with gaps of one to three years
    and level shifts, some with an even number of neighbours (a median of two values)."""
    rng = np.random.default_rng(7)
    frames = []
    for number in range(200):
        length = int(rng.integers(5, 40))
        years = np.sort(rng.choice(np.arange(1970, 2030), length, replace=False))
        values = np.exp(np.cumsum(rng.normal(0, rng.uniform(0.01, 0.3), length)))
        if number % 2:
            values[int(rng.integers(0, length)) :] *= rng.uniform(0.3, 3)
        frames.append(
            pl.DataFrame({"series_id": f"synthetic-{number}", "year": years, "y": values})
        )
    history = pl.concat(frames).with_columns(pl.col("year").cast(pl.Int32))
    expected = _breaks_as_written(history)
    assert len(expected) > 20, "the series must have breaks to compare"
    assert series_breaks(history).rows() == expected
