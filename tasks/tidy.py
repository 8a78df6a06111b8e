"""Accept a raw snapshot: validate it with its suite, tidy it, keep the tidy table.

The outcome depends only on the snapshot's bytes, the reader, the suite and the code, so
the Prefect task is cached on exactly that: the snapshot's sha256, the reader's name, the
suite's content, the data directory and a fingerprint of the code involved. There is no
cache key (the task runs) while the tidy table a cached result would point at is missing. The
cached result is a small JSON document (the Parquet path, row count, warnings), never a
pickle: anyone who can write result storage could otherwise run code.

Warnings (failed warning expectations, unknown places, year-on-year jumps, drift) are kept
whole in ``tidy/<dataset>/<sha256>.warnings.json`` beside the tidy table; the log gets one
line per kind of warning, with a count and that file's path.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import polars as pl
from prefect import task
from prefect.cache_policies import CacheKeyFnPolicy
from prefect.logging import get_run_logger

from talentflow.core import countries
from talentflow.core.settings import Settings, get_settings
from talentflow.core.storage import (
    atomic_path,
    atomic_write_bytes,
    snapshots_dir,
    tidy_parquet,
    tidy_warnings_json,
)
from talentflow.expectations import suite_definition
from talentflow.tasks import drift
from talentflow.tasks.drift import DriftReport, snapshot_drift, year_on_year_jumps
from talentflow.tasks.snapshots import (
    Snapshot,
    accepted_history,
    quarantine_snapshot,
    record_accepted,
)
from talentflow.tasks.sources import formats
from talentflow.tasks.sources.catalog import dataset
from talentflow.tasks.sources.formats import resolve_format
from talentflow.tasks.validate import (
    Finding,
    ValidationFailed,
    critical_findings,
    current_run_name,
    data_docs_index,
    emit_critical_event,
    validate_frame,
    warning_log_lines,
)


def accepted_snapshot(snapshot: Snapshot, settings: Settings) -> dict[str, Any]:
    """Validate ``snapshot`` (raise :class:`ValidationFailed` on a critical failure), tidy
    it and keep the result as ``tidy/<dataset>/<sha256>.parquet``.

    Returns ``{"dataset_id", "sha256", "tidy_path", "rows", "evaluated",
    "highest_severity", "warnings", "findings", "warnings_file", "drift"}``: ``warnings``
    are the findings' details, ``findings`` the same as :class:`Finding` fields, and
    ``warnings_file`` (None without warnings) the JSON file that keeps them whole."""
    source = dataset(snapshot.dataset_id)
    reader = resolve_format(source.reader)
    raw = reader.parse(snapshot.path)
    label = f"{source.id} (snapshot {snapshot.path.name} of {snapshot.sidecar['source']})"
    report = validate_frame(
        raw, source.suite, label, store=settings.data_dir, run_name=current_run_name()
    )
    if report.is_critical:
        kept = quarantine_snapshot(snapshot, report.message(), asdict(report), settings)
        emit_critical_event(f"talentflow.dataset.{source.id}", report, quarantined=str(kept))
        raise ValidationFailed(f"{report.message()}\n  (snapshot kept in quarantine: {kept})")
    table = reader.tidy(raw)
    findings = [failure.finding() for failure in report.failures]
    findings += unknown_place_findings(table)
    jumps, largest = year_on_year_jumps(table)
    if jumps:
        findings.append(
            Finding(
                "year-on-year jump",
                f"[warning] {jumps} value(s) doubled or halved in a year; largest: {largest}",
                jumps,
                "values",
            )
        )
    drift = previous_drift(snapshot, table, settings)
    if drift is not None:
        found = drift.findings()
        critical = [f.message for f in found if f.severity == "critical"]
        if critical:
            fault = f"{label}: critical drift against the previous good snapshot: " + "; ".join(
                critical
            )
            kept = quarantine_snapshot(snapshot, fault, {"drift": drift.summary()}, settings)
            emit_critical_event(
                f"talentflow.dataset.{source.id}",
                critical_findings("drift", label, critical),
                quarantined=str(kept),
            )
            raise ValidationFailed(f"{fault}\n  (snapshot kept in quarantine: {kept})")
        findings += [
            Finding(f"drift: {f.kind}", f"[{f.severity}] drift: {f.message}", f.count, f.unit)
            for f in found
        ]
    warnings_file = None
    if findings:
        warnings_file = tidy_warnings_json(settings, source.id, snapshot.sha256)
        kept_whole = {
            "dataset_id": source.id,
            "sha256": snapshot.sha256,
            "snapshot": label,
            "suite": source.suite,
            "expectations_evaluated": report.evaluated,
            "data_docs": str(data_docs_index(settings.data_dir)),
            "warnings": [asdict(finding) for finding in findings],
            "drift": drift.summary() if drift is not None else None,
        }
        atomic_write_bytes(warnings_file, json.dumps(kept_whole, indent=2, default=str).encode())
    destination = tidy_parquet(settings, source.id, snapshot.sha256)
    with atomic_path(destination) as tmp:
        table.write_parquet(tmp)
    record_accepted(snapshot, settings, tidy_path=str(destination), rows=table.height)
    return {
        "dataset_id": source.id,
        "sha256": snapshot.sha256,
        "tidy_path": str(destination),
        "rows": table.height,
        "evaluated": report.evaluated,
        "highest_severity": report.highest_severity or ("warning" if findings else None),
        "warnings": [finding.detail for finding in findings],
        "findings": [asdict(finding) for finding in findings],
        "warnings_file": str(warnings_file) if warnings_file else None,
        "drift": drift.summary() if drift is not None else None,
    }


def unknown_place_findings(table: pl.DataFrame) -> list[Finding]:
    """A warning per place column with places core.countries could not name."""
    found = []
    for kind in (c for c in table.columns if c.endswith("geo_kind")):
        unknown = table.filter(pl.col(kind) == "unknown")
        if unknown.height:
            found.append(
                Finding(
                    f"unknown place in {kind}",
                    f"[warning] {unknown.height} row(s) with an unknown place ({kind})",
                    unknown.height,
                    "rows",
                )
            )
    return found


def previous_drift(
    snapshot: Snapshot, table: pl.DataFrame, settings: Settings
) -> DriftReport | None:
    """Drift of ``table`` against the dataset's previous accepted snapshot, if any."""
    history = [
        e for e in accepted_history(settings, snapshot.dataset_id) if e["sha256"] != snapshot.sha256
    ]
    if not history:
        return None
    previous = history[-1]
    path = Path(previous.get("tidy_path", ""))
    if path.is_file():
        return snapshot_drift(pl.read_parquet(path), table)
    raw_files = [
        p
        for p in snapshots_dir(settings, snapshot.dataset_id).glob(f"{previous['sha256']}.*")
        if not p.name.endswith(".meta.json")
    ]
    if not raw_files:
        return None  # the previous snapshot was removed by hand: nothing to compare with
    reader = resolve_format(dataset(snapshot.dataset_id).reader)
    return snapshot_drift(reader.tidy(reader.parse(raw_files[0])), table)


