"""SIGTERM ends a command within seconds, child processes included, even while Prefect's
task runner waits for tasks that are still running (the failure mode it replaces: a
terminated run went on computing for minutes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

FLOW = textwrap.dedent(
    """
    import subprocess, sys, time
    from prefect import flow, task
    from talentflow.flows.stopping import stop_promptly_on_signals

    @task
    def a_long_fit():
        time.sleep(300)

    @flow
    def a_run():
        futures = [a_long_fit.submit() for _ in range(2)]
        print("running", flush=True)
        for future in futures:
            future.wait()

    stop_promptly_on_signals(grace_seconds=1.0)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    print(child.pid, flush=True)
    a_run()
    """
)


def test_sigterm_stops_a_run_within_seconds_and_kills_its_children(tmp_path):
    environment = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    run = subprocess.Popen(
        [sys.executable, "-c", FLOW],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        child = int(run.stdout.readline())
        deadline = time.monotonic() + 120
        while run.stdout.readline().strip() != "running":
            assert time.monotonic() < deadline, "the flow never started"
        started = time.monotonic()
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=30)
        took = time.monotonic() - started
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 128 + signal.SIGTERM
    assert took < 15, took  # the tasks still had minutes to sleep
    assert "stopped by SIGTERM" in run.stderr.read()
    time.sleep(0.5)
    import psutil

    try:  # killed: gone, or a zombie waiting for a parent that no longer exists to reap it
        alive = psutil.Process(child).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        alive = False
    assert not alive, "the child process outlived the run"
