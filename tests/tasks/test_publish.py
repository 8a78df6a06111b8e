"""Publishing: replaced tables, run tables that keep every run, the views consumers read,
and the same behaviours in PostgreSQL (tests marked ``postgres``, against the server of
``TALENTFLOW_TEST_DATABASE_URL``). Frames are synthetic, built to ``tasks.forecast``'s
schemas; docs/consuming.md's queries are run against what they publish."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import polars.selectors as cs
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import create_engine, make_url, text

from talentflow.core.settings import Settings
from talentflow.core.tables import FORECASTS_SCHEMA
from talentflow.tasks.publish import (
    RUN_TABLES,
    postgres_type,
    publish_postgres,
    publish_table,
)
from tests.postgres_fixtures import (  # noqa: F401 (the postgres_* fixtures)
    postgres_schema_fixture,
    postgres_url_fixture,
)
from tests.synthetic_tables import (
    synthetic_forecasts,
    synthetic_model_selection,
    synthetic_run_tables,
)

REPO = Path(__file__).resolve().parents[2]
OLDER = ("run-2022", 2022, datetime(2026, 10, 1, 6, tzinfo=UTC))
NEWER = ("run-2023", 2023, datetime(2026, 11, 1, 6, tzinfo=UTC))
# A replay with --as-of 2015, made after both: newest by created_at, oldest vintage.
REPLAY = ("run-asof-2015", 2015, datetime(2026, 11, 15, 6, tzinfo=UTC))
UNSAFE_NAMES = ["", "Forecasts", "1forecasts", "forecasts; DROP TABLE x", 'a"b', "a.b", "x" * 41]


def duckdb_rows(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def in_utc(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its zoned datetimes in UTC (a database answers in the session's zone,
    e.g. ``Etc/UTC``: the same instants)."""
    return frame.with_columns(cs.datetime(time_zone="*").dt.convert_time_zone("UTC"))


def synthetic_panel(run_id: str, rows: int) -> pl.DataFrame:
    """A synthetic replaced table (the shape of the country-year panel)."""
    return pl.DataFrame(
        {
            "run_id": [run_id] * rows,
            "country_iso3": [f"C{i:02d}" for i in range(rows)],
            "year": pl.Series(range(rows), dtype=pl.Int32),
        }
    )


@pytest.fixture
def local_settings(tmp_path: Path) -> Settings:
    """Settings of a private data directory, PostgreSQL off."""
    return Settings(data_dir=tmp_path / "data").resolved()


def publish_runs(settings: Settings, *runs: tuple[str, int, datetime]) -> None:
    for run_id, vintage, created_at in runs:
        for table, frame in synthetic_run_tables(run_id, vintage, created_at).items():
            publish_table(frame, table, settings)


# --- DuckDB and Parquet ---------------------------------------------------------------------


def test_a_replaced_table_holds_only_the_latest_publish(local_settings):
    publish_table(synthetic_panel("run-a", 5), "country_year_panel", local_settings)
    published = publish_table(synthetic_panel("run-b", 3), "country_year_panel", local_settings)
    assert published.rows == 3 and published.postgres is None
    rows = duckdb_rows(
        published.duckdb, "SELECT run_id, count(*) FROM country_year_panel GROUP BY 1"
    )
    assert rows == [("run-b", 3)]
    assert pl.read_parquet(published.parquet)["run_id"].unique().to_list() == ["run-b"]


def test_run_tables_keep_every_run_and_a_republished_run_replaces_its_rows(local_settings):
    publish_runs(local_settings, OLDER, NEWER)
    forecasts = synthetic_forecasts(*NEWER)
    published = publish_table(forecasts, "forecasts", local_settings)  # the same run again
    for table in RUN_TABLES:
        counts = dict(
            duckdb_rows(published.duckdb, f"SELECT run_id, count(*) FROM {table} GROUP BY 1")
        )
        expected = {
            run_id: synthetic_run_tables(run_id, vintage, created_at)[table].height
            for run_id, vintage, created_at in (OLDER, NEWER)
        }
        assert counts == expected, table
    # The Parquet file is the latest publish: the newer run only, as published.
    assert_frame_equal(pl.read_parquet(published.parquet), forecasts)


