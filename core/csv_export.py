"""Tables as CSV for spreadsheets: every text cell a spreadsheet would run as a formula
is made inert. ``talentflow forecasts --format csv`` and the outlook's per-chart downloads
both write CSV through here, so the rule lives in one place.

Polars only: importing this module never imports Prefect.
"""

from __future__ import annotations

import io

import polars as pl

#: A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV
#: Injection"): =, +, -, @, and tab and carriage return, which some programs strip first.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(cell: str | None) -> str | None:
    """A text cell a spreadsheet would run as a formula, made inert with a leading quote."""
    if cell is not None and cell.startswith(FORMULA_PREFIXES):
        return "'" + cell
    return cell


def spreadsheet_csv(frame: pl.DataFrame) -> str:
    """``frame`` as CSV, every text cell escaped against formula injection.

    Only text (String) columns are escaped: numbers, negative ones included, stay numbers.
    Floats are written in full (shortest round-trip form), times in ISO 8601."""
    text_columns = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    escaped = frame.with_columns(
        pl.when(_starts_with_formula(pl.col(name)))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text_columns
    )
    buffer = io.StringIO()
    escaped.write_csv(buffer, datetime_format="%Y-%m-%dT%H:%M:%S%.6f%:z")
    return buffer.getvalue()


def _starts_with_formula(cell: pl.Expr) -> pl.Expr:
    return pl.any_horizontal(*(cell.str.starts_with(prefix) for prefix in FORMULA_PREFIXES))
