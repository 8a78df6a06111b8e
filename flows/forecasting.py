"""The ``forecasts`` flow: backtest the model zoo on every target at horizons 1-12, choose
one model per target family for the short and the long horizon, hold every forecast to
the plausibility rules, and forecast to the horizon under every WPP variant and policy
lever.

Work runs as one task per target and group of models (never one per series): the
group's backtests and its fits to the horizon, the cheap models of a target together
(``tasks.forecast.model_groups``). With more workers than 8 a backtest is split into
batches of origins, one task each, and the fits get a task of their own
(``tasks.forecast.origin_batches``), and a target with more series than
``TALENTFLOW_SERIES_PER_TASK`` is cut into batches of series for the models that fit each
series alone (``tasks.forecast.split_by_series``), so no task outgrows a bound however
many series a run has. Tasks go through the flow's task runner: Prefect's
process pool by default, threads, or a Dask cluster (see :func:`forecast_task_runner`).
Families are scored in ``FAMILIES`` order, because China's intake is a share of world
totals that are themselves forecast.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from talentflow.core.facts import (
    DEFAULT_MODELS,
    ENSEMBLE_MEMBERS,
    HANDOVER_MODEL,
    REQUIRED_MODELS,
)
from talentflow.core.settings import Settings, environment_variables, get_settings
from talentflow.core.tables import (
    BACKTEST_METRICS_SCHEMA,
    FORECAST_BOUNDS_SCHEMA,
    FORECAST_PLAUSIBILITY_SCHEMA,
    MODEL_SELECTION_SCHEMA,
)
from talentflow.flows.progress import FlowProgress
from talentflow.models.combine import quantile_average
from talentflow.tasks.caching import cache_options, prune_cache, read_staged
from talentflow.tasks.features.plausibility import (
    choose_plausible,
    panel_growth_range,
    plausibility_checks,
)
from talentflow.tasks.features.scenarios import FAMILIES, RATE_TARGETS, attach_denominators
from talentflow.tasks.forecast import (
    N_ORIGINS,
    VALUE_COLUMNS,
    ForecastJob,
    backtest_origins,
    build_forecast_jobs,
    forecast_models,
    forecast_pools,
    forecast_rows,
    handover_rates,
    in_logit_space,
    longest_first,
    min_train_observations,
    model_groups,
    observed_pools,
    origin_batches,
    save_artefacts,
    score_family,
    split_by_series,
)


def forecast_task_runner(settings: Settings) -> TaskRunner:
    """The task runner of the forecast fits: Prefect's process pool (the default,
    :class:`WorkerProcesses`), a thread pool, or Dask (prefect-dask) when
    ``TALENTFLOW_TASK_RUNNER=dask``, on ``TALENTFLOW_DASK_ADDRESS`` or a local cluster."""
    if settings.task_runner == "threads":
        return ThreadPoolTaskRunner(max_workers=settings.forecast_workers)
    if settings.task_runner == "processes":
        return WorkerProcesses(max_workers=settings.forecast_workers)
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError as error:
        raise RuntimeError(
            "TALENTFLOW_TASK_RUNNER=dask needs prefect-dask: pip install 'talentflow[dask]'"
        ) from error
    if settings.dask_address:
        return _dask_runner(DaskTaskRunner)(address=settings.dask_address)
    return _dask_runner(DaskTaskRunner)(
        cluster_kwargs={"n_workers": settings.forecast_workers, "threads_per_worker": 1}
    )


def forks_its_workers(settings: Settings) -> bool:
    """Whether the forecast workers are processes this machine starts, forked from
    :func:`start_worker_server`: Prefect's process pool, or a local Dask cluster (not
    threads, nor a cluster at ``TALENTFLOW_DASK_ADDRESS``, whose workers run elsewhere)."""
    return settings.task_runner == "processes" or (
        settings.task_runner == "dask" and not settings.dask_address
    )


def _dask_runner(dask_task_runner: type[TaskRunner]) -> type[TaskRunner]:
    """prefect-dask's runner,
    - submitting each task run as an impure call (:meth:`submit`);
    - on a local cluster (no address), whose workers are given the address of the flow's
      Prefect API as it is when the flow starts the runner (a worker started without it
      runs a temporary server of its own, on the same database: three servers on two
      cores; bench/README.md), and are forked from :func:`start_worker_server`
      (distributed's ``forkserver`` method), not spawned to import Prefect, Dask and the
      model libraries each (2.5 s per worker on the 2-core machine, after the stage
      began).
    A class made here because prefect-dask is optional."""
    import dask
    from prefect_dask.task_runners import PrefectDaskFuture

    class DaskRunner(dask_task_runner):
        def __enter__(self):
            if self.address or _in_a_dask_worker():
                # a cluster of its own; or Prefect's duplicate around a task in a worker
                return super().__enter__()
            api_url = _flow_api_url()
            if api_url:
                env = {**self.cluster_kwargs.get("env", {}), "PREFECT_API_URL": api_url}
                self.cluster_kwargs = {**self.cluster_kwargs, "env": env}
            super().__enter__()
            if start_worker_server("dask") is not None:
                # read when a nanny starts its worker, this one or a restart
                self._exit_stack.enter_context(
                    dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
                )
            return self

        def submit(self, task, parameters, wait_for=None, dependencies=None):
            """prefect-dask's (0.3) submit, the call marked impure: Dask keys a pure call
            by a hash of all its arguments, the job's frames included (1.3 s of the
            flow's process per stage, on the cores the workers need; bench/README.md),
            where each Prefect task run is unique anyway (a new run id per call)."""
            if not self._started:
                raise RuntimeError("The task runner must be started before submitting work.")
            future = self.client.submit(
                task,
                parameters=self._optimize_futures(parameters),
                wait_for=self._optimize_futures(wait_for) if wait_for else None,
                dependencies=dependencies,
                return_type="state",
                pure=False,
            )
            return PrefectDaskFuture(wrapped_future=future, task_run_id=future.task_run_id)

    return DaskRunner


def _in_a_dask_worker() -> bool:
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def _flow_api_url() -> str | None:
    """The address of the Prefect API this process runs on: the configured one (from the
    environment, a profile or a settings context, which a worker does not see), or the
    temporary server this process started. A worker process given none starts a server
    of its own, and a forked worker exits without stopping it."""
    from prefect.settings import get_current_settings

    if configured := get_current_settings().api.url:
        return configured
    from prefect.server.api.server import SubprocessASGIServer  # the server's imports: 3 s

    server = SubprocessASGIServer()
    return server.api_url if server.server_process is not None else None


#: What a forecast worker imports before it can run a task: Prefect's task engine, the
#: forecast tasks and the model libraries (4.1 s per worker, spawned, on the 2-core
#: machine; bench/README.md). :func:`start_worker_server` imports them once.
WORKER_MODULES = (
    "talentflow.flows.forecasting",
    "talentflow.tasks.forecast",
    "prefect.task_engine",
    "sklearn.ensemble",
    "statsforecast.models",
    "skops.io",
)

#: What a local Dask cluster's worker imports besides (:func:`_dask_runner`).
DASK_WORKER_MODULES = ("distributed",)


def start_worker_server(
    task_runner: str = "processes",
) -> multiprocessing.context.BaseContext | None:
    """Start, if it is not running, the process the forecast workers are forked from:
    multiprocessing's fork server, with :data:`WORKER_MODULES` imported in it once (and
    :data:`DASK_WORKER_MODULES` for ``task_runner="dask"``). It boots on its own
    process, so the pipeline calls this at its start and the imports run while this
    process ingests and validates; a worker is then a fork of a process that imported
    everything and ran nothing (no Polars work, no Prefect client, no data), which keeps
    what Prefect's choice of ``spawn`` protects: no state of the flow's own process
    reaches a worker. The server starts with :data:`ONE_THREAD_POOLS` in its
    environment, read as the native libraries load, so each worker is one thread on one
    core. The only threads its imports leave are ones made to survive a fork (the
    allocator's, Polars' spill cleaner; a test lists them). Returns the fork server's
    context, or None where the platform has none (Windows), where workers are spawned
    as Prefect does."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    from multiprocessing import forkserver

    extra = DASK_WORKER_MODULES if task_runner == "dask" else ()
    multiprocessing.set_forkserver_preload([*WORKER_MODULES, *extra])
    with environment_variables(ONE_THREAD_POOLS):  # the server's; ours is as it was after
        forkserver.ensure_running()  # returns at once; the server imports on its own
    return multiprocessing.get_context("forkserver")


