"""Assertions and probes several test modules share."""

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl


def intervals_are_ordered(forecast: pl.DataFrame, point: str = "mean") -> bool:
    """lo95 <= lo80 <= point <= hi80 <= hi95 on every row: the nesting every reader of a
    forecast relies on."""
    return forecast.select(
        (
            (pl.col("lo95") <= pl.col("lo80"))
            & (pl.col("lo80") <= pl.col(point))
            & (pl.col(point) <= pl.col("hi80"))
            & (pl.col("hi80") <= pl.col("hi95"))
        ).all()
    ).item()


def report_without_an_api(script: Path, prefect_home: Path, **environment: str) -> dict:
    """Run ``script`` in a fresh interpreter with no Prefect API configured, as
    `talentflow run` is on a new machine (Prefect starts a temporary server), and return
    the JSON object its last line of output prints."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(prefect_home), **environment}
    done = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])