def test_forecasts_latest_is_each_targets_newest_vintage_not_a_later_replay(local_settings):
    publish_runs(local_settings, OLDER, NEWER, REPLAY)
    database = local_settings.data_dir / "talentflow.duckdb"
    latest = duckdb_rows(database, "SELECT DISTINCT target, run_id FROM forecasts_latest")
    assert sorted(latest) == [("china_researcher_inflows", "run-2023"), ("researchers", "run-2023")]
    with duckdb.connect(str(database), read_only=True) as connection:
        view = in_utc(connection.sql("SELECT * FROM forecasts_latest").pl())
    expected = synthetic_forecasts(*NEWER)
    assert view.columns == list(FORECASTS_SCHEMA)
    assert_frame_equal(view, expected, check_row_order=False)


def test_a_newer_run_of_the_same_vintage_becomes_the_latest(local_settings):
    rerun = ("run-2023-bis", 2023, datetime(2026, 11, 20, tzinfo=UTC))
    publish_runs(local_settings, NEWER, rerun)
    database = local_settings.data_dir / "talentflow.duckdb"
    assert duckdb_rows(database, "SELECT DISTINCT run_id FROM forecasts_latest") == [
        ("run-2023-bis",)
    ]


def test_forecasts_selected_is_the_selected_model_of_the_latest_run(local_settings):
    publish_runs(local_settings, OLDER, NEWER)
    database = local_settings.data_dir / "talentflow.duckdb"
    rows = duckdb_rows(
        database,
        "SELECT DISTINCT run_id, model, is_selected FROM forecasts_selected",
    )
    assert rows == [("run-2023", "ets", True)]
    selected = synthetic_forecasts(*NEWER).filter("is_selected")
    assert duckdb_rows(database, "SELECT count(*) FROM forecasts_selected") == [(selected.height,)]


def test_a_run_table_whose_columns_change_is_kept_beside_the_new_one(local_settings):
    publish_runs(local_settings, OLDER)
    database = local_settings.data_dir / "talentflow.duckdb"
    old_rows = synthetic_forecasts(*OLDER).height
    migrated = synthetic_forecasts(*NEWER).with_columns(pl.lit("x").alias("new_column"))
    publish_table(migrated, "forecasts", local_settings)
    tables = {row[0] for row in duckdb_rows(database, "SELECT table_name FROM duckdb_tables()")}
    archives = [t for t in tables if re.fullmatch(r"forecasts_until_\d{14}", t)]
    assert len(archives) == 1
    assert duckdb_rows(database, f"SELECT count(*) FROM {archives[0]}") == [(old_rows,)]
    assert duckdb_rows(database, "SELECT DISTINCT run_id FROM forecasts") == [("run-2023",)]
    assert duckdb_rows(database, "SELECT DISTINCT run_id FROM forecasts_latest") == [("run-2023",)]


def test_a_view_whose_columns_are_gone_is_dropped_not_left_stale(local_settings):
    publish_runs(local_settings, OLDER)
    publish_table(synthetic_forecasts(*NEWER).drop("is_selected"), "forecasts", local_settings)
    database = local_settings.data_dir / "talentflow.duckdb"
    views = duckdb_rows(database, "SELECT view_name FROM duckdb_views() WHERE NOT internal")
    assert views == [("forecasts_latest",)]
    assert duckdb_rows(database, "SELECT DISTINCT run_id FROM forecasts_latest") == [("run-2023",)]


@pytest.mark.parametrize("table", UNSAFE_NAMES)
def test_unsafe_table_names_are_refused_before_anything_is_written(local_settings, table):
    with pytest.raises(ValueError, match="lowercase letters"):
        publish_table(synthetic_panel("run-a", 1), table, local_settings)
    assert not local_settings.data_dir.exists()


