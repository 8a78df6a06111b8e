"""Shared fixtures: the real source mirror, a private data directory, Prefect's harness.

The tests read the real public files of the source mirror (``TALENTFLOW_MIRROR``, by
default ``../shared/data`` beside the repository). Without it they fail loudly: a green
run that read no real data would prove nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
# The tests' pipeline runs use a fast zoo, for which starting worker processes costs more
# than it saves: they run the fits on threads. The default (a process pool) is what
# tests/flows/test_prefect_server_postgres.py (the default zoo), test_stopping.py and
# test_forecasting.py run.
os.environ.setdefault("TALENTFLOW_TASK_RUNNER", "threads")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = Path(os.environ.get("TALENTFLOW_MIRROR", REPO.parent / "shared" / "data")).resolve()
    if not (path / "MANIFEST.md").is_file():
        pytest.fail(f"no source mirror at {path}: set TALENTFLOW_MIRROR to shared/data")
    return path


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mirror: Path):
    """Point talentflow at the real mirror and a fresh data directory; return the
    settings a run will see."""
    from talentflow.core.settings import get_settings

    monkeypatch.setenv("TALENTFLOW_MIRROR", str(mirror))
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    return get_settings()


@pytest.fixture(scope="session")
def prefect_harness():
    """One temporary Prefect API for the whole session (it takes seconds to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def raw_snapshots():
    """The raw snapshot files of one dataset folder (not sidecars, not the ledger)."""

    def listing(folder: Path) -> list[Path]:
        if not folder.exists():
            return []
        kept = (".meta.json", ".reason.json", ".jsonl")
        return sorted(p for p in folder.iterdir() if not p.name.endswith(kept))

    return listing


@pytest.fixture(autouse=True)
def keep_the_test_processs_own_signal_handling(monkeypatch):
    """Commands invoked in this process (CliRunner) do not install the stop-on-SIGTERM
    watcher into pytest itself; tests/flows/test_stopping.py runs it in a subprocess."""
    import talentflow.flows.stopping

    monkeypatch.setattr(
        talentflow.flows.stopping, "stop_promptly_on_signals", lambda *args, **kwargs: None
    )
