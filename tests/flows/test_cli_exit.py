"""How `talentflow` exits: every exit handler, finalizer and buffered line of output still
runs, and the interpreter's teardown no longer garbage-collects what is left (flows.cli;
2.9 s of each command's exit on the 2-core machine, bench/README.md)."""

import subprocess
import sys

#: A process that imports the command's module, as the ``talentflow`` script does, and
#: leaves at exit what a command leaves: an exit handler and a weakref finalizer
#: registered later, output not yet flushed, and a reference cycle that only the garbage
#: collector could free (the collector is off so that nothing frees it before the exit).
EXITING = """
import atexit
import gc
import sys
import weakref
from pathlib import Path

import talentflow.flows.cli  # noqa: F401

folder = Path(sys.argv[1])


class Cycle:
    def __init__(self):
        self.me = self

    def __del__(self):
        (folder / "cycle collected").touch()


class Resource:
    pass


gc.disable()
Cycle()
resource = Resource()
weakref.finalize(resource, (folder / "finalizer ran").touch)
atexit.register((folder / "exit handler ran").touch)
print("the last line, still buffered")
"""


def _exit_in(tmp_path, script: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("the last line, still buffered")
    return {path.name for path in tmp_path.iterdir()}


def test_the_command_exits_without_collecting_garbage_but_runs_its_exit_handlers(tmp_path):
    left = _exit_in(tmp_path, EXITING)
    assert {"exit handler ran", "finalizer ran"} <= left
    assert "cycle collected" not in left, "the teardown's garbage collection still runs"


def test_without_the_command_the_same_exit_collects_the_cycle(tmp_path):
    """The control: the same process without talentflow's exit handler frees the cycle
    at exit, so the test above sees the handler, not an interpreter that never collects."""
    left = _exit_in(tmp_path, EXITING.replace("import talentflow.flows.cli", "import typer"))
    assert {"exit handler ran", "finalizer ran", "cycle collected"} <= left
