"""Validate a table with its Great Expectations suite, and decide what a failure means.

GX never raises on a failed expectation; it reports. This module reads the report: a
failed *critical* expectation stops everything downstream (:class:`ValidationFailed`),
a failed *warning* is logged and the run goes on. GX is imported lazily (it costs
seconds), and a Polars frame becomes pandas only here, at GX's boundary.

A failed warning is logged as one line per kind of failure (the expectation, how many
failed, how many values they concern) and where the whole result is (Data Docs), never as
the result itself: :class:`Finding` and :func:`warning_log_lines`, shared with the
acceptance of snapshots (``tasks/tidy.py``).

A critical failure is also told to Prefect's event system as a custom event
(:data:`CRITICAL_EVENT`, on the resource ``talentflow.table.<table>`` or
``talentflow.dataset.<dataset>``) before :class:`ValidationFailed` is raised, so that an
automation (``deploy/automations.yaml``) can notify someone. Emitting never fails a run.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.events import Event, emit_event
from prefect.logging import get_run_logger

from talentflow.core.settings import get_settings
from talentflow.expectations import suite_definition

SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}
_GX_LOCK = threading.Lock()
EXAMPLES_PER_FAILURE = 5
#: The custom Prefect event a critical validation failure emits.
CRITICAL_EVENT = "talentflow.validation.critical"
#: Failures and characters per failure kept in an event (Prefect caps an event's size).
EVENT_FAILURES, EVENT_DETAIL_CHARS = 20, 500


class ValidationFailed(RuntimeError):
    """A critical expectation failed: nothing downstream of this table may run."""


@dataclass(frozen=True)
class Finding:
    """A problem that let the run go on (a failed warning expectation, places the country
    rules could not name, drift against the previous release).

    Attributes
    ----------
    kind: the sort of problem, the same for every finding of that sort (an expectation
        type, ``unknown place``, ``drift: countries lost``): the log counts per kind.
    detail: the whole description, for the full list.
    count: how many rows, values or countries it concerns, when that is known.
    unit: what ``count`` counts (``unexpected values``, ``rows``, ``countries``).
    """

    kind: str
    detail: str
    count: int | None = None
    unit: str = ""


def findings_by_kind(findings: Sequence[Finding]) -> list[str]:
    """One phrase per kind, in order of first appearance: ``"2 × expect_… (unexpected
    values: 14)"``."""
    kinds: dict[str, list[Finding]] = {}
    for finding in findings:
        kinds.setdefault(finding.kind, []).append(finding)
    phrases = []
    for kind, group in kinds.items():
        counted = [f.count for f in group if f.count is not None]
        unit = group[0].unit
        amount = f" ({unit}: {sum(counted):,})" if counted and unit else ""
        phrases.append(f"{len(group)} × {kind}{amount}")
    return phrases


def warning_log_lines(label: str, findings: Sequence[Finding], full_list: str) -> list[str]:
    """The log lines of ``label``'s warnings: one per kind, each saying where the whole
    list is (``full_list``: a file, Data Docs), instead of every finding's detail."""
    return [
        f"{label}: warning {phrase}; full list: {full_list}"
        for phrase in findings_by_kind(findings)
    ]


def data_docs_index(store: Path) -> Path:
    """The index page of the Data Docs that :func:`build_data_docs` renders under ``store``
    (GX's local site in its file context)."""
    return store / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html"


@dataclass(frozen=True)
class FailedExpectation:
    expectation: str
    severity: str
    kwargs: dict[str, Any]
    unexpected_count: int | None
    examples: list[Any]
    observed: Any = None

    def describe(self) -> str:
        column = self.kwargs.get("column") or self.kwargs.get("column_list")
        where = f" on {column}" if column else ""
        if self.unexpected_count:
            detail = f"{self.unexpected_count} unexpected, e.g. {self.examples}"
        elif self.expectation == "expect_table_columns_to_match_ordered_list" and isinstance(
            self.observed, list
        ):
            wanted = list(self.kwargs.get("column_list", []))
            missing = [c for c in wanted if c not in self.observed]
            extra = [c for c in self.observed if c not in wanted]
            if missing or extra:
                detail = f"missing column(s) {missing} (found {extra or 'none instead'})"
                return f"[{self.severity}] {self.expectation}: {detail}; the layout changed"
            detail = f"the columns are out of order: {self.observed}"
        elif self.expectation == "expect_column_distinct_values_to_contain_set":
            # GX reports no observed value when the set is not contained: say what is missing
            wanted = sorted(self.kwargs.get("value_set", []))
            if isinstance(self.observed, list):
                detail = f"missing {[v for v in wanted if v not in set(self.observed)]}"
            else:
                detail = f"not all of {wanted} are present, and every one is required"
        else:
            detail = f"observed {self.observed!r}"
        return f"[{self.severity}] {self.expectation}{where}: {detail}"

    def finding(self) -> Finding:
        """This failure as a :class:`Finding` of its expectation's kind."""
        return Finding(
            self.expectation, self.describe(), self.unexpected_count, "unexpected values"
        )


