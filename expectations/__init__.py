"""Great Expectations suites, kept as data: one JSON file per dataset or table.

Each file is a GX Core 1.x ``ExpectationSuite`` in its own serialised form (``name``,
``expectations`` with ``type``, ``kwargs``, ``severity`` and ``meta.why``), so a person
can read and review it in git and GX can load it unchanged. The one addition: a suite
whose ``meta`` names ``columns_from`` (a run table of ``talentflow.core.tables``) gets
its exact-columns expectation from that schema, so the column list is written once.
"""

from __future__ import annotations

import json
from importlib import resources

from talentflow.core.tables import RUN_TABLES


def suite_definition(name: str) -> dict:
    """The suite stored as ``expectations/<name>.json``, its columns filled in from
    ``talentflow.core.tables`` where its ``meta`` says ``columns_from``."""
    source = resources.files(__name__) / f"{name}.json"
    if not source.is_file():
        raise FileNotFoundError(f"no expectation suite {name!r} in expectations/")
    suite = json.loads(source.read_text(encoding="utf-8"))
    table = suite.get("meta", {}).get("columns_from")
    if table is not None:
        if table not in RUN_TABLES:
            raise ValueError(
                f"suite {name!r}: columns_from {table!r} is not a run table of "
                f"talentflow.core.tables ({sorted(RUN_TABLES)})"
            )
        suite["expectations"].insert(
            0,
            {
                "type": "expect_table_columns_to_match_ordered_list",
                "severity": "critical",
                "kwargs": {"column_list": list(RUN_TABLES[table])},
                "meta": {
                    "why": f"Consumers query these columns (talentflow.core.tables, {table})."
                },
            },
        )
    return suite


def suite_names() -> list[str]:
    return sorted(
        entry.name.removesuffix(".json")
        for entry in resources.files(__name__).iterdir()
        if entry.name.endswith(".json")
    )
