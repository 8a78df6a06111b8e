"""Pure Polars functions that turn validated source tables into features.

Nothing here imports Prefect or touches files: every function takes frames and returns a
frame named after what it holds. Formulas are documented in docs/metrics.md.
"""
