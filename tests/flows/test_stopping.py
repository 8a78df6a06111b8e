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

import pytest

#: Minutes of Prefect servers and pipeline runs: `make test-fast` leaves them out, CI runs them.
pytestmark = pytest.mark.slow

FLOW = textwrap.dedent(
    """
    import subprocess, sys, time
    from prefect import flow, task
    from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
    from talentflow.flows.stopping import stop_promptly_on_signals

    @task
    def a_long_fit():
        time.sleep(300)

    @flow(task_runner=RUNNER(max_workers=2))
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


@pytest.mark.parametrize("runner", ["ThreadPoolTaskRunner", "ProcessPoolTaskRunner"])
def test_sigterm_stops_a_run_within_seconds_and_kills_its_children(tmp_path, runner):
    """With threads, and with the default forecast runner's worker processes (each
    sleeping in a task): every process the run started is gone after SIGTERM."""
    import psutil

    environment = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")}
    run = subprocess.Popen(
        [sys.executable, "-c", FLOW.replace("RUNNER", runner)],
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
        # the sleeper and the temporary server, plus the two pool workers with processes
        expected = 4 if runner == "ProcessPoolTaskRunner" else 2
        while len(started_by_run := psutil.Process(run.pid).children(recursive=True)) < expected:
            assert time.monotonic() < deadline, started_by_run
            time.sleep(0.2)
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
    assert child in {process.pid for process in started_by_run}
    for process in started_by_run:
        try:  # killed: gone, or a zombie waiting for a parent that no longer exists to reap it
            alive = process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            alive = False
        assert not alive, f"{process.name()} ({process.pid}) outlived the run"
