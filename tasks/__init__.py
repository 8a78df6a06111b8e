"""Steps of the pipeline: each module does one step; Prefect tasks wrap plain functions."""
