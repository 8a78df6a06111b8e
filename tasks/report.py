"""What a run tells the people watching it in the Prefect UI: validation summaries and a
link to Great Expectations' Data Docs.

Artifact keys are lowercase letters, digits and dashes: Prefect lists table artifacts on
its Artifacts page only when they have a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import task
from prefect.artifacts import create_link_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from core.settings import get_settings
from tasks.validate import build_data_docs

VALIDATION_SUMMARY_KEY = "validation-summary"
DATA_DOCS_KEY = "data-docs"


@task(name="validation-summary", cache_policy=NO_CACHE)
def publish_validation_summary(rows: list[dict[str, Any]], flow: str) -> None:
    """A table artifact with one row per dataset or table validated in this run."""
    failed = sum(1 for row in rows if row["status"] != "accepted")
    create_table_artifact(
        key=VALIDATION_SUMMARY_KEY,
        table=rows,
        description=f"{flow}: {len(rows)} validated, {failed} failed",
    )


@task(name="data-docs", cache_policy=NO_CACHE)
def publish_data_docs() -> Path:
    """Build GX Data Docs under the data directory and link them from the run."""
    index = build_data_docs(get_settings().data_dir)
    create_link_artifact(
        key=DATA_DOCS_KEY,
        link=index.as_uri(),
        link_text="Great Expectations Data Docs",
        description="Every validation result kept under the data directory (static HTML).",
    )
    return index
