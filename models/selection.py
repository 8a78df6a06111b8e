"""Which model a target family publishes, chosen from its pooled backtest scores.

:func:`select_model` applies the rule (lowest mean MASE over a band of horizons, the
simpler model on a near-tie) and says why, and which goal it misses, in a sentence.
Never here: files, settings or Prefect.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl

from talentflow.core.facts import COVERAGE_GOAL, MASE_GOAL, MODEL_NAMES
from talentflow.models.metrics import summary_by_model
from talentflow.models.origins import DEFAULT_HORIZONS

#: Simplest first: on a near-tie the backtest prefers the model earlier in this list
#: (the zoo's own order). Models not listed rank after every listed one.
SIMPLICITY_ORDER = MODEL_NAMES


def select_model(
    metrics: pl.DataFrame,
    naive: str = "naive",
    coverage_goal: tuple[float, float] = COVERAGE_GOAL,
    mase_goal: float = MASE_GOAL,
    near_tie: float = 0.02,
    simplicity: Sequence[str] = SIMPLICITY_ORDER,
    horizons: Iterable[int] = DEFAULT_HORIZONS,
) -> pl.DataFrame:
    """The model a target family publishes, chosen from its pooled backtest.

    Parameters
    ----------
    metrics : pl.DataFrame
        :func:`backtest_metrics`' output for one target family (every series and origin
        of the family pooled: one decision per family, not per series).
    naive : str, default "naive"
        The baseline's model name; it must be in ``metrics``.
    coverage_goal : tuple[float, float], default COVERAGE_GOAL
        The range the 80 % interval's coverage should fall in.
    mase_goal : float, default MASE_GOAL
        The improvement over the baseline's MASE (``1 - mase / naive_mase``) to reach.
    near_tie : float, default 0.02
        Models whose MASE is within this share of the lowest count as tied with it.
    simplicity : Sequence[str], default SIMPLICITY_ORDER
        Model names, simplest first; unlisted models rank after all listed ones.
    horizons : Iterable[int], default range(1, 6)
        Horizons averaged (weighted by forecasts, see :func:`summary_by_model`).

    Returns
    -------
    pl.DataFrame
        One row: ``selected_model, mase, naive_mase, mase_improvement, coverage80,
        coverage95, meets_mase_goal, meets_coverage_goal, reason``, the
        ``model_selection`` table's columns after its run columns.

    Raises
    ------
    ValueError
        If the baseline is missing from ``metrics`` or no model has a MASE.

    Notes
    -----
    Rule: among models scored on every forecast the most complete model was (a model
    that failed at some origins was scored on easier or fewer cases and is not compared
    like for like), take the lowest mean MASE over ``horizons``; every model within
    ``near_tie`` (relative) of it ties, and the simplest tied model wins: a 2 % edge is
    within the noise of a few origins and not worth a more complex model. Coverage does
    not choose the model; ``meets_coverage_goal`` and ``reason`` report it, and
    :func:`interval_calibration` can correct it.
    """
    summary = summary_by_model(metrics, horizons)
    if naive not in summary["model"].to_list():
        raise ValueError(
            f"the backtest has no rows for the baseline {naive!r} (models: "
            f"{summary['model'].to_list()}); backtest it alongside the candidates"
        )
    horizon_list = sorted(set(horizons))
    span = f"horizons {horizon_list[0]}-{horizon_list[-1]}"
    most = int(summary["forecasts"].max())
    complete = summary.filter((pl.col("forecasts") == most) & pl.col("mase").is_not_null())
    if complete.is_empty():
        raise ValueError("no model has a MASE: every scored series had a zero in-sample scale")
    incomplete = summary.filter(pl.col("forecasts") < most)
    rank = {name: position for position, name in enumerate(simplicity)}
    best_mase = float(complete["mase"].min())
    tied = complete.filter(pl.col("mase") <= best_mase * (1 + near_tie)).to_dicts()
    tied.sort(key=lambda row: (rank.get(row["model"], len(rank)), row["mase"], row["model"]))
    chosen = tied[0]
    lowest = complete.sort("mase", "model").row(0, named=True)
    baseline = summary.filter(pl.col("model") == naive).row(0, named=True)

    mase, naive_mase = chosen["mase"], baseline["mase"]
    improvement = 1 - mase / naive_mase if naive_mase else None
    coverage80, coverage95 = chosen.get("coverage80"), chosen.get("coverage95")
    meets_mase = improvement is not None and improvement >= mase_goal
    low, high = coverage_goal
    meets_coverage = coverage80 is not None and low <= coverage80 <= high

    if chosen["model"] == lowest["model"]:
        why = f"{chosen['model']}: lowest mean MASE over {span} ({mase:.3f})"
    else:
        why = (
            f"{chosen['model']}: MASE {mase:.3f} within {_pct(near_tie)} of the lowest "
            f"({lowest['model']} {lowest['mase']:.3f}) and simpler"
        )
    parts = [why]
    goal_text = f"goal {_pct(mase_goal)} better than naive"
    if chosen["model"] == naive:
        parts.append(f"no model beat the naive baseline: MASE goal missed ({goal_text})")
    elif improvement is None:
        parts.append(f"naive MASE is {naive_mase}: no improvement measurable, MASE goal missed")
    else:
        change = (
            f"{_pct(improvement)} better" if improvement >= 0 else f"{_pct(-improvement)} worse"
        )
        verdict = "MASE goal met" if meets_mase else "MASE goal missed"
        parts.append(f"{verdict}: {change} than naive ({naive_mase:.3f}), {goal_text}")
    parts.append(_coverage_sentence(coverage80, coverage95, coverage_goal))
    if incomplete.height:
        names = ", ".join(
            f"{row['model']} ({row['forecasts']} of {most} forecasts)"
            for row in incomplete.iter_rows(named=True)
        )
        parts.append(f"not compared, incomplete backtest: {names}")
    return pl.DataFrame(
        [
            {
                "selected_model": chosen["model"],
                "mase": mase,
                "naive_mase": naive_mase,
                "mase_improvement": improvement,
                "coverage80": coverage80,
                "coverage95": coverage95,
                "meets_mase_goal": meets_mase,
                "meets_coverage_goal": meets_coverage,
                "reason": "; ".join(parts) + ".",
            }
        ],
        schema={
            "selected_model": pl.String,
            "mase": pl.Float64,
            "naive_mase": pl.Float64,
            "mase_improvement": pl.Float64,
            "coverage80": pl.Float64,
            "coverage95": pl.Float64,
            "meets_mase_goal": pl.Boolean,
            "meets_coverage_goal": pl.Boolean,
            "reason": pl.String,
        },
    )


def _coverage_sentence(
    coverage80: float | None, coverage95: float | None, goal: tuple[float, float]
) -> str:
    low, high = goal
    goal_text = f"goal {low * 100:.0f}-{_pct(high)}"
    tail = "" if coverage95 is None else f"; 95 % interval covered {_pct(coverage95)}"
    if coverage80 is None:
        return f"coverage goal missed: no 80 % interval was backtested ({goal_text})"
    if coverage80 < low:
        return (
            f"coverage goal missed, intervals too narrow: 80 % interval covered "
            f"{_pct(coverage80)} ({goal_text}){tail}"
        )
    if coverage80 > high:
        return (
            f"coverage goal missed, intervals too wide: 80 % interval covered "
            f"{_pct(coverage80)} ({goal_text}){tail}"
        )
    return f"coverage goal met: 80 % interval covered {_pct(coverage80)} ({goal_text}){tail}"


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"
