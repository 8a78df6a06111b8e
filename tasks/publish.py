"""Publish tables where users read them: Parquet files, one DuckDB database and, when
``TALENTFLOW_DATABASE_URL`` is set, a PostgreSQL schema (docs/consuming.md tells readers
how to query them).

Two kinds of table
------------------
- **Run tables** (:data:`RUN_TABLES`, ``talentflow.core.tables``: ``forecasts``,
  ``backtest_metrics``, ``model_selection``, ``forecast_plausibility``,
  ``forecast_bounds``) keep every run, so that analysts can compare vintages: a publish
  *appends* the run's rows to DuckDB and PostgreSQL. Republishing a ``run_id`` replaces
  that run's rows; it never duplicates them.
- **Every other table** is *replaced* by each run; ``run_id`` in its rows, where it has
  one, says which run made it.

The Parquet file of every table is the frame of the latest publish (for a run table:
the latest run's rows only).

Views (:data:`VIEWS`), in DuckDB and in the PostgreSQL schema, are recreated by every
publish of the table they read:

- ``forecasts_latest``: for each target, the rows of its latest run. The latest run is
  the one with the newest ``vintage`` and, among runs of that vintage, the newest
  ``created_at``; so a replayed ``--as-of`` run never hides the current forecasts.
- ``forecasts_selected``: the rows of ``forecasts_latest`` whose model the backtest
  selected (``is_selected``).

A view whose columns the table lacks is dropped instead of created.

Atomic and idempotent
---------------------
Each store changes all at once or not at all. DuckDB and PostgreSQL change inside one
transaction each: the table's rows (all of them, or the run's) are deleted, the new ones
inserted and the views recreated, then the transaction commits; any failure rolls it
back and leaves the previous table, rows and views as they were. Readers see the old
rows or the new ones, never a mixture, and are not blocked: PostgreSQL's ``DELETE`` is
MVCC-safe, unlike ``TRUNCATE``. When the columns of a run table change (a schema
migration), the stored table is renamed ``<table>_until_<UTC timestamp>`` (its runs are
kept, never dropped) and a new one created, in the same transaction; any other table is
simply replaced (in PostgreSQL the drop fails, changing nothing, while a view of someone
else's reads the table).

A run is published whole (:func:`publish_run`): every table of the run and its ``runs``
row in ONE transaction per store, after every check passed, so a failed or killed run
leaves no row anywhere and ``forecasts_latest`` can only name a complete run. The Parquet
files are written first into a new version of the Parquet folder (``.published/<time>``;
nothing visible changes), then PostgreSQL commits (the store most likely to fail goes
first, so its failure leaves every store as it was), then DuckDB, then ``published`` (a
symlink) is pointed at the new version in one rename, so Parquet readers too see one
run's files or the other's, never a mixture. Rerunning the
publish gives the same rows.

This module is the only one that writes published tables; it never decides what goes in
them.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import psycopg
from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from talentflow.core.settings import Settings, get_settings
from talentflow.core.storage import duckdb_path, published_dir, published_parquet
from talentflow.core.tables import RUN_TABLES as RUN_TABLE_SCHEMAS
from talentflow.core.tables import RUNS_SCHEMA

logger = logging.getLogger(__name__)

#: Tables that keep every run's rows (appended; one run's rows replaced on republish).
RUN_TABLES = frozenset(RUN_TABLE_SCHEMAS)
#: Tables whose rows are kept per run: the run tables and the ``runs`` ledger itself.
APPENDED_TABLES = RUN_TABLES | {"runs"}

#: A table or schema name: lowercase, starting with a letter, short enough that
#: ``<name>_until_<14-digit timestamp>`` fits PostgreSQL's 63-character identifiers.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
#: PostgreSQL truncates longer identifiers silently; a column name is refused instead.
MAX_COLUMN_NAME_BYTES = 63
#: How long a publish waits for a lock (a reader's long query on a view) before it fails
#: and leaves the previous table; the run can then be retried.
LOCK_TIMEOUT_SECONDS = 120
#: Rows per CSV chunk streamed to PostgreSQL's COPY (bounds the memory of a large table).
COPY_CHUNK_ROWS = 50_000

#: PostgreSQL types of Polars dtypes, spelled as ``format_type()`` reports them so that a
#: stored table's columns compare equal to a frame's. Datetime and Decimal are handled in
#: :func:`postgres_type`; any other dtype is refused.
POSTGRES_TYPES: dict[type[pl.DataType], str] = {
    pl.Boolean: "boolean",
    pl.Int8: "smallint",
    pl.Int16: "smallint",
    pl.Int32: "integer",
    pl.Int64: "bigint",
    pl.UInt8: "smallint",
    pl.UInt16: "integer",
    pl.UInt32: "bigint",
    pl.UInt64: "numeric(20,0)",
    pl.Float32: "real",
    pl.Float64: "double precision",
    pl.String: "text",
    pl.Categorical: "text",
    pl.Enum: "text",
    pl.Date: "date",
}


@dataclass(frozen=True)
class View:
    """A view for consumers over one published table.

    ``sql`` is the SELECT that defines it, the same in DuckDB and PostgreSQL, with
    ``{schema}`` where a table or view name needs its schema prefix (``""`` in DuckDB,
    ``"talentflow".`` in PostgreSQL); ``requires`` are the columns the table must have
    for the view to exist."""

    name: str
    requires: frozenset[str]
    sql: str


_FORECASTS_LATEST_SQL = """
SELECT f.*
FROM {schema}forecasts AS f
JOIN (
    SELECT target, run_id
    FROM (
        SELECT
            target,
            run_id,
            -- newest vintage first, then the newest run of it; ties: the larger run_id
            row_number() OVER (
                PARTITION BY target
                ORDER BY max(vintage) DESC, max(created_at) DESC, run_id DESC
            ) AS recency
        FROM {schema}forecasts
        GROUP BY target, run_id
    ) AS runs
    WHERE recency = 1
) AS latest ON f.target = latest.target AND f.run_id = latest.run_id
"""

#: The views over each table, in creation order (a view may read one created before it).
VIEWS: dict[str, tuple[View, ...]] = {
    "forecasts": (
        View(
            "forecasts_latest",
            frozenset({"run_id", "target", "vintage", "created_at"}),
            _FORECASTS_LATEST_SQL,
        ),
        View(
            "forecasts_selected",
            frozenset({"run_id", "target", "vintage", "created_at", "is_selected"}),
            "SELECT * FROM {schema}forecasts_latest WHERE is_selected",
        ),
    ),
}


@dataclass(frozen=True)
class PublishedTable:
    """Where one published table can be read.

    ``postgres`` is the schema-qualified table name in the database of
    ``TALENTFLOW_DATABASE_URL``, or None when PostgreSQL publishing is off."""

    table: str
    rows: int
    parquet: Path
    duckdb: Path
    postgres: str | None = None


def checked_name(name: str, what: str = "table") -> str:
    """``name`` if it is a safe table or schema name, else ValueError saying the rule."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"{what} name {name!r} must start with a lowercase letter and hold only "
            "lowercase letters, digits and _, at most 40 characters"
        )
    return name


