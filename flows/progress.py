"""Progress of a long flow, for whoever watches: the Prefect UI and, in-process, the CLI.

A flow reports ``(done, total, what)``; this module turns it into a Prefect progress
artifact (visible on the flow run in the UI) and calls any listener registered in this
process (the CLI's progress bar). Listeners are process-local: a worker elsewhere has none.
"""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from prefect.artifacts import create_progress_artifact, update_progress_artifact

Listener = Callable[[int, int, str], None]
_listeners: list[Listener] = []


def add_listener(listener: Listener) -> None:
    _listeners.append(listener)


def remove_listener(listener: Listener) -> None:
    _listeners.remove(listener)


class FlowProgress:
    """Report progress of ``total`` steps of a flow run."""

    def __init__(self, total: int, description: str) -> None:
        self.total, self.done, self.description = total, 0, description
        self._artifact: UUID = create_progress_artifact(0.0, description=description)

    def step(self, what: str) -> None:
        self.done += 1
        update_progress_artifact(
            self._artifact,
            100.0 * self.done / max(self.total, 1),
            description=f"{self.description}: {what}",
        )
        for listener in list(_listeners):
            listener(self.done, self.total, what)
