"""A global model: one gradient-boosted regressor learnt across every series at once.

Each country's series is short (twenty-odd yearly points), too short to learn its own
dynamics, but countries share patterns (growth that slows as a series nears its own
past peak, momentum after a run of rises, the pull of a shrinking college-age cohort).
A global model learns those patterns from all series together, from features that are
scale-free so that Luxembourg and China inform each other.

This module must never read files, settings or Prefect, and a feature at a forecast
origin must never read a value observed after that origin.

Notes
-----
**Strategy: direct, one estimator with the horizon as a feature.** For every origin T (an
observed year) and horizon h = 1..``max_horizon`` with T + h observed, one training row
holds the features at T, ``h`` and the known drivers' change from T to T + h; its target
is the annualised change of the transformed series, ``(z[T+h] − z[T]) / (h · scale[T])``.
Direct forecasting avoids feeding forecasts back as lags (no compounding of errors, no
simulated paths needed for intervals) and lets a driver's change over the whole horizon
enter directly; pooling horizons in one estimator gives the long horizons, which have
few (origin, target) pairs of their own, the strength of the short ones. Beyond
``max_horizon`` the annualised change of ``max_horizon`` is extended (constant growth).

**Target scale.** ``transform="log"`` (default; every value must be positive): z = log y
and scale = 1, so the target is an annualised log growth rate and the point forecast
``exp(ẑ)`` is a median, not a bias-adjusted mean. ``transform="none"``: z = y and
scale = 1, for series already on a shared scale-free footing (a rate, or values put in
log or logit space upstream, e.g. by ``models.transforms``). ``transform="scaled"`` (raw
series that can be zero or negative, on different scales): z = y and scale = mean |y|
over the origin's lag window, so the target is a change relative to the recent level.

**Features at origin T**, all from the series' own values at T or before (gaps in years
are filled by linear interpolation between observed years, which for an observed origin
only ever uses years up to the origin): the last ``n_lags`` one-year changes (missing,
not zero, where the series is younger than the window: the estimator handles missing
values natively), their mean and spread, the long-run annual change since the first
observation, the distance below the series' own maximum so far, the position within its
own range so far, the number of years observed and the share of the lag window that was
interpolated. Each named driver adds its annualised change from T to T + h (in logs when
the driver is positive throughout the fit's exog, else as given).

**Intervals: split-conformal, calibrated per horizon on held-out origins.** Rather than
quantile regression (two more estimators per level, quantiles that can cross, no
coverage guarantee), one point model plus conformal scores: ``calibration_folds``
cutoff years C₁ < … < C_k, spread over the later half of the origin years. For each
cutoff an estimator is trained only on pairs whose target year is at most C (nothing the
cutoff could not have seen) and scores the pairs whose origin lies in [C, next cutoff):
score = |ẑ − z| / scale at that horizon. The interval at horizon h and level L is
ẑ ± q_h(L)·scale, with q_h(L) the finite-sample conformal quantile (rank
⌈(n + 1)·L/100⌉ of n scores). Horizons with fewer than ``min_calibration_scores`` scores,
and horizons past ``max_horizon``, take the nearest calibrated horizon's quantile scaled
by h / h₀ (an error in a growth rate grows linearly with the horizon); q_h is then made
non-decreasing in h, so intervals widen with the horizon. Every level 1-99 is stored, so
``predict`` serves any integer level. Scores from one series at several origins are
dependent, so the coverage guarantee is approximate; the earlier cutoffs train on less
data than the final model, which makes the intervals conservative rather than optimistic.

``fit`` trains ``calibration_folds`` + 1 estimators; ``n_threads`` (default 1) caps
OpenMP threads, because on a shared machine the estimator's default (every core) was
measured six to eight times slower than one thread. A rolling-origin backtest refits
the model at every origin, and most of its calibration folds see exactly the training
pairs an earlier origin's fold saw (the cutoffs move by whole years, less often than the
origin: 174 distinct training sets among 656 fits over the nine targets, 2026-12-05), so
an estimator is kept by the content of its training data and settings
(:data:`ESTIMATOR_MEMO` entries per process) and reused: the same data and settings give
the same estimator, so no number changes.

References
----------
Montero-Manso, P. & Hyndman, R. J. (2021). Principles and algorithms for forecasting
groups of time series: locality and globality. *International Journal of Forecasting*
37(4), 1632-1653.
Taieb, S. B., Bontempi, G., Atiya, A. F. & Sorjamaa, A. (2012). A review and comparison
of strategies for multi-step ahead time series forecasting based on the NN5 forecasting
competition. *Expert Systems with Applications* 39(8), 7067-7083.
Lei, J., G'Sell, M., Rinaldo, A., Tibshirani, R. J. & Wasserman, L. (2018).
Distribution-free predictive inference for regression. *JASA* 113(523), 1094-1111.
Stankeviciute, K., Alaa, A. M. & van der Schaar, M. (2021). Conformal time-series
forecasting. *NeurIPS 34*.
skops documentation, "Secure persistence" (``skops.io.dumps`` / ``loads(trusted=…)``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Self

import numpy as np
import polars as pl

from talentflow.models.base import Forecaster, check_history, series_arrays, tidy_prediction

ESTIMATOR_FILE = "global.skops"
MANIFEST = "global.json"
FIT_EXOG = "exog.json"
TRANSFORMS = ("log", "none", "scaled")
LEVELS = tuple(range(1, 100))  # every integer level's conformal quantile is stored
#: Fitted estimators kept per process, by the content of their training data and
#: settings, so a backtest's repeated calibration folds are fitted once (see above).
ESTIMATOR_MEMO = 32
_estimators: OrderedDict[str, Any] = OrderedDict()
_estimators_lock = threading.Lock()  # fits may run on threads (TALENTFLOW_TASK_RUNNER)
OWN_FEATURES = (
    "mean_change",
    "change_spread",
    "long_run_change",
    "below_own_max",
    "range_position",
    "years_observed",
    "interpolated_share",
)
# The only type in a fitted HistGradientBoostingRegressor that skops does not trust by
# default (checked with skops.io.get_untrusted_types on skops 0.16, scikit-learn 1.9).
TRUSTED_TYPES = ("sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",)


#: Fewer held-out errors than this and the intervals come from in-sample errors instead
#: (see ``GlobalForecaster.fit``); fewer in-sample errors than this and fit refuses.
MIN_HELD_OUT_SCORES = 10


class GlobalForecaster(Forecaster):
    """One HistGradientBoostingRegressor across all series, direct multi-horizon, with
    split-conformal intervals calibrated per horizon (see the module's Notes).

    Parameters
    ----------
    n_lags : int, default 3
        One-year changes before the origin used as features.
    max_horizon : int, default 10
        Longest horizon trained; longer ones extend its annualised change.
    transform : {"log", "none", "scaled"}, default "log"
        ``"log"``: changes of log y (every value must be positive); ``"none"``: changes
        of y as given; ``"scaled"``: changes of y divided by its recent mean absolute
        level.
    drivers : sequence of str, default ()
        ``exog`` columns whose change from origin to target year is a feature. When
        given, :attr:`uses_exog` is True and ``exog`` must cover every history year at
        ``fit`` and every forecast year at ``predict``.
    min_observations : int, default 3
        Observed values a series needs, and an origin needs at or before it to be trained
        on. Shorter series are refused by ``fit`` (drop them, or forecast them with a
        baseline); lags older than a series' first year are missing, not refused.
    calibration_folds : int, default 5
        Cutoff years for the out-of-sample conformal scores.
    min_calibration_scores : int, default 30
        Scores a horizon needs to get its own quantile; others are extrapolated.
    max_iter, learning_rate, max_leaf_nodes, min_samples_leaf, l2_regularization, max_bins
        HistGradientBoostingRegressor's settings; defaults 70, 0.15, 15, 20, 1.0, 63.
        They were 100 trees at 0.1 over scikit-learn's 255 bins until 2026-12-06. On the
        nine targets' backtests the new settings fit in three quarters of the time.
        MASE per target and band moved by -5 % to +6 %, a geometric mean of +0.7 % at
        1-5 years and +0.9 % at 6-12 (docs/backtest.md, "The global model's cost").
    random_state : int, default 0
        Passed to the estimator; with early stopping off, fits are deterministic.
    n_threads : int or None, default 1
        OpenMP threads during fit and predict; None leaves scikit-learn's default.

    Notes
    -----
    :meth:`artefacts` gives ``global.skops`` (the estimator, ``skops.io.dumps``),
    ``global.json`` (settings, feature names, horizons, the conformal quantiles per
    horizon and level, the history the forecasts start from) and, with drivers,
    ``exog.json`` (the fit's exog); :meth:`from_artefacts` loads them back with only
    :data:`TRUSTED_TYPES` trusted.

    References
    ----------
    Montero-Manso & Hyndman (2021); Taieb et al. (2012); Lei et al. (2018);
    Stankeviciute et al. (2021). See the module docstring.
    """

    name = "global"

    def __init__(
        self,
        *,
        n_lags: int = 3,
        max_horizon: int = 10,
        transform: Literal["log", "none", "scaled"] = "log",
        drivers: Sequence[str] = (),
        min_observations: int = 3,
        calibration_folds: int = 5,
        min_calibration_scores: int = 30,
        max_iter: int = 70,
        learning_rate: float = 0.15,
        max_leaf_nodes: int = 15,
        min_samples_leaf: int = 20,
        l2_regularization: float = 1.0,
        max_bins: int = 63,
        random_state: int = 0,
        n_threads: int | None = 1,
    ) -> None:
        if transform not in TRANSFORMS:
            raise ValueError(f"global: transform must be one of {TRANSFORMS}, got {transform!r}")
        if isinstance(drivers, str):
            raise TypeError(f"global: drivers must be a sequence of names, not {drivers!r}")
        if n_lags < 1 or max_horizon < 1 or calibration_folds < 1:
            raise ValueError("global: n_lags, max_horizon and calibration_folds must be >= 1")
        if min_observations < 2:
            raise ValueError("global: min_observations must be at least 2 (one change)")
        if not 2 <= max_bins <= 255:
            raise ValueError(f"global: max_bins must be between 2 and 255, got {max_bins}")
        self.n_lags = n_lags
        self.max_horizon = max_horizon
        self.transform = transform
        self.drivers = tuple(drivers)
        self.min_observations = min_observations
        self.calibration_folds = calibration_folds
        self.min_calibration_scores = min_calibration_scores
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.max_bins = max_bins
        self.random_state = random_state
        self.n_threads = n_threads
        self.uses_exog = bool(self.drivers)

    # -- public API --------------------------------------------------------------------

    @property
    def feature_names(self) -> list[str]:
        """The estimator's input columns, in order."""
        lags = [f"change_{lag}" for lag in range(1, self.n_lags + 1)]
        return ["horizon", *lags, *OWN_FEATURES, *[f"{d}_change" for d in self.drivers]]

    def params(self) -> dict[str, Any]:
        """The constructor's arguments (plain data)."""
        return {
            "n_lags": self.n_lags,
            "max_horizon": self.max_horizon,
            "transform": self.transform,
            "drivers": list(self.drivers),
            "min_observations": self.min_observations,
            "calibration_folds": self.calibration_folds,
            "min_calibration_scores": self.min_calibration_scores,
            "max_iter": self.max_iter,
            "learning_rate": self.learning_rate,
            "max_leaf_nodes": self.max_leaf_nodes,
            "min_samples_leaf": self.min_samples_leaf,
            "l2_regularization": self.l2_regularization,
            "max_bins": self.max_bins,
            "random_state": self.random_state,
            "n_threads": self.n_threads,
        }

    def fit(self, history: pl.DataFrame, exog: pl.DataFrame | None = None) -> Self:
        """Train the estimator on every series of ``history`` and calibrate its intervals.

        Parameters
        ----------
        history : pl.DataFrame
            ``series_id, year, y`` (see :mod:`models.base`); years may have gaps.
        exog : pl.DataFrame, optional
            ``series_id, year`` and the ``drivers`` columns for every history year;
            required when ``drivers`` are given, ignored otherwise.

        Returns
        -------
        GlobalForecaster
            ``self``, fitted.
        """
        check_history(history, self.min_observations)
        history = _tidy_history(history)
        if self.drivers:
            _check_exog_columns(exog, self.drivers, "fit")
            exog = exog.select(
                pl.col("series_id").cast(pl.String),
                pl.col("year").cast(pl.Int32),
                *[pl.col(d).cast(pl.Float64) for d in self.drivers],
            )
            self._driver_log = {
                d: bool((exog[d].drop_nulls() > 0).all() and exog[d].drop_nulls().len() > 0)
                for d in self.drivers
            }
        else:
            exog, self._driver_log = None, {}
        origins = origin_features(
            history,
            n_lags=self.n_lags,
            transform=self.transform,
            min_observations=self.min_observations,
        )
        pairs = self._training_pairs(history, origins, exog)
        if pairs.height == 0:
            raise ValueError(
                f"global: no (origin, target) pairs to learn from: every series needs at "
                f"least {self.min_observations} observed years before a later observed "
                "year; give longer series or lower min_observations"
            )
        features = pairs.select(self.feature_names).to_numpy()
        target = pairs["target"].to_numpy()
        scores = self._calibration_scores(pairs, features, target)
        self._estimator = self._fit_estimator(features, target)
        self.calibration_source = "held-out origins"
        if sum(len(part) for part in scores.values()) < MIN_HELD_OUT_SCORES:
            # Too little history to hold origins out (one short series): the final
            # estimator's own errors stand in. They understate the error of a forecast,
            # which is why the pipeline widens every model's intervals by its backtest.
            predicted = self._predict_estimator(features, self._estimator)
            horizon = pairs["horizon"].to_numpy()
            error = np.abs(predicted - target) * horizon
            scores = {int(h): error[horizon == h] for h in np.unique(horizon)}
            self.calibration_source = "in-sample errors (too few held-out pairs)"
        self._quantiles = self._conformal_quantiles(scores)
        self._history, self._exog = history, exog
        self._fitted = True
        return self

    def predict(
        self, horizon: int, levels: Sequence[int] = (80, 95), exog: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """Forecast ``horizon`` years after each series' last observed year.

        Parameters
        ----------
        horizon : int
            Years to forecast, at least 1.
        levels : sequence of int, default (80, 95)
            Central prediction intervals (integers 1-99) returned as ``lo{L}, hi{L}``.
        exog : pl.DataFrame, optional
            With drivers: the scenario's driver values for every forecast year (the
            origin year is read from it too, or else from the fit's exog). Default: the
            frame given to ``fit``. Ignored without drivers.

        Returns
        -------
        pl.DataFrame
            ``series_id, year, mean, lo{L}, hi{L}…`` (see :mod:`models.base`).
        """
        self._check_fitted(horizon)
        bad = [level for level in levels if level not in LEVELS]
        if bad:
            raise ValueError(f"global: levels must be integers 1-99, got {bad}")
        origins = origin_features(
            self._history,
            n_lags=self.n_lags,
            transform=self.transform,
            min_observations=self.min_observations,
        ).filter(pl.col("year") == pl.col("year").max().over("series_id"))
        steps = pl.DataFrame({"step": range(1, horizon + 1)}, schema={"step": pl.Int32})
        rows = (
            origins.join(steps, how="cross")
            .with_columns(
                (pl.col("year") + pl.col("step")).alias("target_year"),
                pl.min_horizontal("step", pl.lit(self.max_horizon, pl.Int32)).alias("horizon"),
            )
            .sort("series_id", "target_year")
        )
        if self.drivers:
            if exog is not None:
                _check_exog_columns(exog, self.drivers, "predict")
            scenario = exog if exog is not None else self._exog
            rows = self._with_driver_changes(rows, scenario, fit_exog=self._exog)
        rate = self._predict_estimator(rows.select(self.feature_names).to_numpy())
        step = rows["step"].to_numpy().astype(float)
        scale = rows["scale"].to_numpy()
        centre = rows["level"].to_numpy() + rate * step * scale
        columns: dict[str, np.ndarray] = {"mean": self._from_z(centre)}
        for level in levels:
            half = self._quantile(step, level) * scale
            columns[f"lo{level}"] = self._from_z(centre - half)
            columns[f"hi{level}"] = self._from_z(centre + half)
        frame = pl.DataFrame(
            {"series_id": rows["series_id"], "year": rows["target_year"], **columns}
        )
        return tidy_prediction(frame, levels)

    def artefacts(self) -> dict[str, bytes]:
        """The fitted model as files: ``global.skops``, ``global.json`` and, with
        drivers, ``exog.json``.

        Returns
        -------
        dict of str to bytes
            File name → content; load them back with :meth:`from_artefacts`.
        """
        import skops.io as sio

        if not hasattr(self, "_fitted"):
            raise RuntimeError(f"{self.name}: call fit() before artefacts()")
        manifest = {
            "model": self.name,
            "params": self.params(),
            "feature_names": self.feature_names,
            "horizons": list(range(1, self.max_horizon + 1)),
            "conformal_quantiles": {
                "levels": list(LEVELS),
                "by_horizon": {
                    str(h): self._quantiles[h - 1].tolist() for h in range(1, self.max_horizon + 1)
                },
            },
            "driver_log": self._driver_log,
            "history": self._history.to_dict(as_series=False),
        }
        files = {
            ESTIMATOR_FILE: sio.dumps(self._estimator),
            MANIFEST: json.dumps(manifest).encode(),
        }
        if self._exog is not None:
            series = self._history["series_id"].unique().to_list()
            fit_exog = self._exog.filter(pl.col("series_id").is_in(series))
            files[FIT_EXOG] = json.dumps(fit_exog.to_dict(as_series=False)).encode()
        return files

    @classmethod
    def from_artefacts(cls, artefacts: Mapping[str, bytes]) -> GlobalForecaster:
        """Rebuild a fitted forecaster from :meth:`artefacts`' files.

        The estimator is loaded with ``skops.io.loads`` trusting only
        :data:`TRUSTED_TYPES`; a file holding any other untrusted type is refused before
        anything in it is built.

        Parameters
        ----------
        artefacts : mapping of str to bytes
            The files :meth:`artefacts` returned.

        Returns
        -------
        GlobalForecaster
            Fitted; its ``predict`` gives the same forecasts as the original's.
        """
        import skops.io as sio

        missing = [f for f in (ESTIMATOR_FILE, MANIFEST) if f not in artefacts]
        if missing:
            raise ValueError(f"global artefacts lack {missing}; got {sorted(artefacts)}")
        manifest = json.loads(artefacts[MANIFEST])
        if manifest.get("model") != cls.name:
            raise ValueError(f"{MANIFEST} is for model {manifest.get('model')!r}, not {cls.name!r}")
        untrusted = set(sio.get_untrusted_types(data=artefacts[ESTIMATOR_FILE]))
        unexpected = sorted(untrusted - set(TRUSTED_TYPES))
        if unexpected:
            raise ValueError(
                f"global: {ESTIMATOR_FILE} holds types outside TRUSTED_TYPES: {unexpected}; "
                "refusing to load it (re-fit the model, or review and extend TRUSTED_TYPES)"
            )
        # Estimators saved before max_bins was a setting used scikit-learn's default.
        forecaster = cls(**{"max_bins": 255, **manifest["params"]})
        if manifest["feature_names"] != forecaster.feature_names:
            raise ValueError(
                f"global: {MANIFEST} lists features {manifest['feature_names']}, but these "
                f"settings build {forecaster.feature_names}"
            )
        forecaster._estimator = sio.loads(artefacts[ESTIMATOR_FILE], trusted=list(TRUSTED_TYPES))
        by_horizon = manifest["conformal_quantiles"]["by_horizon"]
        forecaster._quantiles = np.array(
            [by_horizon[str(h)] for h in range(1, forecaster.max_horizon + 1)]
        )
        forecaster._driver_log = manifest["driver_log"]
        forecaster._history = _tidy_history(pl.DataFrame(manifest["history"]))
        forecaster._exog = None
        if FIT_EXOG in artefacts:
            forecaster._exog = pl.DataFrame(json.loads(artefacts[FIT_EXOG])).with_columns(
                pl.col("year").cast(pl.Int32),
                *[pl.col(d).cast(pl.Float64) for d in forecaster.drivers],
            )
        forecaster._fitted = True
        return forecaster

    # -- training ----------------------------------------------------------------------

    def _training_pairs(
        self, history: pl.DataFrame, origins: pl.DataFrame, exog: pl.DataFrame | None
    ) -> pl.DataFrame:
        """One row per (origin, horizon ≤ max_horizon) whose target year was observed."""
        horizons = pl.DataFrame(
            {"horizon": range(1, self.max_horizon + 1)}, schema={"horizon": pl.Int32}
        )
        targets = _transformed(history, self.transform).select(
            "series_id", pl.col("year").alias("target_year"), pl.col("z").alias("z_target")
        )
        pairs = (
            origins.join(horizons, how="cross")
            .with_columns((pl.col("year") + pl.col("horizon")).alias("target_year"))
            .join(targets, on=["series_id", "target_year"], how="inner")
            .with_columns(
                (
                    (pl.col("z_target") - pl.col("level")) / (pl.col("horizon") * pl.col("scale"))
                ).alias("target")
            )
            .sort("series_id", "year", "horizon")
        )
        if self.drivers:
            pairs = self._with_driver_changes(pairs, exog)
        return pairs

    def _with_driver_changes(
        self, rows: pl.DataFrame, exog: pl.DataFrame, fit_exog: pl.DataFrame | None = None
    ) -> pl.DataFrame:
        """Add each driver's annualised change from the origin ``year`` to
        ``target_year``; the origin's value comes from ``exog`` or else ``fit_exog``."""
        exog = exog.select(
            pl.col("series_id").cast(pl.String),
            pl.col("year").cast(pl.Int32),
            *[pl.col(d).cast(pl.Float64) for d in self.drivers],
        )
        at_origin = exog
        if fit_exog is not None:
            at_origin = exog.join(fit_exog, on=["series_id", "year"], how="full", coalesce=True)
            at_origin = at_origin.select(
                "series_id", "year", *[pl.coalesce(d, f"{d}_right").alias(d) for d in self.drivers]
            )
        at_origin = at_origin.select(
            "series_id", "year", *[pl.col(d).alias(f"{d}_origin") for d in self.drivers]
        )
        at_target = exog.select(
            "series_id",
            pl.col("year").alias("target_year"),
            *[pl.col(d).alias(f"{d}_target") for d in self.drivers],
        )
        joined = rows.join(at_origin, on=["series_id", "year"], how="left").join(
            at_target, on=["series_id", "target_year"], how="left"
        )
        for column, year in (("origin", "year"), ("target", "target_year")):
            _refuse_missing_drivers(joined, [f"{d}_{column}" for d in self.drivers], year)
        steps = pl.col("target_year") - pl.col("year")
        changes = []
        for d in self.drivers:
            origin, target = pl.col(f"{d}_origin"), pl.col(f"{d}_target")
            if self._driver_log[d]:
                if joined.select(((origin <= 0) | (target <= 0)).any()).item():
                    raise ValueError(
                        f"global: driver {d!r} was positive throughout the fit's exog (so "
                        "its change is taken in logs) but has values <= 0 here"
                    )
                changes.append(((target.log() - origin.log()) / steps).alias(f"{d}_change"))
            else:
                changes.append(((target - origin) / steps).alias(f"{d}_change"))
        return joined.with_columns(changes).drop(
            [f"{d}_{c}" for d in self.drivers for c in ("origin", "target")]
        )

    def _calibration_scores(
        self, pairs: pl.DataFrame, features: np.ndarray, target: np.ndarray
    ) -> dict[int, np.ndarray]:
        """Out-of-sample |ẑ − z| / scale per horizon, from estimators that saw only pairs
        whose target year is at most the cutoff, scored on origins from the cutoff on."""
        origin_year = pairs["year"].to_numpy()
        target_year = pairs["target_year"].to_numpy()
        horizon = pairs["horizon"].to_numpy()
        cutoffs = _cutoffs(origin_year, self.calibration_folds)
        scores: dict[int, list[np.ndarray]] = {h: [] for h in range(1, self.max_horizon + 1)}
        for k, cutoff in enumerate(cutoffs):
            next_cutoff = cutoffs[k + 1] if k + 1 < len(cutoffs) else np.inf
            train = target_year <= cutoff
            held_out = (origin_year >= cutoff) & (origin_year < next_cutoff)
            if train.sum() < 2 * self.min_samples_leaf or not held_out.any():
                continue
            estimator = self._fit_estimator(features[train], target[train])
            predicted = self._predict_estimator(features[held_out], estimator)
            error = np.abs(predicted - target[held_out])
            error *= horizon[held_out]  # annualised rate error → error of the h-year change
            for h in np.unique(horizon[held_out]):
                scores[int(h)].append(error[horizon[held_out] == h])
        return {h: np.concatenate(parts) for h, parts in scores.items() if parts}

    def _conformal_quantiles(self, scores: dict[int, np.ndarray]) -> np.ndarray:
        """q[h − 1, L − 1]: the half-width at horizon h and level L (scale units)."""
        enough = sorted(h for h, s in scores.items() if len(s) >= self.min_calibration_scores)
        quantiles = np.full((self.max_horizon, len(LEVELS)), np.nan)
        if enough:
            for h in enough:
                quantiles[h - 1] = _finite_sample_quantiles(scores[h])
            for h in range(1, self.max_horizon + 1):
                if h not in enough:
                    below = [c for c in enough if c < h]
                    nearest = below[-1] if below else enough[0]
                    quantiles[h - 1] = quantiles[nearest - 1] * h / nearest
        else:
            # Too few scores at any single horizon: pool them as errors per year.
            per_year = [s / h for h, s in scores.items()]
            pooled = np.concatenate(per_year) if per_year else np.array([])
            if len(pooled) < MIN_HELD_OUT_SCORES:
                # Held-out errors only reach here when there are at least
                # MIN_HELD_OUT_SCORES of them (fit), so these are the in-sample ones:
                # one per (origin, target) pair the model learnt from.
                raise ValueError(
                    f"global: only {len(pooled)} (origin, target) pairs to learn from, too "
                    f"few to calibrate the intervals (at least {MIN_HELD_OUT_SCORES} "
                    f"needed): few series have {self.min_observations} observed years "
                    "before a later observed one; give more or longer series"
                )
            unit = _finite_sample_quantiles(pooled)
            quantiles = np.outer(np.arange(1, self.max_horizon + 1), unit)
        # The error of an h-year change should not shrink as h grows.
        return np.maximum.accumulate(quantiles, axis=0)

    def _quantile(self, step: np.ndarray, level: int) -> np.ndarray:
        """Half-widths at each step (any horizon) for one level, in scale units."""
        by_horizon = self._quantiles[:, level - 1]
        h = np.minimum(step, self.max_horizon).astype(int)
        return by_horizon[h - 1] * np.maximum(step / self.max_horizon, 1.0)

    def _fit_estimator(self, features: np.ndarray, target: np.ndarray):
        """The estimator fitted to ``features`` and ``target``: from the per-process memo
        when this data and these settings were fitted before, else fitted now."""
        from sklearn.ensemble import HistGradientBoostingRegressor

        settings = {
            "max_iter": self.max_iter,
            "learning_rate": self.learning_rate,
            "max_leaf_nodes": self.max_leaf_nodes,
            "min_samples_leaf": self.min_samples_leaf,
            "l2_regularization": self.l2_regularization,
            "max_bins": self.max_bins,
            "early_stopping": False,
            "random_state": self.random_state,
        }
        features = _with_empty_columns_constant(features)
        key = _content_key(features, target, settings, self.n_threads)
        with _estimators_lock:
            if key in _estimators:
                _estimators.move_to_end(key)
                return _estimators[key]
        estimator = HistGradientBoostingRegressor(**settings)
        with _thread_pools().limit(limits=self.n_threads, user_api="openmp"):
            estimator.fit(features, target)
        with _estimators_lock:
            _estimators[key] = estimator
            if len(_estimators) > ESTIMATOR_MEMO:
                _estimators.popitem(last=False)
        return estimator

    def _predict_estimator(self, features: np.ndarray, estimator=None) -> np.ndarray:
        with _thread_pools().limit(limits=self.n_threads, user_api="openmp"):
            return (estimator if estimator is not None else self._estimator).predict(features)

    def _from_z(self, z: np.ndarray) -> np.ndarray:
        return np.exp(z) if self.transform == "log" else z

    # The contract's per-series hooks: a global model fits and predicts all series at once.
    def _fit_series(self, series_id, years, y):
        raise NotImplementedError("GlobalForecaster fits every series at once in fit()")

    def _predict_series(self, state, years, levels):
        raise NotImplementedError("GlobalForecaster predicts every series at once")


def _with_empty_columns_constant(features: np.ndarray) -> np.ndarray:
    """``features`` with every column that has no observed value set to 0.

    A feature missing in every training row (``change_3`` where the earliest origins
    of a calibration fold have two changes behind them) carries no information, and a
    tree cannot split on it. scikit-learn up to 1.8 fitted such a column as it fits a
    constant one, to the same trees (checked on 1.8.0); 1.9 refuses it while binning
    (``ValueError: window shape cannot be larger than input array shape``: the
    midpoints of no distinct values), which failed the global model's backtest at
    every origin where that happens. A constant column is fitted alike by every
    version. Returns ``features`` itself when no column is empty.
    """
    empty = np.isnan(features).all(axis=0)
    if not empty.any():
        return features
    filled = features.copy()
    filled[:, empty] = 0.0
    return filled


@functools.cache
def _thread_pools() -> Any:
    """threadpoolctl's controller of the native thread pools this process has loaded,
    made once. ``threadpool_limits`` makes one per call, and making one scans every
    loaded library: 2.2 s of the forecast workers' time in a replay (bench/README.md).
    First called by a fit, after scikit-learn has loaded its OpenMP runtime, the pool
    every limit here is on."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def origin_features(
    history: pl.DataFrame,
    *,
    n_lags: int = 3,
    transform: Literal["log", "none", "scaled"] = "log",
    min_observations: int = 3,
) -> pl.DataFrame:
    """The features of every series at every observed year that can be an origin.

    Parameters
    ----------
    history : pl.DataFrame
        ``series_id, year, y``; years may have gaps.
    n_lags : int, default 3
        One-year changes before the origin (``change_1`` is the latest).
    transform : {"log", "none", "scaled"}, default "log"
        Scale on which changes are taken (see the module's Notes).
    min_observations : int, default 3
        Observed values needed at or before a year for it to be an origin.

    Returns
    -------
    pl.DataFrame
        ``series_id, year, level`` (z at the origin), ``scale`` and the features
        ``change_1…change_{n_lags}`` and :data:`OWN_FEATURES`; one row per origin.

    Notes
    -----
    Every value in a row is computed from the series' observations at or before the
    row's year: gap years are interpolated linearly between observed years, and for an
    observed origin the observed year closing any earlier gap is at or before it.
    """
    transformed = _transformed(_tidy_history(history), transform)
    names = [f"change_{lag}" for lag in range(1, n_lags + 1)] + list(OWN_FEATURES)
    parts: dict[str, list] = {"series_id": [], "year": [], "level": [], "scale": []}
    parts.update({name: [] for name in names})
    for series_id, (years, z) in series_arrays(transformed, value="z").items():
        columns = _series_origin_features(
            years.astype(np.int64), z, n_lags, transform, min_observations
        )
        if columns is None:
            continue
        parts["series_id"].append(np.full(len(columns["year"]), series_id, dtype=object))
        for name, values in columns.items():
            parts[name].append(values)
    schema = {"series_id": pl.String, "year": pl.Int32, "level": pl.Float64, "scale": pl.Float64}
    schema.update({name: pl.Float64 for name in names})
    if not parts["year"]:
        return pl.DataFrame(schema=schema)
    return pl.DataFrame(
        {name: np.concatenate(values) for name, values in parts.items()}, schema=schema
    ).fill_nan(None)


def _series_origin_features(
    years: np.ndarray, z: np.ndarray, n_lags: int, transform: str, min_observations: int
) -> dict[str, np.ndarray] | None:
    """:func:`origin_features` of one series (observed ``years`` ascending, values ``z``),
    every origin at once; None when no year is an origin. Each row's sums run over its
    window latest change first, as ``np.sum`` of that window would (n_lags < 8), so the
    features are the same numbers, bit for bit, as a loop over origins computes
    (``tests/models/test_global_model.py`` keeps that loop as the definition)."""
    grid_years = np.arange(years[0], years[-1] + 1)
    grid = np.interp(grid_years, years, z)
    observed = np.isin(grid_years, years)
    observed_so_far = np.cumsum(observed)
    at = years - years[0]  # each observed year's place on the grid
    at = at[observed_so_far[at] >= min_observations]
    if not len(at):
        return None
    start = np.maximum(at - n_lags, 0)
    count = at - start  # one-year changes in the window before the origin
    if transform == "scaled":  # mean |z| over the window, earliest year first
        magnitude = np.abs(grid)
        total = magnitude[start].copy()
        for step in range(1, n_lags + 1):
            inside = step <= count
            total[inside] = total[inside] + magnitude[start[inside] + step]
        scale = total / (count + 1)
        scale = np.where(scale > 0, scale, 1.0)
    else:
        scale = np.ones(len(at))
    steps = np.diff(grid)
    lags = np.full((len(at), n_lags), np.nan)
    for lag in range(1, n_lags + 1):
        inside = lag <= count
        lags[inside, lag - 1] = steps[at[inside] - lag] / scale[inside]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_change = _sum_present(lags) / count
        deviations = lags - mean_change[:, None]
        spread = np.where(
            count >= 2, np.sqrt(_sum_present(deviations * deviations) / count), np.nan
        )
        level = grid[at]
        highest = np.maximum.accumulate(grid)[at]
        lowest = np.minimum.accumulate(grid)[at]
        span = highest - lowest
        window_observed = observed_so_far[at] - np.where(
            start > 0, observed_so_far[np.maximum(start - 1, 0)], 0
        )
        return {
            "year": years[0] + at,
            "level": level,
            "scale": scale,
            **{f"change_{lag}": lags[:, lag - 1] for lag in range(1, n_lags + 1)},
            "mean_change": mean_change,
            "change_spread": spread,
            "long_run_change": (level - grid[0]) / (at * scale),
            "below_own_max": (level - highest) / scale,
            "range_position": np.where(
                span != 0, (level - lowest) / np.where(span != 0, span, 1), np.nan
            ),
            "years_observed": observed_so_far[at].astype(np.float64),
            "interpolated_share": 1 - window_observed / (count + 1),
        }


def _sum_present(values: np.ndarray) -> np.ndarray:
    """Row sums of ``values`` over their non-NaN columns, left to right (the order of
    ``np.sum`` over a short window); NaN for a row with none."""
    total = values[:, 0].copy()
    for column in range(1, values.shape[1]):
        present = ~np.isnan(values[:, column])
        total[present] = total[present] + values[present, column]
    return total


def _tidy_history(history: pl.DataFrame) -> pl.DataFrame:
    return history.select(
        pl.col("series_id").cast(pl.String),
        pl.col("year").cast(pl.Int32),
        pl.col("y").cast(pl.Float64),
    ).sort("series_id", "year")


def _transformed(history: pl.DataFrame, transform: str) -> pl.DataFrame:
    """``series_id, year, z``: log y, or y as given."""
    if transform == "log":
        bad = history.filter(pl.col("y") <= 0)
        if bad.height:
            raise ValueError(
                f"global: transform='log' needs positive values, but "
                f"{bad['series_id'].n_unique()} series have values <= 0, e.g. "
                f"{bad.head(3).rows()}; use transform='scaled' (or transform y upstream)"
            )
        return history.select("series_id", "year", pl.col("y").log().alias("z"))
    return history.select("series_id", "year", pl.col("y").alias("z"))


def _content_key(features: np.ndarray, target: np.ndarray, *settings: Any) -> str:
    """A hash of the training data (values, shape, dtype) and the estimator's settings."""
    digest = hashlib.sha256(repr(settings).encode())
    for array in (features, target):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _cutoffs(origin_year: np.ndarray, folds: int) -> list[int]:
    """``folds`` distinct cutoff years spread over the later half of the origin years."""
    quantiles = np.linspace(0.5, 0.9, folds) if folds > 1 else np.array([0.7])
    years = np.quantile(origin_year, quantiles, method="lower")
    return sorted({int(year) for year in years})


def _finite_sample_quantiles(scores: np.ndarray) -> np.ndarray:
    """Split-conformal quantiles for levels 1-99: the ⌈(n + 1)·L/100⌉-th smallest score
    (the largest when that rank exceeds n)."""
    ordered = np.sort(scores)
    n = len(ordered)
    ranks = np.minimum(np.ceil((n + 1) * np.array(LEVELS) / 100).astype(int), n)
    return ordered[ranks - 1]


def _check_exog_columns(exog: pl.DataFrame | None, columns: Sequence[str], when: str) -> None:
    if exog is None:
        raise ValueError(
            f"global: drivers {list(columns)} need exog at {when}: a long frame series_id, "
            "year and one Float64 column per driver"
        )
    missing = [c for c in ("series_id", "year", *columns) if c not in exog.columns]
    if missing:
        raise ValueError(f"global: exog at {when} lacks columns {missing}; it has {exog.columns}")
    if exog.select(pl.struct("series_id", "year").is_duplicated().any()).item():
        raise ValueError(f"global: exog at {when} has more than one row for a series and year")


def _refuse_missing_drivers(frame: pl.DataFrame, columns: list[str], year: str) -> None:
    """A ValueError naming each series and the years whose driver values are missing."""
    missing = (
        frame.filter(pl.any_horizontal([pl.col(c).is_null() for c in columns]))
        .group_by("series_id", maintain_order=True)
        .agg(pl.col(year).unique(maintain_order=True).sort())
    )
    if missing.height:
        detail = "; ".join(
            f"{series_id!r}: {years}" for series_id, years in missing.head(5).iter_rows()
        )
        raise ValueError(
            f"global: exog lacks driver values for {missing.height} series in some years "
            f"({detail}); exog must cover every history year at fit and every forecast "
            "year at predict"
        )