def quoted(identifier: str) -> str:
    """``identifier`` as a double-quoted SQL identifier (DuckDB and PostgreSQL)."""
    return '"' + identifier.replace('"', '""') + '"'


def view_statements(table: str, columns: Iterable[str], schema_prefix: str) -> list[str]:
    """The SQL that brings the views over ``table`` up to date: ``DROP VIEW IF EXISTS``
    for each view whose required columns the table lacks (a view over a column that is
    gone would fail or mislead), dependent views first, then ``CREATE OR REPLACE VIEW``
    for the others, in order."""
    present = set(columns)
    views = VIEWS.get(table, ())
    drops = [
        f"DROP VIEW IF EXISTS {schema_prefix}{quoted(view.name)}"
        for view in reversed(views)
        if not view.requires <= present
    ]
    creates = [
        f"CREATE OR REPLACE VIEW {schema_prefix}{quoted(view.name)} AS "
        + view.sql.format(schema=schema_prefix).strip()
        for view in views
        if view.requires <= present
    ]
    return drops + creates


def archive_name(table: str, now: datetime | None = None) -> str:
    """The name a stored table is kept under when a publish changes its columns."""
    return f"{table}_until_{(now or datetime.now(UTC)).strftime('%Y%m%d%H%M%S')}"


def check_run_table(frame: pl.DataFrame, table: str) -> None:
    """Refuse a frame of a run table without a complete ``run_id`` column (its rows could
    never be replaced by a republish)."""
    if "run_id" not in frame.columns:
        raise ValueError(
            f"table {table!r} keeps every run's rows, so its frame needs a run_id column; "
            f"it has {frame.columns}"
        )
    if frame["run_id"].null_count():
        raise ValueError(f"table {table!r}: {frame['run_id'].null_count()} rows lack a run_id")


