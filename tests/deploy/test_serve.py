"""``talentflow serve``: the schedules of deploy/prefect.yaml, from one process, under
names of its own, never touching the work pool's deployments.

The first tests replace ``prefect.serve`` by a recorder (serving blocks until stopped, and
what it is handed is what they check); the last runs ``prefect deploy --all`` and
``talentflow serve`` against a real ``prefect server start``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from talentflow.flows import serve as serving
from talentflow.flows.cli import app
from talentflow.flows.serve import CONCURRENCY_LIMIT, SERVE_SUFFIX, runner_deployments
from tests.prefect_server import environment_without_prefect, running_prefect_server, tail

#: Minutes of Prefect servers and pipeline runs: `make test-fast` leaves them out, CI runs them.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "deploy" / "prefect.yaml"


def _flow_name(entrypoint: str) -> str:
    return entrypoint.rsplit(":", 1)[1]


def _module_path(entrypoint: str) -> str:
    """``flows/ingest.py:ingest`` as the installed package names it."""
    path, function = entrypoint.split(":")
    return "talentflow." + path.removesuffix(".py").replace("/", ".") + "." + function


def test_served_deployments_are_prefect_yamls_schedules_under_their_own_names(
    tmp_path, monkeypatch
):
    from prefect.flows import load_flow_from_entrypoint

    written = yaml.safe_load(PREFECT_YAML.read_text())["deployments"]
    served = runner_deployments()
    assert [(d.flow_name, d.name) for d in served] == [
        (_flow_name(entry["entrypoint"]), entry["name"] + SERVE_SUFFIX) for entry in written
    ]
    monkeypatch.chdir(tmp_path)  # a served run finds its flow wherever serving started
    for deployment, entry in zip(served, written, strict=True):
        assert deployment.entrypoint == _module_path(entry["entrypoint"])
        assert load_flow_from_entrypoint(deployment.entrypoint).name == deployment.flow_name
        assert deployment.parameters == entry["parameters"]
        assert [
            {"cron": s.schedule.cron, "timezone": s.schedule.timezone} for s in deployment.schedules
        ] == entry["schedules"]
        assert deployment.tags == entry["tags"]
        assert deployment.description == entry["description"]
        assert deployment.concurrency_limit == entry["concurrency_limit"] == CONCURRENCY_LIMIT
        assert deployment.work_pool_name is None  # served: no work pool


@pytest.fixture
def recorded_serve(monkeypatch) -> dict[str, Any]:
    """Replace ``prefect.serve`` by a recorder and point Prefect at a (pretend) server."""
    import prefect
    from prefect.settings import PREFECT_API_URL, temporary_settings

    calls: dict[str, Any] = {}

    def serve(*deployments: Any, **options: Any) -> None:
        calls["deployments"], calls["options"] = deployments, options

    monkeypatch.setattr(prefect, "serve", serve)
    monkeypatch.setattr(serving, "pause_served", lambda d: calls.__setitem__("paused", d))
    # No server answers here: the check against the work pool's deployments is tested for
    # real below.
    monkeypatch.setattr(serving, "scheduled_pool_deployments", lambda specs=None: [])
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        yield calls


def test_talentflow_serve_serves_every_schedule(recorded_serve):
    result = CliRunner().invoke(app, ["serve", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "serving schedules on http://127.0.0.1:4200/api as <name>-serve" in result.output
    written = yaml.safe_load(PREFECT_YAML.read_text())["deployments"]
    assert [d.name for d in recorded_serve["deployments"]] == [
        e["name"] + "-serve" for e in written
    ]
    assert recorded_serve["options"] == {"limit": 2}
    # serving stopped: exactly what was served is paused, nothing else
    assert list(recorded_serve["paused"]) == list(recorded_serve["deployments"])


def test_talentflow_serve_without_a_prefect_server_says_how_to_start_one(monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "prefect server start" in result.output and "PREFECT_API_URL" in result.output


# -- against a real Prefect server ------------------------------------------------------------

SERVE_START_TIMEOUT_SECONDS = 300  # 13 deployments registered on a busy 2-core machine


@pytest.fixture
def prefect_server(tmp_path) -> Iterator[str]:
    """``prefect server start`` on SQLite under ``tmp_path``; its API URL."""
    with running_prefect_server(tmp_path / "server-home", tmp_path / "server.log") as api_url:
        yield api_url


def _prefect(*args: str, env: dict[str, str]) -> str:
    command = [sys.executable, "-m", "prefect", *args]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _as_deployed(client: Any, full_name: str) -> dict[str, Any]:
    """What an operator relies on in a deployment, and when it was last written."""
    deployment = client.read_deployment_by_name(full_name)
    return {
        "paused": deployment.paused,
        "schedules": [
            (s.schedule.cron, s.schedule.timezone, s.active) for s in deployment.schedules
        ],
        "entrypoint": deployment.entrypoint,
        "path": deployment.path,
        "pull_steps": deployment.pull_steps,
        "work_pool_name": deployment.work_pool_name,
        "parameters": deployment.parameters,
        "updated": deployment.updated,
    }


def test_serving_beside_prefect_deploy_never_touches_the_work_pool_deployments(
    prefect_server, tmp_path
):
    from talentflow.flows.serve import WORK_POOL, deployment_specs

    specs = deployment_specs()
    pool_names = [spec.full_name for spec in specs]
    env = environment_without_prefect(
        PREFECT_API_URL=prefect_server,
        PREFECT_HOME=str(tmp_path / "client-home"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    talentflow = str(Path(sys.executable).with_name("talentflow"))

    def pool_deployments() -> dict[str, dict[str, Any]]:
        with _client(prefect_server) as client:
            return {name: _as_deployed(client, name) for name in pool_names}

    _prefect("work-pool", "create", WORK_POOL, "--type", "process", env=env)
    _prefect("--no-prompt", "deploy", "--all", "--prefect-file", "deploy/prefect.yaml", env=env)
    deployed = pool_deployments()
    assert all(not d["paused"] and d["schedules"][0][2] for d in deployed.values())

    # While the work pool's deployments are scheduled, serving would run everything twice:
    # it refuses, in one message that says what to do, and changes nothing.
    refused = subprocess.run(
        [talentflow, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    message = " ".join(refused.stderr.split())
    assert f"{len(specs)} deployments of deploy/prefect.yaml are scheduled" in message
    assert "prefect deployment schedule pause --all" in message and "-serve" in message
    assert pool_deployments() == deployed

    # The operator pauses their schedules, as the message says; serving starts (from a
    # folder that is not the repository), registers its own names, and is stopped with
    # Ctrl-C (SIGINT), which pauses what it served.
    _prefect("deployment", "schedule", "pause", "--all", env=env)
    before_serving = pool_deployments()
    assert all(not d["paused"] and not d["schedules"][0][2] for d in before_serving.values())
    log = tmp_path / "serve.log"
    with open(log, "wb") as output:
        serving_process = subprocess.Popen(
            [talentflow, "serve"],
            cwd=tmp_path,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            # Python ignores Ctrl-C if it starts with SIGINT ignored (as under `cmd &`).
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    try:
        served_names = [name + SERVE_SUFFIX for name in pool_names]
        deadline = time.monotonic() + SERVE_START_TIMEOUT_SECONDS
        with _client(prefect_server) as client:
            while True:
                assert serving_process.poll() is None, tail(log)
                assert time.monotonic() < deadline, tail(log)
                if set(served_names) <= _deployment_names(client):
                    break
                time.sleep(2)
            for name in served_names:
                served = _as_deployed(client, name)
                assert not served["paused"] and served["schedules"][0][2], name
        serving_process.send_signal(signal.SIGINT)
        assert serving_process.wait(timeout=120) == 0, tail(log)
    finally:
        if serving_process.poll() is None:
            serving_process.kill()
            serving_process.wait()

    after_serving = pool_deployments()
    assert after_serving == before_serving  # not rewritten, not paused: untouched
    for spec in specs:
        kept = after_serving[spec.full_name]
        assert kept["paused"] is False
        assert kept["entrypoint"] == spec.entrypoint and kept["work_pool_name"] == WORK_POOL
        assert kept["pull_steps"] == deployed[spec.full_name]["pull_steps"]
        assert kept["pull_steps"] and kept["updated"] == deployed[spec.full_name]["updated"]
    with _client(prefect_server) as client:
        for spec in specs:
            served = _as_deployed(client, spec.full_name + SERVE_SUFFIX)
            assert served["paused"] is True, spec.full_name  # Ctrl-C paused its own
            assert served["work_pool_name"] is None
            assert served["entrypoint"] == _module_path(spec.entrypoint)


@contextmanager
def _client(api_url: str) -> Iterator[Any]:
    """A synchronous Prefect client of the server at ``api_url``."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        yield client


def _deployment_names(client: Any) -> set[str]:
    """The full names (``<flow>/<deployment>``) of every deployment on the server."""
    flows = {flow.id: flow.name for flow in client.read_flows()}
    return {f"{flows[d.flow_id]}/{d.name}" for d in client.read_deployments()}