def _acceptance_key(context: Any, parameters: dict[str, Any]) -> str:
    """The cache key: the snapshot, its reader, suite and code, and the data directory.
    (Always a key: a None key would keep the first run's result under a key nobody looks
    up, so the first rerun missed. A cache hit must never hand out the path of a deleted
    tidy file: :func:`acceptance` refreshes the entry when the file is gone.)"""
    snapshot: Snapshot = parameters["snapshot"]
    source = dataset(snapshot.dataset_id)
    suite = json.dumps(suite_definition(source.suite), sort_keys=True)
    identity = "|".join(
        (
            source.id,
            snapshot.sha256,
            source.reader,
            suite,
            str(get_settings().data_dir),
            _code_fingerprint(source.reader),
        )
    )
    return hashlib.sha256(identity.encode()).hexdigest()


@functools.cache
def _code_fingerprint(reader: str) -> str:
    """The code an accepted table depends on: this module, the reader's module, the shared
    format helpers, the drift rules and the country rules (code and alias table). Prefect's
    TASK_SOURCE policy only sees the task function, and combining it with this key would
    drop this key whenever it is None, sharing one cache entry across datasets."""
    module = importlib.import_module(f"talentflow.tasks.sources.{reader.partition('.')[0]}")
    files = [
        Path(__file__),
        Path(module.__file__),
        Path(formats.__file__),
        Path(drift.__file__),
        Path(countries.__file__),
        countries.ALIASES_FILE,
    ]
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.read_bytes())
    return digest.hexdigest()


@task(
    name="accept-snapshot",
    task_run_name="accept-{snapshot.dataset_id}",
    cache_policy=CacheKeyFnPolicy(cache_key_fn=_acceptance_key),
    persist_result=True,
    result_serializer="json",
)
def accept_snapshot(snapshot: Snapshot) -> dict[str, Any]:
    """Validated, tidied snapshot (cached on its checksum, reader and suite)."""
    accepted = accepted_snapshot(snapshot, get_settings())
    if not Path(accepted["tidy_path"]).exists():  # pragma: no cover - defensive
        raise FileNotFoundError(accepted["tidy_path"])
    findings = [Finding(**finding) for finding in accepted["findings"]]
    for line in warning_log_lines(snapshot.dataset_id, findings, accepted["warnings_file"]):
        get_run_logger().warning(line)
    return accepted


def acceptance(snapshot: Snapshot):
    """The ``accept-snapshot`` task for ``snapshot``: from the cache when its tidy table
    is still there, recomputed (and the cache entry overwritten) when it is gone."""
    missing = not tidy_parquet(get_settings(), snapshot.dataset_id, snapshot.sha256).exists()
    return accept_snapshot.with_options(refresh_cache=True) if missing else accept_snapshot