# --- DuckDB -------------------------------------------------------------------------------


def publish_duckdb(frame: pl.DataFrame, table: str, database: Path) -> None:
    """Write ``frame`` as ``table`` into the DuckDB file ``database`` in one transaction:
    replace the table, or for a run table replace the frame's runs' rows, then bring the
    table's views up to date."""
    checked_name(table)
    if table in APPENDED_TABLES:
        check_run_table(frame, table)
    publish_duckdb_tables({table: frame}, database)


def publish_duckdb_tables(frames: dict[str, pl.DataFrame], database: Path) -> None:
    """Write every frame of ``frames`` into the DuckDB file ``database`` in ONE
    transaction: all of them, or none (a failure rolls every table back)."""
    database.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(database)) as connection:
        connection.execute("BEGIN TRANSACTION")
        try:
            for table, frame in frames.items():
                connection.register("incoming", frame.to_arrow())
                if table in APPENDED_TABLES:
                    _append_run_duckdb(connection, table)
                else:
                    connection.execute(
                        f"CREATE OR REPLACE TABLE {quoted(table)} AS SELECT * FROM incoming"
                    )
                for statement in view_statements(table, frame.columns, schema_prefix=""):
                    connection.execute(statement)
                connection.unregister("incoming")
            connection.execute("COMMIT")
        except Exception:
            connection.execute("ROLLBACK")
            raise


def _append_run_duckdb(connection: duckdb.DuckDBPyConnection, table: str) -> None:
    name = quoted(table)
    incoming = connection.execute("DESCRIBE incoming").fetchall()
    exists = connection.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'main' AND table_name = ?",
        [table],
    ).fetchone()[0]
    if exists:
        stored = connection.execute(f"DESCRIBE {name}").fetchall()
        if [row[:2] for row in stored] != [row[:2] for row in incoming]:
            archive = archive_name(table)
            logger.warning("%s changed columns; the stored table is kept as %s", table, archive)
            connection.execute(f"ALTER TABLE {name} RENAME TO {quoted(archive)}")
            exists = False
    if not exists:
        connection.execute(f"CREATE TABLE {name} AS SELECT * FROM incoming LIMIT 0")
    connection.execute(f"DELETE FROM {name} WHERE run_id IN (SELECT run_id FROM incoming)")
    connection.execute(f"INSERT INTO {name} SELECT * FROM incoming")


# --- PostgreSQL ---------------------------------------------------------------------------


def postgres_type(dtype: pl.DataType, column: str = "?") -> str:
    """The PostgreSQL type a Polars column is stored as (see :data:`POSTGRES_TYPES`);
    TypeError for a dtype talentflow does not publish."""
    if isinstance(dtype, pl.Datetime):
        zoned = dtype.time_zone is not None
        return "timestamp with time zone" if zoned else "timestamp without time zone"
    if isinstance(dtype, pl.Decimal):
        return "numeric" if dtype.precision is None else f"numeric({dtype.precision},{dtype.scale})"
    sql_type = POSTGRES_TYPES.get(dtype.base_type())
    if sql_type is None:
        raise TypeError(
            f"column {column!r} has dtype {dtype}, which talentflow does not publish to "
            "PostgreSQL: cast it to a number, boolean, string, date or datetime where the "
            "table is built"
        )
    return sql_type


def postgres_columns(frame: pl.DataFrame) -> list[tuple[str, str]]:
    """``(column, PostgreSQL type)`` of every column of ``frame``, in order."""
    columns = []
    for column, dtype in frame.schema.items():
        if not column or len(column.encode()) > MAX_COLUMN_NAME_BYTES or "\x00" in column:
            raise ValueError(
                f"column name {column!r} cannot be a PostgreSQL column (1-63 bytes, no NUL)"
            )
        columns.append((column, postgres_type(dtype, column)))
    return columns


