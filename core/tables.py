"""The schemas of the tables talentflow publishes for every run, in one place.

Every reader relies on these names and types: the publisher (DuckDB, Parquet,
PostgreSQL and their views), ``talentflow forecasts``, the outlook and the reports, the
GX suites (a test checks each suite's column list against its schema) and the synthetic
fixtures of the tests. Polars only: importing this module never imports Prefect.
"""

from __future__ import annotations

import polars as pl

FORECASTS_SCHEMA: dict[str, pl.PolarsDataType] = {
    "run_id": pl.String,  # the Prefect flow run that made the row
    "vintage": pl.Int32,  # the last data year the run used (its --as-of year, if given)
    "target": pl.String,  # e.g. researchers, tertiary_students, china_researcher_inflows
    "country_iso3": pl.String,  # the country; CHN (the host) for China's intake targets
    "origin_group": pl.String,  # intake targets: the origin group; else null
    "year": pl.Int32,
    "scenario": pl.String,  # WPP variant, with a policy lever's name where one applies
    "model": pl.String,  # naive, drift, ets, theta, prophet, global, ensemble, …
    "is_selected": pl.Boolean,  # the published forecast: chosen and plausible
    "yhat": pl.Float64,
    "lo80": pl.Float64,
    "hi80": pl.Float64,
    "lo95": pl.Float64,
    "hi95": pl.Float64,
    "created_at": pl.Datetime("us", "UTC"),
}
BACKTEST_METRICS_SCHEMA: dict[str, pl.PolarsDataType] = {
    "run_id": pl.String,
    "vintage": pl.Int32,
    "family": pl.String,
    "target": pl.String,
    "model": pl.String,
    "horizon": pl.Int32,  # years after the origin, 1-12
    "origins": pl.Int32,  # rolling origins scored
    "forecasts": pl.Int32,  # (series, origin) pairs scored at this horizon
    "mase": pl.Float64,
    "smape": pl.Float64,  # percent, 0-200
    "coverage80": pl.Float64,  # share of actuals inside the 80 % interval
    "coverage95": pl.Float64,
}
MODEL_SELECTION_SCHEMA: dict[str, pl.PolarsDataType] = {
    "run_id": pl.String,
    "vintage": pl.Int32,
    "family": pl.String,
    "target": pl.String,
    "selected_model": pl.String,  # the published model: short_model, or the handover
    "short_model": pl.String,  # the family's best at horizons 1-5
    "long_model": pl.String,  # the family's best at horizons 6-12
    "mase": pl.Float64,  # mean over horizons 1-5
    "naive_mase": pl.Float64,
    "mase_improvement": pl.Float64,  # 1 - mase / naive_mase; goal: core.facts.MASE_GOAL
    "coverage80": pl.Float64,  # the model's own intervals in the backtest
    "coverage95": pl.Float64,
    # the published intervals: calibrated on the earlier half of the origins, coverage
    # counted on the later half; the coverage goal is judged on these
    "calibrated_coverage80": pl.Float64,
    "calibrated_coverage95": pl.Float64,
    "meets_mase_goal": pl.Boolean,
    "meets_coverage_goal": pl.Boolean,
    # horizons 6-12: the published model against naive and drift, and its calibrated
    # intervals' coverage on held-out origins (goal: core.facts.LONG_COVERAGE_GOAL)
    "long_mase": pl.Float64,
    "long_naive_mase": pl.Float64,
    "long_drift_mase": pl.Float64,
    "long_calibrated_coverage80": pl.Float64,
    "long_calibrated_coverage95": pl.Float64,
    "beats_naive_and_drift_long": pl.Boolean,
    "meets_long_coverage_goal": pl.Boolean,
    "reason": pl.String,  # why this model, and why a goal is missed where one is
}
FORECAST_PLAUSIBILITY_SCHEMA: dict[str, pl.PolarsDataType] = {
    "run_id": pl.String,
    "vintage": pl.Int32,
    "target": pl.String,
    "country_iso3": pl.String,
    "origin_group": pl.String,
    "model": pl.String,  # the model published as selected for this series
    "rule": pl.String,  # tasks.features.plausibility.RULES
    "passed": pl.Boolean,
    "detail": pl.String,  # the first offending year and value, where a rule failed
    "last_informative_year": pl.Int32,  # selected up to here; not forecastable beyond
}
FORECAST_BOUNDS_SCHEMA: dict[str, pl.PolarsDataType] = {
    "run_id": pl.String,
    "vintage": pl.Int32,
    "target": pl.String,
    "series_id": pl.String,  # country, origin group, host or destination|group
    "cap": pl.Float64,  # the rate's upper bound (rate units), from the evidence
    "record": pl.Float64,  # the series' own highest rate
    "frontier": pl.Float64,  # the highest rate among series large enough to count
    "frontier_series": pl.String,
    "frontier_year": pl.Int32,
}
REPLAY_SCORES_SCHEMA: dict[str, pl.PolarsDataType] = {
    "run_id": pl.String,  # the replay run scored
    "vintage": pl.Int32,  # its --as-of year
    "target": pl.String,
    "band": pl.String,  # horizons 1-5 or 6-12 after the vintage
    "forecasts": pl.Int32,  # series-years scored
    "series": pl.Int32,
    "mase": pl.Float64,  # the selected forecast's
    "mase_naive": pl.Float64,  # the replay's own naive forecast's, same series-years
    "mase_drift": pl.Float64,
    "mae_ratio_naive": pl.Float64,  # selected MAE / naive MAE: below 1 beats naive
    "mae_ratio_drift": pl.Float64,
    "coverage80": pl.Float64,
    "coverage95": pl.Float64,
}

