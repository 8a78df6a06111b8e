"""The forecasts flow's task runner: worker processes by default, threads or Dask as options,
same results."""

import json
import os

import polars as pl
import pytest
from prefect import flow, task
from prefect.task_runners import ThreadPoolTaskRunner

from talentflow.core.settings import get_settings
from talentflow.flows.forecasting import WorkerProcesses, forecast_task_runner
from talentflow.tasks.features.scenarios import RESEARCHERS
from talentflow.tasks.forecast import forecast_job, forecast_models
from tests.checks import report_without_an_api


def synthetic_job():
    years = list(range(1996, 2021))
    rates = pl.DataFrame(
        {
            "series_id": ["AAA"] * 25 + ["BBB"] * 25,
            "year": years * 2,
            "y": [0.001 + 0.0001 * i for i in range(25)] + [0.004 + 0.00005 * i for i in range(25)],
        }
    ).with_columns(pl.col("year").cast(pl.Int32))
    cohorts = pl.DataFrame(
        [
            (series, variant, year, 1e6)
            for series in ("AAA", "BBB")
            for variant in ("Medium", "Low", "High")
            for year in range(1995, 2031)
        ],
        schema={
            "series_id": pl.String,
            "variant": pl.String,
            "year": pl.Int32,
            "cohort": pl.Float64,
        },
        orient="row",
    )
    return forecast_job(RESEARCHERS, rates, cohorts, vintage=2020, min_observed_years=8)


def run_batch(runner):
    job = synthetic_job()

    @flow(task_runner=runner)
    def batch():
        origins = [2014, 2015, 2016, 2017, 2018, 2019]
        together = forecast_models.submit(job, ["naive", "drift"], origins, 3, 2030)
        backtest_only = forecast_models.submit(job, ["drift"], origins[:3], 3, None)
        fit_only = forecast_models.submit(job, ["naive"], [], 3, 2030)
        return together.result(), backtest_only.result(), fit_only.result()

    together, backtest_only, fit_only = batch()
    # A fit sends its model's artefacts back from the worker (the flow writes them).
    assert all(
        outcome["artefacts"] and all(isinstance(b, bytes) for b in outcome["artefacts"].values())
        for outcome in together.values()
    )
    # Each task does the steps it is asked, nothing more.
    assert backtest_only["drift"]["rates"] is None and not backtest_only["drift"]["artefacts"]
    assert fit_only["naive"]["backtest"] is None and fit_only["naive"]["rates"].height
    assert fit_only["naive"]["rates"].equals(together["naive"]["rates"])
    backtests = [together[name]["backtest"] for name in ("naive", "drift")]
    backtests.append(backtest_only["drift"]["backtest"])
    return backtests, [together[name]["rates"] for name in ("naive", "drift")]


def test_a_process_pool_is_the_default_runner(monkeypatch):
    monkeypatch.delenv("TALENTFLOW_TASK_RUNNER", raising=False)
    assert isinstance(forecast_task_runner(get_settings()), WorkerProcesses)


def test_worker_processes_give_the_same_forecasts_as_threads(
    prefect_harness, monkeypatch, tmp_path
):
    """Prefect's process pool, its workers pointed at the flow's temporary API (they
    would otherwise each start a server of their own) and limited to one native thread."""
    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TALENTFLOW_TASK_RUNNER", "processes")
    runner = forecast_task_runner(get_settings())
    pooled_backtests, pooled_fits = run_batch(runner)
    thread_backtests, thread_fits = run_batch(ThreadPoolTaskRunner(max_workers=2))
    for pooled, on_threads in zip(
        pooled_backtests + pooled_fits, thread_backtests + thread_fits, strict=True
    ):
        assert pooled.sort(pooled.columns[:4]).equals(on_threads.sort(on_threads.columns[:4]))


@task
def where_this_worker_reports() -> list:
    import sys

    from prefect import get_client

    server = sys.modules.get("prefect.server.api.server")
    own = (
        [s.api_url for s in server.SubprocessASGIServer._instances.values() if s.running]
        if server
        else []
    )
    return [str(get_client(sync_client=True).api_url), own]


def test_workers_report_to_an_api_configured_in_the_flows_settings_only(
    prefect_harness, monkeypatch, tmp_path
):
    """An API set in a settings context (as Prefect's test harness, or an embedding
    application, sets it) is not in a worker's environment: a worker not given it
    started a server of its own, which a forked worker left running when it exited."""
    from prefect.settings import get_current_settings

    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TALENTFLOW_TASK_RUNNER", "processes")
    configured = str(get_current_settings().api.url).rstrip("/")

    @flow(task_runner=forecast_task_runner(get_settings()))
    def probe() -> list:
        futures = [where_this_worker_reports.submit() for _ in range(4)]
        return [future.result() for future in futures]

    for api, own_servers in probe():
        assert api.rstrip("/") == configured
        assert own_servers == []


def test_the_dask_runner_gives_the_same_forecasts_as_threads(
    prefect_harness, monkeypatch, tmp_path
):
    import prefect_dask  # in the test extra, so CI has it

    monkeypatch.setenv("TALENTFLOW_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TALENTFLOW_TASK_RUNNER", "dask")
    monkeypatch.setenv("TALENTFLOW_FORECAST_WORKERS", "2")
    runner = forecast_task_runner(get_settings())
    assert isinstance(runner, prefect_dask.DaskTaskRunner)
    dask_backtests, dask_fits = run_batch(runner)
    thread_backtests, thread_fits = run_batch(ThreadPoolTaskRunner(max_workers=2))
    for on_dask, on_threads in zip(
        dask_backtests + dask_fits, thread_backtests + thread_fits, strict=True
    ):
        assert on_dask.sort(on_dask.columns[:4]).equals(on_threads.sort(on_threads.columns[:4]))


