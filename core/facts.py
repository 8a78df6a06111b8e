"""Facts several floors share, written once: the model zoo's names, the goals a forecast
is judged by, the headline series readers ask for first, source facts that features and
readers both need, and how a number is shown to a reader.

Plain Python: importing this module never imports Prefect, Polars or anything of ours.
"""

from __future__ import annotations

import math

# -- the model zoo ------------------------------------------------------------------------

#: Every model of the zoo, simplest first: on a near-tie the backtest prefers the model
#: earlier in this order (models.selection). ``talentflow run --models`` takes a subset.
MODEL_NAMES: tuple[str, ...] = (
    "naive",
    "drift",
    "ets",
    "theta",
    "ensemble",
    "converge",
    "global",
    "prophet",
)
#: What a run fits unless ``--models`` says otherwise: the whole zoo but Prophet. Prophet
#: was never selected and was the worst model on 3 of 5 targets, yet took 351 of the
#: forecast stage's 433 s (bench/README.md, 2026-11-30); the long-horizon backtest
#: (origins back to 2005) would have doubled that. ``--models ...,prophet`` still runs it.
DEFAULT_MODELS: tuple[str, ...] = tuple(name for name in MODEL_NAMES if name != "prophet")
#: The ensemble's members: its forecast is their quantile average (models.combine).
ENSEMBLE_MEMBERS: tuple[str, ...] = ("ets", "theta", "drift")
#: Every model is judged against these; a zoo without them cannot be scored.
BASELINE_MODEL = "naive"
REQUIRED_MODELS: tuple[str, ...] = ("naive", "drift")
#: The combination the selection publishes when the best short-horizon model and the best
#: long-horizon model differ (models.combine.handover).
HANDOVER_MODEL = "handover"

# -- horizons and goals ----------------------------------------------------------------------

#: The prediction intervals every forecast carries (percent).
INTERVAL_LEVELS: tuple[int, ...] = (80, 95)
#: The horizon bands forecasts are judged in (years after the last observation): what a
#: 1-5 year backtest can judge, and the longer horizons people quote.
SHORT_HORIZONS = (1, 5)
LONG_HORIZONS = (6, 12)
#: The years over which the handover from the short- to the long-horizon model happens:
#: the short model alone up to the first, the long model alone from the second.
HANDOVER_YEARS = (5, 10)
#: A selected model should be this much better than naive (1 - MASE / naive's MASE) at
#: horizons 1-5, and better than both naive and drift at 6-12.
MASE_GOAL = 0.20
#: The share of actuals a published 80 % interval should cover, per band.
COVERAGE_GOAL = (0.75, 0.85)
LONG_COVERAGE_GOAL = (0.70, 0.90)
#: The replays a long-horizon judgement rests on: ``--as-of`` vintages (issue 12).
REPLAY_VINTAGES = (2008, 2015)

# -- what readers ask first -----------------------------------------------------------------

#: ``target -> places`` of the headline forecasts: the run's headline table, the outlook's
#: charts and the findings all show these, in this order. A target forecast per origin
#: group (China's intake) shows every group.
HEADLINE_TARGETS: dict[str, tuple[str, ...]] = {
    "researchers": ("CHN", "USA"),
    "tertiary_students": ("CHN", "USA"),
    "adults_25plus_tertiary": ("CHN", "USA"),
    "se_doctorates": ("CHN", "USA"),
    "se_first_degrees": ("CHN", "USA"),
    "china_researcher_inflows": ("CHN",),
    "china_inbound_students": ("CHN",),
}
#: The forecast years a headline shows.
HEADLINE_YEARS: tuple[int, ...] = (2030, 2040, 2050)

# -- published projections to compare with ----------------------------------------------------

#: Projections others have published of a target talentflow forecasts: ``(source, target,
#: country_iso3, year, value, how it differs from ours)``. The backtest report sets the
#: selected forecast beside each; they judge nothing, they situate.
PUBLISHED_PROJECTIONS: tuple[tuple[str, str, str, int, float, str], ...] = (
    (
        "CSET, China is Fast Outpacing U.S. STEM PhD Growth (Zwetsloot et al., Aug. 2021)",
        "se_doctorates",
        "CHN",
        2025,
        77_000.0,
        "STEM PhDs from enrolment, medicine and agriculture included ('more than 77,000'); "
        "NCSES S&E excludes health",
    ),
    (
        "CSET, China is Fast Outpacing U.S. STEM PhD Growth (Zwetsloot et al., Aug. 2021)",
        "se_doctorates",
        "USA",
        2025,
        40_000.0,
        "STEM PhDs, medical sciences and international students included ('approximately')",
    ),
)

# -- source facts ---------------------------------------------------------------------------

#: MPIDR's Scholarly Migration Database: years whose moves are complete enough to use
#: (later years are right-censored; the mirror MANIFEST's advice).
MPIDR_RELIABLE_YEARS = (1998, 2020)

# -- the seed's claims -------------------------------------------------------------------------

#: The verdicts a claim of the seed question can get (tasks.features.claims), strongest first.
VERDICTS: tuple[str, ...] = (
    "supported",
    "partly supported",
    "not supported",
    "untestable with these data",
)
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


#: The folders that install as talentflow's subpackages (pyproject.toml lists them;
#: tests/test_packaging.py checks the list against the folders).
PACKAGE_FOLDERS: tuple[str, ...] = ("core", "models", "expectations", "tasks", "flows")