def postgres_engine(database_url: str, connect_timeout: int | None = None) -> Engine:
    """A SQLAlchemy engine on ``database_url`` through psycopg 3, without a pool (a publish
    opens one connection and closes it). ``postgresql://`` URLs are read as
    ``postgresql+psycopg://``; another driver is refused, because the bulk load uses
    psycopg's COPY."""
    url = make_url(database_url)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    if url.drivername != "postgresql+psycopg":
        raise ValueError(
            f"TALENTFLOW_DATABASE_URL must be a postgresql+psycopg:// URL, not "
            f"{url.drivername}:// ({url!r})"
        )
    connect_args = {} if connect_timeout is None else {"connect_timeout": connect_timeout}
    return create_engine(url, poolclass=NullPool, connect_args=connect_args)


def publish_postgres(frame: pl.DataFrame, table: str, database_url: str, schema: str) -> str:
    """Write ``frame`` as ``schema.table`` in PostgreSQL in one transaction and return the
    qualified name.

    In order: take the schema's publish lock (concurrent publishes queue), create the
    schema and the table if missing (a stored table whose columns differ is first
    renamed ``<table>_until_<timestamp>`` if it is a run table, else dropped), delete the
    rows being replaced (all, or the frame's runs' for a run table), COPY the frame in,
    and bring the views up to date. Any failure rolls everything back."""
    return publish_postgres_tables({table: frame}, database_url, schema)[table]


def publish_postgres_tables(
    frames: dict[str, pl.DataFrame], database_url: str, schema: str
) -> dict[str, str]:
    """Write every frame of ``frames`` into the PostgreSQL ``schema`` in ONE transaction
    (all of them or none) and return each table's qualified name."""
    checked_name(schema, "schema")
    for table, frame in frames.items():
        checked_name(table)
        if table in APPENDED_TABLES:
            check_run_table(frame, table)
    columns = {table: postgres_columns(frame) for table, frame in frames.items()}
    engine = postgres_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_SECONDS}s'"))
            # Serialises publishers of one schema: creating a missing schema or table races.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                {"key": f"talentflow publish {schema}"},
            )
            # Only when missing: CREATE SCHEMA needs CREATE on the database even with IF NOT
            # EXISTS, which a role given an existing schema need not have.
            if connection.execute(
                text("SELECT to_regnamespace(:schema) IS NULL"), {"schema": quoted(schema)}
            ).scalar_one():
                connection.execute(text(f"CREATE SCHEMA {quoted(schema)}"))
            for table, frame in frames.items():
                _publish_postgres_in(connection, frame, table, schema, columns[table])
    finally:
        engine.dispose()
    return {table: f"{schema}.{table}" for table in frames}


def _publish_postgres_in(
    connection: Connection,
    frame: pl.DataFrame,
    table: str,
    schema: str,
    columns: list[tuple[str, str]],
) -> None:
    qualified = f"{quoted(schema)}.{quoted(table)}"
    stored = _stored_postgres_columns(connection, schema, table)
    if stored and stored != columns:
        _retire_postgres_table(connection, schema, table)
        stored = []
    if not stored:
        definition = ", ".join(f"{quoted(name)} {sql_type}" for name, sql_type in columns)
        connection.execute(text(f"CREATE TABLE {qualified} ({definition})"))
        if table in APPENDED_TABLES:
            connection.execute(text(f"CREATE INDEX ON {qualified} (run_id)"))
    if table in APPENDED_TABLES:
        run_ids = frame["run_id"].unique().to_list()
        connection.execute(
            text(f"DELETE FROM {qualified} WHERE run_id = ANY(:run_ids)"),
            {"run_ids": run_ids},
        )
    else:
        connection.execute(text(f"DELETE FROM {qualified}"))
    _copy_into(connection, qualified, frame)
    for statement in view_statements(table, frame.columns, f"{quoted(schema)}."):
        connection.execute(text(statement))


def _retire_postgres_table(connection: Connection, schema: str, table: str) -> None:
    """Make way for a table whose columns changed: a run table is renamed
    ``<table>_until_<timestamp>`` (its history is kept); any other table is dropped, and
    the drop fails, leaving everything as it was, while a view of someone else's reads it.
    """
    qualified = f"{quoted(schema)}.{quoted(table)}"
    try:
        # Our views would follow a renamed table (PostgreSQL binds a view to its oid).
        for view in reversed(VIEWS.get(table, ())):
            connection.execute(text(f"DROP VIEW IF EXISTS {quoted(schema)}.{quoted(view.name)}"))
        if table in APPENDED_TABLES:
            archive = archive_name(table)
            logger.warning("%s.%s changed columns; its runs are kept in %s", schema, table, archive)
            connection.execute(text(f"ALTER TABLE {qualified} RENAME TO {quoted(archive)}"))
        else:
            connection.execute(text(f"DROP TABLE {qualified}"))
    except DBAPIError as error:
        if isinstance(error.orig, psycopg.errors.DependentObjectsStillExist):
            raise RuntimeError(
                f"{schema}.{table} changed columns, and other views read it: drop those "
                f"views (or recreate them after the publish); PostgreSQL said: {error.orig}"
            ) from error
        raise


