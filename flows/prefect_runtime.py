"""Prefect's runtime as newsflow's commands use it: the server environment, and a command's flow run
without heartbeats.  The one module that changes Prefect's settings context (``command_line_run``);
``tests/test_library_contracts.py`` fails, naming the change, when Prefect's internals it relies
on move."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from crawl.interrupts import ending_on_signals, start_watchdog
from crawl.settings import load_settings
from flows.extraction_pool import start_fork_server

#: Environment for the Prefect server newsflow runs against (docs/operations.md; the CLI
#: sets it for a temporary server, the benchmark for its own).  By default the server writes every task-run
#: event to its SQLite database in a transaction of its own; under a crawl's load those collide with the
#: writer slot's acquisition, which the server then answers 503 and the client retries about 2 s later.
#: Batched as here, such stalls become rare.  Telemetry is off: an offline machine only logs its errors.
PREFECT_SERVER_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_READ_BATCH_SIZE": "200",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_BATCH_SIZE": "500",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_READ_BATCH_SIZE": "200",
}


@contextmanager
def command_line_run(extracts: bool = False) -> Iterator[None]:
    """Around a flow run started from the command line: no flow-run heartbeats, unless configured; the
    extraction workers' fork server already starting when the run will extract (``extracts``).

    A command's process is new: its first extraction would start the fork server and wait for its imports.
    Started here, they overlap Prefect creating the flow run and the run's discovery, which keep one core
    busy.  Commands leave it out for a refresh run, mostly 304s that start no worker: there it would only
    cost time and memory.
    A served process keeps its fork server from one run to the next.

    SIGINT and SIGTERM end the run (``crawl/interrupts.py``), and a watchdog process stops the command's
    children if the command is killed.

    Prefect 3.9 joins a sync flow run's heartbeat thread when the run ends, and that thread sleeps in
    one-second steps, so every run ends on a whole second after it started: 0-1 s more per command,
    a large share of a rerun of 304s.  Heartbeats serve Prefect's zombie
    automation for deployment runs, which keep them; a command's run has its terminal, and newsflow marks a
    run whose process died as crashed in its ``runs`` table.  ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY`` set in the
    environment or the Prefect profile is obeyed.
    """
    from prefect.context import SettingsContext, get_settings_context

    with ending_on_signals():
        start_watchdog()  # before any child: the fork server, its workers, a temporary Prefect server
        if extracts:
            start_fork_server(load_settings().workers())
        context = get_settings_context()
        current = context.settings
        if "heartbeat_frequency" in current.flows.model_fields_set:
            yield
            return
        # a copy with the one field changed, as temporary_settings would make it, without its ~30 ms of
        # reading every settings source again (a rerun of 304s takes ~2 s)
        flows = current.flows.model_copy(update={"heartbeat_frequency": None})
        with SettingsContext(profile=context.profile, settings=current.model_copy(update={"flows": flows})):
            yield
