#!/usr/bin/env bash
# Cold run, then a rerun on unchanged data, each timed: `talentflow run` in a fresh data
# directory and Prefect home (bench/RESULTS.md's first two rows). Extra arguments go to
# both runs. Needs TALENTFLOW_MIRROR (or live downloads) and `make setup`.
#   TALENTFLOW_MIRROR=../shared/data bench/run_twice.sh [--models naive,drift,converge]
set -euo pipefail
cd "$(dirname "$0")/.."
work="${BENCH_DIR:-$(mktemp -d)}"
mkdir -p "$work"
export TALENTFLOW_DATA_DIR="$work/data" PREFECT_HOME="$work/prefect"
export PREFECT_SERVER_ANALYTICS_ENABLED=false
for pass in cold rerun; do
  probe=$(.venv/bin/python bench/machine_probe.py)
  started=$(date +%s.%N)
  .venv/bin/talentflow run "$@" > "$work/$pass.log" 2>&1
  echo "$pass: $(echo "$(date +%s.%N) - $started" | bc) s ($probe before; log: $work/$pass.log)"
done
echo "data directory kept for bench/replay_twice.sh: BENCH_DIR=$work"
