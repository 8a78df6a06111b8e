"""Wrong options and configuration fail before any work, in one line naming the value and
what is allowed, with exit code 2 and no traceback; nothing is pulled or published."""

from __future__ import annotations

import socket

import pytest
from typer.testing import CliRunner

from talentflow.flows import cli


@pytest.fixture
def no_work(monkeypatch, settings_env):
    """The pipeline and the ingest flow fail the test if a command reaches them."""
    import talentflow.flows.ingest
    import talentflow.flows.pipeline

    def reached(*args, **kwargs):
        raise AssertionError("the command started work despite a bad value")

    monkeypatch.setattr(talentflow.flows.pipeline, "pipeline", reached)
    monkeypatch.setattr(talentflow.flows.ingest, "ingest", reached)
    return settings_env


def refused(arguments: list[str]) -> str:
    result = CliRunner().invoke(cli.app, arguments)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["run", "--as-of", "1800"], "--as-of 1800: allowed 2000-"),
        (["run", "--until-year", "1999"], "--until-year 1999: allowed "),
        (["run", "--until-year", "2200"], "-2100 (after the data"),
        (
            ["run", "--as-of", "2012", "--until-year", "2010"],
            "--until-year 2010: allowed 2013-2100",
        ),
        (["run", "--min-observed-years", "1"], "--min-observed-years 1: allowed 3 or more"),
        (["run", "--models", "nosuchmodel"], "--models: unknown model(s) nosuchmodel; the zoo"),
        (["run", "--models", "ets,theta"], "naive, drift must be included"),
        (["replays", "--models", "ets"], "naive, drift must be included"),
        (["pull", "wdi_sp_pop_scie_rd_p7"], "did you mean wdi_sp_pop_scie_rd_p6"),
        (["pull", "nosuchdataset"], "no dataset 'nosuchdataset' in the catalog"),
    ],
)
def test_a_bad_option_is_refused_in_one_line(no_work, arguments, message):
    assert message in refused(arguments)


def test_a_bad_task_runner_names_the_variable_and_the_choices(no_work, monkeypatch):
    monkeypatch.setenv("TALENTFLOW_TASK_RUNNER", "bogus")
    line = refused(["run"])
    assert "TALENTFLOW_TASK_RUNNER='bogus'" in line and "'threads', 'processes' or 'dask'" in line


def test_a_missing_mirror_is_one_line(no_work, monkeypatch, tmp_path):
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(tmp_path / "nowhere"))
    assert "TALENTFLOW_MIRROR=" in refused(["run"])
    monkeypatch.setenv("TALENTFLOW_MIRROR", str(tmp_path))
    assert "not a source mirror (no MANIFEST.md" in refused(["pull"])


def test_a_data_directory_that_is_a_file_is_one_line(no_work, monkeypatch, tmp_path):
    occupied = tmp_path / "a-file"
    occupied.write_text("not a folder")
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(occupied))
    assert f"TALENTFLOW_DATA_DIR={occupied}: cannot write there" in refused(["run"])


