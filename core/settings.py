"""One settings object, read from the environment (prefix ``TALENTFLOW_``).

Only what talentflow itself decides lives here. Prefect configures itself
(``PREFECT_API_URL`` unset means Prefect's local, embedded API), so nothing of
Prefect's is repeated here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where talentflow keeps its data and where it reads its sources from.

    Attributes
    ----------
    data_dir:
        Snapshots, validation results and published tables live below it.
        Default ``./data`` (git-ignored), resolved against the working directory.
    mirror:
        A local directory laid out like ``shared/data`` (see its MANIFEST). When set,
        every source is read from it instead of being downloaded; unset (the default)
        means live pulls from the publishers.
    database_url:
        A SQLAlchemy URL of a PostgreSQL database, such as
        ``postgresql+psycopg://talentflow@db.example.org:5432/analytics``. When set, every
        published table is also written there (see ``tasks.publish`` and
        docs/consuming.md); unset (the default) publishes to DuckDB and Parquet only. A
        password belongs in ``~/.pgpass`` or ``PGPASSWORD`` rather than in the URL.
    database_schema:
        The PostgreSQL schema that holds the published tables and views. Default
        ``talentflow``; created when missing.
    task_runner:
        Where the forecast fits run: ``processes`` (default: Prefect's process pool, one
        core per worker), ``threads`` (in the flow's process: no start-up cost, but the
        fits share one interpreter) or ``dask`` (a Dask cluster through prefect-dask:
        ``pip install talentflow[dask]``).
    dask_address:
        A running Dask scheduler, e.g. ``tcp://dask-scheduler:8786`` (compose's ``dask``
        profile). Unset with ``task_runner=dask``: a local cluster of ``forecast_workers``
        processes is started for the run.
    forecast_workers:
        Parallel fits: worker processes, threads, or local Dask workers (with a remote Dask
        cluster, its number of workers: it sets how finely backtests are split). Default 2.
    series_per_task:
        The most series one forecast task fits, for the models that fit each series on
        its own (a target with more is cut into batches of series, one task each; the
        models that read the whole panel keep one task). Default 1,000: today's largest
        target has 339 series, so only a run with many more (sub-national or by-field
        series) is cut; a smaller value spreads a large run over more Dask workers.
    report_base_url:
        The address of a static web site that serves ``<data_dir>/reports``, such as
        ``http://127.0.0.1:8081`` for ``python -m http.server 8081 --directory
        data/reports`` or compose's ``reports`` service. When set, every report link in a
        Prefect artifact is ``<report_base_url>/<file name>``, which a browser opens from
        the Prefect UI. Unset (the default), links are ``file://`` paths: browsers refuse
        them from the UI's http page, so the artifacts carry the reports' text themselves
        and say where each file is. Must start with ``http://`` or ``https://``; a
        trailing ``/`` is dropped.
    """

    model_config = SettingsConfigDict(env_prefix="TALENTFLOW_", extra="ignore")

    data_dir: Path = Path("data")
    mirror: Path | None = None
    database_url: str | None = None
    database_schema: str = "talentflow"
    task_runner: Literal["threads", "processes", "dask"] = "processes"
    dask_address: str | None = None
    forecast_workers: int = 2
    series_per_task: int = 1000
    report_base_url: str | None = None

    @field_validator("series_per_task")
    @classmethod
    def _at_least_one_series(cls, value: int) -> int:
        if value < 1:
            raise ValueError(f"{value} series per forecast task: give at least 1 (default 1000)")
        return value

    @field_validator("report_base_url")
    @classmethod
    def _an_http_address(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                f"TALENTFLOW_REPORT_BASE_URL={value!r} is not an http(s) address; set it to "
                "the web address that serves <data_dir>/reports, e.g. http://127.0.0.1:8081"
            )
        return value

    def resolved(self) -> Settings:
        """Return a copy with absolute paths, so a run is not moved by a later ``chdir``."""
        mirror = self.mirror.expanduser().resolve() if self.mirror else None
        return self.model_copy(
            update={"data_dir": self.data_dir.expanduser().resolve(), "mirror": mirror}
        )


def get_settings() -> Settings:
    """Read the settings afresh from the environment (cheap; never cached, so tests and
    long-lived workers see a changed environment)."""
    return Settings().resolved()


@contextmanager
def environment_variables(variables: dict[str, str]) -> Iterator[None]:
    """Set these variables in this process's environment for the block, and put back
    what was there (or nothing) after it. Processes started in the block inherit them."""
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
