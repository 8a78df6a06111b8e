"""Facts several floors share, written once: the model zoo's names, the goals a forecast
is judged by, the headline series readers ask for first, source facts that features and
readers both need, and how a number is shown to a reader.

Plain Python: importing this module never imports Prefect, Polars or anything of ours.
"""

from __future__ import annotations

import math

# -- the model zoo ------------------------------------------------------------------------

#: Every model of the zoo, simplest first: on a near-tie the backtest prefers the model
#: earlier in this order (models.backtest.select_model). ``talentflow run --models`` takes a subset.
MODEL_NAMES: tuple[str, ...] = (
    "naive",
    "drift",
    "ets",
    "theta",
    "ensemble",
    "prophet",
    "global",
)
#: Every model is judged against it; a zoo without it cannot be scored.
BASELINE_MODEL = "naive"

# -- goals ---------------------------------------------------------------------------------

#: A selected model should be this much better than naive (1 - MASE / naive's MASE).
MASE_GOAL = 0.20
#: The share of actuals a published 80 % interval should cover at horizons 1-5.
COVERAGE_GOAL = (0.75, 0.85)

# -- what readers ask first -----------------------------------------------------------------

#: ``target -> places`` of the headline forecasts: the run's headline table, the outlook's
#: charts and the findings all show these, in this order. A target forecast per origin
#: group (China's intake) shows every group.
HEADLINE_TARGETS: dict[str, tuple[str, ...]] = {
    "researchers": ("CHN", "USA"),
    "tertiary_students": ("CHN", "USA"),
    "china_researcher_inflows": ("CHN",),
    "china_inbound_students": ("CHN",),
}
#: The forecast years a headline shows.
HEADLINE_YEARS: tuple[int, ...] = (2030, 2040, 2050)

# -- source facts ---------------------------------------------------------------------------

#: MPIDR's Scholarly Migration Database: years whose moves are complete enough to use
#: (later years are right-censored; the mirror MANIFEST's advice).
MPIDR_RELIABLE_YEARS = (1998, 2020)
#: From this year MPIDR publishes researcher populations of 0 and empty rates.
MPIDR_CENSORED_FROM = 2022

# -- numbers for readers ----------------------------------------------------------------------

_WORDS = ((1e9, "billion"), (1e6, "million"), (1e3, "thousand"))
_LETTERS = ((1e9, "B"), (1e6, "M"), (1e3, "k"))


def compact_number(value: float | None, style: str = "short") -> str:
    """A count as a reader wants it: three significant digits, scaled from ten thousand.

    ``style="short"`` fits a terminal column (``96.8M``, ``11.2k``, ``294``);
    ``style="words"`` reads in prose (``96.8 million``, ``11.2 thousand``). Values below
    100 keep three significant digits (``0.0176``); a missing value is ``–``.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if style not in ("short", "words"):
        raise ValueError(f"compact_number: style {style!r} is not 'short' or 'words'")
    size = abs(value)
    for threshold, suffix in _WORDS if style == "words" else _LETTERS:
        if size >= max(threshold, 1e4):
            number = f"{value / threshold:.3g}"
            return f"{number} {suffix}" if style == "words" else f"{number}{suffix}"
    if size >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"