def _stored_postgres_columns(
    connection: Connection, schema: str, table: str
) -> list[tuple[str, str]]:
    rows = connection.execute(
        text(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute AS a "
            "WHERE a.attrelid = to_regclass(:relation) AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum"
        ),
        {"relation": f"{quoted(schema)}.{quoted(table)}"},
    )
    return [(name, sql_type) for name, sql_type in rows]


def _copy_into(connection: Connection, qualified: str, frame: pl.DataFrame) -> None:
    """Stream ``frame`` into ``qualified`` with COPY … FROM STDIN (CSV) on the
    transaction's own psycopg connection.

    Strings are quoted and nulls are unquoted empty fields, so COPY tells an empty
    string from a null; floats are written in their shortest round-trip form, NaN and
    infinities included; zoned datetimes carry their offset."""
    names = ", ".join(quoted(column) for column in frame.columns)
    driver_connection = connection.connection.driver_connection
    with (
        driver_connection.cursor() as cursor,
        cursor.copy(f"COPY {qualified} ({names}) FROM STDIN (FORMAT csv)") as copy,
    ):
        for chunk in frame.iter_slices(COPY_CHUNK_ROWS):
            copy.write(chunk.write_csv(None, include_header=False, quote_style="non_numeric"))


# --- all stores ---------------------------------------------------------------------------


def publish_table(frame: pl.DataFrame, table: str, settings: Settings) -> PublishedTable:
    """Publish one table to every store (:func:`publish_tables` with one frame)."""
    return publish_tables({table: frame}, settings)[table]


def publish_tables(
    frames: dict[str, pl.DataFrame], settings: Settings
) -> dict[str, PublishedTable]:
    """Publish ``frames`` to every store, each store all at once:

    1. every frame is checked (names, run ids, PostgreSQL types) and written as Parquet
       into a new version of the Parquet folder (``.published/<time>``, holding links to
       the current version's other tables): nothing a reader sees has changed yet;
    2. PostgreSQL (when ``settings.database_url`` is set), every table in one
       transaction: the store most likely to fail (a network, a server) goes first, so
       its failure leaves every store as it was;
    3. DuckDB, every table in one transaction;
    4. Parquet: ``published`` (a symlink) is pointed at the new version in one rename.

    A failure in step 3 after step 2 committed leaves PostgreSQL a run ahead, logged as
    such; publishing again (same run id) brings the other stores level."""
    for table, frame in frames.items():
        checked_name(table)
        if table in APPENDED_TABLES:
            check_run_table(frame, table)
        if settings.database_url:
            postgres_columns(frame)  # refuse an unpublishable column before any store changes
    if settings.database_url:
        checked_name(settings.database_schema, "schema")
    link = published_dir(settings)
    parquet = {table: link / published_parquet(settings, table).name for table in frames}
    version = _new_parquet_version(link, set(frames))
    try:
        for table, frame in frames.items():
            frame.write_parquet(version / parquet[table].name)
        postgres: dict[str, str] = {}
        if settings.database_url:
            postgres = publish_postgres_tables(
                frames, settings.database_url, settings.database_schema
            )
        database = duckdb_path(settings)
        try:
            publish_duckdb_tables(frames, database)
        except Exception:
            if postgres:
                logger.error(
                    "PostgreSQL holds the new rows of %s but DuckDB and Parquet do not: "
                    "publish again to bring them level",
                    ", ".join(frames),
                )
            raise
    except BaseException:
        shutil.rmtree(version, ignore_errors=True)
        raise
    _switch_parquet_version(link, version)
    return {
        table: PublishedTable(table, frame.height, parquet[table], database, postgres.get(table))
        for table, frame in frames.items()
    }


#: Where the versions of the Parquet folder live; ``published`` is a symlink to one.
PARQUET_VERSIONS = ".published"