def test_a_run_table_without_run_ids_is_refused(local_settings):
    frame = synthetic_model_selection("run-a", 2023)
    with pytest.raises(ValueError, match="run_id"):
        publish_table(frame.drop("run_id"), "model_selection", local_settings)
    with pytest.raises(ValueError, match="lack a run_id"):
        publish_table(
            frame.with_columns(pl.lit(None, pl.String).alias("run_id")),
            "model_selection",
            local_settings,
        )


def test_a_failed_duckdb_publish_leaves_the_previous_table(local_settings, monkeypatch):
    publish_runs(local_settings, OLDER)
    database = local_settings.data_dir / "talentflow.duckdb"
    # Fail after the run's rows were deleted and the new ones inserted: at the views.
    monkeypatch.setattr(
        "talentflow.tasks.publish.view_statements",
        lambda *args, **kwargs: ["SELECT * FROM missing"],
    )
    with pytest.raises(duckdb.CatalogException, match="missing"):
        publish_table(synthetic_forecasts(*NEWER), "forecasts", local_settings)
    assert duckdb_rows(database, "SELECT run_id, count(*) FROM forecasts GROUP BY 1") == [
        ("run-2022", synthetic_forecasts(*OLDER).height)
    ]
    assert duckdb_rows(database, "SELECT DISTINCT run_id FROM forecasts_latest") == [("run-2022",)]
    parquet = pl.read_parquet(local_settings.data_dir / "published" / "forecasts.parquet")
    assert parquet["run_id"].unique().to_list() == ["run-2022"]


# --- a run published whole -----------------------------------------------------------------


def run_frames(run: tuple[str, int, datetime]) -> dict[str, pl.DataFrame]:
    return {**synthetic_run_tables(*run), "country_year_panel": synthetic_panel(run[0], 4)}


def run_ledger(run: tuple[str, int, datetime], frames) -> pl.DataFrame:
    from talentflow.tasks.publish import runs_row

    run_id, vintage, created_at = run
    return runs_row(
        run_id, vintage, None, created_at, {"synthetic": "0" * 64}, frames, f"fingerprint-{run_id}"
    )


def publish_whole(settings: Settings, run) -> None:
    from talentflow.tasks.publish import publish_tables

    frames = run_frames(run)
    publish_tables({**frames, "runs": run_ledger(run, frames)}, settings)


def stores_latest(settings: Settings) -> tuple[set, set, set]:
    """The run ids each local store shows: DuckDB's forecasts_latest, the runs ledger,
    and the panel's Parquet file."""
    database = settings.data_dir / "talentflow.duckdb"
    latest = {r[0] for r in duckdb_rows(database, "SELECT DISTINCT run_id FROM forecasts_latest")}
    ledger = {r[0] for r in duckdb_rows(database, "SELECT run_id FROM runs")}
    panel = set(
        pl.read_parquet(settings.data_dir / "published" / "country_year_panel.parquet")["run_id"]
    )
    return latest, ledger, panel


def test_a_run_fails_whole_when_one_of_its_tables_fails_in_duckdb(local_settings, monkeypatch):
    """The failure comes at the last table of the run: every table before it, and the
    Parquet files, stay as the previous run left them; no staging file is left behind."""
    publish_whole(local_settings, OLDER)
    from talentflow.tasks import publish as publishing

    real = publishing.view_statements

    def failing_on_the_panel(table, columns, schema_prefix):
        if table == "country_year_panel":
            return ["SELECT * FROM missing"]
        return real(table, columns, schema_prefix)

    monkeypatch.setattr(publishing, "view_statements", failing_on_the_panel)
    with pytest.raises(duckdb.CatalogException):
        publish_whole(local_settings, NEWER)
    assert stores_latest(local_settings) == ({"run-2022"}, {"run-2022"}, {"run-2022"})
    database = local_settings.data_dir / "talentflow.duckdb"
    assert {r[0] for r in duckdb_rows(database, "SELECT DISTINCT run_id FROM model_selection")} == {
        "run-2022"
    }
    versions = local_settings.data_dir / ".published"
    assert [v.name for v in versions.iterdir()] == [
        (local_settings.data_dir / "published").resolve().name
    ], "the failed publish's version was removed"


