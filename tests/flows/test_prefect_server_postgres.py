"""The production shape, end to end: a real Prefect server backed by PostgreSQL, the
``pipeline`` flow run against it on the real mirror, and the tables published to
PostgreSQL.

A fresh database is created for the server (``talentflow_prefect_<hex>``) and dropped
afterwards; the server runs as ``prefect server start`` in a subprocess with a private
``PREFECT_HOME``; the flow runs in another subprocess, so that its settings come from its
environment alone, as in a deployment. Heavy (the whole pipeline with the default zoo, on
two targets): one test.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from talentflow.core.tables import FORECASTS_SCHEMA
from tests.postgres_fixtures import (  # noqa: F401 (the postgres_* fixtures)
    fresh_postgres_database_fixture,
    postgres_schema_fixture,
    postgres_url_fixture,
    with_database,
)
from tests.prefect_server import environment_without_prefect, running_prefect_server, tail

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PIPELINE_TIMEOUT_SECONDS = 1800
RUN_ID_MARKER = "talentflow-test flow run id: "
PIPELINE_SCRIPT = f"""
from talentflow.flows.pipeline import pipeline

# The default zoo, on two targets (a country pool and China's intake): the production shape
# is the point here; the other targets' forecasts are exercised by tests/flows/test_pipeline.
state = pipeline(return_state=True, targets=["researchers", "china_inbound_students"])
print({RUN_ID_MARKER!r} + str(state.state_details.flow_run_id), flush=True)
print("state:", state.type.value, state.message, flush=True)
"""


@pytest.fixture
def prefect_server(postgres_url, fresh_postgres_database, tmp_path) -> Iterator[str]:
    """The API URL of a Prefect server backed by a new PostgreSQL database; stopped after."""
    with running_prefect_server(
        tmp_path / "prefect-server-home",
        tmp_path / "prefect-server.log",
        PREFECT_SERVER_DATABASE_CONNECTION_URL=with_database(
            postgres_url, fresh_postgres_database, "postgresql+asyncpg"
        ),
    ) as api_url:
        yield api_url


def test_the_pipeline_runs_on_a_postgres_backed_prefect_server_and_publishes_to_postgres(
    prefect_server, postgres_url, postgres_schema, fresh_postgres_database, mirror, tmp_path
):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.client.schemas.objects import StateType
    from prefect.settings import PREFECT_API_URL, temporary_settings

    log = tmp_path / "pipeline.log"
    environment = environment_without_prefect(
        PREFECT_API_URL=prefect_server,
        PREFECT_HOME=str(tmp_path / "prefect-client-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        TALENTFLOW_MIRROR=str(mirror),
        TALENTFLOW_DATA_DIR=str(tmp_path / "data"),
        TALENTFLOW_DATABASE_URL=postgres_url,
        TALENTFLOW_DATABASE_SCHEMA=postgres_schema,
        TALENTFLOW_TASK_RUNNER="processes",  # the default, as production runs it
    )
    with open(log, "wb") as output:
        finished = subprocess.run(
            [sys.executable, "-c", PIPELINE_SCRIPT],
            cwd=REPO,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=PIPELINE_TIMEOUT_SECONDS,
        )
    printed = log.read_text(errors="replace")
    assert finished.returncode == 0, tail(log)
    marked = [line for line in printed.splitlines() if line.startswith(RUN_ID_MARKER)]
    assert marked, tail(log)
    flow_run_id = uuid.UUID(marked[-1].removeprefix(RUN_ID_MARKER))

    # Prefect's view: the run is recorded, completed, with its publish tasks.
    with (
        temporary_settings({PREFECT_API_URL: prefect_server}),
        get_client(sync_client=True) as client,
    ):
        flow_run = client.read_flow_run(flow_run_id)
        assert client.read_flow(flow_run.flow_id).name == "pipeline"
        assert flow_run.state_type == StateType.COMPLETED, (flow_run.state, tail(log))
        # Task runs reach the database through the server's event pipeline: allow it time.
        deadline = time.monotonic() + 60
        while True:
            task_runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            published = {run.name: run.state_type for run in task_runs}
            if published.get("publish-run") == StateType.COMPLETED:
                break
            assert time.monotonic() < deadline, sorted(published.items())
            time.sleep(2)

    engine = create_engine(postgres_url)
    prefect_database = create_engine(
        with_database(postgres_url, fresh_postgres_database, "postgresql+psycopg")
    )
    try:
        # The server kept the run in its PostgreSQL database, not in a SQLite file.
        with prefect_database.connect() as connection:
            state = connection.execute(
                text("SELECT state_type FROM flow_run WHERE id = :id"), {"id": flow_run_id}
            ).scalar_one()
        assert state == "COMPLETED"

        schema = f'"{postgres_schema}"'
        with engine.connect() as connection:
            rows = connection.execute(text(f"SELECT count(*) FROM {schema}.forecasts")).scalar()
            latest_runs = connection.execute(
                text(f"SELECT DISTINCT run_id FROM {schema}.forecasts_latest")
            ).all()
            columns = connection.execute(
                text(
                    "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                    ":schema AND table_name = 'forecasts' ORDER BY ordinal_position"
                ),
                {"schema": postgres_schema},
            ).scalars()
            columns = list(columns)
    finally:
        engine.dispose()
        prefect_database.dispose()
    assert rows > 0
    assert latest_runs == [(str(flow_run_id),)]
    assert columns == list(FORECASTS_SCHEMA)
