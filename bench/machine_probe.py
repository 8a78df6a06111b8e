"""How fast this machine is right now: a fixed pure-Python loop, timed.

Not a test. Machines of the same kind differ, and one machine differs from hour to hour
(bench/README.md: the same code's cold run took 62 s on one session's machine and 154 s
on another's), so every figure in bench/ is paired with the starting code run
alternately in the same hour, and the run scripts print this probe beside each figure.
Twenty million additions in one interpreter: 0.84-0.98 s on the seventh session's
machine, 1.7-1.9 s in the sixth session's slow hours.

    python bench/machine_probe.py
"""

from __future__ import annotations

import time

#: Run at module level (global names, as ``python -c`` runs it), which is how the
#: figures in bench/README.md were taken; inside a function the loop is twice as fast.
LOOP = """
total = 0
for i in range(20_000_000):
    total += i
"""


def probe() -> float:
    """Seconds for :data:`LOOP` in a fresh module namespace."""
    started = time.perf_counter()
    exec(LOOP, {})
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"probe {probe():.2f} s")