def test_a_publish_killed_midway_leaves_a_version_nobody_reads_the_next_one_removes(
    local_settings,
):
    publish_whole(local_settings, OLDER)
    versions = local_settings.data_dir / ".published"
    stale = versions / "29991231T000000000000Z"  # what a SIGKILL before the switch leaves
    stale.mkdir()
    (stale / "forecasts.parquet").write_bytes(b"half a file")
    assert stores_latest(local_settings) == ({"run-2022"}, {"run-2022"}, {"run-2022"})
    publish_whole(local_settings, NEWER)
    assert not stale.exists()
    assert stores_latest(local_settings) == ({"run-2023"}, {"run-2022", "run-2023"}, {"run-2023"})


def test_parquet_readers_see_one_runs_files_and_tables_not_republished_are_kept(local_settings):
    """``published`` is a symlink switched in one rename: every file a reader opens through
    one resolved path is of one run; a table this run did not publish is carried over."""
    publish_whole(local_settings, OLDER)
    publish_table(synthetic_panel("run-extra", 2), "talent_findings", local_settings)
    link = local_settings.data_dir / "published"
    before = link.resolve()
    publish_whole(local_settings, NEWER)
    after = link.resolve()
    assert link.is_symlink() and before != after
    assert set(pl.read_parquet(after / "forecasts.parquet")["run_id"]) == {"run-2023"}
    assert set(pl.read_parquet(before / "forecasts.parquet")["run_id"]) == {"run-2022"}
    kept = pl.read_parquet(link / "talent_findings.parquet")
    assert set(kept["run_id"]) == {"run-extra"}  # carried into the new version
    assert (after / "talent_findings.parquet").stat().st_ino == (
        before / "talent_findings.parquet"
    ).stat().st_ino  # a hard link, not a copy


def test_a_published_folder_of_an_earlier_version_is_taken_over(local_settings):
    """Before versions, ``published`` was a plain folder: its tables are kept."""
    old = local_settings.data_dir / "published"
    old.mkdir(parents=True)
    synthetic_panel("run-old", 3).write_parquet(old / "talent_findings.parquet")
    publish_whole(local_settings, OLDER)
    assert old.is_symlink()
    assert set(pl.read_parquet(old / "talent_findings.parquet")["run_id"]) == {"run-old"}
    assert set(pl.read_parquet(old / "forecasts.parquet")["run_id"]) == {"run-2022"}


def test_a_database_that_is_down_changes_no_store(local_settings):
    """PostgreSQL goes first: a closed port fails the publish before DuckDB or Parquet
    change, so a failed run never becomes the latest anywhere (it once did in DuckDB)."""
    import socket

    from sqlalchemy.exc import OperationalError

    publish_whole(local_settings, OLDER)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = local_settings.model_copy(
        update={"database_url": f"postgresql+psycopg://nobody@127.0.0.1:{port}/x"}
    )
    with pytest.raises(OperationalError):
        publish_whole(down, NEWER)
    assert stores_latest(local_settings) == ({"run-2022"}, {"run-2022"}, {"run-2022"})


def test_the_three_stores_name_the_same_latest_complete_run(
    local_settings, postgres_url, postgres_schema
):
    settings = local_settings.model_copy(
        update={"database_url": postgres_url, "database_schema": postgres_schema}
    )
    publish_whole(settings, OLDER)
    publish_whole(settings, NEWER)
    latest, ledger, panel = stores_latest(settings)
    in_postgres = pg_rows(
        postgres_url, f'SELECT DISTINCT run_id FROM "{postgres_schema}".forecasts_latest'
    )
    assert latest == panel == {"run-2023"} == {row[0] for row in in_postgres}
    assert ledger == {"run-2022", "run-2023"}
    runs = pg_frame(postgres_url, f'SELECT * FROM "{postgres_schema}".runs ORDER BY run_id')
    assert runs["status"].to_list() == ["complete", "complete"]
    assert "country_year_panel" in runs["tables"][0] and "synthetic" in runs["inputs"][0]


