#!/usr/bin/env bash
# The forecast stage alone (bench/forecast_stage.py --skip-models) with each number of
# workers given, on the runner TALENTFLOW_TASK_RUNNER (default processes), reading the
# feature tables of the run bench/run_twice.sh left (BENCH_DIR). bench/RESULTS.md's
# speed-up row.
#   BENCH_DIR=/tmp/tmp.xyz TALENTFLOW_TASK_RUNNER=dask bench/workers.sh 1 2
set -euo pipefail
cd "$(dirname "$0")/.."
work="${BENCH_DIR:?set BENCH_DIR to the directory bench/run_twice.sh printed}"
export TALENTFLOW_DATA_DIR="$work/data" PREFECT_HOME="$work/prefect"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export TALENTFLOW_TASK_RUNNER="${TALENTFLOW_TASK_RUNNER:-processes}"
for workers in "$@"; do
  TALENTFLOW_FORECAST_WORKERS="$workers" .venv/bin/python bench/forecast_stage.py --skip-models \
    | grep "forecasts flow"
done
