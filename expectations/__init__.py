"""Great Expectations suites, kept as data: one JSON file per dataset or table.

Each file is a GX Core 1.x ``ExpectationSuite`` in its own serialised form (``name``,
``expectations`` with ``type``, ``kwargs``, ``severity`` and ``meta.why``), so a person
can read and review it in git and GX can load it unchanged. Two additions keep a shared
fact written once: a suite whose ``meta`` names ``columns_from`` (a table of
``talentflow.core.tables``) gets its exact-columns expectation from that schema, and a
keyword argument written as one of :data:`SHARED_VALUES`' names (``"$MODEL_NAMES"``) is
replaced by the value ``talentflow.core.facts`` holds.
"""

from __future__ import annotations

import json
from importlib import resources

from talentflow.core.countries import known_place_codes
from talentflow.core.facts import (
    COVERAGE_GOAL,
    HANDOVER_MODEL,
    LONG_HORIZONS,
    MODEL_NAMES,
    VERDICTS,
)
from talentflow.core.tables import CLAIM_TABLES, DERIVED_TABLES, RUN_TABLES

#: Placeholders a suite's keyword arguments may use, and the shared facts they stand for.
SHARED_VALUES = {
    "$MODEL_NAMES": [*MODEL_NAMES, HANDOVER_MODEL],
    "$LONGEST_HORIZON": LONG_HORIZONS[1],
    "$COVERAGE_GOAL_LOW": COVERAGE_GOAL[0],
    "$COVERAGE_GOAL_HIGH": COVERAGE_GOAL[1],
    "$VERDICTS": list(VERDICTS),
    "$KNOWN_PLACE_CODES": sorted(known_place_codes()),
}


def suite_definition(name: str) -> dict:
    """The suite stored as ``expectations/<name>.json``, its columns filled in from
    ``talentflow.core.tables`` where its ``meta`` says ``columns_from``."""
    source = resources.files(__name__) / f"{name}.json"
    if not source.is_file():
        raise FileNotFoundError(f"no expectation suite {name!r} in expectations/")
    suite = json.loads(source.read_text(encoding="utf-8"))
    for expectation in suite["expectations"]:
        expectation["kwargs"] = {
            key: SHARED_VALUES.get(value, value) if isinstance(value, str) else value
            for key, value in expectation["kwargs"].items()
        }
    table = suite.get("meta", {}).get("columns_from")
    if table is not None:
        schemas = RUN_TABLES | DERIVED_TABLES | CLAIM_TABLES
        if table not in schemas:
            raise ValueError(
                f"suite {name!r}: columns_from {table!r} is not a table of "
                f"talentflow.core.tables ({sorted(schemas)})"
            )
        suite["expectations"].insert(
            0,
            {
                "type": "expect_table_columns_to_match_ordered_list",
                "severity": "critical",
                "kwargs": {"column_list": list(schemas[table])},
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
