"""The forecast stage's cache: keys follow the content of a task's inputs, results are
kept as JSON and Arrow (never pickles), a changed input or ``refresh`` recomputes, and
old entries are pruned."""

from __future__ import annotations

import json
import os
import time
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from talentflow.core.settings import get_settings
from talentflow.tasks.caching import (
    FramesSerializer,
    cache_folder,
    cache_options,
    code_version,
    content_hash,
    prune_cache,
    run_fingerprint,
)

CALLS: list[str] = []


def frame(values=(1.0, 2.0, 3.0)) -> pl.DataFrame:
    return pl.DataFrame({"series_id": ["CHN", "USA", "IND"], "y": list(values)})


def test_results_round_trip_as_json_with_frames_and_bytes():
    serializer = FramesSerializer()
    result = (frame(), ["a failure"], {"model.json": b"\x00\xff bytes"})
    blob = serializer.dumps(result)
    json.loads(blob)  # JSON all the way: nothing a pickle could hide in
    back = serializer.loads(blob)
    assert back[0].equals(result[0])
    assert back[1:] == result[1:]


def test_a_result_that_is_not_frames_or_plain_data_is_refused():
    class Model:
        pass

    with pytest.raises(TypeError, match="cannot keep a Model"):
        FramesSerializer().dumps((frame(), Model()))


def test_the_key_follows_content_not_memory_layout():
    chunked = pl.concat([frame().head(1), frame().tail(2)], rechunk=False)
    assert chunked.n_chunks() == 2
    assert content_hash(chunked) == content_hash(frame())
    assert content_hash(frame((1.0, 2.0, 3.5))) != content_hash(frame())
    assert content_hash(frame().rename({"y": "z"})) != content_hash(frame())
    assert content_hash({"a": frame(), "b": 1}) == content_hash({"b": 1, "a": frame()})


def test_a_runs_fingerprint_follows_its_inputs_options_and_code(monkeypatch):
    inputs = {"wdi_researchers": "a" * 64, "wpp_population": "b" * 64}
    options = {"until_year": 2050, "models": None, "report_base_url": None}
    same = run_fingerprint(dict(reversed(inputs.items())), dict(options))
    assert run_fingerprint(inputs, options) == same
    assert run_fingerprint({**inputs, "wpp_population": "c" * 64}, options) != same
    assert run_fingerprint({"wdi_researchers": "a" * 64}, options) != same
    assert run_fingerprint(inputs, {**options, "until_year": 2040}) != same
    assert run_fingerprint(inputs, {**options, "report_base_url": "http://x"}) != same
    from talentflow.tasks import caching

    monkeypatch.setattr(caching, "code_version", lambda: "another version of the code")
    assert run_fingerprint(inputs, options) != same


def test_the_code_version_covers_templates_and_suites_not_only_python(monkeypatch):
    """A report template or a suite changes what a run publishes, so it changes the key."""
    from talentflow.tasks.caching import _PACKAGE_ROOT

    hashed, read = [], Path.read_bytes

    def recording(path: Path) -> bytes:
        hashed.append(path.relative_to(_PACKAGE_ROOT).as_posix())
        return read(path)

    monkeypatch.setattr(Path, "read_bytes", recording)
    assert code_version.__wrapped__() == code_version()  # the cached value is the same
    assert any(name.startswith("tasks/templates/") for name in hashed)
    assert any(name.startswith("expectations/") and name.endswith(".json") for name in hashed)
    assert not any("__pycache__" in name for name in hashed)


@task(name="synthetic-square", cache_policy=NO_CACHE)
def square(values: pl.DataFrame, label: str) -> tuple[pl.DataFrame, list[str]]:
    CALLS.append(label)
    return values.with_columns(pl.col("y") ** 2), [label]


def run_square(values: pl.DataFrame, label: str, refresh: bool = False):
    @flow
    def squares():
        options = cache_options(get_settings(), refresh=refresh, ignore=("label",))
        return square.with_options(**options)(values, label)

    return squares()


def test_a_rerun_on_the_same_content_comes_from_the_cache(
    prefect_harness, settings_env, monkeypatch
):
    CALLS.clear()
    first, notes = run_square(frame(), "run-1")
    again, again_notes = run_square(frame(), "run-2")  # the label is not part of the key
    assert CALLS == ["run-1"]
    assert again.equals(first) and again_notes == notes == ["run-1"]

    run_square(frame((1.0, 2.0, 4.0)), "run-3")  # a changed input recomputes
    assert CALLS == ["run-1", "run-3"]
    run_square(frame(), "run-4", refresh=True)  # --refresh recomputes and overwrites
    assert CALLS == ["run-1", "run-3", "run-4"]
    assert run_square(frame(), "run-5")[1] == ["run-4"]
    assert CALLS == ["run-1", "run-3", "run-4"]

    stored = [path for path in cache_folder(get_settings()).iterdir() if path.is_file()]
    assert len(stored) == 2  # one entry per distinct content
    for path in stored:
        record = json.loads(path.read_bytes())  # a JSON record, not a pickle
        assert record["metadata"]["serializer"]["type"] == "talentflow-frames"


def test_entries_past_their_time_are_pruned_and_then_recomputed(prefect_harness, settings_env):
    CALLS.clear()
    run_square(frame(), "fresh")
    folder = cache_folder(get_settings())
    stored = [path for path in folder.iterdir() if path.is_file()]
    assert stored
    assert prune_cache(get_settings()) == 0  # a fresh entry stays
    old = time.time() - timedelta(days=60).total_seconds()
    for path in stored:
        os.utime(path, (old, old))
    assert prune_cache(get_settings()) == len(stored)
    run_square(frame(), "after-prune")
    assert CALLS == ["fresh", "after-prune"]


def test_a_run_that_failed_midway_resumes_from_the_tasks_that_completed(
    prefect_harness, settings_env
):
    """A run killed or failed after some fits: the next run reuses those and computes
    only the rest."""
    CALLS.clear()
    failing = {"second": True}

    @task(name="synthetic-second", cache_policy=NO_CACHE)
    def second(values: pl.DataFrame) -> pl.DataFrame:
        CALLS.append("second")
        if failing["second"]:
            raise RuntimeError("killed midway")
        return values

    @flow
    def two_steps():
        options = cache_options(get_settings(), ignore=("label",))
        done, _ = square.with_options(**options)(frame(), "first")
        return second.with_options(**options)(done)

    with pytest.raises(RuntimeError, match="killed midway"):
        two_steps()
    failing["second"] = False
    two_steps()
    assert CALLS == ["first", "second", "second"]  # the first step ran once