def _new_parquet_version(link: Path, replaced: set[str]) -> Path:
    """A new, invisible version of the Parquet folder: the current version's files of
    the tables this publish does not replace, hard-linked (copied where links fail)."""
    versions = link.parent / PARQUET_VERSIONS
    current = link.resolve() if link.exists() else None
    _sweep_versions(versions, keep={current} if current else set())
    version = versions / datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    version.mkdir(parents=True)
    if current is not None and current.is_dir():
        for kept in current.glob("*.parquet"):
            if kept.stem in replaced:
                continue
            try:
                os.link(kept, version / kept.name)
            except OSError:
                shutil.copy2(kept, version / kept.name)
    return version


def _switch_parquet_version(link: Path, version: Path) -> None:
    """Point ``published`` at ``version`` in one rename: readers see the previous set of
    files or the new one, never a mixture. The version before stays for readers still
    reading it; older ones are removed. A ``published`` folder of an earlier talentflow
    (a plain directory) is first moved in among the versions."""
    target = version.relative_to(link.parent)
    pointer = link.parent / f".published-link-{version.name}"
    pointer.symlink_to(target, target_is_directory=True)
    if link.is_dir() and not link.is_symlink():
        os.rename(link, version.parent / f"before-{version.name}")
    os.replace(pointer, link)
    older = sorted(v for v in version.parent.iterdir() if v.is_dir() and v.name < version.name)
    _sweep_versions(version.parent, keep={version, *older[-1:]})


def _sweep_versions(versions: Path, keep: set[Path]) -> None:
    """Remove versions other than ``keep``: older ones, and those a stopped publish left
    (never pointed at, so never read). One writer at a time holds the data directory."""
    if not versions.is_dir():
        return
    kept = {k.resolve() for k in keep}
    for stale in versions.iterdir():
        if stale.is_dir() and stale.resolve() not in kept:
            shutil.rmtree(stale, ignore_errors=True)


