"""deploy/prefect.yaml: generated from the catalog, read by Prefect as written, and
accepted by a real ``prefect deploy --all`` against a temporary Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from talentflow.flows.serve import (
    CODE_DIR_VARIABLE,
    INGEST_ENTRYPOINT,
    PIPELINE_ENTRYPOINT,
    WORK_POOL,
    deployment_specs,
    prefect_yaml,
)
from talentflow.tasks.sources.catalog import CATALOG, MONTHLY

#: Minutes of Prefect servers and pipeline runs: `make test-fast` leaves them out, CI runs them.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PREFECT_YAML = REPO / "deploy" / "prefect.yaml"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return yaml.safe_load(PREFECT_YAML.read_text())


def _ingests(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for d in document["deployments"] if d["entrypoint"] == INGEST_ENTRYPOINT]


def test_the_checked_in_file_is_the_generated_one() -> None:
    assert PREFECT_YAML.read_text() == prefect_yaml(), (
        "deploy/prefect.yaml is stale (the catalog or flows/serve.py changed): "
        "run `python deploy/generate_prefect_yaml.py` and commit the result"
    )


def test_every_scheduled_dataset_has_exactly_one_deployment_on_its_catalog_cron(document):
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for deployment in _ingests(document):
        for dataset_id in deployment["parameters"]["datasets"]:
            by_dataset[dataset_id].append(deployment)
    scheduled = {item.id: item.cadence for item in CATALOG.values() if item.cadence}
    assert len(scheduled) >= 10  # the catalog has monthly and yearly sources
    for dataset_id, cron in scheduled.items():
        assert len(by_dataset[dataset_id]) == 1, f"{dataset_id}: {len(by_dataset[dataset_id])}"
        [deployment] = by_dataset[dataset_id]
        assert deployment["parameters"] == {"datasets": [dataset_id]}
        assert deployment["schedules"] == [{"cron": cron, "timezone": "UTC"}], dataset_id
        assert deployment["work_pool"] == {"name": WORK_POOL}


def test_no_deployment_names_an_unknown_or_unscheduled_dataset(document):
    for deployment in _ingests(document):
        for dataset_id in deployment["parameters"]["datasets"]:
            assert dataset_id in CATALOG, f"deployment {deployment['name']}: no {dataset_id!r}"
            assert CATALOG[dataset_id].cadence, f"{dataset_id} is refreshed by hand"
    names = [d["name"] for d in document["deployments"]]
    assert len(names) == len(set(names))


def test_the_pipeline_runs_monthly_after_the_pulls_with_parameters_it_accepts(document):
    from talentflow.flows.pipeline import pipeline

    [deployment] = [d for d in document["deployments"] if d["entrypoint"] == PIPELINE_ENTRYPOINT]
    [schedule] = deployment["schedules"]
    minute, hour, *monthly_days = MONTHLY.split()
    pipeline_minute, pipeline_hour, *pipeline_days = schedule["cron"].split()
    assert pipeline_days == monthly_days and int(pipeline_hour) > int(hour)
    assert deployment["parameters"]["until_year"] == 2050
    accepted = pipeline.validate_parameters(deployment["parameters"])  # unknown names raise
    assert {name: accepted[name] for name in deployment["parameters"]} == deployment["parameters"]


def test_prefect_reads_every_field_as_written(document, monkeypatch):
    """Prefect's own prefect.yaml models ignore unknown keys, so a typo would be dropped
    silently: every key must be one the models know, and every entrypoint must load the
    flow it names with parameters that flow accepts."""
    from prefect.cli.deploy._models import (
        DeploymentConfig,
        PrefectYamlModel,
        RawScheduleConfig,
        WorkPoolConfig,
    )
    from prefect.client.schemas.schedules import CronSchedule
    from prefect.flows import load_flow_from_entrypoint

    model = PrefectYamlModel.model_validate(document)
    assert set(document) <= set(PrefectYamlModel.model_fields) | {"prefect-version"}
    assert len(model.deployments) == len(document["deployments"]) == len(deployment_specs())
    monkeypatch.chdir(REPO)  # entrypoints are relative to the repository root
    flows = {}
    for raw in document["deployments"]:
        assert set(raw) <= set(DeploymentConfig.model_fields), raw["name"]
        assert set(raw["work_pool"]) <= set(WorkPoolConfig.model_fields), raw["name"]
        for schedule in raw["schedules"]:
            RawScheduleConfig.model_validate(schedule)  # forbids unknown keys
            CronSchedule(cron=schedule["cron"], timezone=schedule["timezone"])
        if raw["entrypoint"] not in flows:
            flows[raw["entrypoint"]] = load_flow_from_entrypoint(raw["entrypoint"])
        flow = flows[raw["entrypoint"]]
        assert flow.name == raw["entrypoint"].rsplit(":", 1)[1]
        accepted = flow.validate_parameters(raw["parameters"])  # unknown names raise
        assert {name: accepted[name] for name in raw["parameters"]} == raw["parameters"]


def _prefect(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "prefect", *args]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def test_prefect_deploy_all_registers_every_deployment_on_its_schedule(prefect_harness, tmp_path):
    """The README's commands, run for real against the temporary Prefect server."""
    from prefect import get_client
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    _prefect("work-pool", "create", WORK_POOL, "--type", "process", "--overwrite", env=env)
    _prefect("--no-prompt", "deploy", "--all", "--prefect-file", "deploy/prefect.yaml", env=env)

    with get_client(sync_client=True) as client:
        for spec in deployment_specs():
            deployment = client.read_deployment_by_name(spec.full_name)
            assert deployment.entrypoint == spec.entrypoint
            assert deployment.parameters == spec.parameters
            assert deployment.work_pool_name == WORK_POOL
            [schedule] = deployment.schedules
            assert (schedule.schedule.cron, schedule.schedule.timezone) == (spec.cron, "UTC")
            assert schedule.active
            assert deployment.pull_steps == [
                {
                    "prefect.deployments.steps.set_working_directory": {
                        "directory": "{{ $" + CODE_DIR_VARIABLE + " }}"
                    }
                }
            ]
