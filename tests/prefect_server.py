"""A real ``prefect server start`` for tests that need one (not the test harness's API).

The server runs in a subprocess, in its own process group, with a private
``PREFECT_HOME`` and an environment stripped of the developer's ``PREFECT_*`` settings;
it is stopped, with whatever it started, when the context ends.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

#: Migrations of a new database on a busy 2-core machine take minutes.
SERVER_START_TIMEOUT_SECONDS = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def environment_without_prefect(**updates: str) -> dict[str, str]:
    """This process's environment without any ``PREFECT_*`` setting (no developer's API
    URL or profile leaks in), plus ``updates``."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environment.update(updates)
    return environment


def tail(path: Path, lines: int = 60) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_for_health(api_url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"prefect server exited with {server.returncode}:\n{tail(log)}")
        try:
            if httpx.get(f"{api_url}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(1)
    pytest.fail(f"prefect server not healthy after {SERVER_START_TIMEOUT_SECONDS} s:\n{tail(log)}")


@contextmanager
def running_prefect_server(home: Path, log: Path, **settings: str) -> Iterator[str]:
    """Start ``prefect server start`` (no UI) on a free port with ``PREFECT_HOME=home`` and
    ``settings`` (say, ``PREFECT_SERVER_DATABASE_CONNECTION_URL``; SQLite under ``home``
    otherwise); yield its API URL once healthy; stop it afterwards."""
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    environment = environment_without_prefect(
        PREFECT_HOME=str(home), PREFECT_SERVER_ANALYTICS_ENABLED="false", **settings
    )
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--no-ui", "--analytics-off"]
    with open(log, "wb") as output:
        # Its own process group, so that stopping it stops whatever it started, and only that.
        server = subprocess.Popen(
            command,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_health(api_url, server, log)
        yield api_url
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
