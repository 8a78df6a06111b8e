"""Incremental runs through Prefect's own caching: the forecast stage's backtest and fit
tasks are keyed on the content of what they read, and their results are kept as JSON and
Arrow files, never pickles.

- :class:`ContentKey`, a Prefect cache policy: the key is a hash of the code version
  (:func:`code_version`: every source file of the package, and the versions of the
  libraries that compute the numbers), the task's name and the content of its inputs
  (a ``ForecastJob``'s history, denominators, caps and breaks; the model's name; the
  origins; the horizon), leaving out the inputs that only label a run (its id). A rerun on
  unchanged data finds every key; a changed source changes only the jobs built from it;
  a run killed midway finds the tasks that completed.
- :class:`FramesSerializer`, a Prefect serializer for the results: Polars frames as Arrow
  IPC (base64) inside JSON, with lists, tuples, dicts, bytes and scalars around them.
  Prefect's default pickles; a pickle in a cache folder is code that runs when read.
- :func:`cache_options`: where the cache lives (``<data_dir>/cache/results``, so it goes
  with the data it was computed from), how long an entry lives (:data:`CACHE_TTL`), and
  ``refresh`` (``talentflow run --refresh``) to recompute and overwrite every entry.
  :func:`prune_cache` deletes entries past their time, so the folder does not grow
  without bound.
- :func:`run_fingerprint`: the same idea for a whole run (code, snapshots, options), so
  that a run with nothing new publishes nothing (``flows.pipeline``).

Hand-written on top of Prefect rather than Prefect's ``INPUTS`` policy: that policy hashes
arguments with cloudpickle, whose bytes for a Polars frame are not stable between
processes, and ``TASK_SOURCE`` hashes only the task function's body, not the models it
calls.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl
from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.serializers import Serializer
from pydantic import Field

from talentflow.core.facts import PACKAGE_FOLDERS
from talentflow.core.settings import Settings

#: How long a cached backtest or fit lives: a month and a half, so a monthly run reuses
#: the previous month's work where its inputs did not change, and nothing older.
CACHE_TTL = timedelta(days=45)
#: The libraries whose versions change the numbers (a new statsforecast may fit
#: differently): part of every key.
NUMERIC_LIBRARIES = ("polars", "numpy", "statsforecast", "scikit-learn", "prophet", "scipy")
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent


@cache
def code_version() -> str:
    """A hash of every source file of talentflow (its Python, and the templates, suites
    and reference tables beside it) and of the numeric libraries' versions: any change
    to the code (a model, a feature, a default, a report) or to a library recomputes
    every cached result."""
    digest = hashlib.sha256()
    sources = [_PACKAGE_ROOT / "__init__.py"] + [
        path
        for folder in PACKAGE_FOLDERS
        for path in (_PACKAGE_ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    for path in sorted(sources):
        digest.update(str(path.relative_to(_PACKAGE_ROOT)).encode())
        digest.update(path.read_bytes())
    for library in NUMERIC_LIBRARIES:
        try:
            version = metadata.version(library)
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{library}=={version}".encode())
    return digest.hexdigest()


def run_fingerprint(inputs: dict[str, str], options: dict[str, Any]) -> str:
    """What a whole run's published tables and reports are a function of: the code
    (:func:`code_version`), the snapshots read (``inputs``: dataset id -> sha256) and the
    run's ``options`` (its parameters, and the settings that change what is written,
    such as the reports' base address; not those that only change how fast). Two runs
    with the same fingerprint publish the same rows and reports, but for run ids and
    timestamps (``flows.pipeline``: the second publishes nothing)."""
    return content_hash(("run", code_version(), inputs, options))


def content_hash(value: Any) -> str:
    """A stable hash of ``value``'s content: frames by their schema and row hashes (in
    order), dataclasses field by field, containers element by element, anything else by
    its ``repr`` (primitives, enums, frozen dataclasses of primitives)."""
    digest = hashlib.sha256()
    _feed(digest, value)
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, pl.DataFrame):
        digest.update(b"frame" + repr(list(value.schema.items())).encode())
        digest.update(str(value.height).encode())
        if value.height and value.width:
            digest.update(value.hash_rows(seed=0).to_numpy().tobytes())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        digest.update(type(value).__qualname__.encode())
        for item in dataclasses.fields(value):
            digest.update(item.name.encode())
            _feed(digest, getattr(value, item.name))
    elif isinstance(value, dict):
        digest.update(b"dict")
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, list | tuple):
        digest.update(type(value).__name__.encode() + str(len(value)).encode())
        for item in value:
            _feed(digest, item)
    else:
        digest.update(repr(value).encode())


@dataclass
class ContentKey(CachePolicy):
    """Prefect cache policy: the key is the code version, the task's name and the content
    of its inputs, except those named in ``ignore`` (labels such as a run id)."""

    ignore: tuple[str, ...] = ()

    def compute_key(
        self,
        task_ctx: TaskRunContext,
        inputs: dict[str, Any],
        flow_parameters: dict[str, Any],
        **kwargs: Any,
    ) -> str | None:
        kept = {name: value for name, value in inputs.items() if name not in self.ignore}
        return content_hash((code_version(), task_ctx.task.name, kept))


class FramesSerializer(Serializer):
    """Prefect serializer for task results made of Polars frames: JSON, with each frame
    as base64 Arrow IPC and each ``bytes`` as base64. Lists, tuples, string-keyed dicts,
    strings, numbers, booleans and None go around them; anything else is refused, so a
    result never falls back to a pickle."""

    type: str = Field(default="talentflow-frames", frozen=True)

    def dumps(self, obj: Any) -> bytes:
        return json.dumps(_encode(obj), separators=(",", ":")).encode()

    def loads(self, blob: bytes) -> Any:
        return _decode(json.loads(blob))


def _encode(value: Any) -> Any:
    if isinstance(value, pl.DataFrame):
        buffer = io.BytesIO()
        value.write_ipc(buffer, compression="zstd")
        return {"frame": base64.b64encode(buffer.getvalue()).decode()}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    if isinstance(value, tuple):
        return {"tuple": [_encode(item) for item in value]}
    if isinstance(value, list):
        return {"list": [_encode(item) for item in value]}
    if isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise TypeError("FramesSerializer keeps dicts with string keys only")
        return {"dict": {key: _encode(item) for key, item in value.items()}}
    if value is None or isinstance(value, bool | int | float | str):
        return {"value": value}
    raise TypeError(
        f"FramesSerializer cannot keep a {type(value).__name__}: frames, bytes, lists, "
        "tuples, dicts and scalars only"
    )


def _decode(value: dict) -> Any:
    ((kind, content),) = value.items()
    if kind == "frame":
        return pl.read_ipc(io.BytesIO(base64.b64decode(content)))
    if kind == "bytes":
        return base64.b64decode(content)
    if kind == "tuple":
        return tuple(_decode(item) for item in content)
    if kind == "list":
        return [_decode(item) for item in content]
    if kind == "dict":
        return {key: _decode(item) for key, item in content.items()}
    if kind == "value":
        return content
    raise ValueError(f"not a FramesSerializer payload: {kind!r}")


def cache_folder(settings: Settings) -> Path:
    """Where cached task results live: with the data they were computed from."""
    return settings.data_dir / "cache" / "results"


def cache_options(settings: Settings, *, refresh: bool = False, ignore=()) -> dict[str, Any]:
    """``Task.with_options`` arguments that make a task cached on its inputs' content,
    its result kept under :func:`cache_folder` as JSON and Arrow, for :data:`CACHE_TTL`;
    ``refresh`` recomputes and overwrites."""
    return {
        "cache_policy": ContentKey(ignore=tuple(ignore)),
        "persist_result": True,
        "result_storage": cache_folder(settings),
        "result_serializer": FramesSerializer(),
        "cache_expiration": CACHE_TTL,
        "refresh_cache": refresh,
    }


def staged_folder(settings: Settings) -> Path:
    """Where a flow's large inputs are staged for its subflows (:func:`stage_frames`)."""
    return settings.data_dir / "cache" / "inputs"