def _column_missing(failure: FailedExpectation) -> bool:
    """A failure GX reports because its column does not exist (not a finding of its own)."""
    return isinstance(failure.observed, str) and "does not exist" in failure.observed


@dataclass(frozen=True)
class ValidationReport:
    suite: str
    label: str  # what was validated: a snapshot file or a table name
    evaluated: int
    failures: list[FailedExpectation] = field(default_factory=list)

    @property
    def highest_severity(self) -> str | None:
        if not self.failures:
            return None
        return max((f.severity for f in self.failures), key=SEVERITY_ORDER.__getitem__)

    @property
    def is_critical(self) -> bool:
        return self.highest_severity == "critical"

    def message(self) -> str:
        lines = [
            f"{self.label}: suite {self.suite!r} failed {len(self.failures)} of "
            f"{self.evaluated} expectations (highest severity: {self.highest_severity})"
        ]

        # The layout first; then what failed on the data. Expectations that could not run
        # because a column is missing say nothing new: one line counts them.
        def order(failure: FailedExpectation) -> int:
            return 0 if failure.expectation == "expect_table_columns_to_match_ordered_list" else 1

        not_run = [f for f in self.failures if _column_missing(f)]
        lines += [
            f"  - {failure.describe()}"
            for failure in sorted(self.failures, key=order)
            if failure not in not_run
        ]
        if not_run:
            lines.append(
                f"  - {len(not_run)} more expectation(s) could not run on the missing column(s)"
            )
        return "\n".join(lines)

    def failed_expectations(self) -> list[dict[str, Any]]:
        """The failures as small JSON-safe records (for events and summaries)."""
        return [
            {
                "expectation": failure.expectation,
                "severity": failure.severity,
                "column": _plain_text(
                    failure.kwargs.get("column") or failure.kwargs.get("column_list")
                ),
                "unexpected_count": failure.unexpected_count,
                "detail": failure.describe()[:EVENT_DETAIL_CHARS],
            }
            for failure in self.failures[:EVENT_FAILURES]
        ]


def import_great_expectations() -> None:
    """Import GX now rather than at the first validation: the import alone takes 2-3 s on
    the 2-core machine, and `talentflow run` spends those seconds waiting for Prefect's
    temporary server to boot on the other core (bench/README.md)."""
    import great_expectations  # noqa: F401


def validate_frame(
    frame: pl.DataFrame,
    suite_name: str,
    label: str,
    *,
    store: Path | None = None,
    run_name: str | None = None,
) -> ValidationReport:
    """Run the suite ``expectations/<suite_name>.json`` on ``frame``.

    ``store``: a folder for GX's file context (``<store>/gx``), which keeps every result
    for Data Docs; None validates in memory (nothing kept). ``run_name`` groups results of
    one flow run in Data Docs."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    data = frame.to_pandas()
    with _GX_LOCK:  # GX contexts and stores are not thread-safe; tasks run in threads
        context = _context(store)
        definition = suite_definition(suite_name)
        suite = context.suites.add_or_update(
            gx.ExpectationSuite(name=definition["name"], expectations=definition["expectations"])
        )
        source = context.data_sources.add_or_update_pandas("talentflow")
        try:
            asset = source.get_asset(suite_name)
        except LookupError:
            asset = source.add_dataframe_asset(suite_name)
        try:
            batch = asset.get_batch_definition("whole")
        except (KeyError, LookupError, ValueError):
            batch = asset.add_batch_definition_whole_dataframe("whole")
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{suite_name}--{label.split()[0]}")[:120]
        validation = context.validation_definitions.add_or_update(
            gx.ValidationDefinition(name=name, data=batch, suite=suite)
        )
        result = validation.run(
            batch_parameters={"dataframe": data},
            result_format="SUMMARY",
            run_id=RunIdentifier(run_name=run_name or "talentflow"),
        )
    failures = [
        FailedExpectation(
            expectation=r.expectation_config.type,
            severity=str(
                getattr(r.expectation_config.severity, "value", r.expectation_config.severity)
            ),
            kwargs={k: v for k, v in r.expectation_config.kwargs.items() if k != "batch_id"},
            unexpected_count=r.result.get("unexpected_count"),
            examples=_examples(r.result),
            observed=r.result.get("observed_value") or _exception(r),
        )
        for r in result.results
        if not r.success
    ]
    return ValidationReport(suite_name, label, len(result.results), failures)


def _context(store: Path | None) -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)  # GX sets INFO on the latter
    if store is None:
        context = gx.get_context(mode="ephemeral")
    else:
        store.mkdir(parents=True, exist_ok=True)
        context = gx.get_context(mode="file", project_root_dir=str(store))
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def build_data_docs(store: Path) -> Path:
    """Render GX Data Docs (static HTML) for every result kept under ``store``; return
    the index page."""
    with _GX_LOCK:
        context = _context(store)
        context.build_data_docs()
        [site] = context.get_docs_sites_urls()
    return Path(site["site_url"].removeprefix("file://"))


def _examples(result: dict) -> list[Any]:
    examples = result.get("partial_unexpected_list") or []
    return [_plain(e) for e in examples[:EXAMPLES_PER_FAILURE]]


def _exception(validation_result: Any) -> str | None:
    """GX's message when an expectation could not be evaluated (a missing column, say).
    ``exception_info`` is flat for some expectations, keyed by metric for others."""
    info = getattr(validation_result, "exception_info", None) or {}
    candidates = [info, *(v for v in info.values() if isinstance(v, dict))]
    for candidate in candidates:
        if candidate.get("raised_exception"):
            return candidate.get("exception_message")
    return None


def _plain(value: Any) -> Any:
    """Numpy scalars and dicts of them, as plain Python for messages and JSON."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value.item() if hasattr(value, "item") else value


