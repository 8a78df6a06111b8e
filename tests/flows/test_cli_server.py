"""`talentflow run` starts Prefect's temporary server while it imports the pipeline, and
the flow then runs on that server, not on a second one."""

import pytest

from talentflow.flows.cli import start_temporary_server
from tests.checks import report_without_an_api

#: In a fresh interpreter with no API configured, as `talentflow run` is: start the
#: server early, then run a flow, and say which servers there were.
EARLY_SERVER = """
import json

from prefect import flow, get_client
from prefect.server.api.server import SubprocessASGIServer

from talentflow.flows.cli import start_temporary_server

started = start_temporary_server()
started.join()
early = SubprocessASGIServer()


@flow
def which_api() -> str:
    with get_client(sync_client=True) as client:
        return str(client.api_url).rstrip("/")


print(json.dumps({
    "early": early.api_url if early.running else None,
    "flow": which_api(),
    "servers": len([s for s in SubprocessASGIServer._instances.values() if s.running]),
}))
"""


def test_no_temporary_server_is_started_when_an_api_is_configured():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert start_temporary_server() is None


@pytest.mark.slow
def test_the_flow_runs_on_the_server_started_early(tmp_path):
    script = tmp_path / "early.py"
    script.write_text(EARLY_SERVER)
    report = report_without_an_api(script, tmp_path / "prefect")
    assert report["early"] and report["early"].startswith("http://127.0.0.1:")
    assert report["flow"] == report["early"]
    assert report["servers"] == 1


def test_flows_send_no_heartbeats_to_a_temporary_server_only():
    """Nothing reads a heartbeat on the temporary server, which stops with the run, and
    each flow run's exit would wait for its heartbeat thread; a configured API (no early
    server) keeps Prefect's own setting."""
    import threading

    from prefect.settings import get_current_settings

    from talentflow.flows.cli import no_heartbeats_on_a_temporary_server

    configured = get_current_settings().flows.heartbeat_frequency
    assert configured is not None, "Prefect sends heartbeats by default"
    with no_heartbeats_on_a_temporary_server(threading.Thread()):
        assert get_current_settings().flows.heartbeat_frequency is None
    assert get_current_settings().flows.heartbeat_frequency == configured
    with no_heartbeats_on_a_temporary_server(None):
        assert get_current_settings().flows.heartbeat_frequency == configured
