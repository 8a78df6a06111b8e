"""`talentflow forecasts` on a synthetic published forecasts table: filters, formats,
the CSV formula escape, and the errors a user meets first."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console
from typer.testing import CliRunner

from talentflow.core.settings import get_settings
from talentflow.core.storage import published_parquet
from talentflow.flows import cli
from talentflow.flows.consume import (
    REQUIRED_COLUMNS,
    ForecastQuery,
    read_published_forecasts,
    select_forecasts,
)

FORMULA_GROUP = '=HYPERLINK("http://evil.example","click")'
FORMULA_TARGET = "@SUM(1+1)"
runner = CliRunner()


def synthetic_forecasts() -> pl.DataFrame:
    """A small forecasts table of the published schema: two countries' researchers, an
    intake target per origin group (one group named like a spreadsheet formula), a target
    named like one, three scenarios, two models (drift selected), 2024-2030."""
    from talentflow.core.tables import FORECASTS_SCHEMA

    created = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    rows = []
    series = [
        ("researchers", "CHN", None, 2_000_000.0),
        ("researchers", "USA", None, 1_500_000.0),
        ("china_researcher_inflows", "CHN", "high_income", 3_000.0),
        ("china_researcher_inflows", "CHN", FORMULA_GROUP, 500.0),
        (FORMULA_TARGET, "CHN", None, -12.5),  # a change can be negative
    ]
    for target, country, group, level in series:
        for scenario, lift in (("Medium", 1.0), ("Low", 0.9), ("Medium+tech_denial", 0.8)):
            for model, is_selected in (("drift", True), ("prophet", False)):
                for step, year in enumerate(range(2024, 2031)):
                    yhat = level * lift + step * (1 if level > 0 else -1)
                    spread = abs(level) * 0.1 + step
                    rows.append(
                        {
                            "run_id": "synthetic-run",
                            "vintage": 2023,
                            "target": target,
                            "country_iso3": country,
                            "origin_group": group,
                            "year": year,
                            "scenario": scenario,
                            "model": model,
                            "is_selected": is_selected,
                            "yhat": yhat,
                            "lo80": yhat - spread,
                            "hi80": yhat + spread,
                            "lo95": yhat - 2 * spread,
                            "hi95": yhat + 2 * spread,
                            "created_at": created,
                        }
                    )
    return pl.DataFrame(rows, schema=FORECASTS_SCHEMA)


@pytest.fixture
def synthetic_published(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pl.DataFrame:
    """The synthetic table published under a fresh data directory; a wide terminal."""
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(cli, "console", Console(width=200))
    frame = synthetic_forecasts()
    path = published_parquet(get_settings(), "forecasts")
    path.parent.mkdir(parents=True)
    frame.write_parquet(path)
    return frame


def invoke(*args: str):
    return runner.invoke(cli.app, ["forecasts", *args])


def flat(text: str) -> str:
    """Text without whitespace or the box drawn around typer's usage errors, so a message
    wrapped at any width can be searched."""
    return "".join(ch for ch in text if not ch.isspace() and ch not in "│╭╮╰╯─")


def test_the_reader_relies_only_on_columns_of_the_published_schema():
    from talentflow.core.tables import FORECASTS_SCHEMA

    assert set(REQUIRED_COLUMNS) <= set(FORECASTS_SCHEMA)


def test_by_default_only_the_selected_model_is_kept():
    frame = synthetic_forecasts()
    selected = select_forecasts(frame, ForecastQuery())
    assert set(selected["model"]) == {"drift"}
    assert len(selected) == len(frame) // 2
    assert set(select_forecasts(frame, ForecastQuery(all_models=True))["model"]) == {
        "drift",
        "prophet",
    }
    # Naming a model shows it even where the backtest did not select it.
    assert set(select_forecasts(frame, ForecastQuery(models=("prophet",)))["model"]) == {"prophet"}


def test_filters_combine():
    frame = synthetic_forecasts()
    query = ForecastQuery(
        targets=("china_researcher_inflows",),
        origin_groups=("high_income",),
        scenarios=("Medium", "Medium+tech_denial"),
        from_year=2026,
        to_year=2028,
    )
    selected = select_forecasts(frame, query)
    assert set(selected["target"]) == {"china_researcher_inflows"}
    assert set(selected["origin_group"]) == {"high_income"}
    assert set(selected["scenario"]) == {"Medium", "Medium+tech_denial"}
    assert (selected["year"].min(), selected["year"].max()) == (2026, 2028)
    assert len(selected) == 2 * 3  # scenarios x years, selected model only


def test_table_shows_the_rows_and_says_how_many_there_are(synthetic_published):
    result = invoke("--target", "researchers", "--country", "chn", "--scenario", "Medium")
    assert result.exit_code == 0, result.output
    assert "researchers" in result.stdout and "CHN" in result.stdout
    assert "USA" not in result.stdout
    assert "prophet" not in result.stdout  # only the selected model
    assert "2M" in result.stdout and "1.8M – 2.2M" in result.stdout  # point and 80 %
    assert "7 of 7 row(s)" in result.stdout

    truncated = invoke("--limit", "5")
    assert truncated.exit_code == 0, truncated.output
    total = len(synthetic_published.filter(pl.col("is_selected")))
    assert f"5 of {total:,} row(s)" in truncated.stdout
    assert "narrow with --target" in truncated.stdout


def test_csv_escapes_formula_text_but_keeps_negative_numbers(synthetic_published):
    result = invoke("--format", "csv", "--all-models")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == len(synthetic_published)
    assert list(rows[0]) == synthetic_published.columns  # every published column, in order
    assert {r["origin_group"] for r in rows} >= {"'" + FORMULA_GROUP, "high_income"}
    assert "'" + FORMULA_TARGET in {r["target"] for r in rows}
    assert not any(value.startswith(("=", "@")) for r in rows for value in r.values())
    negative = [r for r in rows if r["target"] == "'" + FORMULA_TARGET]
    assert all(float(r["yhat"]) < 0 for r in negative)  # still plain numbers
    assert all(r["lo95"].startswith("-") for r in negative)
    assert rows[0]["created_at"] == "2026-11-29T12:00:00.000000+00:00"


def test_json_keeps_every_value_as_published(synthetic_published):
    result = invoke("--format", "json", "--target", FORMULA_TARGET)
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 3 * 7
    assert {r["target"] for r in rows} == {FORMULA_TARGET}
    assert rows[0]["yhat"] < 0 and rows[0]["created_at"].startswith("2026-11-29T12:00:00")
    assert rows[0]["origin_group"] is None and rows[0]["is_selected"] is True

    groups = json.loads(invoke("--format", "json", "--origin-group", FORMULA_GROUP).stdout)
    assert {r["origin_group"] for r in groups} == {FORMULA_GROUP}


def test_output_file_is_written_whole(synthetic_published, tmp_path):
    target = tmp_path / "out" / "forecasts.csv"
    result = invoke("--format", "csv", "--country", "USA", "--output", str(target))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "written to" in result.stderr
    written = list(csv.DictReader(target.open(encoding="utf-8")))
    assert {r["country_iso3"] for r in written} == {"USA"} and len(written) == 3 * 7
    assert [p.name for p in target.parent.iterdir()] == ["forecasts.csv"]  # no temp left

    table_to_file = invoke("--output", str(target))
    assert table_to_file.exit_code == 2
    assert flat("--format csv or json") in flat(table_to_file.output)


def test_a_missing_table_names_its_path_and_the_command_to_run(monkeypatch, tmp_path):
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "empty"))
    result = invoke()
    assert result.exit_code == 1
    message = flat(result.stderr)
    assert flat(str(tmp_path / "empty" / "published" / "forecasts.parquet")) in message
    assert flat("run `talentflow run` first") in message


def test_a_table_of_an_older_schema_asks_for_a_new_run(monkeypatch, tmp_path):
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    path = published_parquet(get_settings(), "forecasts")
    path.parent.mkdir(parents=True)
    pl.DataFrame({"run_id": ["old"], "yhat_lower": [1.0]}).write_parquet(path)
    result = invoke()
    assert result.exit_code == 1
    message = flat(result.stderr)
    assert flat("lacks the column(s) vintage") in message and "talentflowrun" in message


def test_an_unknown_country_is_refused_with_a_hint(synthetic_published):
    result = invoke("--country", "XYZ")
    assert result.exit_code == 2
    assert flat("unknown country code 'XYZ'") in flat(result.output)
    assert flat("ISO 3166-1 alpha-3") in flat(result.output)
    named = invoke("--country", "China")
    assert named.exit_code == 2 and flat("did you mean CHN?") in flat(named.output)


def test_no_match_says_what_the_table_has(synthetic_published):
    result = invoke("--target", "researcher")
    assert result.exit_code == 0
    assert "no forecast rows match" in result.stderr
    assert "researchers" in result.stderr
    assert invoke("--format", "json", "--target", "nope").stdout == "[]\n"


def test_table_numbers_keep_their_magnitude():
    from talentflow.core.facts import compact_number

    assert [compact_number(v) for v in (38_100.0, 11_800.0, 1_180_000.0, 3_787.0, 12.5)] == [
        "38.1k",
        "11.8k",
        "1.18M",
        "3,787",
        "12.5",
    ]


def test_the_current_forecasts_are_read_from_duckdb_not_a_later_replay(tmp_path, monkeypatch):
    from talentflow.tasks.publish import publish_table
    from tests.synthetic_tables import synthetic_forecasts as synthetic_run

    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    settings = get_settings()
    current = synthetic_run("current", 2024, datetime(2026, 11, 1, tzinfo=UTC))
    replay = synthetic_run("replay", 2015, datetime(2026, 11, 2, tzinfo=UTC))
    publish_table(current, "forecasts", settings)
    publish_table(replay, "forecasts", settings)  # the Parquet file now holds the replay
    assert pl.read_parquet(published_parquet(settings, "forecasts"))["run_id"][0] == "replay"
    read = read_published_forecasts(settings)
    assert set(read["run_id"]) == {"current"} and read.height == current.height


def test_a_reader_during_a_publish_reads_the_parquet_file_instead_of_failing(tmp_path, monkeypatch):
    """A writer process holds DuckDB (one writer, no reader beside it): the reader waits
    its bounded time, then reads the published Parquet file, replaced atomically."""
    import subprocess
    import sys

    from talentflow.flows import consume
    from talentflow.tasks.publish import publish_table
    from tests.synthetic_tables import synthetic_forecasts as synthetic_run

    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    settings = get_settings()
    current = synthetic_run("current", 2024, datetime(2026, 11, 1, tzinfo=UTC))
    publish_table(current, "forecasts", settings)
    database = consume.duckdb_path(settings)
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            f"connection = duckdb.connect({str(database)!r})\n"
            "print('writing', flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline().strip() == "writing"
        monkeypatch.setattr(consume, "READER_WAIT_SECONDS", 0.5)
        read = read_published_forecasts(settings)
    finally:
        writer.kill()
        writer.wait()
    assert set(read["run_id"]) == {"current"} and read.height == current.height