# --- what stands: the latest run every store holds ---------------------------------------------


def test_the_latest_published_run_and_its_tables_are_read_back(local_settings):
    from talentflow.tasks.publish import latest_published_run, standing_tables

    assert latest_published_run(local_settings) is None, "nothing published yet"
    publish_whole(local_settings, OLDER)
    publish_whole(local_settings, NEWER)
    run = latest_published_run(local_settings)
    assert (run["run_id"], run["fingerprint"]) == ("run-2023", "fingerprint-run-2023")
    tables = standing_tables(local_settings, run)
    assert set(tables) == set(run_frames(NEWER))
    assert tables["forecasts"].rows == synthetic_forecasts(*NEWER).height
    assert pl.read_parquet(tables["forecasts"].parquet)["run_id"].unique().to_list() == ["run-2023"]


def test_no_run_stands_when_a_store_lost_its_tables(local_settings):
    from talentflow.tasks.publish import latest_published_run

    publish_whole(local_settings, NEWER)
    (local_settings.data_dir / "published" / "model_selection.parquet").unlink()
    assert latest_published_run(local_settings) is None


def test_no_run_stands_when_the_parquet_files_are_another_runs(local_settings):
    """DuckDB committed a run whose Parquet switch never happened: publish again."""
    from talentflow.tasks.publish import latest_published_run

    publish_whole(local_settings, OLDER)
    frames = run_frames(NEWER)
    from talentflow.tasks.publish import publish_duckdb_tables

    publish_duckdb_tables(
        {**frames, "runs": run_ledger(NEWER, frames)}, local_settings.data_dir / "talentflow.duckdb"
    )
    assert latest_published_run(local_settings) is None


def test_a_runs_ledger_without_fingerprints_stands_for_nothing(local_settings):
    from talentflow.tasks.publish import latest_published_run

    frames = run_frames(NEWER)
    publish_table(run_ledger(NEWER, frames).drop("fingerprint"), "runs", local_settings)
    assert latest_published_run(local_settings) is None


def test_no_run_stands_when_postgres_lags_behind(local_settings, postgres_url, postgres_schema):
    from talentflow.tasks.publish import latest_published_run

    settings = local_settings.model_copy(
        update={"database_url": postgres_url, "database_schema": postgres_schema}
    )
    assert latest_published_run(settings) is None
    publish_whole(settings, OLDER)
    assert latest_published_run(settings)["run_id"] == "run-2022"
    publish_whole(local_settings, NEWER)  # DuckDB and Parquet only
    assert latest_published_run(local_settings)["run_id"] == "run-2023"
    assert latest_published_run(settings) is None
    publish_whole(settings, NEWER)
    assert latest_published_run(settings)["run_id"] == "run-2023"


# --- docs/consuming.md ----------------------------------------------------------------------


def documented_queries() -> list[str]:
    """Every ```sql block of docs/consuming.md."""
    text_ = (REPO / "docs" / "consuming.md").read_text()
    return re.findall(r"^```sql\n(.*?)^```", text_, flags=re.DOTALL | re.MULTILINE)


def test_the_documentation_has_its_example_queries():
    assert len(documented_queries()) >= 5


@pytest.mark.parametrize("query", documented_queries(), ids=lambda q: q.split("\n")[0][:40])
def test_each_documented_query_runs_on_duckdb(local_settings, query):
    publish_runs(local_settings, OLDER, NEWER, REPLAY)
    rows = duckdb_rows(local_settings.data_dir / "talentflow.duckdb", query)
    assert rows, f"no rows from:\n{query}"


# --- PostgreSQL -----------------------------------------------------------------------------


def pg_frame(url: str, sql: str) -> pl.DataFrame:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return in_utc(pl.read_database(sql, connection, infer_schema_length=None))
    finally:
        engine.dispose()


def pg_rows(url: str, sql: str, **params) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]
    finally:
        engine.dispose()