def test_dask_without_prefect_dask_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_prefect_dask(name, *args, **kwargs):
        if name == "prefect_dask":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setenv("TALENTFLOW_TASK_RUNNER", "dask")
    monkeypatch.setattr(builtins, "__import__", no_prefect_dask)
    with pytest.raises(RuntimeError, match=r"talentflow\[dask\]"):
        forecast_task_runner(get_settings())


#: A flow on Prefect's temporary server (no PREFECT_API_URL), whose tasks say which API
#: their worker records them in, and with which client; run in a fresh interpreter, as
#: `talentflow run` is.
WHERE_TASKS_REPORT = """
import json
import os

from prefect import flow, get_client, task

from talentflow.core.settings import get_settings
from talentflow.flows.forecasting import _flow_api_url, forecast_task_runner


@task
def api_of_this_worker() -> list:
    import sys

    from threadpoolctl import threadpool_info

    from talentflow.flows.forecasting import WORKER_MODULES

    client = get_client(sync_client=True)
    imported = [name for name in WORKER_MODULES if name in sys.modules]
    threads = sorted({pool["num_threads"] for pool in threadpool_info()})
    return [
        str(client.api_url).rstrip("/"),
        os.getpid(),
        id(client),
        imported,
        os.getppid(),
        threads,
        children(),
    ]


def children() -> int | None:  # how many processes this one started (Linux's /proc)
    if not os.path.isdir("/proc/self"):
        return None
    count = 0
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = stat.read().rsplit(")", 1)[1].split()[1]
        except OSError:  # it ended while we looked
            continue
        count += parent == str(os.getpid())
    return count


@task
def double(x: int) -> int:
    return 2 * x


@task
def submits_a_task() -> int:
    return double.submit(21).result()


@flow(task_runner=forecast_task_runner(get_settings()))
def probe() -> dict:
    futures = [api_of_this_worker.submit() for _ in range(8)]
    nested = submits_a_task.submit()
    return {
        "server": _flow_api_url(),
        "tasks": [future.result() for future in futures],
        "nested": nested.result(),
        "flow_pid": os.getpid(),
    }


if __name__ == "__main__":  # workers are spawned: they import this file too
    print(json.dumps(probe()))
"""


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["processes", "dask"])
def test_workers_record_their_tasks_in_the_flows_own_temporary_server(runner, tmp_path):
    """Without a configured API the flow starts a temporary server; a worker that did not
    know its address would start one of its own (on the same database) and record its
    task runs there, out of the flow's sight. A process-pool worker keeps one client for
    all its tasks (a client per task cost a TLS context each), and a task that submits a
    task still gets its result. The workers of both are forked from a server that
    imported the task engine and the model libraries once, not spawned by the flow's
    process to import them each, and run their native thread pools (OpenMP, BLAS) on
    one thread: two workers on two cores, not two threads each. A worker starts no
    process of its own (a Dask worker once started a fork server per task runner Prefect
    rebuilt around its tasks: 6 CPU-s each)."""
    script = tmp_path / "probe.py"
    script.write_text(WHERE_TASKS_REPORT)
    report = report_without_an_api(
        script,
        tmp_path / "prefect",
        TALENTFLOW_DATA_DIR=str(tmp_path / "data"),
        TALENTFLOW_TASK_RUNNER=runner,
        TALENTFLOW_FORECAST_WORKERS="2",
    )
    server = report["server"]
    assert server.startswith("http://127.0.0.1:") and server.endswith("/api")
    assert [api for api, *_ in report["tasks"]] == [server] * 8
    assert report["nested"] == 42
    from talentflow.flows.forecasting import WORKER_MODULES

    clients_by_worker: dict[int, set[int]] = {}
    for _, pid, client, imported, parent, threads, children in report["tasks"]:
        clients_by_worker.setdefault(pid, set()).add(client)
        assert pid != report["flow_pid"] and parent != report["flow_pid"]
        assert imported == list(WORKER_MODULES)
        assert threads == [1]
        assert children in (0, None)  # a worker starts no fork server, nor any process
    if runner == "processes":
        assert all(len(clients) == 1 for clients in clients_by_worker.values())


#: Threads an import may leave behind in the fork server: the allocator registers fork
#: handlers (jemalloc's background threads), and Polars' spill cleaner waits on a
#: channel. Polars' compute pool (polars-N) and async runtime (tokio-rt-worker) must not
#: be running when the server forks: a worker would inherit their locks without their
#: threads. With the server's one-thread environment, OpenBLAS starts no pool (its
#: threads take the process's name, "python"): the main thread is the only one.
FORK_SAFE_THREADS = {"python", "jemalloc_bg_thd", "polars-ooc-clea"}


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="Linux's /proc lists threads")
def test_the_fork_servers_imports_start_no_compute_threads():
    import subprocess
    import sys

    from talentflow.flows.forecasting import DASK_WORKER_MODULES, ONE_THREAD_POOLS, WORKER_MODULES

    probe = (
        "import json, os\n"
        f"for name in {[*WORKER_MODULES, *DASK_WORKER_MODULES]!r}: __import__(name)\n"
        "print(json.dumps(sorted(open(f'/proc/self/task/{t}/comm').read().strip()"
        " for t in os.listdir('/proc/self/task'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, **ONE_THREAD_POOLS},  # the server's environment
    )
    threads = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(threads) <= FORK_SAFE_THREADS, set(threads) - FORK_SAFE_THREADS
    assert threads.count("python") == 1, threads