@task(name="validate", task_run_name="validate-{suite_name}", cache_policy=NO_CACHE)
def validate_table(frame: pl.DataFrame, suite_name: str, label: str) -> ValidationReport:
    """Validate ``frame``; raise :class:`ValidationFailed` on a critical failure, log the
    rest."""
    store = get_settings().data_dir
    report = validate_frame(frame, suite_name, label, store=store, run_name=current_run_name())
    logger = get_run_logger()
    if report.is_critical:
        emit_critical_event(f"talentflow.table.{suite_name}", report)
        raise ValidationFailed(report.message())
    if report.failures:
        findings = [failure.finding() for failure in report.failures]
        where = f"suite {suite_name!r} in Data Docs, {data_docs_index(store)}"
        for line in warning_log_lines(label, findings, where):
            logger.warning(line)
    else:
        logger.info("%s: %d expectations of %r passed", label, report.evaluated, suite_name)
    return report


def current_run_name() -> str:
    """The GX run name of the current Prefect flow run (groups results in Data Docs)."""
    from prefect import runtime

    return f"{runtime.flow_run.flow_name or 'talentflow'}-{runtime.flow_run.id or 'local'}"


def critical_findings(check: str, label: str, messages: list[str]) -> ValidationReport:
    """A report of critical findings that are not GX expectations (``check`` names the
    rule set, say ``drift``), so they are told like a failed suite."""
    failures = [FailedExpectation(check, "critical", {}, None, [], message) for message in messages]
    return ValidationReport(check, label, len(messages), failures)


def emit_critical_event(resource_id: str, report: ValidationReport, **details: str) -> Event | None:
    """Emit :data:`CRITICAL_EVENT` for a critical ``report`` about ``resource_id``
    (``talentflow.table.<table>`` or ``talentflow.dataset.<dataset>``).

    The payload names the suite, what was validated, the failed expectations and the flow
    run; ``details`` (say, where the snapshot was quarantined) are added to it. Prefect
    attaches the flow run, task run, flow and deployment as related resources. Returns
    the event, or None where no Prefect API receives events. Never raises: a run that
    failed validation must fail with :class:`ValidationFailed`, not with an event error.
    """
    from prefect import runtime

    try:
        return emit_event(
            event=CRITICAL_EVENT,
            resource={
                "prefect.resource.id": resource_id,
                "prefect.resource.name": resource_id.rsplit(".", 1)[-1],
                "talentflow.suite": report.suite,
            },
            payload={
                "suite": report.suite,
                "label": report.label[:EVENT_DETAIL_CHARS],
                "evaluated": report.evaluated,
                "failed": len(report.failures),
                "highest_severity": report.highest_severity,
                "failed_expectations": report.failed_expectations(),
                "run_id": str(runtime.flow_run.id) if runtime.flow_run.id else None,
                "run_name": current_run_name(),
                **details,
            },
        )
    except Exception:  # the event is a courtesy; the ValidationFailed that follows is not
        logging.getLogger(__name__).exception(
            "could not emit %s for %s", CRITICAL_EVENT, resource_id
        )
        return None


def _plain_text(value: Any) -> str | None:
    """A column name or list of names as one string (event labels and payloads)."""
    if value is None:
        return None
    return ", ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