#: The forecast workers' native thread pools, one thread each: a worker is one fit on one
#: core (what distributed's ``pre-spawn-environ`` sets for the workers it spawns). Set
#: after a library has loaded, OpenMP's limit binds only the thread that set it.
ONE_THREAD_POOLS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


class WorkerProcesses(ProcessPoolTaskRunner):
    """Prefect's process pool, its workers set up by :func:`_start_worker` with the
    address of the flow's Prefect API as it is when the flow starts the pool (a
    temporary server is only running by then), and forked from the server
    :func:`start_worker_server` started instead of spawned: Prefect's pool spawns each
    worker, which then imports the task engine and the model libraries itself.

    Prefect (3.9) rebuilds the flow's context around every task a worker runs, and two
    parts of it cost more than a small task: a duplicate of the flow's task runner,
    entered per task (for a process pool: a queue, a forwarding thread and an executor),
    and a new API client per task (its TLS context loads the CA bundle). In a worker,
    :meth:`duplicate` gives a one-thread pool instead (a task that submitted tasks would
    run them on a thread of its worker; no forecast task does), and each worker keeps
    one client for all its tasks (:func:`_start_worker`). Prefect's own change to that
    effect (PrefectHQ/prefect#20853) was closed unmerged; figures in bench/README.md."""

    def __enter__(self):
        self._initializer = _start_worker
        self._initargs = (_flow_api_url(),)
        super().__enter__()
        forking = start_worker_server()
        if forking is not None:
            # Prefect's executor has started no process yet (they start on demand): the
            # same pool, with the same initializer, forking instead of spawning.
            spawning = self._executor
            self._executor = ProcessPoolExecutor(
                max_workers=self._max_workers,
                mp_context=forking,
                initializer=spawning._initializer,
                initargs=spawning._initargs,
            )
            spawning.shutdown()
        return self

    def duplicate(self) -> TaskRunner:
        if _worker_client:
            return ThreadPoolTaskRunner(max_workers=1)
        return super().duplicate()