def publish_runs_postgres(url: str, schema: str, *runs: tuple[str, int, datetime]) -> None:
    for run_id, vintage, created_at in runs:
        for table, frame in synthetic_run_tables(run_id, vintage, created_at).items():
            publish_postgres(frame, table, url, schema)


@pytest.mark.postgres
def test_postgres_types_are_mapped_explicitly_and_values_round_trip(postgres_url, postgres_schema):
    frame = pl.DataFrame(
        {
            "run_id": ["r1", "r1", "r1"],
            "count": pl.Series([1, None, -2_000_000_000], dtype=pl.Int32),
            "big": pl.Series([2**40, 0, None], dtype=pl.Int64),
            "value": [0.1 + 0.2, float("nan"), float("inf")],
            "flag": [True, None, False],
            "label": ["中国", "", None],
            "quoted": ['a "quoted", comma', "line\nbreak", "\\N"],
            "day": [date(2020, 1, 1), None, date(1999, 12, 31)],
            "created_at": pl.Series(
                [datetime(2026, 11, 29, 12, 30, 1, 123456, tzinfo=UTC)] * 3,
                dtype=pl.Datetime("us", "UTC"),
            ),
        }
    )
    publish_postgres(frame, "types_check", postgres_url, postgres_schema)
    stored = pg_rows(
        postgres_url,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = :schema AND table_name = 'types_check' ORDER BY ordinal_position",
        schema=postgres_schema,
    )
    assert stored == [
        ("run_id", "text"),
        ("count", "integer"),
        ("big", "bigint"),
        ("value", "double precision"),
        ("flag", "boolean"),
        ("label", "text"),
        ("quoted", "text"),
        ("day", "date"),
        ("created_at", "timestamp with time zone"),
    ]
    back = pg_frame(postgres_url, f'SELECT * FROM "{postgres_schema}".types_check')
    # The stored types are checked above; Polars reads a PostgreSQL integer as Int64.
    assert_frame_equal(back, frame, check_row_order=False, check_dtypes=False)


def test_postgres_types_of_the_forecasts_schema():
    assert {column: postgres_type(dtype) for column, dtype in FORECASTS_SCHEMA.items()} == {
        "run_id": "text",
        "vintage": "integer",
        "target": "text",
        "country_iso3": "text",
        "origin_group": "text",
        "year": "integer",
        "scenario": "text",
        "model": "text",
        "is_selected": "boolean",
        "yhat": "double precision",
        "lo80": "double precision",
        "hi80": "double precision",
        "lo95": "double precision",
        "hi95": "double precision",
        "created_at": "timestamp with time zone",
    }
    with pytest.raises(TypeError, match="nested"):
        postgres_type(pl.List(pl.Int32), "nested")


@pytest.mark.postgres
def test_postgres_republishing_a_run_is_idempotent(postgres_url, postgres_schema):
    publish_runs_postgres(postgres_url, postgres_schema, NEWER)
    publish_runs_postgres(postgres_url, postgres_schema, NEWER)
    forecasts = synthetic_forecasts(*NEWER)
    back = pg_frame(postgres_url, f'SELECT * FROM "{postgres_schema}".forecasts')
    assert_frame_equal(back, forecasts, check_row_order=False, check_dtypes=False)
    for table, frame in synthetic_run_tables(*NEWER).items():
        count = pg_rows(postgres_url, f'SELECT count(*) FROM "{postgres_schema}".{table}')
        assert count == [(frame.height,)], table


@pytest.mark.postgres
def test_postgres_appends_runs_and_forecasts_latest_shows_the_newer(postgres_url, postgres_schema):
    publish_runs_postgres(postgres_url, postgres_schema, OLDER, NEWER, REPLAY)
    counts = dict(
        pg_rows(
            postgres_url, f'SELECT run_id, count(*) FROM "{postgres_schema}".forecasts GROUP BY 1'
        )
    )
    assert set(counts) == {"run-2022", "run-2023", "run-asof-2015"}
    latest = pg_frame(postgres_url, f'SELECT * FROM "{postgres_schema}".forecasts_latest')
    assert latest.columns == list(FORECASTS_SCHEMA)
    assert latest["run_id"].unique().to_list() == ["run-2023"]
    assert latest.height == synthetic_forecasts(*NEWER).height
    selected = pg_rows(
        postgres_url,
        f'SELECT DISTINCT run_id, model FROM "{postgres_schema}".forecasts_selected',
    )
    assert selected == [("run-2023", "ets")]


