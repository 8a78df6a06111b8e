"""Write ``deploy/prefect.yaml`` from the catalog and ``flows/serve.py``.

The file is generated so that it cannot drift from the catalog's cadences (the one source
of truth, shared with ``talentflow serve``)::

    python deploy/generate_prefect_yaml.py           # rewrite deploy/prefect.yaml
    python deploy/generate_prefect_yaml.py --check   # exit 1, saying so, if it is stale

Run it from anywhere; it needs the project's dependencies (the dev venv or ``make setup``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PREFECT_YAML = REPO / "deploy" / "prefect.yaml"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check``, compare) ``deploy/prefect.yaml``; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))  # runnable from a checkout, installed or not
    from talentflow.flows.serve import prefect_yaml

    wanted = prefect_yaml()
    if args.check:
        current = PREFECT_YAML.read_text() if PREFECT_YAML.exists() else ""
        if current != wanted:
            print(f"{PREFECT_YAML} is stale: run `python deploy/generate_prefect_yaml.py`")
            return 1
        print(f"{PREFECT_YAML} is up to date")
        return 0
    PREFECT_YAML.write_text(wanted)
    print(f"wrote {PREFECT_YAML}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
