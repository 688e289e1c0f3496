"""One writer at a time on the DuckDB file, across runs, processes and machines.

DuckDB lets one process write a file; a second one fails with "Could not set
lock on file".  A scheduled run and a backfill overlapping is normal use, so
every write goes through ``single_writer``: against a Prefect server it holds
a slot of the global concurrency limit ``duckdb-writer`` (limit 1, created on
first use, ``strict=True`` so a missing limit is an error, not a no-op) for
the length of one short write transaction.  Without a server (ephemeral
mode, where a killed holder's slot never comes back) the file lock beside the
database (``storage.connection``), which every write takes anyway, is the
guard.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from extractors.errors import DatabaseLocked

WRITER_LIMIT = "duckdb-writer"
_ready: set[str] = set()
_ready_lock = threading.Lock()


def server_configured() -> bool:
    """Whether the Prefect client talks to a real server (PREFECT_API_URL set)."""
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


def _ensure_limit(api_url: str) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with _ready_lock:
        if api_url in _ready:
            return
        with get_client(sync_client=True) as client:
            try:
                client.read_global_concurrency_limit_by_name(WRITER_LIMIT)
            except ObjectNotFound:
                client.upsert_global_concurrency_limit_by_name(WRITER_LIMIT, 1)
        _ready.add(api_url)


@contextmanager
def single_writer(db: str, timeout_seconds: float = 600.0) -> Iterator[None]:
    """Hold the database's writer slot for the duration of one write."""
    if not server_configured():
        yield
        return
    from prefect.concurrency.sync import concurrency
    from prefect.settings import PREFECT_API_URL

    _ensure_limit(str(PREFECT_API_URL.value()))
    try:
        with concurrency(WRITER_LIMIT, occupy=1, strict=True, timeout_seconds=timeout_seconds):
            yield
    except TimeoutError as exc:
        reason = f"no {WRITER_LIMIT} slot within {timeout_seconds:.0f}s: another run is writing"
        raise DatabaseLocked(db, reason) from exc
