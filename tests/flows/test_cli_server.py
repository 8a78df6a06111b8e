"""`talentflow run` starts Prefect's temporary server as it starts, without importing
Prefect's server package, and its flows then run on that server, not on a second one."""

import subprocess
import sys
import time

import psutil
import pytest

from talentflow.flows import temporary_server
from talentflow.flows.cli import server_answers, start_temporary_server
from talentflow.flows.preflight import PreflightError
from tests.checks import report_without_an_api

#: In a fresh interpreter with no API configured, as `talentflow run` is: start the
#: server early, run a flow on it, and say what the flow saw.
EARLY_SERVER = """
import json
import os
import sys
import threading
import time

from prefect import flow, get_client, task
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.settings import get_current_settings
from prefect.task_runners import ProcessPoolTaskRunner

from talentflow.flows.cli import on_the_temporary_server, server_answers, start_temporary_server

@task
def in_a_worker() -> int:
    return os.getpid()


def seen_by_a_new_thread() -> str | None:
    seen = []
    thread = threading.Thread(target=lambda: seen.append(get_current_settings().api.url))
    thread.start()
    thread.join()
    return seen[0]


@flow(task_runner=ProcessPoolTaskRunner(max_workers=1))
def which_api() -> dict:
    worker = in_a_worker.submit().result()
    with get_client(sync_client=True) as client:
        return {
            "api": str(client.api_url).rstrip("/"),
            "heartbeats": get_current_settings().flows.heartbeat_frequency,
            "thread": seen_by_a_new_thread(),
            "worker_pid": worker,
        }


def task_runs_recorded(flow_run_id) -> int:
    # The server records task runs from their events, which reach it asynchronously.
    with get_client(sync_client=True) as client:
        for _ in range(100):
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            if runs:
                return len(runs)
            time.sleep(0.1)
    return 0


if __name__ == "__main__":  # a spawned worker imports this file again
    server = start_temporary_server()
    server_answers(server)
    with on_the_temporary_server(server):
        state = which_api(return_state=True)
        seen = state.result()
        recorded = task_runs_recorded(state.state_details.flow_run_id)
    print(json.dumps({
        "started": server.api_url,
        "pid": server.process.pid,
        **seen,
        "main_pid": os.getpid(),
        "task_runs_recorded": recorded,
        "heartbeats_after": get_current_settings().flows.heartbeat_frequency,
        "api_after": get_current_settings().api.url,
        "thread_after": seen_by_a_new_thread(),
        "prefect_server_imported": "prefect.server.api.server" in sys.modules,
    }))
"""


def test_no_temporary_server_is_started_when_an_api_is_configured():
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert start_temporary_server() is None


@pytest.mark.slow
def test_the_flow_runs_on_the_server_started_early_and_the_server_stops_with_the_command(
    tmp_path,
):
    script = tmp_path / "early.py"
    script.write_text(EARLY_SERVER)
    report = report_without_an_api(script, tmp_path / "prefect")
    assert report["started"].startswith("http://127.0.0.1:")
    assert report["api"] == report["started"], "the flow ran on another server"
    # The reason the server is started here: Prefect's server package (2 s to import)
    # stays out of the command's process, and Prefect started no server of its own,
    # not even in the thread that forwards a process pool's task events (it reads
    # Prefect's global settings, as every thread Prefect starts does).
    assert report["worker_pid"] != report["main_pid"], "the task ran in a worker process"
    assert report["thread"] == report["started"]
    assert report["prefect_server_imported"] is False
    # The worker's task run reached the server the command started (its UI shows it).
    assert report["task_runs_recorded"] == 1
    # Nothing reads heartbeats on a server that stops with the command; outside the
    # block Prefect's own settings are back, in every thread.
    assert report["heartbeats"] is None
    assert report["heartbeats_after"] is not None and report["api_after"] is None
    assert report["thread_after"] is None
    deadline = time.monotonic() + 10
    while psutil.pid_exists(report["pid"]):
        assert time.monotonic() < deadline, "the temporary server outlived the command"
        time.sleep(0.1)


def _exits_with(code: int) -> list[str]:
    return [sys.executable, "-c", f"import sys; sys.exit({code})"]


