"""Forecasting models: one module per family, one contract for all (see models.base).

Models know nothing of Prefect, files or settings: frames in, frames out.
"""
