"""A critical validation failure is told to Prefect as a ``talentflow.validation.critical``
event (what deploy/automations.yaml notifies on), before the run fails.

Events are captured with Prefect's own test client (``AssertingEventsClient``), the way
Prefect's test suite does it: the events worker is swapped for one that records.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from uuid import UUID

import polars as pl
import pytest
from prefect import flow
from prefect.events import Event

from talentflow.tasks.validate import (
    CRITICAL_EVENT,
    FailedExpectation,
    ValidationFailed,
    ValidationReport,
    emit_critical_event,
    validate_table,
)

RESEARCHERS = "wdi_sp_pop_scie_rd_p6"
RESEARCHERS_FILE = "wdi/API_SP.POP.SCIE.RD.P6_DS2_en_csv_v2_37695.csv"


@pytest.fixture
def emitted(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], list[Event]]]:
    """Record every event this test emits; call the fixture to drain and read them."""
    from prefect.events.clients import AssertingEventsClient
    from prefect.events.worker import EventsWorker

    worker = EventsWorker.instance(AssertingEventsClient)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)

    def drain() -> list[Event]:
        worker.drain()
        client = getattr(worker, "_client", None)
        return [e for e in (client.events if client else []) if e.event == CRITICAL_EVENT]

    yield drain
    worker.drain()


def synthetic_report() -> ValidationReport:
    return ValidationReport(
        "world_bank_indicator",
        "wdi (synthetic copy)",
        7,
        [
            FailedExpectation(
                "expect_column_values_to_be_between",
                "critical",
                {"column": "value", "min_value": 0},
                1,
                [-1600.3],
            )
        ],
    )


def test_the_event_names_the_resource_the_suite_and_the_failures(emitted):
    emit_critical_event(
        f"talentflow.dataset.{RESEARCHERS}", synthetic_report(), quarantined="/q/x.csv"
    )
    [event] = emitted()
    assert event.resource.id == f"talentflow.dataset.{RESEARCHERS}"
    assert event.resource["prefect.resource.name"] == RESEARCHERS
    assert event.resource["talentflow.suite"] == "world_bank_indicator"
    payload = event.payload
    assert payload["suite"] == "world_bank_indicator" and payload["evaluated"] == 7
    assert payload["highest_severity"] == "critical" and payload["quarantined"] == "/q/x.csv"
    [failure] = payload["failed_expectations"]
    assert failure["expectation"] == "expect_column_values_to_be_between"
    assert failure["column"] == "value" and "-1600.3" in failure["detail"]
    json.dumps(payload)  # what the automation's template reads must survive the wire


def test_an_event_that_cannot_be_sent_never_fails_the_run(monkeypatch):
    def broken(**_: object) -> None:
        raise RuntimeError("events are down")

    monkeypatch.setattr("talentflow.tasks.validate.emit_event", broken)
    assert emit_critical_event("talentflow.table.forecasts", synthetic_report()) is None


def test_a_table_failing_a_critical_expectation_emits_the_event_then_raises(
    prefect_harness, emitted, monkeypatch, tmp_path
):
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    renamed = pl.DataFrame({"Country ISO": ["CHN"], "year": [2020], "value": [1.0]})

    @flow(name="synthetic-validation")
    def validate_a_broken_table() -> None:
        validate_table(renamed, "world_bank_indicator", "table world_bank_indicator")

    with pytest.raises(ValidationFailed):
        validate_a_broken_table()
    [event] = emitted()
    assert event.resource.id == "talentflow.table.world_bank_indicator"
    expectations = [f["expectation"] for f in event.payload["failed_expectations"]]
    assert "expect_table_columns_to_match_ordered_list" in expectations
    run_id = UUID(event.payload["run_id"])  # the flow run that failed, also related to it
    assert f"prefect.flow-run.{run_id}" in {related.id for related in event.related}
    assert event.payload["run_name"] == f"synthetic-validation-{run_id}"


def test_a_snapshot_failing_a_critical_expectation_emits_a_dataset_event(
    prefect_harness, emitted, settings_env, mirror
):
    from talentflow.tasks.snapshots import store_snapshot
    from talentflow.tasks.sources.catalog import dataset
    from talentflow.tasks.sources.fetch import Download
    from talentflow.tasks.tidy import accepted_snapshot

    lines = (mirror / RESEARCHERS_FILE).read_bytes().splitlines(keepends=True)
    [china] = [line for line in lines if line.startswith(b'"China","CHN"')]
    duplicated = b"".join(lines) + china  # the same country twice: a duplicate key
    download = Download(RESEARCHERS, duplicated, "synthetic duplicate row", "API_x.csv")
    snapshot = store_snapshot(dataset(RESEARCHERS), download, settings_env)

    with pytest.raises(ValidationFailed, match="quarantine"):
        accepted_snapshot(snapshot, settings_env)
    [event] = emitted()
    assert event.resource.id == f"talentflow.dataset.{RESEARCHERS}"
    assert [f["expectation"] for f in event.payload["failed_expectations"]] == [
        "expect_compound_columns_to_be_unique"
    ]
    assert event.payload["quarantined"].startswith(str(settings_env.data_dir / "quarantine"))
