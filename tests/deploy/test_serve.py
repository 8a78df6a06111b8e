"""``talentflow serve``: the same deployments as deploy/prefect.yaml, from one process.

``prefect.serve`` is replaced by a recorder: serving blocks until stopped, and what it is
handed is what these tests check.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from talentflow.flows.cli import app
from talentflow.flows.serve import CONCURRENCY_LIMIT, runner_deployments

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "deploy" / "prefect.yaml"


def _flow_name(entrypoint: str) -> str:
    return entrypoint.rsplit(":", 1)[1]


def test_served_deployments_are_the_ones_in_prefect_yaml(monkeypatch):
    monkeypatch.chdir(REPO)  # served entrypoints are relative to the working directory
    written = yaml.safe_load(PREFECT_YAML.read_text())["deployments"]
    served = runner_deployments()
    assert [(d.flow_name, d.name) for d in served] == [
        (_flow_name(entry["entrypoint"]), entry["name"]) for entry in written
    ]
    for deployment, entry in zip(served, written, strict=True):
        assert deployment.entrypoint == entry["entrypoint"]
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
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:4200/api"}):
        yield calls


def test_talentflow_serve_serves_every_schedule(recorded_serve, monkeypatch):
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(app, ["serve", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "serving schedules on http://127.0.0.1:4200/api" in result.output
    written = yaml.safe_load(PREFECT_YAML.read_text())["deployments"]
    assert [d.name for d in recorded_serve["deployments"]] == [e["name"] for e in written]
    assert recorded_serve["options"] == {"limit": 2}


def test_talentflow_serve_without_a_prefect_server_says_how_to_start_one(monkeypatch):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "prefect server start" in result.output and "PREFECT_API_URL" in result.output
