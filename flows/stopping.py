"""Stopping when asked: SIGTERM or SIGINT ends a command within seconds, its child
processes included.

Why this is needed: during a flow run Prefect turns SIGTERM into an exception in the main
thread, and the exception then waits, in the task runner's shutdown, for every task that
is running to finish: a forecast fit can take minutes, against an API that may already be
gone (seen: more than five minutes after `timeout` sent SIGTERM). Kubernetes, systemd, a
worker's cancel and the Prefect UI all send SIGTERM first and SIGKILL later.

How: the signal's C-level handler writes its number to a "wakeup" pipe whatever Python
handler is installed (Prefect's, or Python's own for SIGINT); a watcher thread reads the
pipe, gives the run :data:`GRACE_SECONDS` to stop on its own, then kills the process's
children (cmdstan fits, Dask worker processes, the temporary Prefect server) and exits
with 128 + the signal's number. Nothing is half-published: a run's tables are published in
one transaction per store (tasks.publish.publish_run), and the data directory's writer
lock dies with the process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

GRACE_SECONDS = 5.0
_STOP_SIGNALS = {int(signal.SIGTERM), int(signal.SIGINT)}
_installed = False


def stop_promptly_on_signals(grace_seconds: float = GRACE_SECONDS) -> None:
    """Install the watcher (once, from the main thread; a no-op elsewhere)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    # SIGTERM needs a Python-level handler for its byte to reach the pipe before Prefect
    # installs its own: until then, stopping at once is right, so exit quietly.
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, lambda number, frame: _exit_now(number))
    threading.Thread(
        target=_watch, args=(read_end, grace_seconds), name="talentflow-stop", daemon=True
    ).start()
    _installed = True


def _watch(read_end: int, grace_seconds: float) -> None:
    while True:
        try:
            data = os.read(read_end, 64)
        except OSError:
            return
        if not data:
            return
        if any(number in _STOP_SIGNALS for number in data):
            number = next(n for n in data if n in _STOP_SIGNALS)
            threading.Event().wait(grace_seconds)  # let the run stop on its own first
            _exit_now(number)


def _exit_now(number: int) -> None:
    """Kill the children, say what happened, exit with 128 + the signal's number."""
    with contextlib.suppress(Exception):  # stopping must not fail on a child that is gone
        import psutil

        for child in psutil.Process().children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()
    name = signal.Signals(number).name
    try:
        sys.stderr.write(
            f"talentflow: stopped by {name}; this run published nothing (a run is "
            "published whole or not at all), the previous run's tables are unchanged\n"
        )
        sys.stderr.flush()
    finally:
        os._exit(128 + number)