#: A forecast worker's Prefect client context, entered for the worker's life by
#: :func:`_start_worker`; empty in any other process.
_worker_client: list = []


def _start_worker(api_url: str | None) -> None:
    """Set up a forecast worker process: the flow's Prefect API, one client for every
    task the worker runs, and one fit at a time on one core (the native thread pools,
    OpenMP in scikit-learn's gradient boosting or BLAS, would otherwise each start one
    thread per core in every worker)."""
    import os
    from contextlib import nullcontext

    from prefect.context import SyncClientContext
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from threadpoolctl import threadpool_limits

    if api_url:
        os.environ["PREFECT_API_URL"] = api_url
    threadpool_limits(limits=1)
    with temporary_settings({PREFECT_API_URL: api_url}) if api_url else nullcontext():
        client = SyncClientContext()
    _worker_client.append(client.__enter__())  # Prefect's tasks find it and reuse it


@dataclass(frozen=True)
class ForecastTables:
    forecasts: pl.DataFrame
    backtest_metrics: pl.DataFrame
    model_selection: pl.DataFrame
    forecast_plausibility: pl.DataFrame
    forecast_bounds: pl.DataFrame
    observed: pl.DataFrame  # the histories the forecasts continue, in the same units
    failures: list[str]
    skipped: list[str] = field(default_factory=list)  # targets not forecast, and why
    rejected: list[str] = field(default_factory=list)  # forecasts the rules kept out
    breaks: pl.DataFrame = field(default_factory=pl.DataFrame)  # series breaks, per target


