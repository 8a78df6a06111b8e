"""Accept a raw snapshot: validate it with its suite, tidy it, keep the tidy table.

The outcome depends only on the snapshot's bytes, the reader, the suite and this code,
so the Prefect task is cached on exactly that: the snapshot's sha256, the reader's name,
the suite's content and the data directory, plus Prefect's ``TASK_SOURCE`` policy. The
cached result is a small JSON document (the Parquet path, row count, warnings), never a
pickle: anyone who can write result storage could otherwise run code.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import TASK_SOURCE, CacheKeyFnPolicy
from prefect.logging import get_run_logger

from core.settings import Settings, get_settings
from core.storage import atomic_path, tidy_parquet
from expectations import suite_definition
from tasks.snapshots import Snapshot, quarantine_snapshot, record_accepted
from tasks.sources.catalog import dataset
from tasks.sources.formats import resolve_format
from tasks.validate import ValidationFailed, current_run_name, validate_frame


def accepted_snapshot(snapshot: Snapshot, settings: Settings) -> dict[str, Any]:
    """Validate ``snapshot`` (raise :class:`ValidationFailed` on a critical failure), tidy
    it and keep the result as ``tidy/<dataset>/<sha256>.parquet``.

    Returns ``{"dataset_id", "sha256", "tidy_path", "rows", "evaluated",
    "highest_severity", "warnings"}``."""
    source = dataset(snapshot.dataset_id)
    reader = resolve_format(source.reader)
    raw = reader.parse(snapshot.path)
    label = f"{source.id} (snapshot {snapshot.path.name} of {snapshot.sidecar['source']})"
    report = validate_frame(
        raw, source.suite, label, store=settings.data_dir, run_name=current_run_name()
    )
    if report.is_critical:
        kept = quarantine_snapshot(snapshot, report.message(), asdict(report), settings)
        raise ValidationFailed(f"{report.message()}\n  (snapshot kept in quarantine: {kept})")
    destination = tidy_parquet(settings, source.id, snapshot.sha256)
    table = reader.tidy(raw)
    with atomic_path(destination) as tmp:
        table.write_parquet(tmp)
    record_accepted(snapshot, settings, tidy_path=str(destination), rows=table.height)
    return {
        "dataset_id": source.id,
        "sha256": snapshot.sha256,
        "tidy_path": str(destination),
        "rows": table.height,
        "evaluated": report.evaluated,
        "highest_severity": report.highest_severity,
        "warnings": [failure.describe() for failure in report.failures],
    }


def _acceptance_key(context: Any, parameters: dict[str, Any]) -> str:
    snapshot: Snapshot = parameters["snapshot"]
    source = dataset(snapshot.dataset_id)
    suite = json.dumps(suite_definition(source.suite), sort_keys=True)
    identity = "|".join(
        (source.id, snapshot.sha256, source.reader, suite, str(get_settings().data_dir))
    )
    return hashlib.sha256(identity.encode()).hexdigest()


@task(
    name="accept-snapshot",
    task_run_name="accept-{snapshot.dataset_id}",
    cache_policy=TASK_SOURCE + CacheKeyFnPolicy(cache_key_fn=_acceptance_key),
    persist_result=True,
    result_serializer="json",
)
def accept_snapshot(snapshot: Snapshot) -> dict[str, Any]:
    """Validated, tidied snapshot (cached on its checksum, reader and suite)."""
    accepted = accepted_snapshot(snapshot, get_settings())
    if not Path(accepted["tidy_path"]).exists():  # pragma: no cover - defensive
        raise FileNotFoundError(accepted["tidy_path"])
    for warning in accepted["warnings"]:
        get_run_logger().warning("%s: %s", snapshot.dataset_id, warning)
    return accepted