def test_a_database_that_is_down_or_not_postgres_is_refused_before_work(no_work, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(
        "TALENTFLOW_DATABASE_URL", f"postgresql+psycopg://talentflow:secret@127.0.0.1:{port}/x"
    )
    line = refused(["run"])
    assert f"127.0.0.1:{port}" in line and "cannot connect" in line
    assert "secret" not in line  # the password is never printed
    monkeypatch.setenv("TALENTFLOW_DATABASE_URL", "mysql+pymysql://u@127.0.0.1/x")
    assert "must be a postgresql+psycopg:// URL, not mysql+pymysql://" in refused(["run"])


def test_forecasts_to_a_folder_is_refused(no_work, tmp_path):
    line = refused(["forecasts", "--format", "csv", "--output", str(tmp_path)])
    assert f"--output {tmp_path}: is a folder" in line


def hold_the_lock_elsewhere():
    """A process that holds the data directory's writer lock until killed."""
    import subprocess
    import sys
    import textwrap

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                """
                import sys, time
                from talentflow.core.settings import get_settings
                from talentflow.core.storage import writer_lock
                with writer_lock(get_settings(), "pipeline"):
                    print("held", flush=True)
                    time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_flow_started_by_a_worker_or_serve_also_waits_its_turn(prefect_harness, settings_env):
    """The lock is the flow's, not only the command's: a scheduled ingest run started
    while another process writes fails at once, naming it, and pulls nothing."""
    from talentflow.core.storage import DataDirectoryBusy
    from talentflow.flows.ingest import ingest

    holder = hold_the_lock_elsewhere()
    try:
        with pytest.raises(DataDirectoryBusy, match=f"pid {holder.pid}"):
            ingest(["wdi_sp_pop_totl"])
    finally:
        holder.kill()
        holder.wait()
    assert not (settings_env.data_dir / "snapshots").exists()


def test_a_second_writer_is_refused_naming_the_first_and_a_dead_one_leaves_no_lock(
    no_work, tmp_path
):
    """A run holds the data directory's lock in another process: `run` and `pull` refuse
    in one line naming its pid; once that process is killed, the lock is gone with it."""
    holder = hold_the_lock_elsewhere()
    try:
        for command in (["run"], ["pull", "wdi_sp_pop_totl"]):
            line = refused(command)
            assert f"pid {holder.pid}, `pipeline` since" in line, line
    finally:
        holder.kill()
        holder.wait()
    from talentflow.core.storage import writer_lock

    with writer_lock(no_work, "pull"):  # the kernel dropped the dead holder's lock
        pass


def test_the_lock_is_reentrant_within_one_process(settings_env):
    from talentflow.core.storage import writer_lock

    with writer_lock(settings_env, "pipeline"), writer_lock(settings_env, "ingest"):
        pass


def test_an_expected_failure_is_reported_once_without_a_traceback(monkeypatch, settings_env):
    """A source that fails validation: the message once, that nothing was published, and
    where to look; with --debug the exception (and its traceback) comes through."""
    import talentflow.flows.pipeline
    from talentflow.flows.ingest import IngestFailed

    message = "1 of 29 datasets failed; the others landed:\n- wdi_sp_pop_totl: missing column"

    def failing(**options):
        raise IngestFailed(message)

    monkeypatch.setattr(talentflow.flows.pipeline, "pipeline", failing)
    result = CliRunner().invoke(cli.app, ["run"])
    assert result.exit_code == 1
    assert result.output.count("wdi_sp_pop_totl: missing column") == 1
    assert "nothing was published" in result.output and "Traceback" not in result.output
    assert str(settings_env.data_dir / "quarantine") in result.output
    debugged = CliRunner().invoke(cli.app, ["run", "--debug"])
    assert isinstance(debugged.exception, IngestFailed)


def test_prefects_console_lines_about_an_expected_failure_are_dropped_others_kept():
    import logging

    from talentflow.flows.failures import QuietExpectedFailures

    quiet = QuietExpectedFailures()

    def record(level: int, text: str, error: BaseException | None = None) -> logging.LogRecord:
        info = (type(error), error, None) if error is not None else None
        return logging.LogRecord("prefect.task_runs", level, __file__, 1, text, (), info)

    from talentflow.tasks.validate import ValidationFailed

    failed = ValidationFailed("wdi_sp_pop_totl: suite failed")
    assert not quiet.filter(record(logging.ERROR, "Task run failed with exception", failed))
    assert not quiet.filter(
        record(logging.INFO, "Finished in state Failed('... ValidationFailed: ...')")
    )
    assert quiet.filter(record(logging.ERROR, "Task run failed", RuntimeError("a bug")))
    assert quiet.filter(record(logging.WARNING, "a warning about ValidationFailed"))