def code_version() -> str:
    """talentflow's installed version, and the git commit of its source when known."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        text_version = version("talentflow")
    except PackageNotFoundError:
        text_version = "unknown"
    head = Path(__file__).resolve().parents[1] / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref = (head.parent / ref.removeprefix("ref: ")).read_text().strip()
        return f"{text_version}+g{ref[:12]}"
    except OSError:
        return text_version


def runs_row(
    run_id: str,
    vintage: int,
    as_of: int | None,
    started_at: datetime,
    inputs: dict[str, str],
    tables: Iterable[str],
    fingerprint: str,
) -> pl.DataFrame:
    """The ``runs`` row of a run about to be published whole; ``fingerprint`` is what its
    tables are a function of (``tasks.caching.run_fingerprint``)."""
    import json

    return pl.DataFrame(
        [
            {
                "run_id": run_id,
                "vintage": vintage,
                "as_of": as_of,
                "started_at": started_at,
                "published_at": datetime.now(UTC),
                "status": "complete",
                "code_version": code_version(),
                "inputs": json.dumps(inputs, sort_keys=True),
                "tables": ",".join(sorted(tables)),
                "fingerprint": fingerprint,
            }
        ],
        schema=RUNS_SCHEMA,
    )


def latest_published_run(settings: Settings) -> dict | None:
    """The ``runs`` row of the run published last, if every store holds it as its latest:
    DuckDB, PostgreSQL when ``settings.database_url`` is set, and the Parquet folder
    (each run table's file holds that run's rows). None when a store has no run yet, a
    ``runs`` table older than its ``fingerprint`` column, or a different latest run (a
    publish that stopped between stores): then a run has something to publish."""
    database = duckdb_path(settings)
    if not database.exists():
        return None
    latest = "SELECT * FROM {table} ORDER BY published_at DESC LIMIT 1"
    with duckdb.connect(str(database), read_only=True) as connection:
        try:
            rows = connection.sql(latest.format(table="runs")).pl()
        except duckdb.CatalogException:
            return None  # no run published in this store yet
    if rows.is_empty() or "fingerprint" not in rows.columns:
        return None
    row = rows.row(0, named=True)
    if settings.database_url:
        engine = postgres_engine(settings.database_url)
        qualified = f"{quoted(settings.database_schema)}.runs"
        try:
            with engine.connect() as connection:
                exists = connection.execute(
                    text("SELECT to_regclass(:relation) IS NOT NULL"), {"relation": qualified}
                ).scalar()
                stored = (
                    connection.execute(text(latest.format(table=qualified))).mappings().first()
                    if exists
                    else None
                )
        finally:
            engine.dispose()
        if stored is None or stored["run_id"] != row["run_id"]:
            return None
    for table in row["tables"].split(","):
        parquet = published_parquet(settings, table)
        if not parquet.exists():
            return None
        if table in RUN_TABLE_SCHEMAS:
            run_ids = pl.scan_parquet(parquet).select(pl.col("run_id").unique()).collect()
            if run_ids["run_id"].to_list() not in ([row["run_id"]], []):
                return None
    return row


def standing_tables(settings: Settings, run: dict) -> dict[str, PublishedTable]:
    """The published tables of ``run`` (a ``runs`` row that :func:`latest_published_run`
    returned), as :func:`publish_run` reported them when it published that run."""
    database = duckdb_path(settings)
    return {
        table: PublishedTable(
            table,
            pl.scan_parquet(published_parquet(settings, table)).select(pl.len()).collect().item(),
            published_parquet(settings, table),
            database,
            f"{settings.database_schema}.{table}" if settings.database_url else None,
        )
        for table in run["tables"].split(",")
    }


@task(name="publish", task_run_name="publish-{table}", cache_policy=NO_CACHE)
def publish(frame: pl.DataFrame, table: str) -> PublishedTable:
    """Prefect task around :func:`publish_table` with the settings of the environment."""
    return publish_table(frame, table, get_settings())


@task(name="publish-run", task_run_name="publish-run", cache_policy=NO_CACHE)
def publish_run(frames: dict[str, pl.DataFrame], runs: pl.DataFrame) -> dict[str, PublishedTable]:
    """Every table of one run, and its ``runs`` row, published whole: one transaction per
    store (:func:`publish_tables`). Called after every check passed."""
    published = publish_tables({**frames, "runs": runs}, get_settings())
    published.pop("runs")
    return published


# --- scores of stored replays ---------------------------------------------------------------


def stored_replays(database: Path, current_vintage: int | None = None) -> pl.DataFrame:
    """The published ``forecasts`` rows a replay score needs (Medium scenario; the selected
    model and the baselines) of every stored run older than ``current_vintage`` (default:
    the newest stored vintage): the ``--as-of`` replays. Empty when the store or the table
    does not exist yet."""
    columns = {name: dtype for name, dtype in RUN_TABLE_SCHEMAS["forecasts"].items()}
    if not database.exists():
        return pl.DataFrame(schema=columns)
    with duckdb.connect(str(database), read_only=True) as connection:
        exists = connection.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'forecasts'"
        ).fetchall()[0][0]
        if not exists:
            return pl.DataFrame(schema=columns)
        frame = connection.sql(
            f"""
            SELECT {", ".join(quoted(c) for c in columns)} FROM forecasts
            WHERE scenario = 'Medium'
              AND (is_selected OR model IN ({", ".join(f"'{m}'" for m in REPLAY_BASELINES)}))
              AND vintage < {
                int(current_vintage)
                if current_vintage is not None
                else "(SELECT max(vintage) FROM forecasts)"
            }
            """
        ).pl()
    return frame.cast(columns)


#: The baselines a replay's selected forecast is compared with (its own, same run).
REPLAY_BASELINES = ("naive", "drift")


@task(name="score-replays", cache_policy=NO_CACHE)
def score_replays(observed: pl.DataFrame, current_vintage: int | None = None) -> pl.DataFrame:
    """``replay_scores``: every stored replay's selected forecasts against today's
    observations (``observed``: ``target, country_iso3, origin_group, year, value``), per
    run, vintage, target and horizon band (``talentflow.models.metrics.replay_scores``)."""
    from talentflow.core.facts import LONG_HORIZONS, SHORT_HORIZONS
    from talentflow.core.tables import REPLAY_SCORES_SCHEMA
    from talentflow.models.metrics import replay_scores

    stored = stored_replays(duckdb_path(get_settings()), current_vintage)
    bands = {
        f"{SHORT_HORIZONS[0]}-{SHORT_HORIZONS[1]}": SHORT_HORIZONS,
        f"{LONG_HORIZONS[0]}-{LONG_HORIZONS[1]}": LONG_HORIZONS,
    }
    if stored.is_empty():
        return pl.DataFrame(schema=REPLAY_SCORES_SCHEMA)
    scores = replay_scores(stored, observed, bands, baselines=REPLAY_BASELINES)
    return scores.select(list(REPLAY_SCORES_SCHEMA)).cast(REPLAY_SCORES_SCHEMA)
