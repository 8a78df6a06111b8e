"""Paulson Institute / MacroPolo, Global AI Talent Tracker: headline figures.

Shares of top-tier AI researchers (NeurIPS authors) by country of undergraduate degree
and of current work, from the tracker's two editions: 1.0 (2020 release, NeurIPS December
2019 sample) and 2.0 (2024 release, NeurIPS December 2022 sample).

Refreshing: MacroPolo publishes no data file; its interactive page could only be partly
read. The figures were typed by hand from public pages (each row's ``source_url``), so
there is no schedule: an operator adds rows to the CSV when a new edition or a better
source appears, keeping one row per edition, sample, cohort, metric and place, and says
in ``note`` what was quoted. Cohorts differ between editions ("most elite" is about the
top 0.5% in 2019 but the top 2% in 2022): compare like with like.

What goes wrong: ``country_or_region`` mixes countries, regions ("Europe", "Europe incl.
United Kingdom" — the 1.0 figures count the UK apart from "Europe"), the whole sample
("World") and combinations ("United States + China"); all but countries are aggregates.
"China (origin)" and "India (origin)" (researchers by undergraduate country) are the
countries. Graduate-school shares by country were not found for either edition, and
sources disagree on the 2019 immigrant share (53% against the 55% implied by the 2.0
release).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from talentflow.core.countries import harmonise
from talentflow.tasks.sources.formats import (
    Format,
    ReaderError,
    parse_numbers,
    read_text_csv,
    require_columns,
)

COLUMNS = [
    "edition",
    "conference_sample",
    "cohort",
    "metric",
    "country_or_region",
    "value",
    "unit",
    "source_url",
    "note",
]
#: The release year at the start of the ``edition`` text, e.g. "2020 (Global AI Talent ...".
EDITION_YEAR = r"^\s*(\d{4})\b"


def parse_figures(path: Path) -> pl.DataFrame:
    """The hand-typed CSV as written (``edition, conference_sample, cohort, metric,
    country_or_region, value, unit, source_url, note``), ``value`` as Float64."""
    frame = read_text_csv(path)
    if "value" in frame.columns:
        frame = parse_numbers(frame, ["value"], path, first_line=2)
    return frame


def tidy_figures(raw: pl.DataFrame) -> pl.DataFrame:
    """One row per figure, every row kept:

    ``edition_year`` (Int32: 2020 for 1.0, 2024 for 2.0, from the edition text),
    ``edition``, ``conference_sample``, ``cohort``, ``metric``, ``country_iso3``,
    ``geo_kind`` (country / aggregate / unknown), ``country_or_region`` (as typed),
    ``value`` (Float64, in ``unit``: percent, persons or papers), ``unit``, ``source_url``,
    ``note``."""
    require_columns(raw, COLUMNS, "MacroPolo AI talent figures", "macropolo_figures")
    undated = raw.filter(pl.col("edition").str.extract(EDITION_YEAR).is_null())
    if undated.height:
        raise ReaderError(
            f"MacroPolo AI talent figures: edition {undated['edition'][0]!r} does not start "
            "with its release year (expected e.g. '2024 (Global AI Talent Tracker 2.0)')"
        )
    placed = harmonise(raw, "country_or_region", scheme="name", source="MacroPolo")
    return placed.select(
        pl.col("edition").str.extract(EDITION_YEAR).cast(pl.Int32).alias("edition_year"),
        "edition",
        "conference_sample",
        "cohort",
        "metric",
        "country_iso3",
        "geo_kind",
        "country_or_region",
        "value",
        "unit",
        "source_url",
        "note",
    )


figures = Format("macropolo.figures", parse_figures, tidy_figures)
