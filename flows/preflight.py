"""Checks before work: everything a run or a pull can know is wrong before Prefect starts,
each refused in about a second with one line naming the value and what is allowed.

What a late failure cost before these checks (issue 14): ``--as-of 1800`` failed in Polars
after 37 s; ``--until-year 1999`` after 832 lines; a closed database port after 71 s and a
DuckDB commit; a missing mirror with 1,204 lines and 32 tracebacks; an unwritable data
directory with 1,787 lines. The checks here run in the command, in this order: the
settings (the environment), the mirror, the data directory, the database, the options.
"""

from __future__ import annotations

import difflib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from talentflow.core.settings import Settings


class PreflightError(Exception):
    """A value that cannot work, found before any work started; its message is one line."""


#: The earliest --as-of vintage: the sources' common history starts in the mid-1990s
#: (World Bank researchers 1996, MPIDR 1998), and a replay needs a few observed years.
FIRST_AS_OF = 2000
#: The last year WPP 2024 projects: no forecast can go further.
LAST_FORECAST_YEAR = 2100


def checked_settings() -> Settings:
    """The settings from the environment, or PreflightError naming the variable, its value
    and what is allowed (pydantic's ValidationError is a table of nested details)."""
    from pydantic import ValidationError

    from talentflow.core.settings import get_settings

    try:
        return get_settings()
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        variable = f"TALENTFLOW_{field.upper()}"
        value = os.environ.get(variable, first.get("input"))
        allowed = first.get("ctx", {}).get("expected") or first["msg"]
        raise PreflightError(f"{variable}={value!r}: {allowed}") from None


def check_mirror(settings: Settings) -> None:
    if settings.mirror is None:
        return
    if not settings.mirror.is_dir():
        raise PreflightError(
            f"TALENTFLOW_MIRROR={settings.mirror}: no such folder; point it at a copy of "
            "shared/data (with its MANIFEST.md), or unset it to pull from the publishers"
        )
    if not (settings.mirror / "MANIFEST.md").is_file():
        raise PreflightError(
            f"TALENTFLOW_MIRROR={settings.mirror}: not a source mirror (no MANIFEST.md in "
            "it); point it at shared/data"
        )


def check_data_dir(settings: Settings) -> None:
    """The data directory exists or can be made, and a file can be written in it."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=settings.data_dir, prefix=".write-check-"):
            pass
    except OSError as error:
        raise PreflightError(
            f"TALENTFLOW_DATA_DIR={settings.data_dir}: cannot write there "
            f"({error.strerror or error}); choose a folder you can write to"
        ) from None


def check_database(settings: Settings, timeout_seconds: int = 5) -> None:
    """A set database URL names PostgreSQL through psycopg and accepts a connection."""
    if not settings.database_url:
        return
    from sqlalchemy import text
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from talentflow.tasks.publish import postgres_engine

    try:
        engine = postgres_engine(settings.database_url, connect_timeout=timeout_seconds)
    except (ValueError, ArgumentError) as error:
        raise PreflightError(str(error).splitlines()[0]) from None
    shown = engine.url.render_as_string(hide_password=True)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        raise PreflightError(
            f"TALENTFLOW_DATABASE_URL={shown}: cannot connect ({reason}); start the "
            "database or unset the variable to publish to DuckDB and Parquet only"
        ) from None
    finally:
        engine.dispose()


def check_writer_free(settings: Settings) -> None:
    """No other process is writing to the data directory (the flows hold the lock for
    their whole run; this only fails early with the holder's name)."""
    from talentflow.core.storage import DataDirectoryBusy, writer_lock

    try:
        with writer_lock(settings, "check"):
            pass
    except DataDirectoryBusy as error:
        raise PreflightError(str(error)) from None


def check_years(
    as_of: int | None, until_year: int, min_observed_years: int, today: datetime | None = None
) -> None:
    """``--as-of`` inside the sources' history, ``--until-year`` after the data and within
    WPP's projections, ``--min-observed-years`` at least 3."""
    this_year = (today or datetime.now(UTC)).year
    if as_of is not None and not FIRST_AS_OF <= as_of <= this_year - 1:
        raise PreflightError(
            f"--as-of {as_of}: allowed {FIRST_AS_OF}-{this_year - 1} (a replay needs "
            "observed years before it and years after it to score)"
        )
    first = (as_of if as_of is not None else this_year) + 1
    if not first <= until_year <= LAST_FORECAST_YEAR:
        raise PreflightError(
            f"--until-year {until_year}: allowed {first}-{LAST_FORECAST_YEAR} (after the "
            f"data{' cut' if as_of is not None else ''}, and no later than WPP 2024's "
            "projections)"
        )
    if min_observed_years < 3:
        raise PreflightError(
            f"--min-observed-years {min_observed_years}: allowed 3 or more (a backtest "
            "needs history to score)"
        )


def check_models(models: str | None) -> list[str] | None:
    """``--models`` as a list (None: the default zoo); every name in the zoo, and the
    baselines every model is judged against included."""
    if not models:
        return None
    from talentflow.core.facts import MODEL_NAMES, REQUIRED_MODELS

    names = [name.strip() for name in models.split(",") if name.strip()]
    unknown = [name for name in names if name not in MODEL_NAMES]
    if unknown:
        raise PreflightError(
            f"--models: unknown model(s) {', '.join(unknown)}; the zoo has {', '.join(MODEL_NAMES)}"
        )
    missing = [name for name in REQUIRED_MODELS if name not in names]
    if missing:
        raise PreflightError(
            f"--models {models}: {', '.join(missing)} must be included (every model is "
            "judged against them)"
        )
    return names


def check_datasets(names: list[str], known: list[str]) -> None:
    """Every name is a catalog dataset; the error suggests the closest ones."""
    unknown = [name for name in names if name not in known]
    if not unknown:
        return
    name = unknown[0]
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `talentflow sources` lists them"
    raise PreflightError(f"no dataset {name!r} in the catalog{hint}")


def check_output(path: Path | None) -> None:
    if path is None:
        return
    if path.is_dir():
        raise PreflightError(f"--output {path}: is a folder; give a file name, e.g. {path}/out.csv")


def before_a_run(
    as_of: int | None = None, until_year: int = 2050, min_observed_years: int = 8
) -> Settings:
    """Every check a pipeline run needs, in order; returns the settings."""
    check_years(as_of, until_year, min_observed_years)
    settings = checked_settings()
    check_mirror(settings)
    check_data_dir(settings)
    check_writer_free(settings)
    check_database(settings)
    return settings


def before_a_pull(names: list[str]) -> Settings:
    from talentflow.tasks.sources.catalog import CATALOG

    check_datasets(names, list(CATALOG))
    settings = checked_settings()
    check_mirror(settings)
    check_data_dir(settings)
    check_writer_free(settings)
    return settings
