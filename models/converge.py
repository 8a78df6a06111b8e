"""A long-horizon model: each series follows the path the whole panel took from its level.

Rates such as the tertiary enrolment ratio or researchers per working-age adult do not
grow on a straight line for decades: countries low on the scale gain quickly, leaders
slow down as they near what any country has reached. The education projections of the
Wittgenstein Centre build on that regularity ("global education trend": a country's
progress follows the trend the panel of countries showed at the same level). This model
is that idea for any bounded rate, in the transformed space talentflow forecasts in
(``Transformed(..., "logit", cap)``, where the cap is the evidence-based bound):

1. **The panel's path.** Every one-year change of every series, ``Δz``, is placed by the
   level it started from. The median change per level bin (quantile bins of at least
   ``min_bin_steps`` changes, at most ``bins``), linearly interpolated between bin
   centres and flat beyond the outer ones, is ``g(z)``: how much a series at level ``z``
   typically moves in a year.
2. **The country's own lead or lag.** Its recent slope (Theil-Sen over the last
   ``window`` years) minus ``g`` at its last level is ``d``: how much faster or slower
   than the panel it has been moving. It fades geometrically, ``d · φ^h``.
3. **The forecast** is the path ``z_{h} = z_{h-1} + g(z_{h-1}) + d · φ^h`` from the last
   observation, so a series converges to the panel's path, and the panel's path slows
   where the panel slowed.
4. **The damping φ** is chosen from :data:`DAMPING_GRID` by replaying the model inside
   the training data (every past origin of every series, horizons 1-12): the φ with the
   lowest mean absolute error in ``z``.
5. **Intervals** are empirical: the quantiles of those in-sample replay errors, per
   horizon, pooled over series (at least :data:`MIN_ERRORS` per horizon); beyond the
   longest horizon with enough errors they grow as ``sqrt(h)``, the random walk's rate.
   Where no horizon has that many (one short series, such as the world's mobile
   students at a backtest origin), every replay error in one-year units (``e / h^γ``,
   γ the rate at which this replay's errors grow with the horizon, between a random
   walk's 0.5 and a misjudged trend's 1) serves as horizon 1's, growing as ``h^γ``; and
   where the replay from each series' ``min_observations``-th year gives fewer than
   :data:`MIN_ERRORS` errors in all (a backtest's first origin, where every series is
   that short, gives none), φ and the intervals come from a replay starting at each
   series' second year. Before 2026-12-06 both cases gave intervals of zero width for
   want of errors. The artefacts record ``interval_source``, ``replay_start`` and
   ``error_growth``.
6. **An age-structure driver, only where the evidence holds.** With ``driver`` set (a
   column of ``exog``, e.g. the yearly change of the cohort), the model regresses what
   the path leaves unexplained on the driver's log change, pooled. It uses the slope only
   when the data support it: ``|t| >= 2`` and ``|correlation| >= 0.1``
   (:data:`EVIDENCE_RULE`); the artefacts record the estimate and the decision, so a
   refresh can change it.

This module must never touch Prefect, files or settings: frames in, frames out.

Notes
-----
In-sample replays reuse ``g`` estimated on all training years, so the chosen φ and the
error quantiles are slightly optimistic; the rolling-origin backtest (models.origins),
which refits at each origin, is what judges them. The optimism is worst where the replay
starts at a series' second year: the lead there rests on one change, scored against a
path estimated from that very change, so those intervals are rough.

References
----------
KC, S., Barakat, B., Goujon, A., Skirbekk, V., Sanderson, W. & Lutz, W. (2010).
Projection of populations by level of educational attainment, age, and sex for 120
countries for 2005-2050. *Demographic Research* 22(15), 383-472.

Barakat, B. & Durham, R. (2014). Future education trends. In Lutz, Butz & KC (eds.),
*World Population and Human Capital in the Twenty-First Century*, Oxford University
Press, ch. 8.

Sen, P. K. (1968). Estimates of the regression coefficient based on Kendall's tau.
*Journal of the American Statistical Association* 63(324), 1379-1389.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from typing import Self

import numpy as np
import polars as pl

from talentflow.models.base import Forecaster, check_history, prediction_frame, series_arrays

#: φ candidates: 0 follows the panel at once, 0.95 keeps a country's own pace for decades.
DAMPING_GRID = (0.0, 0.3, 0.5, 0.7, 0.85, 0.95)
#: Horizons the in-sample replay scores (the longest horizon the backtests judge).
REPLAY_HORIZONS = 12
#: Errors a horizon needs to get its own empirical quantiles.
MIN_ERRORS = 20
#: Interval levels the empirical error quantiles serve, and the quantiles (percent) kept.
SUPPORTED_LEVELS = (50, 80, 90, 95)
QUANTILES_KEPT = tuple(
    f"{q:g}" for level in SUPPORTED_LEVELS for q in (50 - level / 2, 50 + level / 2)
)
#: When a driver's pooled slope is used: both must hold.
EVIDENCE_RULE = {"min_abs_t": 2.0, "min_abs_correlation": 0.1}
#: Changes over a gap longer than this are not used to learn the panel's path (a jump
#: across a decade says little about one year).
MAX_GAP = 3


class Converging(Forecaster):
    """Each series converges to the panel's level-conditional path (see the module).

    Parameters
    ----------
    bins : int, default 8
        Most level bins of the panel's path.
    min_bin_steps : int, default 30
        Fewest one-year changes a bin holds; fewer changes give fewer bins.
    window : int, default 10
        Years of a series' recent history its own slope is estimated on.
    damping : float or None, default None
        φ; None chooses it from :data:`DAMPING_GRID` in-sample.
    driver : str or None, default None
        An ``exog`` column whose log change may shift the path (e.g. ``cohort_growth``,
        the yearly relative change of the cohort: its log is ``log1p``). Used only when
        :data:`EVIDENCE_RULE` holds on the training data.
    name : str, default "converge"
    """

    min_observations = 3

    def __init__(
        self,
        bins: int = 8,
        min_bin_steps: int = 30,
        window: int = 10,
        damping: float | None = None,
        driver: str | None = None,
        name: str = "converge",
    ) -> None:
        if bins < 1 or min_bin_steps < 1 or window < 1:
            raise ValueError("converge: bins, min_bin_steps and window must be at least 1")
        if damping is not None and not 0 <= damping < 1:
            raise ValueError(f"converge: damping must be in [0, 1), got {damping}")
        self.bins = bins
        self.min_bin_steps = min_bin_steps
        self.window = window
        self.damping = damping
        self.driver = driver
        self.name = name
        self.uses_exog = driver is not None

    # -- the contract ------------------------------------------------------------------

    def fit(self, history: pl.DataFrame, exog: pl.DataFrame | None = None) -> Self:
        check_history(history, self.min_observations)
        frame = history.sort("series_id", "year")
        self._series = series_arrays(frame)
        steps = _one_year_changes(frame)
        self._centres, self._medians = _level_path(
            steps["level"].to_numpy(), steps["change"].to_numpy(), self.bins, self.min_bin_steps
        )
        self._driver = self._driver_effect(steps, exog)
        origins = self._replay_origins(self.min_observations - 1)
        self.replay_start = "each series' min_observations-th year"
        if _error_count(origins) < MIN_ERRORS:
            # Too short a track record to choose φ or size intervals on (a backtest's
            # first origin, where every series is min_observations years long, has
            # none): replay from each series' second year, for both.
            origins = self._replay_origins(1)
            self.replay_start = "each series' second year"
        if self.damping is None:
            scores = {
                phi: float(np.mean(np.abs(self._replay(origins, phi)[2]))) for phi in DAMPING_GRID
            }
            self._phi = min(scores, key=lambda phi: (scores[phi], phi))
            self._damping_scores = scores
        else:
            self._phi, self._damping_scores = self.damping, {}
        horizons, _, errors = self._replay(origins, self._phi)
        if not len(errors):
            raise ValueError(
                f"{self.name}: no replay error to size the intervals on: every series "
                f"needs {self.min_observations} observed years"
            )
        self._quantiles = _error_quantiles(horizons, errors)
        self._growth = 0.5  # beyond the longest horizon with its own quantiles: sqrt(h)
        self.interval_source = "replay errors per horizon"
        if not self._quantiles:
            # No horizon has MIN_ERRORS errors (one short series, or a few): pool them
            # in one-year units at the rate they grow with the horizon in this replay.
            self._growth = _error_growth(horizons, errors)
            pooled = errors / horizons.astype(float) ** self._growth
            self._quantiles = {
                1: {q: float(np.quantile(pooled, float(q) / 100)) for q in QUANTILES_KEPT}
            }
            self.interval_source = (
                f"{len(pooled)} replay errors pooled over horizons as e / h^{self._growth:.2f}"
            )
            if len(pooled) < MIN_ERRORS:
                self.interval_source += f" (fewer than {MIN_ERRORS}: a rough interval)"
        self._exog = exog
        self._fitted = {
            series_id: {
                "last_year": int(years[-1]),
                "last_level": float(y[-1]),
                "lead": float(_theil_sen(years, y, self.window) - self.path_change(y[-1])),
            }
            for series_id, (years, y) in self._series.items()
        }
        return self

    def predict(
        self, horizon: int, levels: Sequence[int] = (80, 95), exog: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        self._check_fitted(horizon)
        series = list(self._fitted)
        last = np.array([self._fitted[s]["last_level"] for s in series])
        lead = np.array([self._fitted[s]["lead"] for s in series])
        last_year = np.array([self._fitted[s]["last_year"] for s in series])
        shifts = self._driver_shifts(series, last_year, horizon, exog)
        paths = self._paths(last, lead, self._phi, horizon, shifts)
        steps = np.arange(1, horizon + 1)
        columns = {"mean": paths}
        for level in levels:
            low, high = self.error_band(steps, level)
            columns[f"lo{level}"] = paths + low
            columns[f"hi{level}"] = paths + high
        return prediction_frame(series, last_year, columns, levels)

    def artefacts(self) -> dict[str, bytes]:
        """``params.json``: the panel's path, φ and its replay scores, the driver's
        evidence, the error quantiles per horizon, and each series' start and lead."""
        if not hasattr(self, "_fitted"):
            raise RuntimeError(f"{self.name}: call fit() before artefacts()")
        document = {
            "model": self.name,
            "path": {"level": self._centres.tolist(), "yearly_change": self._medians.tolist()},
            "damping": self._phi,
            "damping_replay_mae": {str(phi): score for phi, score in self._damping_scores.items()},
            "driver": self._driver,
            "error_quantiles": {str(h): q for h, q in self._quantiles.items()},
            "interval_source": self.interval_source,
            "replay_start": self.replay_start,
            "error_growth": self._growth,
            "series": self._fitted,
        }
        return {"params.json": json.dumps(document, allow_nan=False).encode()}

    # -- the path -----------------------------------------------------------------------

    def path_change(self, level: np.ndarray | float) -> np.ndarray:
        """``g(z)``: the panel's median yearly change at level ``z``."""
        return np.interp(level, self._centres, self._medians)

    def error_band(self, steps: np.ndarray, level: int) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper offsets from the path of the central ``level`` % interval at
        each step: the replay errors' quantiles, extrapolated beyond the longest horizon
        with :data:`MIN_ERRORS` errors as ``sqrt(h)`` (as ``h`` to the estimated growth
        where the errors were pooled); never on the wrong side of 0."""
        low_q, high_q = f"{50 - level / 2:g}", f"{50 + level / 2:g}"
        if low_q not in QUANTILES_KEPT:
            raise ValueError(f"{self.name}: level {level} is not one of {SUPPORTED_LEVELS}")
        known = sorted(self._quantiles)
        if not known:
            return np.zeros(len(steps)), np.zeros(len(steps))
        longest = known[-1]
        low, high = [], []
        for step in steps:
            # the nearest shorter horizon with enough errors; sqrt(h) beyond the longest
            h = int(step)
            source = max((k for k in known if k <= h), default=known[0])
            if h <= longest:
                scale = 1.0
            elif self._growth == 0.5:
                scale = math.sqrt(h / longest)
            else:
                scale = (h / longest) ** self._growth
            low.append(min(self._quantiles[source][low_q], 0.0) * scale)
            high.append(max(self._quantiles[source][high_q], 0.0) * scale)
        return np.array(low), np.array(high)

    def _paths(
        self,
        start: np.ndarray,
        lead: np.ndarray,
        phi: float,
        horizon: int,
        shifts: np.ndarray | None = None,
    ) -> np.ndarray:
        paths = np.empty((len(start), horizon))
        level = start.astype(float)
        for h in range(1, horizon + 1):
            level = level + self.path_change(level) + lead * phi**h
            if shifts is not None:
                level = level + shifts[:, h - 1]
            paths[:, h - 1] = level
        return paths

    # -- in-sample replay ----------------------------------------------------------------

    def _replay_origins(self, first: int) -> dict[str, np.ndarray]:
        """Every (series, past origin) from each series' ``first`` index (0-based) on with
        an actual within :data:`REPLAY_HORIZONS` years: its level, lead at that origin,
        and the actuals that followed."""
        start, lead, offsets, actual = [], [], [], []
        for years, y in self._series.values():
            for index in range(first, len(years) - 1):
                origin = years[index]
                later = (years > origin) & (years <= origin + REPLAY_HORIZONS)
                if not later.any():
                    continue
                known = years <= origin
                start.append(y[index])
                lead.append(
                    _theil_sen(years[known], y[known], self.window) - self.path_change(y[index])
                )
                offsets.append((years[later] - origin).astype(int))
                actual.append(y[later])
        return {
            "start": np.array(start, dtype=float),
            "lead": np.array(lead, dtype=float),
            "offsets": offsets,
            "actual": actual,
        }

    def _replay(
        self, origins: dict[str, np.ndarray], phi: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(horizon, actual, error)`` of every replayed forecast with damping ``phi``."""
        if len(origins["start"]) == 0:
            empty = np.array([], dtype=float)
            return np.array([], dtype=int), empty, empty
        paths = self._paths(origins["start"], origins["lead"], phi, REPLAY_HORIZONS)
        horizons, actuals, errors = [], [], []
        for row, (offsets, actual) in enumerate(
            zip(origins["offsets"], origins["actual"], strict=True)
        ):
            horizons.append(offsets)
            actuals.append(actual)
            errors.append(actual - paths[row, offsets - 1])
        return np.concatenate(horizons), np.concatenate(actuals), np.concatenate(errors)

    # -- the driver ------------------------------------------------------------------------

    def _driver_effect(self, steps: pl.DataFrame, exog: pl.DataFrame | None) -> dict | None:
        """The pooled slope of what the panel's path leaves unexplained on the driver's
        log change, its t statistic and correlation, and whether :data:`EVIDENCE_RULE`
        lets the model use it."""
        if self.driver is None:
            return None
        if exog is None or self.driver not in exog.columns:
            raise ValueError(
                f"{self.name}: driver {self.driver!r} needs exog with that column at fit"
            )
        joined = steps.join(
            exog.select("series_id", pl.col("year").cast(pl.Int32), self.driver),
            on=["series_id", "year"],
            how="inner",
        ).filter(pl.col(self.driver).is_not_null() & (pl.col(self.driver) > -1))
        x = np.log1p(joined[self.driver].to_numpy())
        residual = joined["change"].to_numpy() - self.path_change(joined["level"].to_numpy())
        evidence = {"column": self.driver, "pairs": int(len(x)), **EVIDENCE_RULE}
        if len(x) < 10 or np.std(x) == 0 or np.std(residual) == 0:
            return {**evidence, "slope": 0.0, "t": 0.0, "correlation": 0.0, "used": False}
        slope, intercept = np.polyfit(x, residual, 1)
        fitted = intercept + slope * x
        dof = max(len(x) - 2, 1)
        sigma2 = float(np.sum((residual - fitted) ** 2) / dof)
        standard_error = math.sqrt(sigma2 / float(np.sum((x - x.mean()) ** 2)))
        t = float(slope / standard_error) if standard_error > 0 else 0.0
        correlation = float(np.corrcoef(x, residual)[0, 1])
        used = (
            abs(t) >= EVIDENCE_RULE["min_abs_t"]
            and abs(correlation) >= EVIDENCE_RULE["min_abs_correlation"]
        )
        return {
            **evidence,
            "slope": float(slope),
            "t": t,
            "correlation": correlation,
            "used": bool(used),
        }

    def _driver_shifts(
        self,
        series: list[str],
        last_year: np.ndarray,
        horizon: int,
        exog: pl.DataFrame | None,
    ) -> np.ndarray | None:
        """Per series and step: slope × log change of the driver, where it is used."""
        if not (self._driver and self._driver["used"]):
            return None
        frame = exog if exog is not None else self._exog
        values = dict(
            ((row[0], int(row[1])), float(row[2]))
            for row in frame.select("series_id", "year", self.driver).iter_rows()
        )
        shifts = np.zeros((len(series), horizon))
        for row, series_id in enumerate(series):
            for step in range(1, horizon + 1):
                change = values.get((series_id, int(last_year[row]) + step))
                if change is None:
                    raise ValueError(
                        f"{self.name}: exog lacks {self.driver!r} for {series_id} in "
                        f"{int(last_year[row]) + step}; it must cover every forecast year"
                    )
                shifts[row, step - 1] = self._driver["slope"] * math.log1p(change)
        return shifts

    # A panel model: fit() and predict() above handle all series at once.
    def _fit_series(self, series_id, years, y):
        raise NotImplementedError(f"{self.name} fits the whole panel at once; call fit()")

    def _predict_series(self, state, years, levels: Sequence[int]) -> dict:
        raise NotImplementedError(f"{self.name} predicts the whole panel at once")


