"""deploy/automations.yaml: read by Prefect's own automation models as written (a typo
fails here, not silently on a server), and accepted by a real
``prefect automation create --from-file`` against a temporary Prefect server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
import yaml

from talentflow.tasks.validate import CRITICAL_EVENT

REPO = Path(__file__).resolve().parents[2]
AUTOMATIONS = REPO / "deploy" / "automations.yaml"
PLACEHOLDER = "${TALENTFLOW_NOTIFICATION_BLOCK_ID}"


def automations_with_block(block_id: UUID) -> list[dict[str, Any]]:
    """The automations as an operator submits them: the placeholder replaced (envsubst)."""
    text = AUTOMATIONS.read_text()
    assert PLACEHOLDER in text
    return yaml.safe_load(text.replace(PLACEHOLDER, str(block_id)))["automations"]


def test_prefect_reads_every_automation_as_written():
    """Prefect's client model ignores unknown keys and keeps an unknown action type as
    ``UnknownAction``; neither may happen here."""
    from prefect.events.actions import UnknownAction
    from prefect.events.schemas.automations import AutomationCore

    written = automations_with_block(uuid4())
    assert [a["name"] for a in written] == [
        "talentflow-pipeline-run-failed",
        "talentflow-validation-critical",
    ]
    for raw in written:
        automation = AutomationCore.model_validate(raw)
        assert set(raw) <= set(AutomationCore.model_fields), raw["name"]
        assert set(raw["trigger"]) <= set(type(automation.trigger).model_fields), raw["name"]
        for raw_action, action in zip(raw["actions"], automation.actions, strict=True):
            assert not isinstance(action, UnknownAction), raw_action["type"]
            assert set(raw_action) <= set(type(action).model_fields), raw_action["type"]


def test_the_server_accepts_them_and_their_templates():
    """The server's own schema (unknown fields forbidden, Jinja templates compiled)."""
    from prefect.events.schemas.automations import AutomationCore
    from prefect.server.events.schemas.automations import AutomationCreate

    for raw in automations_with_block(uuid4()):
        sent = AutomationCore.model_validate(raw).model_dump(mode="json")
        AutomationCreate.model_validate(sent)


def test_they_notify_on_a_failed_pipeline_run_and_on_a_critical_validation():
    from prefect.events.schemas.automations import AutomationCore

    failed, critical = (AutomationCore.model_validate(a) for a in automations_with_block(uuid4()))
    assert "prefect.flow-run.Failed" in failed.trigger.expect
    assert failed.trigger.match_related.model_dump() == {
        "prefect.resource.role": "flow",
        "prefect.resource.name": "pipeline",
    }
    assert critical.trigger.expect == {CRITICAL_EVENT}
    assert set(critical.trigger.match["prefect.resource.id"]) == {
        "talentflow.dataset.*",
        "talentflow.table.*",
    }
    for automation in (failed, critical):
        assert [action.type for action in automation.actions] == ["send-notification"]


def test_prefect_automation_create_from_file_creates_both(prefect_harness, tmp_path):
    """The README's steps, for real: a notification block, the file with its id, the CLI."""
    from prefect import get_client
    from prefect.blocks.notifications import SlackWebhook
    from prefect.settings import PREFECT_API_URL

    block_id = SlackWebhook(url="https://hooks.slack.invalid/services/T/B/X").save(
        f"talentflow-test-{uuid4().hex[:8]}"
    )
    submitted = tmp_path / "automations.yaml"
    submitted.write_text(AUTOMATIONS.read_text().replace(PLACEHOLDER, str(block_id)))
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_CLI_PROMPT": "false",
    }
    command = [sys.executable, "-m", "prefect", "automation", "create", "--from-file"]
    done = subprocess.run(
        [*command, str(submitted)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"

    with get_client(sync_client=True) as client:
        created = {a.name: a for a in client.read_automations()}
    for name in ("talentflow-pipeline-run-failed", "talentflow-validation-critical"):
        assert name in created, done.stdout
        [action] = created[name].actions
        assert action.block_document_id == block_id


@pytest.mark.parametrize(("field", "typo"), [("expect", "expects"), ("match", "matches")])
def test_a_typo_in_a_trigger_fails_the_check(field, typo):
    """The check above really catches what Prefect would drop silently."""
    from prefect.events.schemas.automations import AutomationCore

    raw = automations_with_block(uuid4())[1]
    raw["trigger"][typo] = raw["trigger"].pop(field)
    automation = AutomationCore.model_validate(raw)  # Prefect itself says nothing
    assert not set(raw["trigger"]) <= set(type(automation.trigger).model_fields)
