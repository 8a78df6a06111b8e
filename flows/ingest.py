"""The ``ingest`` flow: pull every catalog dataset into a snapshot, validate and tidy it.

One task per dataset (never per row). Each dataset either lands completely (a new or
unchanged snapshot, a validated tidy table) or changes nothing; one dataset's failure
does not stop the others, and the flow ends Failed naming every failed dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlparse

from prefect import flow, get_client, runtime
from prefect.futures import as_completed
from prefect.logging import get_run_logger

from talentflow.core.settings import get_settings
from talentflow.core.storage import holding_writer_lock
from talentflow.flows import stopping
from talentflow.flows.progress import FlowProgress
from talentflow.tasks.report import publish_data_docs, publish_validation_summary
from talentflow.tasks.snapshots import pull_snapshot
from talentflow.tasks.sources.catalog import CATALOG, RATE_LIMITS, dataset
from talentflow.tasks.tidy import acceptance
from talentflow.tasks.validate import Finding, data_docs_index, findings_by_kind


class IngestFailed(RuntimeError):
    """At least one dataset could not be pulled, validated or tidied."""


@dataclass(frozen=True)
class Ingested:
    dataset_id: str
    rows: int
    sha256: str
    is_new: bool
    tidy_rows: int
    tidy_path: str
    warnings: list[str]


def ensure_rate_limits(dataset_ids: list[str]) -> None:
    """Create (or update) the Prefect global concurrency limits, with slot decay, that
    pace requests to each rate-limited host the datasets use."""
    ensure_rate_limits_for_hosts(
        [urlparse(dataset(d).url).hostname for d in dataset_ids if dataset(d).url]
    )


def ensure_rate_limits_for_hosts(hosts_named: list[str | None]) -> None:
    """Create (or update) the Prefect rate limits of these hosts (those in RATE_LIMITS)."""
    hosts = set(hosts_named)
    with get_client(sync_client=True) as client:
        for host in sorted(hosts & set(RATE_LIMITS)):
            limit = RATE_LIMITS[host]
            client.upsert_global_concurrency_limit_by_name(
                limit.name, limit=limit.burst, slot_decay_per_second=limit.per_second
            )


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _summary_row(dataset_id: str, status: str, outcome: dict) -> dict:
    """One row of the validation summary artifact. ``problems``: for a failed dataset its
    cause, whole; for an accepted one, how many warnings of each kind, with ``full_list``
    the file that keeps them whole."""
    accepted = status == "accepted"
    findings = [Finding(**finding) for finding in outcome.get("findings", [])]
    return {
        "dataset": dataset_id,
        "status": status,
        "rows": outcome.get("rows"),
        "expectations": outcome.get("evaluated"),
        "failed": len(outcome.get("warnings", [])) if accepted else None,
        "highest_severity": outcome.get("highest_severity") or (None if accepted else "critical"),
        "problems": "; ".join(findings_by_kind(findings)) if accepted else outcome["problem"],
        "full_list": outcome.get("warnings_file"),
    }


def ingest_run_name(datasets: list[str] | None) -> str:
    """The name of an ``ingest`` run: ``ingest-<dataset>`` for one dataset,
    ``ingest-<n>-datasets`` otherwise (``None`` is the whole catalog)."""
    dataset_ids = list(datasets or CATALOG)
    if len(dataset_ids) == 1:
        return f"ingest-{dataset_ids[0]}"
    return f"ingest-{len(dataset_ids)}-datasets"


@flow(
    name="ingest",
    flow_run_name=lambda: ingest_run_name(runtime.flow_run.parameters.get("datasets")),
    # No result is kept (nothing reads one back), and the exception Prefect writes to result
    # storage when a run fails anyway is JSON, not a pickle (see docs/architecture.md).
    persist_result=False,
    result_serializer="json",
)
@holding_writer_lock("ingest")
def ingest(datasets: list[str] | None = None) -> list[Ingested]:
    """Pull ``datasets`` (default: the whole catalog), keep snapshots, validate, tidy."""
    stopping.stop_promptly_on_signals()  # a cancel from the UI or a worker: SIGTERM
    dataset_ids = list(datasets or CATALOG)
    for dataset_id in dataset_ids:
        dataset(dataset_id)  # unknown ids fail before anything is pulled
    ensure_rate_limits(dataset_ids)
    progress = FlowProgress(len(dataset_ids), "ingest")
    pulls = {pull_snapshot.submit(d): d for d in dataset_ids}
    accepted, snapshots, failures = {}, {}, {}
    for future in as_completed(list(pulls)):
        dataset_id = pulls[future]
        try:
            snapshots[dataset_id] = future.result()
        except Exception as error:  # one dataset's fault must not stop the others
            failures[dataset_id] = _describe(error)
            progress.step(f"{dataset_id} failed")
            continue
        snapshot = snapshots[dataset_id]
        accepted[acceptance(snapshot).submit(snapshot)] = dataset_id
    results, summary, validated = [], [], bool(failures)
    for future in as_completed(list(accepted)):
        dataset_id = accepted[future]
        progress.step(dataset_id)
        try:
            outcome = future.result()
        except Exception as error:
            failures[dataset_id] = _describe(error)
            validated = True
            continue
        validated |= future.state.name != "Cached"
        snapshot = snapshots[dataset_id]
        summary.append(_summary_row(dataset_id, "accepted", outcome))
        results.append(
            Ingested(
                dataset_id=dataset_id,
                rows=snapshot.sidecar["rows"],
                sha256=snapshot.sha256,
                is_new=snapshot.is_new,
                tidy_rows=outcome["rows"],
                tidy_path=outcome["tidy_path"],
                warnings=outcome["warnings"],
            )
        )
    summary += [_summary_row(d, "failed", {"problem": m}) for d, m in failures.items()]
    publish_validation_summary(sorted(summary, key=lambda row: row["dataset"]), "ingest")
    # Data Docs change only when a snapshot was validated: every acceptance from the
    # cache (unchanged sources) leaves the site, and its link in the UI, as they are.
    if validated or not data_docs_index(get_settings().data_dir).is_file():
        publish_data_docs()
    if failures:
        for dataset_id, message in failures.items():
            get_run_logger().error("%s failed: %s", dataset_id, message)
        landed = "; the others landed" if len(failures) < len(dataset_ids) else ""
        raise IngestFailed(
            f"{len(failures)} of {len(dataset_ids)} datasets failed{landed}:\n"
            + "\n".join(f"- {d}: {m}" for d, m in sorted(failures.items()))
        )
    return sorted(results, key=lambda r: r.dataset_id)
