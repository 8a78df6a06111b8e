"""ETS and Theta from Nixtla's statsforecast, behind talentflow's model contract.

Both are fitted on every series in one batched ``StatsForecast`` call (never a loop of
calls) and predict from the fitted models, so ``predict`` with another horizon or other
levels does not refit. Yearly public statistics have no seasonality: ``season_length``
is 1 and only non-seasonal forms are considered.

Gaps: statsforecast needs one value per year. Years missing inside a series (public
statistics skip years) are filled by linear interpolation between the neighbouring
observed years before fitting; the filled years are listed in the artefacts. A series
keeps its own first and last observed year, so each series is forecast ``horizon``
years after its own last observation, as the contract requires.

This module must never touch Prefect, files or settings: frames in, frames out.

Notes
-----
Cost, measured with statsforecast 2.1.1 on the shared 2-core development machine:
ETS and Theta run in statsforecast's compiled C++ extension, with no numba just-in-time
compilation (numba is not even installed), so the first fit of a session costs no more
than later ones (10 ms for one series). The one-off cost is importing statsforecast,
which pulls in statsmodels and fugue: 5-10 s, so it is imported only when a model is
fitted. 150 series × 25 years: ETS fits in 0.3-0.9 s, Theta in 0.4-1.6 s (the range is
the machine's load), and a 10-year prediction with 80 % and 95 % intervals takes
0.1-0.3 s.

statsforecast 2.1.1 asks for a frozen scipy distribution each time it computes an
interval: ETS once per series (its quantiles, always of a unit normal), Theta once per
simulated year of every series shorter than 13 years (its error draws). scipy builds a
frozen distribution's docstring from templates on every freeze (≈ 0.5 ms), which was
two thirds of Theta's backtest and a third of ETS's (china_researcher_inflows at the 2016
vintage: Theta 19.1 s, 12.5 s of it freezing). :func:`share_error_distributions` keeps
the distributions statsforecast asks for by their parameters (a frozen distribution
holds no state: a draw takes the caller's generator), so the numbers are those
statsforecast computes, bit for bit, and a test holds them to it.

Theta's simulated errors then still cost 4.5 s of a 2016 replay's worker time
(2026-12-05): statsforecast's ``sample_errors`` checks its arguments, filters the
residuals and looks up or freezes a distribution for every simulated year of every
series, to draw 200 normal errors. :func:`draw_normal_errors_directly` draws them with
the caller's generator at once: ``rng.normal(0, sigma, size)`` is what statsforecast
returns for a series with ten residuals or more, and what scipy's frozen normal returns
for a shorter one (``standard_normal(size) * sigma + 0``), the same draws bit for bit.
Any other distribution, parameters, or a sigma that is not one positive finite number
goes to statsforecast's own function.

Interpolated years are smoother than observed ones, so a series with many gaps looks
less noisy than it is and its intervals come out narrower; backtests measure coverage.

References
----------
Garza, Mergenthaler Canseco, Challú & Olivares, *StatsForecast: lightning fast
forecasting with statistical and econometric models*, PyCon Salt Lake City 2022,
https://github.com/Nixtla/statsforecast.
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from collections.abc import Sequence
from importlib.metadata import version
from typing import Any, Self

import numpy as np
import polars as pl

from talentflow.models.base import Forecaster, check_history, tidy_prediction

THETA_VARIANTS = ("STM", "OTM", "DSTM", "DOTM")
#: How many frozen error distributions :func:`share_error_distributions` keeps.
SHARED_DISTRIBUTIONS = 256


def share_error_distributions() -> None:
    """Make statsforecast reuse the frozen scipy distributions of its intervals (see the
    module's Notes): its ``frozen_error_distribution`` is wrapped, once per process, in
    a cache keyed on ``(sigma, distribution, params)``. Parameters that cannot be a key
    go to statsforecast's own function. Hand-written because statsforecast offers no
    switch for it."""
    from statsforecast import distributions, simulation

    if hasattr(distributions.frozen_error_distribution, "statsforecast_original"):
        return
    original = distributions.frozen_error_distribution

    @functools.lru_cache(maxsize=SHARED_DISTRIBUTIONS)
    def kept(sigma, distribution, items):
        return original(sigma, distribution, None if items is None else dict(items))

    @functools.wraps(original)
    def shared(sigma, distribution, params=None):
        try:
            items = None if params is None else tuple(sorted(params.items()))
            return kept(sigma, distribution, items)
        except TypeError:  # an unhashable parameter: no key, statsforecast's own call
            return original(sigma, distribution, params)

    shared.statsforecast_original = original
    shared.cache_info = kept.cache_info
    distributions.frozen_error_distribution = shared
    simulation.frozen_error_distribution = shared  # imported by name there


def draw_normal_errors_directly() -> None:
    """Make statsforecast draw normal errors straight from the caller's generator (see
    the module's Notes): its ``simulation.sample_errors``, which every caller imports at
    call time, is wrapped once per process. Hand-written because statsforecast offers no
    switch for it."""
    from statsforecast import simulation

    if hasattr(simulation.sample_errors, "statsforecast_original"):
        return
    original = simulation.sample_errors

    @functools.wraps(original)
    def sample_errors(size, sigma, distribution="normal", params=None, residuals=None, rng=None):
        if (
            distribution == "normal"
            and not params
            and rng is not None
            and np.ndim(sigma) == 0
            and np.isfinite(sigma)
            and sigma > 0
        ):
            return rng.normal(0.0, sigma, size)
        return original(size, sigma, distribution, params, residuals, rng)

    sample_errors.statsforecast_original = original
    simulation.sample_errors = sample_errors


def fill_year_gaps(history: pl.DataFrame) -> pl.DataFrame:
    """Every year from each series' first to its last observed year, with missing years'
    ``y`` linearly interpolated and marked in a Boolean column ``interpolated``."""
    all_years = (
        history.group_by("series_id")
        .agg(pl.int_range(pl.col("year").min(), pl.col("year").max() + 1).alias("year"))
        .explode("year")
        .with_columns(pl.col("year").cast(pl.Int32))
    )
    return (
        all_years.join(
            history.select("series_id", "year", "y"), on=["series_id", "year"], how="left"
        )
        .sort("series_id", "year")
        .with_columns(
            pl.col("y").is_null().alias("interpolated"),
            pl.col("y").interpolate().over("series_id"),
        )
    )


class _StatsForecastModel(Forecaster):
    """Shared machinery: gap filling, one batched fit, prediction, JSON artefacts.

    Subclasses say which statsforecast model to fit (:meth:`_statsforecast_model`) and
    which of its fitted numbers to keep (:meth:`_parameters`)."""

    def fit(self, history: pl.DataFrame, exog: pl.DataFrame | None = None) -> Self:
        check_history(history, self.min_observations)
        from statsforecast import StatsForecast  # heavy import (5-10 s); only when fitting

        share_error_distributions()
        draw_normal_errors_directly()
        self._exog = exog  # not read: ETS and Theta use no drivers
        filled = fill_year_gaps(history)
        engine = StatsForecast(models=[self._statsforecast_model()], freq=1, n_jobs=1)
        with warnings.catch_warnings():
            # AutoETS divides by (n - parameters - 1) when scoring candidate forms of a
            # short series and warns on the zero; that candidate is discarded.
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="statsforecast")
            engine.fit(
                df=filled.select(
                    pl.col("series_id").alias("unique_id"),
                    pl.col("year").cast(pl.Int64).alias("ds"),
                    "y",
                )
            )
        interpolated = dict(
            filled.group_by("series_id")
            .agg(pl.col("year").filter(pl.col("interpolated")))
            .iter_rows()
        )
        self._engine = engine
        self._fitted = {
            series_id: {
                **self._parameters(engine.fitted_[row, 0].model_),
                "interpolated_years": sorted(interpolated[series_id]),
            }
            for row, series_id in enumerate(engine.uids.to_list())
        }
        return self

    def predict(
        self, horizon: int, levels: Sequence[int] = (80, 95), exog: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        self._check_fitted(horizon)
        alias = self.name  # the statsforecast model's alias: its columns' prefix
        raw = pl.DataFrame(self._engine.predict(h=horizon, level=list(levels) or None))
        frame = raw.select(
            pl.col("unique_id").alias("series_id"),
            pl.col("ds").alias("year"),
            pl.col(alias).alias("mean"),
            *[
                pl.col(f"{alias}-{side}-{level}").alias(f"{side}{level}")
                for level in levels
                for side in ("lo", "hi")
            ],
        )
        return tidy_prediction(nested_intervals(frame, levels), levels)

    def artefacts(self) -> dict[str, bytes]:
        """``params.json``: per series, the selected form, its fitted parameters and last
        state (enough to recompute the forecast), and the years filled by interpolation."""
        if not hasattr(self, "_fitted"):
            raise RuntimeError(f"{self.name}: call fit() before artefacts()")
        document = {
            "model": self.name,
            "engine": f"statsforecast {version('statsforecast')}",
            "gap_filling": "linear interpolation of missing years",
            "series": self._fitted,
        }
        return {"params.json": json.dumps(document, allow_nan=False).encode()}

    def _statsforecast_model(self) -> Any:
        raise NotImplementedError

    def _parameters(self, fitted: dict) -> dict:
        raise NotImplementedError

    # A batch model: fit() and predict() above handle all series at once.
    def _fit_series(self, series_id, years, y):
        raise NotImplementedError(f"{self.name} fits all series at once; call fit()")

    def _predict_series(self, state, years, levels: Sequence[int]) -> dict:
        raise NotImplementedError(f"{self.name} predicts all series at once; call predict()")


class ETS(_StatsForecastModel):
    """Exponential smoothing state-space model, its form chosen per series by AICc.

    Parameters
    ----------
    model : str, default "ZZN"
        statsforecast's ETS form: error, trend and season, each ``A`` (additive), ``M``
        (multiplicative), ``N`` (none) or ``Z`` (chosen by AICc). The season must stay
        ``N``: the data are yearly. Multiplicative errors are only tried on positive
        series.
    damped : bool or None, default None
        Damp the trend; None tries both.

    Notes
    -----
    ``min_observations`` is 7: statsforecast's automatic ETS refuses series of six values
    or fewer ("tiny datasets"; R's forecast::ets would fall back to Holt-Winters). The
    count is of observed years; gap filling only lengthens a series.

    Intervals are statsforecast's analytic ones (Hyndman et al. 2008, ch. 6): exact for
    additive errors, approximate for multiplicative ones.

    References
    ----------
    Hyndman, Koehler, Ord & Snyder, *Forecasting with Exponential Smoothing: The State
    Space Approach*, Springer 2008. Hyndman & Khandakar, "Automatic time series
    forecasting: the forecast package for R", *Journal of Statistical Software* 27(3),
    2008.
    """

    name = "ets"
    min_observations = 7

    def __init__(self, model: str = "ZZN", damped: bool | None = None) -> None:
        if len(model) != 3 or model[2] != "N":
            raise ValueError(
                f"ets: model must be three letters ending in N (yearly), got {model!r}"
            )
        self.model = model
        self.damped = damped

    def _statsforecast_model(self) -> Any:
        from statsforecast.models import AutoETS

        return AutoETS(season_length=1, model=self.model, damped=self.damped, alias=self.name)

    def _parameters(self, fitted: dict) -> dict:
        # statsforecast's parameter vector: alpha, beta, gamma, phi, then initial states;
        # NaN where a component is absent (stored as null).
        error, trend, _, damped = fitted["components"]
        alpha, beta, _, phi = (_number(value) for value in fitted["par"][:4])
        # A constant series gets statsforecast's fallback fit, which names no method.
        return {
            "method": fitted.get("method", f"ETS({error},{trend},N)"),
            "error": error,
            "trend": trend,
            "damped": damped != "N",
            "alpha": alpha,
            "beta": beta,
            "phi": phi,
            "initial_states": [_number(value) for value in fitted["par"][4:]],
            "last_state": [_number(value) for value in fitted["states"][-1]],
            "sigma2": _number(fitted["sigma2"]),
            "aicc": _number(fitted["aicc"]),
            "n_params": int(fitted["n_params"]),
        }


class Theta(_StatsForecastModel):
    """The Theta method in its state-space forms (Fiorucci et al. 2016).

    Parameters
    ----------
    variant : {"STM", "OTM", "DSTM", "DOTM"} or None, default None
        Standard, optimised, dynamic standard or dynamic optimised Theta; None lets
        statsforecast's AutoTheta choose per series by in-sample MSE.

    Notes
    -----
    ``min_observations`` is 5: statsforecast refuses fewer than four values, and with
    four it estimates σ from residuals inside its three-year burn-in (with a warning).

    Intervals are quantiles of 200 simulated paths that statsforecast seeds itself, so a
    refit on the same data gives the same numbers.

    References
    ----------
    Assimakopoulos & Nikolopoulos, "The theta model: a decomposition approach to
    forecasting", *International Journal of Forecasting* 16(4), 2000. Fiorucci,
    Pellegrini, Louzada, Petropoulos & Koehler, "Models for optimising the theta method
    and their relationship to state space models", *International Journal of
    Forecasting* 32(4), 2016.
    """

    name = "theta"
    min_observations = 5

    def __init__(self, variant: str | None = None) -> None:
        if variant is not None and variant not in THETA_VARIANTS:
            raise ValueError(f"theta: variant must be one of {THETA_VARIANTS} or None")
        self.variant = variant

    def _statsforecast_model(self) -> Any:
        from statsforecast.models import AutoTheta

        return AutoTheta(season_length=1, model=self.variant, alias=self.name)

    def _parameters(self, fitted: dict) -> dict:
        return {
            "variant": fitted["modeltype"],
            **{key: _number(value) for key, value in fitted["par"].items()},
            "mean_y": _number(fitted["mean_y"]),
            "mse": _number(fitted["mse"]),
            # level, mean of y, A_n, B_n, mu at the last year
            "last_state": [_number(value) for value in fitted["states"][-1]],
            "n": int(fitted["n"]),
        }


def nested_intervals(frame: pl.DataFrame, levels: Sequence[int]) -> pl.DataFrame:
    """Widen bounds where needed so that every interval holds the point forecast and
    each wider interval the narrower one (a sampled interval can miss by a hair)."""
    lower, upper = pl.col("mean"), pl.col("mean")
    bounds = []
    for level in sorted(levels):
        lower = pl.min_horizontal(pl.col(f"lo{level}"), lower)
        upper = pl.max_horizontal(pl.col(f"hi{level}"), upper)
        bounds += [lower.alias(f"lo{level}"), upper.alias(f"hi{level}")]
    return frame.with_columns(bounds)


def _number(value: Any) -> float | None:
    """A plain float for JSON; None where statsforecast has NaN (an absent component)."""
    number = float(value)
    return number if math.isfinite(number) else None