def stage_frames(settings: Settings, frames: dict[str, pl.DataFrame]) -> dict[str, str]:
    """Each frame as a Parquet file named by its content, for a subflow to read: a flow's
    parameters travel with every task it submits to a process pool or a Dask cluster
    (Prefect serializes the run's context), so large frames go by path. A file already
    staged with the same content is reused (and its time renewed)."""
    folder = staged_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frame in frames.items():
        path = folder / f"{name}-{content_hash(frame)[:20]}.parquet"
        if path.is_file():
            path.touch()
        else:
            partial = path.with_suffix(".parquet.partial")
            frame.write_parquet(partial)
            partial.replace(path)
        paths[name] = str(path)
    return paths


def read_staged(paths: dict[str, str]) -> dict[str, pl.DataFrame]:
    """The frames :func:`stage_frames` staged."""
    return {name: pl.read_parquet(path) for name, path in paths.items()}


def prune_cache(settings: Settings, ttl: timedelta = CACHE_TTL) -> int:
    """Delete cached results and staged inputs older than ``ttl`` (Prefect ignores an
    expired result, but keeps its file); returns how many files were deleted."""
    cutoff = time.time() - ttl.total_seconds()
    deleted = 0
    for folder in (cache_folder(settings), staged_folder(settings)):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                deleted += 1
    return deleted
