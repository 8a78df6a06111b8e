"""Validate a table with its Great Expectations suite, and decide what a failure means.

GX never raises on a failed expectation; it reports. This module reads the report: a
failed *critical* expectation stops everything downstream (:class:`ValidationFailed`),
a failed *warning* is logged and the run goes on. GX is imported lazily (it costs
seconds), and a Polars frame becomes pandas only here, at GX's boundary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from expectations import suite_definition

SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}
EXAMPLES_PER_FAILURE = 5


class ValidationFailed(RuntimeError):
    """A critical expectation failed: nothing downstream of this table may run."""


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
        detail = (
            f"{self.unexpected_count} unexpected, e.g. {self.examples}"
            if self.unexpected_count
            else f"observed {self.observed!r}"
        )
        return f"[{self.severity}] {self.expectation}{where}: {detail}"


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
        lines += [f"  - {failure.describe()}" for failure in self.failures]
        return "\n".join(lines)


def validate_frame(frame: pl.DataFrame, suite_name: str, label: str) -> ValidationReport:
    """Run the suite ``expectations/<suite_name>.json`` on ``frame``."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    for name in ("great_expectations", "great_expectations.data_context.types.base"):
        logging.getLogger(name).setLevel(logging.WARNING)  # GX sets INFO on the latter
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    definition = suite_definition(suite_name)
    suite = gx.ExpectationSuite(name=definition["name"], expectations=definition["expectations"])
    batch = (
        context.data_sources.add_pandas("talentflow")
        .add_dataframe_asset(suite_name)
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": frame.to_pandas()})
    )
    result = batch.validate(suite, result_format="SUMMARY")
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
    report = validate_frame(frame, suite_name, label)
    logger = get_run_logger()
    if report.is_critical:
        raise ValidationFailed(report.message())
    if report.failures:
        logger.warning(report.message())
    else:
        logger.info("%s: %d expectations of %r passed", label, report.evaluated, suite_name)
    return report