@pytest.mark.postgres
def test_postgres_failed_publish_leaves_the_previous_rows(postgres_url, postgres_schema):
    publish_runs_postgres(postgres_url, postgres_schema, OLDER)
    before = pg_frame(postgres_url, f'SELECT * FROM "{postgres_schema}".forecasts')
    # Same run, so its rows are deleted first; then COPY fails mid-way: PostgreSQL text
    # cannot hold a NUL character, and the last row has one.
    broken = synthetic_forecasts(*OLDER).with_columns(
        pl.when(pl.int_range(pl.len()) == pl.len() - 1)
        .then(pl.lit("bad\x00model"))
        .otherwise(pl.col("model"))
        .alias("model")
    )
    with pytest.raises(Exception, match="0x00"):
        publish_postgres(broken, "forecasts", postgres_url, postgres_schema)
    # A column of a type that cannot be written is refused before anything changes.
    nested = synthetic_forecasts(*NEWER).with_columns(pl.lit([1, 2]).alias("nested"))
    with pytest.raises(TypeError, match="nested"):
        publish_postgres(nested, "forecasts", postgres_url, postgres_schema)
    after = pg_frame(postgres_url, f'SELECT * FROM "{postgres_schema}".forecasts')
    assert_frame_equal(after, before, check_row_order=False)
    latest = pg_rows(
        postgres_url, f'SELECT DISTINCT run_id FROM "{postgres_schema}".forecasts_latest'
    )
    assert latest == [("run-2022",)]


@pytest.mark.postgres
@pytest.mark.parametrize("table", UNSAFE_NAMES)
def test_postgres_refuses_unsafe_names(postgres_url, postgres_schema, table):
    frame = synthetic_panel("run-a", 1)
    with pytest.raises(ValueError, match="lowercase letters"):
        publish_postgres(frame, table, postgres_url, postgres_schema)
    with pytest.raises(ValueError, match="schema name"):
        publish_postgres(frame, "panel", postgres_url, table or "Bad-Schema")
    exists = pg_rows(
        postgres_url,
        "SELECT count(*) FROM information_schema.schemata WHERE schema_name = :schema",
        schema=postgres_schema,
    )
    assert exists == [(0,)]


@pytest.mark.postgres
def test_postgres_schema_changes_keep_run_history_and_replace_other_tables(
    postgres_url,
    postgres_schema,
):
    publish_runs_postgres(postgres_url, postgres_schema, OLDER)
    publish_postgres(synthetic_panel("run-a", 4), "panel", postgres_url, postgres_schema)
    migrated = synthetic_forecasts(*NEWER).with_columns(pl.lit("x").alias("new_column"))
    publish_postgres(migrated, "forecasts", postgres_url, postgres_schema)
    renamed_panel = synthetic_panel("run-b", 2).rename({"year": "first_year"})
    publish_postgres(renamed_panel, "panel", postgres_url, postgres_schema)

    tables = [
        name
        for (name,) in pg_rows(
            postgres_url,
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :schema "
            "AND table_type = 'BASE TABLE' ORDER BY 1",
            schema=postgres_schema,
        )
    ]
    archives = [name for name in tables if re.fullmatch(r"forecasts_until_\d{14}", name)]
    assert len(archives) == 1 and "panel" in tables
    assert pg_rows(
        postgres_url, f'SELECT DISTINCT run_id FROM "{postgres_schema}".{archives[0]}'
    ) == [("run-2022",)]
    latest = pg_frame(postgres_url, f'SELECT * FROM "{postgres_schema}".forecasts_latest')
    assert latest.columns == [*FORECASTS_SCHEMA, "new_column"]
    assert latest["run_id"].unique().to_list() == ["run-2023"]
    panel = pg_frame(postgres_url, f'SELECT * FROM "{postgres_schema}".panel')
    assert panel.columns == ["run_id", "country_iso3", "first_year"] and panel.height == 2

    # Someone else's view over a replaced table: the publish refuses to drop it.
    schema = f'"{postgres_schema}"'
    engine = create_engine(postgres_url)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE VIEW {schema}.my_panel AS SELECT * FROM {schema}.panel"))
    engine.dispose()
    with pytest.raises(RuntimeError, match="other views read it"):
        publish_postgres(synthetic_panel("run-c", 3), "panel", postgres_url, postgres_schema)
    assert pg_rows(postgres_url, f'SELECT DISTINCT run_id FROM "{postgres_schema}".panel') == [
        ("run-b",)
    ]


