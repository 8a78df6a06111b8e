"""PostgreSQL for the tests that need one: the server at ``TALENTFLOW_TEST_DATABASE_URL``
(default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``).

When it cannot be reached, the tests that use these fixtures *fail* under CI (``CI`` set
in the environment, as ``.ci/run`` does), naming the URL and the error, and are skipped
elsewhere. Every test gets its own schema or database, dropped afterwards.

A test module imports the fixtures it uses (``pytest_plugins`` works only in the root
conftest, which this module leaves alone). Each fixture's function is called
``<fixture>_fixture`` so that a test's argument does not shadow the import:
``from tests.postgres_fixtures import postgres_url_fixture  # noqa: F401`` gives tests
the ``postgres_url`` fixture.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import make_url

DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def configured_database_url() -> str:
    """The SQLAlchemy URL of the tests' PostgreSQL database."""
    return os.environ.get("TALENTFLOW_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)


def libpq_url(database_url: str, database: str | None = None) -> str:
    """``database_url`` as a libpq URI for psycopg, optionally on another ``database``."""
    url = make_url(database_url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def with_database(database_url: str, database: str, drivername: str) -> str:
    """``database_url`` pointing at ``database`` through ``drivername``."""
    url = make_url(database_url).set(drivername=drivername, database=database)
    return url.render_as_string(hide_password=False)


def drop_schema(database_url: str, schema: str) -> None:
    """Drop ``schema`` and everything in it, if it exists."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="session", name="postgres_url")
def postgres_url_fixture() -> str:
    """The tests' database URL, once PostgreSQL has answered a query on it."""
    url = configured_database_url()
    try:
        with psycopg.connect(libpq_url(url), connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        shown = make_url(url).render_as_string(hide_password=True)
        message = f"PostgreSQL at {shown} is unreachable: {error}".strip()
        if os.environ.get("CI"):
            pytest.fail(
                f"{message}\nCI needs it: start PostgreSQL, or point "
                "TALENTFLOW_TEST_DATABASE_URL at one",
                pytrace=False,
            )
        pytest.skip(f"{message} (set TALENTFLOW_TEST_DATABASE_URL to test against one)")
    return url


@pytest.fixture(name="postgres_schema")
def postgres_schema_fixture(postgres_url: str) -> Iterator[str]:
    """A schema name no other test uses (``talentflow_test_<hex>``), dropped after."""
    schema = f"talentflow_test_{uuid.uuid4().hex[:12]}"
    yield schema
    drop_schema(postgres_url, schema)


@pytest.fixture(name="fresh_postgres_database")
def fresh_postgres_database_fixture(postgres_url: str) -> Iterator[str]:
    """The name of a new, empty database (``talentflow_prefect_<hex>``) on the tests'
    server, dropped after (with any connection still open to it)."""
    name = f"talentflow_prefect_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(libpq_url(postgres_url), autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(libpq_url(postgres_url), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
