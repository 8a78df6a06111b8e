"""Publish tables where users read them: Parquet files and one DuckDB database.

A run *replaces* each table it publishes; ``run_id`` in the rows says which run made
it. Both writes are atomic: DuckDB swaps the table inside one transaction, and the
Parquet file is written beside its destination and renamed over it. Readers see the
previous table or the new one, never a mixture. Only this module writes tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
from prefect import task
from prefect.cache_policies import NO_CACHE

from core.settings import Settings, get_settings
from core.storage import atomic_path, duckdb_path, published_parquet

TABLE_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


@dataclass(frozen=True)
class PublishedTable:
    table: str
    rows: int
    parquet: Path
    duckdb: Path


def publish_table(frame: pl.DataFrame, table: str, settings: Settings) -> PublishedTable:
    """Replace ``table`` in DuckDB and as Parquet with ``frame``."""
    if not table or set(table) - TABLE_NAME_CHARS:
        raise ValueError(f"table name {table!r} must be lowercase letters, digits and _")
    database = duckdb_path(settings)
    database.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(database)) as connection:
        connection.register("incoming", frame.to_arrow())
        connection.execute("BEGIN TRANSACTION")
        try:
            connection.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM incoming")
            connection.execute("COMMIT")
        except Exception:
            connection.execute("ROLLBACK")
            raise
    parquet = published_parquet(settings, table)
    with atomic_path(parquet) as tmp:
        frame.write_parquet(tmp)
    return PublishedTable(table, frame.height, parquet, database)


@task(name="publish", task_run_name="publish-{table}", cache_policy=NO_CACHE)
def publish(frame: pl.DataFrame, table: str) -> PublishedTable:
    return publish_table(frame, table, get_settings())
