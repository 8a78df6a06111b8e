"""talentflow's core: settings, storage paths and atomic writes, country codes.

The ground floor. It must never import Prefect, Great Expectations, the tasks, the
models or the flows: everything else builds on it, so it stays small and fast to import.
"""