#: One row per run published whole (tasks.publish.publish_run): every other table's rows
#: of that run were committed in the same transaction, so a run listed here is complete.
RUNS_SCHEMA: dict[str, pl.PolarsDataType] = {
    "run_id": pl.String,
    "vintage": pl.Int32,
    "as_of": pl.Int32,  # the --as-of year of a replay; null for a full run
    "started_at": pl.Datetime("us", "UTC"),
    "published_at": pl.Datetime("us", "UTC"),
    "status": pl.String,  # complete (a run that failed or was killed has no row)
    "code_version": pl.String,  # talentflow's version (and git commit when known)
    "inputs": pl.String,  # JSON: {dataset id: sha256 of the snapshot read}
    "tables": pl.String,  # the tables this publish wrote, comma-separated
    # what the run's tables and reports are a function of: code, inputs and options
    # (tasks.caching.run_fingerprint); a run whose fingerprint is the latest run's
    # publishes nothing (flows.pipeline)
    "fingerprint": pl.String,
}

#: Every run table, by its published name.
RUN_TABLES: dict[str, dict[str, pl.PolarsDataType]] = {
    "forecasts": FORECASTS_SCHEMA,
    "backtest_metrics": BACKTEST_METRICS_SCHEMA,
    "model_selection": MODEL_SELECTION_SCHEMA,
    "forecast_plausibility": FORECAST_PLAUSIBILITY_SCHEMA,
    "forecast_bounds": FORECAST_BOUNDS_SCHEMA,
}
#: Tables derived from every stored run, replaced at each run.
DERIVED_TABLES: dict[str, dict[str, pl.PolarsDataType]] = {"replay_scores": REPLAY_SCORES_SCHEMA}

# -- the seed's claims (talentflow.tasks.features.claims; docs/metrics.md, The seed's claims) --

#: (a) China against the USA on every talent measure both report, observed and forecast.
CHINA_USA_GAP_SCHEMA: dict[str, pl.PolarsDataType] = {
    "measure": pl.String,  # a talent_pool_metrics metric
    "is_stem": pl.Boolean,  # counts towards claim (a)'s verdict; else shown as context
    "kind": pl.String,  # observed | forecast (selected model, WPP Medium)
    "year": pl.Int32,
    "china": pl.Float64,
    "usa": pl.Float64,
    "ratio": pl.Float64,  # china / usa
    "ratio_lo": pl.Float64,  # forecast: China's lo80 / USA's hi80 (null when observed)
    "ratio_hi": pl.Float64,  # forecast: China's hi80 / USA's lo80
    "china_rank": pl.Int32,  # observed: among the countries reporting that year
    "reporting_countries": pl.Int32,
    "source": pl.String,
}
#: (c) China's pull at each level of expertise, the same quantity on every comparable rung.
CHINA_PULL_LADDER_SCHEMA: dict[str, pl.PolarsDataType] = {
    "level": pl.String,  # students, doctoral, researchers, top_ai_researchers
    "order": pl.Int32,  # 1-4, rising expertise
    "year": pl.Int32,
    "source": pl.String,
    "destination_share": pl.Float64,  # China's share of the level's people by destination
    "origin_share": pl.Float64,  # China's share of the same people by origin
    "pull_ratio": pl.Float64,  # destination_share / origin_share
    "china_in": pl.Float64,  # people (or moves) whose destination is China
    "china_out": pl.Float64,  # people (or moves) from China
    "world": pl.Float64,  # all of them, worldwide
    "comparable": pl.Boolean,  # ranked in the verdict; false: shown apart, with why
    "counts": pl.String,  # who the rung counts
    "note": pl.String,
}
#: (d) Where China's foreign talent comes from, by origin group and year.
CHINA_ORIGIN_SHARES_SCHEMA: dict[str, pl.PolarsDataType] = {
    "source": pl.String,  # MPIDR scopus | MPIDR openalex | China MoE
    "grouping": pl.String,  # income_group | asia | continent
    "origin_group": pl.String,
    "year": pl.Int32,
    "people": pl.Float64,  # moves (MPIDR) or students (MoE) from the group
    "total": pl.Float64,  # all moves into China, or all foreign students
    "share": pl.Float64,
    "classification": pl.String,  # which income classification the group uses
}
#: (e) Signals around the US policy change of 2018, by year.
CHINA_RETURNEE_SIGNALS_SCHEMA: dict[str, pl.PolarsDataType] = {
    "signal": pl.String,
    "year": pl.Int32,
    "value": pl.Float64,
    "unit": pl.String,
    "period": pl.String,  # before | after the policy date
    "source": pl.String,
    "note": pl.String,
}
#: One row per claim of the seed question, with its computed verdict.
SEED_CLAIMS_SCHEMA: dict[str, pl.PolarsDataType] = {
    "claim": pl.String,  # a-e
    "statement": pl.String,
    "verdict": pl.String,  # core.facts.VERDICTS
    "evidence": pl.String,  # the numbers behind the verdict, with their years
    "rule": pl.String,  # how the verdict follows from them (docs/metrics.md)
    "sources": pl.String,
    "tables": pl.String,  # the published tables holding the numbers
    "caveats": pl.String,
}
#: The seed's claims and the tables behind them, rebuilt on every full run.
CLAIM_TABLES: dict[str, dict[str, pl.PolarsDataType]] = {
    "china_usa_gap": CHINA_USA_GAP_SCHEMA,
    "china_pull_ladder": CHINA_PULL_LADDER_SCHEMA,
    "china_origin_shares": CHINA_ORIGIN_SHARES_SCHEMA,
    "china_returnee_signals": CHINA_RETURNEE_SIGNALS_SCHEMA,
    "seed_claims": SEED_CLAIMS_SCHEMA,
}
