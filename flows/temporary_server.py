"""Prefect's temporary API server for one command, started without importing Prefect's
server package in the command's process.

With no API configured, Prefect starts a temporary server on first use
(``prefect.server.api.server.SubprocessASGIServer``): a uvicorn process serving Prefect's
API on its SQLite database under ``PREFECT_HOME``. Prefect's class lives in a module
whose import took 2.0 s of `talentflow run`'s start on the 2-core machine (2026-12-06,
bench/README.md), and that import held the GIL against the pipeline's own imports while
the server's process was importing the same package anyway. So :class:`TemporaryServer`
starts the same process, with the command and environment of Prefect 3.9's
``SubprocessASGIServer._run_uvicorn_command``, as soon as the command starts, and the
command's flows run with ``PREFECT_API_URL`` set to it (:meth:`TemporaryServer.in_use`),
so Prefect never starts a second one. Hand-written for that reason only; when Prefect is
upgraded, compare that method with :func:`_command` (tests/flows/test_cli_server.py runs
a flow on this server and fails if Prefect starts one of its own).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: What Prefect's ``SubprocessASGIServer`` adds to the server process's environment: no
#: UI, and the server knows it is a temporary one.
SERVER_ENVIRONMENT = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}
#: uvicorn's exit code when it cannot bind its port (another process took it between
#: :func:`_free_port` and the server's start): start again on another port.
PORT_TAKEN = 3


class TemporaryServer:
    """Prefect's temporary API server in a process of its own, stopped when this process
    exits (after Prefect's own exit handlers have sent their last logs and events).

    Start it with :meth:`start`, which returns at once; :meth:`in_use` waits until it
    answers and runs the flows of its block on it.
    """

    def __init__(self) -> None:
        self.port = 0
        self.process: subprocess.Popen | None = None

    @classmethod
    def start(cls) -> TemporaryServer:
        """A server whose process is booting; this process goes on with its imports."""
        server = cls()
        server._launch()
        # Registered before any Prefect worker starts, so it runs after their drains.
        atexit.register(server.stop)
        return server

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def wait(self, timeout: float | None = None) -> None:
        """Return when the server answers ``/health``.

        Raises
        ------
        RuntimeError
            If its process ends first (with the exit code), or it does not answer
            within ``timeout`` seconds (default: Prefect's
            ``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``).
        """
        import httpx
        from prefect.settings import get_current_settings

        if timeout is None:
            timeout = get_current_settings().server.ephemeral.startup_timeout_seconds
        deadline = time.monotonic() + timeout
        with httpx.Client() as client:
            while True:
                code = self.process.poll() if self.process else None
                if code == PORT_TAKEN:
                    self._launch()
                elif code is not None:
                    raise RuntimeError(
                        f"Prefect's temporary server exited with code {code} before it "
                        f"answered on {self.api_url} (its own message is above); set "
                        "PREFECT_API_URL to run on a Prefect server that is already up"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Prefect's temporary server did not answer on {self.api_url} "
                        f"within {timeout:g} s; raise "
                        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, or set "
                        "PREFECT_API_URL to a Prefect server that is already up"
                    )
                time.sleep(0.1)

    @contextmanager
    def in_use(self) -> Iterator[TemporaryServer]:
        """Flows started in this block run on this server (``PREFECT_API_URL``), without
        heartbeats: a heartbeat lets a server tell a crashed flow run from a long one,
        this server stops with the command, so nothing would read them, and each flow
        run's exit waits up to a second for its heartbeat thread (three flow runs per
        run; bench/README.md).

        The address is set process-wide too, in the environment and in Prefect's global
        settings, not only in this thread's settings context: Prefect's threads read the
        global settings (the process pool's message forwarder sends the workers' task
        events through an events client of its own), and with no address there they
        started a second temporary server in the middle of the forecast stage, which
        took 8 CPU-seconds from the forecast workers and received the forecast tasks'
        events in place of this one (bench/README.md, sixth session). Processes started
        in the block (the forecast workers' fork server) inherit the address."""
        import prefect.context
        from prefect.settings import (
            PREFECT_API_URL,
            PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
            temporary_settings,
        )

        from talentflow.core.settings import environment_variables

        self.wait()
        global_settings = prefect.context.GLOBAL_SETTINGS_CONTEXT
        try:
            with environment_variables({"PREFECT_API_URL": self.api_url}):
                # Prefect's own way to read a changed environment into its global settings.
                prefect.context.refresh_global_settings_context()
                with temporary_settings(
                    {PREFECT_API_URL: self.api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
                ):
                    yield self
        finally:
            # The global settings as they were, not re-read: a test harness may have set
            # them without the environment.
            prefect.context.GLOBAL_SETTINGS_CONTEXT = global_settings

    def stop(self) -> None:
        """End the server's process (as Prefect does: terminate, then kill after 5 s)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _launch(self) -> None:
        from prefect.settings import get_current_settings

        self.port = _free_port()
        environment = {
            **os.environ,
            **SERVER_ENVIRONMENT,
            **get_current_settings().to_environment_variables(exclude_unset=True),
        }
        self.process = subprocess.Popen(_command(self.port), env=environment)


def _command(port: int) -> list[str]:
    """The server process's command line, as ``SubprocessASGIServer`` builds it."""
    import prefect

    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(prefect.__module_path__.parent),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]


def _free_port() -> int:
    """A port on 127.0.0.1 that no process listens on now (the system's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
