"""Entry points: Prefect flows and the CLI that starts them. Nothing imports from here."""
