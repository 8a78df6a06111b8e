"""Great Expectations suites, kept as data: one JSON file per dataset or table.

Each file is a GX Core 1.x ``ExpectationSuite`` in its own serialised form (``name``,
``expectations`` with ``type``, ``kwargs``, ``severity`` and ``meta.why``), so a person
can read and review it in git and GX can load it unchanged. This package holds no logic
beyond finding the files.
"""

from __future__ import annotations

import json
from importlib import resources


def suite_definition(name: str) -> dict:
    """The suite stored as ``expectations/<name>.json``."""
    source = resources.files(__name__) / f"{name}.json"
    if not source.is_file():
        raise FileNotFoundError(f"no expectation suite {name!r} in expectations/")
    return json.loads(source.read_text(encoding="utf-8"))


def suite_names() -> list[str]:
    return sorted(
        entry.name.removesuffix(".json")
        for entry in resources.files(__name__).iterdir()
        if entry.name.endswith(".json")
    )