def test_a_server_that_cannot_start_is_one_clear_line(monkeypatch):
    monkeypatch.setattr(temporary_server, "_command", lambda port: _exits_with(1))
    server = temporary_server.TemporaryServer.start()
    try:
        with pytest.raises(PreflightError, match=r"exited with code 1 before it answered"):
            server_answers(server)
    finally:
        server.stop()


def test_a_port_taken_before_the_server_binds_it_is_retried_on_another(monkeypatch):
    commands = iter([_exits_with(temporary_server.PORT_TAKEN), _exits_with(1)])
    ports = []

    def command(port):
        ports.append(port)
        return next(commands)

    monkeypatch.setattr(temporary_server, "_command", command)
    server = temporary_server.TemporaryServer.start()
    try:
        with pytest.raises(RuntimeError, match="exited with code 1"):
            server.wait(timeout=30)
    finally:
        server.stop()
    assert len(ports) == 2, "uvicorn's port-taken exit must start the server again"


def test_stop_ends_the_process_and_can_be_called_twice():
    server = temporary_server.TemporaryServer()
    server.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    pid = server.process.pid
    server.stop()
    server.stop()
    assert not psutil.pid_exists(pid), "terminated and reaped"


def test_replays_run_every_pipeline_on_the_server_started_first(monkeypatch, settings_env):
    """`talentflow replays` runs nine pipelines: each on the server the command started
    (waited for once), none on a server of Prefect's own."""
    from contextlib import contextmanager
    from types import SimpleNamespace

    from typer.testing import CliRunner

    import talentflow.flows.pipeline
    import talentflow.flows.stopping
    from talentflow.flows import cli

    events = []

    class StartedServer:
        def wait(self):
            events.append("answers")

        @contextmanager
        def in_use(self):
            events.append("in use")
            yield self
            events.append("done")

    def pipeline(**options):
        events.append(options.get("as_of", "current"))
        return SimpleNamespace(
            tables={"replay_scores": SimpleNamespace(parquet="scores.parquet")},
            reports={"backtest report": "backtest.md"},
        )

    monkeypatch.setattr(cli, "start_temporary_server", lambda: StartedServer())
    monkeypatch.setattr(talentflow.flows.pipeline, "pipeline", pipeline)
    monkeypatch.setattr(talentflow.flows.stopping, "stop_promptly_on_signals", lambda: None)
    result = CliRunner().invoke(cli.app, ["replays", "--from", "2014", "--to", "2015"])
    assert result.exit_code == 0, result.output
    assert events == ["answers", "in use", 2014, 2015, "current", "done"]


def test_a_server_that_never_answers_is_given_up_on_with_the_setting_to_raise():
    server = temporary_server.TemporaryServer()
    server.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    server.port = 9  # nothing answers there
    try:
        with pytest.raises(RuntimeError, match="within 0.5 s; raise PREFECT_SERVER_EPHEMERAL"):
            server.wait(timeout=0.5)
    finally:
        server.stop()


def test_the_block_sets_the_address_for_every_thread_and_puts_prefects_settings_back(
    monkeypatch,
):
    """Inside the block a new thread (as Prefect's event forwarder is) sees the server;
    after it, Prefect's global settings are the very object they were (here one a test
    harness could have set without the environment) and the environment is as before."""
    import os
    import threading

    import prefect.context
    from prefect.settings import get_current_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    server = temporary_server.TemporaryServer()
    server.port = 9
    monkeypatch.setattr(server, "wait", lambda timeout=None: None)
    harness = prefect.context.GLOBAL_SETTINGS_CONTEXT.model_copy()
    monkeypatch.setattr(prefect.context, "GLOBAL_SETTINGS_CONTEXT", harness)

    def seen_by_a_thread() -> str | None:
        seen = []
        thread = threading.Thread(target=lambda: seen.append(get_current_settings().api.url))
        thread.start()
        thread.join()
        return seen[0]

    with server.in_use():
        inside = seen_by_a_thread()
        environment = os.environ.get("PREFECT_API_URL")
    assert inside == environment == server.api_url
    assert prefect.context.GLOBAL_SETTINGS_CONTEXT is harness
    assert "PREFECT_API_URL" not in os.environ
