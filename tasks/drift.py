"""Drift between a dataset's new snapshot and its previous good one.

Publishers revise history silently; a release can also arrive half-empty. Comparing each
accepted tidy table with the previous accepted one says how much moved:

- row count, and its change;
- country coverage: countries that disappeared or appeared;
- values compared on the rows both tables share, the share that changed, and the largest
  revisions.

Rows are matched on every column that is not a floating-point value (country, year,
indicator, dimensions…); the float columns are the values compared. Rows with a repeated
key are compared once (first occurrence).

Limits (documented here and in docs/architecture.md, the one place they are set):

=====================================  =========  ========
measure                                 warning    critical
=====================================  =========  ========
rows lost, % of the previous release    > 10 %     > 50 %
countries lost, % of previous coverage  any        > 20 %
values changed, % of shared values      > 25 %     —
year-on-year jump within a series       ×2 or ÷2   —
=====================================  =========  ========

The year-on-year check looks at one release alone: a value that doubles or halves from one
year to the next within a series (same country and dimensions) is reported as a warning,
with the count and the largest jumps. Real statistics do this (small countries, series
breaks), so it never stops a run; it tells an analyst where to look.

A critical drift stops the dataset like a critical expectation: the snapshot goes to
quarantine and the previous good tables stay published. This module is pure Polars.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import polars as pl

ROWS_LOST_WARNING, ROWS_LOST_CRITICAL = 10.0, 50.0
COUNTRIES_LOST_CRITICAL = 20.0
VALUES_CHANGED_WARNING = 25.0
RELATIVE_TOLERANCE = 1e-9
LARGEST_REVISIONS = 5


class DriftFinding(NamedTuple):
    """A limit crossed: its severity, the message, and for logs the kind of drift and how
    many rows, countries or values it concerns."""

    severity: str
    message: str
    kind: str
    count: int
    unit: str


@dataclass(frozen=True)
class DriftReport:
    previous_rows: int
    current_rows: int
    countries_lost: list[str]
    countries_gained: list[str]
    values_compared: int
    values_changed: int
    largest_revisions: list[dict] = field(default_factory=list)
    countries_kept: int = 0

    @property
    def rows_lost_percent(self) -> float:
        if not self.previous_rows:
            return 0.0
        return max(0.0, 100.0 * (self.previous_rows - self.current_rows) / self.previous_rows)

    @property
    def countries_lost_percent(self) -> float:
        previous = len(self.countries_lost) + self.countries_kept
        return 100.0 * len(self.countries_lost) / previous if previous else 0.0

    @property
    def values_changed_percent(self) -> float:
        return 100.0 * self.values_changed / self.values_compared if self.values_compared else 0.0

    def findings(self) -> list[DriftFinding]:
        """A :class:`DriftFinding` for every limit crossed."""
        found = []
        lost = self.rows_lost_percent
        if lost > ROWS_LOST_WARNING:
            found.append(
                DriftFinding(
                    "critical" if lost > ROWS_LOST_CRITICAL else "warning",
                    f"rows fell from {self.previous_rows:,} to "
                    f"{self.current_rows:,} ({lost:.1f} % lost)",
                    "rows lost",
                    self.previous_rows - self.current_rows,
                    "rows",
                )
            )
        if self.countries_lost:
            found.append(
                DriftFinding(
                    "critical"
                    if self.countries_lost_percent > COUNTRIES_LOST_CRITICAL
                    else "warning",
                    f"{len(self.countries_lost)} countries no longer present "
                    f"({self.countries_lost_percent:.1f} % of coverage): "
                    f"{', '.join(self.countries_lost[:10])}",
                    "countries lost",
                    len(self.countries_lost),
                    "countries",
                )
            )
        if self.values_changed_percent > VALUES_CHANGED_WARNING:
            found.append(
                DriftFinding(
                    "warning",
                    f"{self.values_changed_percent:.1f} % of "
                    f"{self.values_compared:,} shared values were revised; "
                    f"largest: {self.largest_revisions[:3]}",
                    "values revised",
                    self.values_changed,
                    "values",
                )
            )
        return found

    def summary(self) -> dict:
        return {
            "previous_rows": self.previous_rows,
            "current_rows": self.current_rows,
            "rows_lost_percent": round(self.rows_lost_percent, 2),
            "countries_lost": self.countries_lost,
            "countries_gained": self.countries_gained,
            "values_compared": self.values_compared,
            "values_changed": self.values_changed,
            "values_changed_percent": round(self.values_changed_percent, 2),
            "largest_revisions": self.largest_revisions,
        }


def _countries(table: pl.DataFrame) -> set[str]:
    columns = [c for c in table.columns if c.endswith("iso3")]
    return {code for c in columns for code in table[c].drop_nulls().unique().to_list()}


def snapshot_drift(previous: pl.DataFrame, current: pl.DataFrame) -> DriftReport:
    """Compare two tidy tables of the same dataset (previous good release, new one)."""
    floats = [c for c, t in current.schema.items() if t.is_float() and c in previous.columns]
    keys = [c for c in current.columns if c not in floats and c in previous.columns]
    before, after = _countries(previous), _countries(current)
    compared = changed = 0
    revisions: list[dict] = []
    if floats and keys:
        joined = previous.unique(keys, keep="first", maintain_order=True).join(
            current.unique(keys, keep="first", maintain_order=True),
            on=keys,
            how="inner",
            suffix="__new",
            nulls_equal=True,
        )
        for column in floats:
            pair = joined.select(
                *keys, pl.col(column).alias("old"), pl.col(f"{column}__new").alias("new")
            ).filter(pl.col("old").is_not_null() & pl.col("new").is_not_null())
            moved = pair.with_columns(
                (
                    (pl.col("new") - pl.col("old")).abs()
                    / pl.max_horizontal(pl.col("old").abs(), pl.lit(1e-12))
                ).alias("relative")
            ).filter(pl.col("relative") > RELATIVE_TOLERANCE)
            compared += pair.height
            changed += moved.height
            revisions += [
                {
                    "column": column,
                    **{k: row[k] for k in keys},
                    "old": row["old"],
                    "new": row["new"],
                    "relative_change": round(row["relative"], 6),
                }
                for row in moved.sort("relative", descending=True)
                .head(LARGEST_REVISIONS)
                .iter_rows(named=True)
            ]
    revisions.sort(key=lambda r: r["relative_change"], reverse=True)
    return DriftReport(
        previous_rows=previous.height,
        current_rows=current.height,
        countries_lost=sorted(before - after),
        countries_gained=sorted(after - before),
        values_compared=compared,
        values_changed=changed,
        largest_revisions=revisions[:LARGEST_REVISIONS],
        countries_kept=len(before & after),
    )


JUMP_RATIO = 2.0


def year_on_year_jumps(table: pl.DataFrame, examples: int = 3) -> tuple[int, list[dict]]:
    """Values that at least double or halve between consecutive years of one series.

    Series are the rows sharing every non-float column but ``year``; the values are the
    float columns. Returns the number of jumps and the largest ``examples``."""
    if "year" not in table.columns:
        return 0, []
    floats = [c for c, t in table.schema.items() if t.is_float()]
    series = [c for c in table.columns if c not in floats and c != "year"]
    found: list[pl.DataFrame] = []
    for column in floats:
        ordered = table.select(*series, "year", column).drop_nulls(column).sort([*series, "year"])
        previous = pl.col(column).shift(1).over(series) if series else pl.col(column).shift(1)
        last_year = pl.col("year").shift(1).over(series) if series else pl.col("year").shift(1)
        jumps = ordered.with_columns(previous.alias("previous"), last_year.alias("last_year"))
        jumps = jumps.filter(
            (pl.col("year") - pl.col("last_year") == 1)
            & (pl.col("previous") > 0)
            & (pl.col(column) > 0)
        ).with_columns((pl.col(column) / pl.col("previous")).alias("ratio"))
        jumps = jumps.filter(
            (pl.col("ratio") >= JUMP_RATIO) | (pl.col("ratio") <= 1 / JUMP_RATIO)
        ).with_columns(pl.lit(column).alias("column"), pl.col(column).alias("value"))
        found.append(jumps.select(*series, "year", "column", "previous", "value", "ratio"))
    if not found:
        return 0, []
    every = pl.concat(found, how="diagonal_relaxed")
    largest = (
        every.with_columns(pl.max_horizontal(pl.col("ratio"), 1 / pl.col("ratio")).alias("_size"))
        .sort("_size", descending=True)
        .drop("_size")
    )
    return every.height, [
        {k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()}
        for row in largest.head(examples).iter_rows(named=True)
    ]
