"""US NCSES Science & Engineering Indicators tables, as flattened row hierarchies.

Degrees by country and field (S2-15, S2-16, SHED-11, SHED-12), temporary-visa US research
doctorates by origin (SED 7-7, 7-8), intention to stay (SED 2-8) and stay rates of foreign
doctorate recipients (LBR-4). One reader serves all eight layouts.

Layout: ``table_id, row_id``, then one hierarchy, e.g. ``<stem>_full_path`` (``China<sup>a</sup>
-> All fields -> S&E fields``), ``<stem>_level_1`` ... ``_level_4`` and
``<stem>_hierarchy_depth``, then value columns named ``field_*``: ``field_<year>``;
``field_rank`` and ``field_doctorate_recipients``; paired ``field_<yr>_number`` and
``field_<yr>_staying``; ``field_foreign_doctorate_recipients_<yr>_<yy>_number_`` and
``field_<n>_year_stay_rate_``. ``NA`` (not available), ``-`` (not applicable: ranks of
aggregate rows) and ``D`` (suppressed) are empty; any other text in a value cell is a
:class:`ReaderError`.

Refreshing: there is no NCSES download API. The mirror's CSVs come from the repository
``bq-org/ncses_stats_explorer_placeholder`` (``output/tables/<id>/data.csv``) at a pinned
commit; an operator refreshes a table by moving the catalog's pinned commit, pulling, and
re-checking the values in tests/tasks/sources/test_ncses.py. A new table whose
``field_<year>`` columns do not say what they count must be added to
:data:`YEAR_COLUMN_MEASURES`; an unknown value column, or a hierarchy naming no place, is
a ReaderError, not a guess.

Places and fields: the hierarchy's stem says which levels are places and which are fields
(:func:`hierarchy_roles`). Footnote markers (``<sup>a</sup>``) and stray spaces are
stripped from names; the footnotes' texts were not copied to the mirror. Region and
residual rows ("Asia", "Africa -> Other", "All temporary visa holders", "Region and country
or economy unknown") are aggregates (core/country_aliases.csv); ``place_path`` keeps the
region of an "Other" row.

China and Hong Kong: NCSES's "China" (``China<sup>a</sup>``) is mapped to ``CHN`` as
published; what footnote ``a`` says (in particular whether Hong Kong or Macao is counted
in) was not copied to the mirror, so read NCSES's CHN as "China as NCSES defines it". No
table here lists Hong Kong or Macao separately; Taiwan, where listed, has its own rows
(``TWN``). The
LBR-4 stay-rate table (10996) writes "China (including Hong Kong)": it is mapped to ``CHN``
too (the alias in core/country_aliases.csv says so), so its CHN values include Hong Kong.

Field names are kept as published, and they differ between tables: the S&E total is "S&E
fields" in the first-degree tables (1571, 5785) but "All S&E" in the doctoral ones (1572,
5786). In 10996 the 5-year stay rate
belongs to the 2015-17 graduation cohort and the 10-year rate to 2010-12 (the
``doctorate_recipients`` columns beside them); the rate columns' names carry no period.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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

#: Value cells that mean "no value": not available, not applicable, suppressed.
NULL_TOKENS = ("NA", "-", "D")
#: What the bare ``field_<year>`` columns count, by table (their names do not say).
YEAR_COLUMN_MEASURES = {
    "1571": "degrees",
    "1572": "degrees",
    "5785": "degrees",
    "5786": "degrees",
    "11695": "doctorate_recipients",
}
#: The field of a row that names no field: everything the table covers.
ALL_FIELDS = "All fields"
PATH_SEPARATOR = " -> "
FOOTNOTE = re.compile(r"<sup>.*?</sup>")


@dataclass(frozen=True)
class ValueColumn:
    """What one ``field_*`` column holds: measure, and its year or multi-year period."""

    measure: str
    year: int | None = None
    period: str | None = None


def value_column(column: str, table_id: str) -> ValueColumn:
    """Measure, year and period of a value column, from its name.

    - ``field_<year>``: the table's measure in :data:`YEAR_COLUMN_MEASURES` (``degrees`` or
      ``doctorate_recipients``), that year.
    - ``field_rank``: ``rank`` (1 = most recipients); ``field_doctorate_recipients``:
      ``doctorate_recipients`` (persons). No year in the name: year null.
    - ``field_<year>_number`` / ``field_<year>_<yy>_number``: ``doctorate_recipients``;
      ``field_<year>_staying`` / ``field_<year>_<yy>_staying``: ``staying_percent`` (percent
      of recipients intending to stay in the US). A ``<year>_<yy>`` span is a period
      ("2017-23"), year null.
    - ``field_foreign_doctorate_recipients_<year>_<yy>_number_``: ``doctorate_recipients``
      for that period (the graduation cohort).
    - ``field_<n>_year_stay_rate_``: ``stay_rate_<n>_year_percent`` (percent of the cohort
      in the US n years after the doctorate).
    """
    if match := re.fullmatch(r"field_(\d{4})", column):
        if table_id not in YEAR_COLUMN_MEASURES:
            raise ReaderError(
                f"NCSES table {table_id}: value column {column!r} does not say what it counts;"
                " add the table to tasks.sources.ncses.YEAR_COLUMN_MEASURES"
            )
        return ValueColumn(YEAR_COLUMN_MEASURES[table_id], year=int(match[1]))
    if column == "field_rank":
        return ValueColumn("rank")
    if column == "field_doctorate_recipients":
        return ValueColumn("doctorate_recipients")
    if match := re.fullmatch(
        r"field_(?:foreign_doctorate_recipients_)?(\d{4})(?:_(\d{2}))?_(number|staying)_?",
        column,
    ):
        measure = "doctorate_recipients" if match[3] == "number" else "staying_percent"
        if match[2]:
            return ValueColumn(measure, period=f"{match[1]}-{match[2]}")
        return ValueColumn(measure, year=int(match[1]))
    if match := re.fullmatch(r"field_(\d+)_year_stay_rate_?", column):
        return ValueColumn(f"stay_rate_{match[1]}_year_percent")
    raise ReaderError(
        f"NCSES table {table_id}: unknown value column {column!r}; teach "
        "tasks.sources.ncses.value_column what it measures"
    )


def hierarchy_stem(columns: list[str]) -> str:
    """The prefix of the ``<stem>_full_path`` column."""
    stems = [c.removesuffix("_full_path") for c in columns if c.endswith("_full_path")]
    if len(stems) != 1:
        raise ReaderError(
            f"NCSES table: expected one '*_full_path' column, found {len(stems)} in {columns}"
        )
    return stems[0]


def hierarchy_roles(stem: str, levels: list[str | None]) -> tuple[list[str], list[str]]:
    """(place levels, field levels) of one row's hierarchy, by what the stem names first.

    - No "field" in the stem (``_b_country_or_economy_b``,
      ``_b_region_and_country_or_economy_of_citizenship_b``): every level is a place (world
      total -> region -> country).
    - Country before field (``region_country_or_economy_and_field``,
      ``_b_country_or_economy_and_field_b``): level 1 is the place, the rest the field.
    - Field before country (``degree_field_and_region_country_or_economy_of_citizenship``):
      level 1 is the table total; a level 2 naming citizenship, region or country opens a
      branch of places, any other level 2 a branch of fields.
    """
    named = [level for level in levels if level]
    field_at, country_at = stem.find("field"), stem.find("country")
    if field_at < 0:
        return named, []
    if country_at < 0:
        raise ReaderError(f"NCSES table: hierarchy {stem!r} names no place")
    if country_at < field_at:
        return named[:1], named[1:]
    if len(named) > 1 and re.search(r"citizenship|country|region", named[1], re.IGNORECASE):
        return [named[0], *named[2:]], []
    return named[:1], named[1:]


def _clean(name: str) -> str:
    return FOOTNOTE.sub("", name).strip()


def parse_table(path: Path) -> pl.DataFrame:
    """One NCSES table as published: every column kept, ``table_id`` and ``row_id`` as text,
    ``*_hierarchy_depth`` Int64, ``field_*`` value columns Float64 (``NA``, ``-``, ``D``
    null). Names keep their footnote markers."""
    frame = read_text_csv(path)
    values = [c for c in frame.columns if c.startswith("field_")]
    frame = frame.with_columns(
        pl.when(pl.col(c).str.strip_chars().is_in(NULL_TOKENS))
        .then(None)
        .otherwise(pl.col(c))
        .alias(c)
        for c in values
    )
    frame = parse_numbers(frame, values, path, first_line=2)
    depth = [c for c in frame.columns if c.endswith("_hierarchy_depth")]
    return parse_numbers(frame, depth, path, first_line=2).with_columns(
        pl.col(c).cast(pl.Int64) for c in depth
    )


def tidy_table(raw: pl.DataFrame) -> pl.DataFrame:
    """Long: one row per raw row and value column, every one kept (null values included).

    ``table_id`` (text, e.g. "1572"), ``row_id`` ("r001"), ``country`` (the row's place:
    its deepest place level, footnote markers and spaces stripped; may be a region or a
    residual such as "Other"), ``country_iso3``, ``geo_kind``, ``place_path`` (the place
    levels joined with " -> ", e.g. "All temporary visa holders -> Africa -> Other"),
    ``field`` (the field levels joined with " -> ", e.g. "All fields -> S&E fields"; where
    the row names no field, "All fields" (a place total, or any row of a table with no
    field dimension), or null if the raw row has no value at all: a heading such as a
    country name above its field rows), ``measure`` (see :func:`value_column`), ``year``
    (Int32, null where the column names no single year), ``period`` (e.g. "2017-23" for a
    multi-year column, else null), ``value`` (Float64, in the measure's unit)."""
    require_columns(raw, ["table_id", "row_id"], "NCSES table", "ncses_table")
    stem = hierarchy_stem(raw.columns)
    levels = sorted(
        (c for c in raw.columns if re.fullmatch(rf"{re.escape(stem)}_level_\d+", c)),
        key=lambda c: int(c.rsplit("_", 1)[1]),
    )
    values = [c for c in raw.columns if c.startswith("field_")]
    if not levels or not values:
        raise ReaderError(
            f"NCSES table: no '{stem}_level_<n>' or no 'field_*' value columns in {raw.columns}"
        )
    table_ids = raw["table_id"].cast(pl.String).unique().to_list()
    if len(table_ids) != 1 or table_ids[0] is None:
        raise ReaderError(f"NCSES table: expected one table_id in the file, found {table_ids}")
    table_id = table_ids[0]
    if raw["row_id"].is_duplicated().any() or raw["row_id"].null_count():
        raise ReaderError(f"NCSES table {table_id}: row_id is empty or repeated")
    meanings = {column: value_column(column, table_id) for column in values}

    row_levels = raw.select(
        "row_id", *levels, pl.all_horizontal(pl.col(values).is_null()).alias("_empty")
    )
    rows = []
    for row_id, *names, empty in row_levels.iter_rows():
        places, fields = hierarchy_roles(stem, [_clean(n) if n else None for n in names])
        if not places:
            raise ReaderError(f"NCSES table {table_id}, row {row_id}: no hierarchy level is named")
        field = PATH_SEPARATOR.join(fields) or (None if empty else ALL_FIELDS)
        rows.append((row_id, places[-1], PATH_SEPARATOR.join(places), field))
    roles = pl.DataFrame(
        rows,
        schema={
            "row_id": pl.String,
            "country": pl.String,
            "place_path": pl.String,
            "field": pl.String,
        },
        orient="row",
    )
    wide = raw.select(pl.col("table_id").cast(pl.String), "row_id", *values).join(
        roles, on="row_id", how="left"
    )
    meaning = pl.DataFrame(
        [(i, c, m.measure, m.year, m.period) for i, (c, m) in enumerate(meanings.items())],
        schema={
            "_order": pl.Int32,
            "_column": pl.String,
            "measure": pl.String,
            "year": pl.Int32,
            "period": pl.String,
        },
        orient="row",
    )
    long = wide.unpivot(
        index=["table_id", "row_id", "country", "place_path", "field"],
        on=values,
        variable_name="_column",
        value_name="value",
    ).join(meaning, on="_column", how="left")
    placed = harmonise(long, "country", scheme="name", source=f"NCSES table {table_id}")
    return placed.sort("row_id", "_order").select(
        "table_id",
        "row_id",
        "country",
        "country_iso3",
        "geo_kind",
        "place_path",
        "field",
        "measure",
        "year",
        "period",
        pl.col("value").cast(pl.Float64),
    )


table = Format("ncses.table", parse_table, tidy_table)