@dataclass
class _Shaped:
    rows: list[pl.DataFrame] = field(default_factory=list)
    metrics: list[pl.DataFrame] = field(default_factory=list)
    selections: list[pl.DataFrame] = field(default_factory=list)
    plausibility: list[pl.DataFrame] = field(default_factory=list)
    bounds: list[pl.DataFrame] = field(default_factory=list)
    observed: list[pl.DataFrame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    # target -> the selected forecast of each series as a denominator for a share target
    denominators: dict[str, pl.DataFrame] = field(default_factory=dict)


def ensemble_of(frames: list[pl.DataFrame]) -> pl.DataFrame:
    """The ensemble's rows from its members' (backtest or rate forecasts)."""
    return quantile_average(
        pl.concat(frames, how="vertical_relaxed"), ENSEMBLE_MEMBERS, VALUE_COLUMNS, "ensemble"
    )


def _of_target(frames: dict[tuple[str, str], pl.DataFrame], target: str) -> list[pl.DataFrame]:
    return [frame for (name, _), frame in frames.items() if name == target]


@task(name="score-and-shape", cache_policy=NO_CACHE)
def score_and_shape(
    jobs: list[ForecastJob],
    backtests: dict[tuple[str, str], pl.DataFrame],
    rates: dict[tuple[str, str], pl.DataFrame],
    *,
    run_id: str,
    vintage: int,
) -> _Shaped:
    """Score the backtests per family, choose, hold each series' forecast to the
    plausibility rules, and write the published tables, family by family."""
    created_at = datetime.now(UTC)
    shaped = _Shaped()
    for family in FAMILIES:
        members = [job for job in jobs if job.target.family == family]
        ready = []
        for job in members:
            if job.target.is_share:
                job = job.with_denominators(
                    attach_denominators(
                        job.target, job.cohorts, shaped.denominators[job.target.denominator]
                    )
                )
            frames = [frame for frame in _of_target(backtests, job.target.name) if frame.height]
            if not frames:
                shaped.notes.append(
                    f"{job.target.name}: no backtest origin at this vintage (history too "
                    "short); not forecast"
                )
                continue
            ready.append((job, pl.concat(frames, how="vertical_relaxed")))
        if not ready:
            continue
        scores = score_family(
            family,
            {job.target.name: frames for job, frames in ready},
            {job.target.name: in_logit_space(job, frames) for job, frames in ready},
        )
        shaped.metrics.append(scores.metrics)
        shaped.selections.append(scores.selection)
        preference = [
            scores.family_choice,
            scores.long_model,
            scores.short_model,
            "converge",
            "drift",
            "naive",
        ]
        for job, _ in ready:
            _shape_target(job, scores, preference, rates, shaped, run_id, vintage, created_at)
    return shaped


def _shape_target(job, scores, preference, rates, shaped, run_id, vintage, created_at) -> None:
    target = job.target
    target_rates = pl.concat(_of_target(rates, target.name), how="diagonal_relaxed")
    if scores.family_choice == HANDOVER_MODEL:
        target_rates = pl.concat(
            [
                target_rates,
                handover_rates(target_rates, job, scores.short_model, scores.long_model),
            ],
            how="diagonal_relaxed",
        )
    pools = forecast_pools(job, target_rates, scores.factors[target.name])
    checks = plausibility_checks(
        pools.filter(target.published(pl.col("series_id"))),
        job.cohorts.select("series_id", "variant", "year", "cohort"),
        job.caps,
        target.per,
        panel_growth_range(job.history),
        target.is_share,
    )
    selected, rejected = choose_plausible(checks, preference)
    for row in rejected.iter_rows(named=True):
        shaped.rejected.append(
            f"{target.name} / {row['series_id']} / {row['model']}: {row['rule']} ({row['detail']})"
        )
    shaped.rows.append(
        forecast_rows(
            job, pools, selected=selected, run_id=run_id, vintage=vintage, created_at=created_at
        )
    )
    # What is published as selected: the chosen model's verdicts. An uninformative band
    # does not reject a forecast, it ends the selected years before it: the published
    # forecast passes that rule, and the detail says where it stops.
    informative = pl.col("rule") == "informative_interval"
    shaped.plausibility.append(
        checks.join(selected.select("series_id", "model"), on=["series_id", "model"]).select(
            pl.lit(target.name).alias("target"),
            target.place(pl.col("series_id")).alias("country_iso3"),
            target.origin_group(pl.col("series_id")).alias("origin_group"),
            "model",
            "rule",
            (pl.col("passed") | informative).alias("passed"),
            "detail",
            "last_informative_year",
        )
    )
    shaped.bounds.append(job.caps.with_columns(pl.lit(target.name).alias("target")))
    shaped.observed.append(observed_pools(job))
    # The selected forecast of every series, to the horizon, as a share target's
    # denominator (point and bounds).
    chosen = pools.join(selected.select("series_id", "model"), on=["series_id", "model"])
    shaped.denominators[target.name] = chosen.filter(
        pl.col("scenario") == pl.col("variant")
    ).select(
        "series_id",
        "variant",
        "year",
        pl.col("mean").alias("cohort"),
        *[pl.col(c).alias(f"cohort_{c}") for c in ("lo80", "hi80", "lo95", "hi95")],
    )


def _run_table(
    frames: list[pl.DataFrame], schema: dict, run_id: str, vintage: int, sort: list[str]
) -> pl.DataFrame:
    """``frames`` as one run table: the run's columns added, the schema's columns in its
    order and types."""
    run_columns = [pl.lit(run_id).alias("run_id"), pl.lit(vintage, dtype=pl.Int32).alias("vintage")]
    if not frames:
        return pl.DataFrame(schema=schema)
    return (
        pl.concat(frames, how="diagonal_relaxed")
        .with_columns(*run_columns)
        .select(list(schema))
        .cast(schema)
        .sort(sort)
    )


@flow(
    name="forecasts",
    flow_run_name="forecasts-data-{vintage}",
    persist_result=False,  # as the pipeline: no result kept, a failure's exception as JSON
    result_serializer="json",
)
def forecasts(
    inputs: dict[str, str],
    country_list: str,
    *,
    run_id: str,
    vintage: int,
    as_of: int | None = None,
    until_year: int = 2050,
    min_observed_years: int = 8,
    targets: list[str] | None = None,
    models: list[str] | None = None,
    refresh: bool = False,
) -> ForecastTables:
    """Backtest, choose and forecast every target (default: all of
    ``tasks.features.scenarios.RATE_TARGETS``) with every model (default: the zoo's
    ``core.facts.DEFAULT_MODELS``). ``inputs`` are the feature tables the targets are
    built from (``tasks.features.scenarios.target_inputs``) as Parquet files staged by
    ``tasks.caching.stage_frames``, ``country_list`` the tidy World Bank country list:
    paths, not frames, because a flow's parameters travel with every task it submits.

    Each backtest and fit is cached on the content of its inputs (``tasks.caching``): a
    rerun on unchanged data, or a run resumed after a kill, reuses what was computed;
    ``refresh`` recomputes everything and overwrites the cache."""
    targets = targets or list(RATE_TARGETS)
    models = models or list(DEFAULT_MODELS)
    missing = [name for name in REQUIRED_MODELS if name not in models]
    if missing:
        raise ValueError(f"the zoo must include {missing}: every model is judged against them")
    jobs, skipped = build_forecast_jobs(
        read_staged(inputs), pl.read_parquet(country_list), targets, as_of, min_observed_years
    )
    # The ensemble averages forecasts its members already made, when they are in the zoo:
    # fitting it would fit ETS, Theta and drift a second time.
    combined = "ensemble" in models and set(ENSEMBLE_MEMBERS) <= set(models)
    fitted = [name for name in models if not (combined and name == "ensemble")]

    settings = get_settings()
    prune_cache(settings)
    work = forecast_models.with_options(**cache_options(settings, refresh=refresh))
    plans = {
        job.target.name: (backtest_origins(job, models), min_train_observations(job, models))
        for job in jobs
    }
    # One task per target and group of models: its backtest and fit together, or, with
    # enough workers to split a backtest, one task per batch of origins and one for the
    # fit (tasks.forecast.origin_batches); a target with more series than
    # series_per_task, one task per batch of series for the models that fit each series
    # alone (tasks.forecast.split_by_series). The costliest are submitted first.
    submitted: list[tuple[str, list[int], int, PrefectFuture]] = []
    for job, group in longest_first(jobs, model_groups(fitted)):
        origins, min_train = plans[job.target.name]
        batches = origin_batches(origins, settings.forecast_workers) if origins else [[]]
        steps = (
            [(batches[0], until_year)]
            if len(batches) == 1
            else [*((batch, None) for batch in batches), ([], until_year)]
        )
        for names, part, series in split_by_series(group, job, settings.series_per_task):
            for batch, until in steps:
                future = work.submit(part, names, batch, min_train, until)
                submitted.append((job.target.name, batch, series or 0, future))

    progress = FlowProgress(len(submitted), "forecasts")
    # target, model -> (first origin, batch of series or 0, backtest rows, failures) per task
    pieces: dict[tuple[str, str], list[tuple[int, int, pl.DataFrame, list[str]]]] = {}
    fitted_parts: dict[tuple[str, str], list[tuple[int, pl.DataFrame]]] = {}
    for target, batch, series, future in submitted:
        outcomes = future.result()
        for name, outcome in outcomes.items():
            if outcome["backtest"] is not None:
                pieces.setdefault((target, name), []).append(
                    (batch[0], series, outcome["backtest"], outcome["failures"])
                )
            if outcome["rates"] is not None:
                fitted_parts.setdefault((target, name), []).append((series, outcome["rates"]))
                artefacts = outcome["artefacts"]
                if series:  # each batch of series keeps its own fitted model's files
                    artefacts = {f"series-{series}/{f}": a for f, a in artefacts.items()}
                save_artefacts(run_id, target, name, artefacts)
        progress.step(f"{target} {'+'.join(outcomes)}")
    # In the jobs' and the zoo's order, whatever the order of submission; a backtest's
    # batches in the order of their rows (origin, series, year), so their concatenation
    # is the whole backtest's, row for row.
    in_order = [(job.target.name, name) for job in jobs for name in fitted]
    backtests, failures = {}, []
    for key in in_order:
        done = sorted(pieces.get(key, []), key=lambda piece: piece[:2])
        if done:
            rows = pl.concat([frame for *_, frame, _ in done], how="vertical_relaxed")
            if len({series for _, series, _, _ in done}) > 1:
                rows = rows.sort("origin", "series_id", "year", maintain_order=True)
            backtests[key] = rows
        failures += [failure for *_, found in done for failure in found]
    rates = {
        key: pl.concat([frame for _, frame in sorted(fitted_parts[key], key=lambda p: p[0])])
        for key in in_order
    }
    if combined:
        for job in jobs:
            target = job.target.name
            members = [(target, member) for member in ENSEMBLE_MEMBERS]
            if all(key in backtests for key in members):
                backtests[(target, "ensemble")] = ensemble_of([backtests[key] for key in members])
            rates[(target, "ensemble")] = ensemble_of([rates[key] for key in members])
    shaped = score_and_shape(jobs, backtests, rates, run_id=run_id, vintage=vintage)

    scored = pl.concat(shaped.metrics) if shaped.metrics else pl.DataFrame()
    # A model that failed at some origins has fewer behind its scores: it was left out of
    # the selection (models.selection.select_model) and its scores are not published.
    if scored.height:
        thin = scored.filter(pl.col("origins") < N_ORIGINS)
        for row in thin.select("target", "model").unique().sort("target", "model").iter_rows():
            failures.append(
                f"{row[0]} / {row[1]}: scored at fewer than {N_ORIGINS} origins at some "
                "horizon; those horizons' scores are not published"
            )
        scored = scored.filter(pl.col("origins") >= N_ORIGINS)
    return ForecastTables(
        forecasts=pl.concat(shaped.rows),
        backtest_metrics=_run_table(
            [scored] if scored.height else [],
            BACKTEST_METRICS_SCHEMA,
            run_id,
            vintage,
            ["family", "target", "model", "horizon"],
        ),
        model_selection=_run_table(
            shaped.selections, MODEL_SELECTION_SCHEMA, run_id, vintage, ["family", "target"]
        ),
        forecast_plausibility=_run_table(
            shaped.plausibility,
            FORECAST_PLAUSIBILITY_SCHEMA,
            run_id,
            vintage,
            ["target", "country_iso3", "origin_group", "rule"],
        ),
        forecast_bounds=_run_table(
            shaped.bounds, FORECAST_BOUNDS_SCHEMA, run_id, vintage, ["target", "series_id"]
        ),
        observed=pl.concat(shaped.observed),
        failures=failures,
        skipped=skipped + shaped.notes,
        rejected=shaped.rejected,
        breaks=pl.concat(
            [job.breaks.with_columns(pl.lit(job.target.name).alias("target")) for job in jobs],
            how="diagonal_relaxed",
        )
        if jobs
        else pl.DataFrame(),
    )