def _one_year_changes(frame: pl.DataFrame) -> pl.DataFrame:
    """``series_id, year, level, change``: each observation's yearly change since the
    previous one (gaps up to :data:`MAX_GAP` years, annualised), and the level it
    started from."""
    gap = pl.col("year").diff().over("series_id")
    return (
        frame.with_columns(
            level=pl.col("y").shift(1).over("series_id"),
            change=(pl.col("y").diff() / pl.col("year").diff()).over("series_id"),
            gap=gap,
        )
        .filter(pl.col("change").is_not_null() & (pl.col("gap") <= MAX_GAP))
        .select("series_id", "year", "level", "change")
    )


def _level_path(
    level: np.ndarray, change: np.ndarray, bins: int, min_steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bin centres (median level) and median yearly change per quantile bin of level."""
    if len(level) == 0:
        return np.array([0.0]), np.array([0.0])
    count = max(1, min(bins, len(level) // min_steps))
    edges = np.quantile(level, np.linspace(0, 1, count + 1))
    centres, medians = [], []
    for index, (low, high) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        inside = (level >= low) & ((level < high) if index < count - 1 else (level <= high))
        if inside.any():
            centres.append(float(np.median(level[inside])))
            medians.append(float(np.median(change[inside])))
    order = np.argsort(centres)
    return np.array(centres)[order], np.array(medians)[order]


@functools.lru_cache(maxsize=64)
def _pairs(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i < j) of ``count`` points; cached: replays ask for the same few sizes
    tens of thousands of times."""
    return np.triu_indices(count, 1)


def _theil_sen(years: np.ndarray, y: np.ndarray, window: int) -> float:
    """The median of pairwise slopes over the last ``window`` years (0 with one point)."""
    recent = years >= years[-1] - window
    years, y = years[recent].astype(float), y[recent]
    if len(years) < 2:
        return 0.0
    first, second = _pairs(len(years))
    return float(np.median((y[second] - y[first]) / (years[second] - years[first])))


def _error_count(origins: dict) -> int:
    """Replay errors a replay from ``origins`` gives (one per later actual)."""
    return sum(len(actual) for actual in origins["actual"])


#: Bounds of the error-growth exponent: a random walk's errors grow as sqrt(h), a
#: misjudged trend's as h.
ERROR_GROWTH_BOUNDS = (0.5, 1.0)


def _error_growth(horizons: np.ndarray, errors: np.ndarray) -> float:
    """How replay errors grow with the horizon: the least-squares slope of
    log(median |e|) on log(h) over horizons with at least three errors, within
    :data:`ERROR_GROWTH_BOUNDS`; the random walk's 0.5 with fewer than two such
    horizons."""
    low, high = ERROR_GROWTH_BOUNDS
    points = []
    for horizon in np.unique(horizons):
        at = np.abs(errors[horizons == horizon])
        median = float(np.median(at)) if len(at) >= 3 else 0.0
        if median > 0:
            points.append((math.log(horizon), math.log(median)))
    if len(points) < 2:
        return low
    x, y = np.array(points).T
    slope = float(np.polyfit(x, y, 1)[0])
    return min(max(slope, low), high)


def _error_quantiles(horizons: np.ndarray, errors: np.ndarray) -> dict[int, dict[str, float]]:
    """Per horizon with at least :data:`MIN_ERRORS` errors: the replay errors'
    :data:`QUANTILES_KEPT` (percent), the offsets of the supported intervals."""
    table = {}
    for horizon in sorted(set(horizons.tolist())):
        at = errors[horizons == horizon]
        if len(at) >= MIN_ERRORS:
            table[int(horizon)] = {
                q: float(np.quantile(at, float(q) / 100)) for q in QUANTILES_KEPT
            }
    return table