@pytest.mark.postgres
def test_postgres_a_role_given_an_existing_schema_can_publish(postgres_url, postgres_schema):
    """The usual production grant: a DBA creates the schema for the pipeline's role, which
    may not create schemas (PostgreSQL's default: no CREATE on the database)."""
    role = f"{postgres_schema}_role"
    schema = f'"{postgres_schema}"'
    database = make_url(postgres_url).database
    admin = create_engine(postgres_url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        connection.execute(text(f'CREATE SCHEMA {schema} AUTHORIZATION "{role}"'))
    try:
        may_create = pg_rows(
            postgres_url,
            "SELECT has_database_privilege(:role, :database, 'CREATE')",
            role=role,
            database=database,
        )
        assert may_create == [(False,)]
        url = make_url(postgres_url).set(username=role, password=None)
        publish_runs_postgres(url.render_as_string(hide_password=False), postgres_schema, NEWER)
        latest = pg_rows(postgres_url, f"SELECT DISTINCT run_id FROM {schema}.forecasts_latest")
        assert latest == [("run-2023",)]
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            connection.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


@pytest.mark.postgres
def test_publish_table_writes_postgres_when_a_database_url_is_set(
    tmp_path,
    postgres_url,
    postgres_schema,
):
    settings = Settings(
        data_dir=tmp_path / "data", database_url=postgres_url, database_schema=postgres_schema
    ).resolved()
    published = publish_table(synthetic_forecasts(*NEWER), "forecasts", settings)
    assert published.postgres == f"{postgres_schema}.forecasts"
    assert pg_rows(
        postgres_url, f'SELECT count(*) FROM "{postgres_schema}".forecasts_latest'
    ) == duckdb_rows(published.duckdb, "SELECT count(*) FROM forecasts_latest")


@pytest.mark.postgres
@pytest.mark.parametrize("query", documented_queries(), ids=lambda q: q.split("\n")[0][:40])
def test_each_documented_query_runs_on_postgres(postgres_url, postgres_schema, query):
    publish_runs_postgres(postgres_url, postgres_schema, OLDER, NEWER, REPLAY)
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as connection:
            connection.execute(text(f'SET search_path TO "{postgres_schema}"'))
            rows = connection.execute(text(query)).fetchall()
    finally:
        engine.dispose()
    assert rows, f"no rows from:\n{query}"


def test_stored_replays_are_read_back_for_scoring(tmp_path):
    from talentflow.tasks.publish import publish_duckdb, stored_replays

    database = tmp_path / "talentflow.duckdb"
    assert stored_replays(database).is_empty()  # nothing published yet
    current = synthetic_forecasts("current", 2024, datetime(2026, 11, 30, tzinfo=UTC))
    replay = synthetic_forecasts("replay", 2015, datetime(2026, 11, 30, tzinfo=UTC))
    publish_duckdb(pl.concat([current, replay]), "forecasts", database)
    stored = stored_replays(database)
    assert set(stored["run_id"]) == {"replay"}  # only runs older than the newest vintage
    assert set(stored["scenario"]) == {"Medium"}
    assert set(stored.filter(~pl.col("is_selected"))["model"]) <= {"naive", "drift"}
