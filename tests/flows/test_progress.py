"""The CLI's progress bar: drawn on a terminal, silent in CI and when output is piped."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

import talentflow.flows.ingest
from talentflow.flows import cli, progress


def advance_three(bar) -> None:
    for done, what in enumerate(("wdi_researchers", "wpp_by_age", "uis_inbound"), start=1):
        bar(done, 3, what)


def test_the_bar_is_drawn_on_a_terminal(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CI", raising=False)
    screen = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=screen, force_terminal=True, width=100))
    with cli._progress_bar(3, "pulling") as bar:
        advance_three(bar)
    assert "pulling" in screen.getvalue() and "3/3" in screen.getvalue()
    assert "uis_inbound" in screen.getvalue()


def test_the_bar_is_silent_when_ci_is_set(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CI", "true")
    screen = io.StringIO()
    monkeypatch.setattr(cli, "console", Console(file=screen, force_terminal=True, width=100))
    with cli._progress_bar(3, "pulling") as bar:
        advance_three(bar)
    assert screen.getvalue() == ""


def test_the_bar_is_silent_when_output_is_not_a_terminal(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    piped = io.StringIO()  # what a pipe or a log file looks like to rich: no isatty()
    console = Console(file=piped, width=100)
    assert not console.is_terminal
    monkeypatch.setattr(cli, "console", console)
    with cli._progress_bar(3, "pulling") as bar:
        advance_three(bar)
    assert piped.getvalue() == ""


def test_pull_reports_flow_progress_to_the_bar_and_prints_only_its_table(monkeypatch):
    """`talentflow pull` with a stand-in ingest that reports progress like the real one:
    the listener is registered for the run and removed after, and piped output holds
    the summary table and no progress bar."""
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(progress, "create_progress_artifact", lambda *a, **k: "artifact")
    monkeypatch.setattr(progress, "update_progress_artifact", lambda *a, **k: None)
    seen_listeners = []

    def stand_in_ingest(dataset_ids):
        seen_listeners.append(len(progress._listeners))
        reporter = progress.FlowProgress(len(dataset_ids), "ingest")
        for dataset_id in dataset_ids:
            reporter.step(dataset_id)
        return [
            SimpleNamespace(dataset_id=d, rows=10, sha256="0" * 64, is_new=True, warnings=[])
            for d in dataset_ids
        ]

    monkeypatch.setattr(talentflow.flows.ingest, "ingest", stand_in_ingest)
    result = CliRunner().invoke(
        cli.app, ["pull", "wdi_sp_pop_scie_rd_p6", "wpp2024_population_by_age5"]
    )
    assert result.exit_code == 0, result.output
    assert seen_listeners == [1] and progress._listeners == []
    assert "2 dataset(s) pulled" in result.stdout
    assert "pulling" not in result.stdout and "2/2" not in result.stdout
