"""CSV for spreadsheets: formulas made inert, numbers kept as numbers, floats in full."""

from __future__ import annotations

import io

import polars as pl

from talentflow.core.csv_export import escape_formula, spreadsheet_csv


def test_escape_covers_owasp_prefixes_only():
    for cell in ("=1+1", "+1", "-1", "@A1", "\tx", "\rx"):
        assert escape_formula(cell) == "'" + cell
    for cell in ("researchers", "Medium+tech_denial", "", None):
        assert escape_formula(cell) == cell
    numbers = pl.DataFrame({"yhat": [-1.5], "target": ["-x"]})
    assert spreadsheet_csv(numbers).splitlines() == ["yhat,target", "-1.5,'-x"]


def test_floats_survive_the_round_trip_exactly():
    frame = pl.DataFrame({"value": [1 / 3, 1_234_567.891011, 2.5e-7, None]})
    back = pl.read_csv(io.StringIO(spreadsheet_csv(frame)), schema=frame.schema)
    assert back.equals(frame)
