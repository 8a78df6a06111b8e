"""Expected failures, reported where people look: once on the console (flows/cli.py) and
as a short artifact on the failed run in the Prefect UI.

An expected failure is one a run meets in the normal course of things: a source fails its
suite, a download fails, the data directory is busy. Its message already says what and
where; a traceback adds nothing for the person reading it (``--debug`` shows it).
"""

from __future__ import annotations

import functools
import logging

#: Exception class names of the failures a run is expected to meet.
EXPECTED_FAILURES = (
    "IngestFailed",
    "ValidationFailed",
    "FetchError",
    "ReaderError",
    "DataDirectoryBusy",
)
FAILURE_KEY = "run-failure"


def is_expected(error: BaseException) -> bool:
    return type(error).__name__ in EXPECTED_FAILURES


def failure_markdown(error: BaseException, flow: str) -> str:
    """The artifact: the first line of the cause (the dataset and what failed), then the
    whole message, then where to look."""
    message = str(error).strip()
    causes = [line.strip("- ").strip() for line in message.splitlines()[1:] if line.strip()]
    headline = causes[0] if causes else message.splitlines()[0]
    return "\n".join(
        [
            f"## {flow} failed: nothing was published",
            "",
            f"**{headline[:300]}**",
            "",
            "```",
            message,
            "```",
            "",
            "Where to look: the quarantine reason file named above, the `validation-summary`"
            " artifact of the ingest run, and Data Docs (`data-docs` artifact).",
        ]
    )


def reports_failure(flow: str):
    """Decorate a flow function: an expected failure leaves a ``run-failure`` markdown
    artifact on the run before it is raised again."""

    def decorate(function):
        @functools.wraps(function)
        def reporting(*args, **kwargs):
            try:
                return function(*args, **kwargs)
            except Exception as error:
                if is_expected(error):
                    from prefect.artifacts import create_markdown_artifact

                    try:
                        create_markdown_artifact(
                            key=FAILURE_KEY,
                            markdown=failure_markdown(error, flow),
                            description=f"{flow}: why the run failed",
                        )
                    except Exception as reporting_error:  # the failure itself matters more
                        logging.getLogger(__name__).warning(
                            "could not write the failure artifact: %s", reporting_error
                        )
                raise

        return reporting

    return decorate


class QuietExpectedFailures(logging.Filter):
    """A console-log filter: drops Prefect's error lines and tracebacks about an expected
    failure (the task's, the subflow's and the flow's: the same message five times), which
    the command prints once. The Prefect API still gets every log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.levelno < logging.ERROR and not text.startswith("Finished in state Failed"):
            return True
        error = record.exc_info[1] if record.exc_info else None
        named = type(error).__name__ if error is not None else ""
        return not (named in EXPECTED_FAILURES or any(n in text for n in EXPECTED_FAILURES))


def quiet_console() -> None:
    """Keep expected failures out of the console log (see :class:`QuietExpectedFailures`)."""
    for name in ("", "prefect", "prefect.flow_runs", "prefect.task_runs"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and not any(
                isinstance(f, QuietExpectedFailures) for f in handler.filters
            ):
                handler.addFilter(QuietExpectedFailures())
