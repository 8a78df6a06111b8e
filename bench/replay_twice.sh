#!/usr/bin/env bash
# An --as-of replay, then the same replay again, each timed, on the data directory
# bench/run_twice.sh left (BENCH_DIR). bench/RESULTS.md's replay row.
#   BENCH_DIR=/tmp/tmp.xyz bench/replay_twice.sh 2016 [--models naive,drift,converge]
set -euo pipefail
cd "$(dirname "$0")/.."
work="${BENCH_DIR:?set BENCH_DIR to the directory bench/run_twice.sh printed}"
as_of="${1:?give the --as-of year}"
shift
export TALENTFLOW_DATA_DIR="$work/data" PREFECT_HOME="$work/prefect"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
for pass in first again; do
  probe=$(.venv/bin/python bench/machine_probe.py)
  started=$(date +%s.%N)
  .venv/bin/talentflow run --as-of "$as_of" "$@" > "$work/replay-$as_of-$pass.log" 2>&1
  echo "replay $as_of $pass: $(echo "$(date +%s.%N) - $started" | bc) s ($probe before)"
done
