"""Prefect flows and thin batch tasks, fetching, discovery, the demo site and the CLI."""
