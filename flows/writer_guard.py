"""One writer at a time on the DuckDB file, across runs, processes and machines.

DuckDB lets one process write a file; a second one fails with "Could not set
lock on file".  A scheduled run and a backfill overlapping is normal use, so
every write goes through ``single_writer``: against a Prefect server it holds
a slot of the global concurrency limit ``duckdb-writer`` (limit 1, created on
first use, ``strict=True`` so a missing limit is an error, not a no-op) for
the length of one short write transaction (or, through ``WriterLease``, of a
run's consecutive batch writes for up to 30 s).  Without a server (ephemeral
mode, where a killed holder's slot never comes back) the file lock beside the
database (``storage.connection``), which every write takes anyway, is the
guard.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from extractors.errors import DatabaseLocked
from storage.connection import held_connection

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


class WriterLease:
    """The writer slot and the open database kept across a run's consecutive writes.

    Against a server each slot costs API round trips (acquire, lease, release) that a loaded server
    answers in tenths of a second, and each opening of the file reloads its indexes and each closing
    checkpoints it: per batch, that was most of a large run's store and orchestration time.  A run
    keeps the slot for up to ``slot_seconds`` (an overlapping run waits about that long) and the open
    file for up to ``file_seconds`` (a reader in another process waits up to 10 s for it), and gives
    both back at an error or at ``release``.  Each write is still its own committed transaction.

    Between writes a run waits (for a slow site, for extraction, for discovery): ``wait`` gives the file
    and the slot back when those times run out during such a wait, so that readers and other runs get in
    while this run has nothing to write.
    """

    def __init__(self, db: str, slot_seconds: float = 30.0, file_seconds: float = 8.0) -> None:
        self.db = db
        self.slot_seconds = slot_seconds
        self.file_seconds = file_seconds
        self._slot: ExitStack | None = None
        self._file: ExitStack | None = None
        self._slot_since = self._file_since = 0.0

    @contextmanager
    def write(self) -> Iterator[None]:
        if self._slot is None:
            slot = ExitStack()
            slot.enter_context(single_writer(self.db))
            self._slot, self._slot_since = slot, time.monotonic()
        if self._file is None:
            file = ExitStack()
            try:
                file.enter_context(held_connection(self.db))
            except BaseException:
                self.release()
                raise
            self._file, self._file_since = file, time.monotonic()
        try:
            yield
        except BaseException:
            self.release()
            raise
        self._give_back_expired()

    @property
    def held(self) -> bool:
        """Whether the run holds the writer slot now."""
        return self._slot is not None

    def wait(self, ready: Callable[[float | None], bool]) -> None:
        """Wait until ``ready(timeout)`` (which waits up to ``timeout`` seconds, None: for good) says so.

        The file is closed and the slot given back as soon as their times run out during the wait,
        not at the next write, which may be minutes away.
        """
        while self._slot is not None:
            until = self._slot_since + self.slot_seconds
            if self._file is not None:
                until = min(until, self._file_since + self.file_seconds)
            if ready(max(until - time.monotonic(), 0.0)):
                return
            self._give_back_expired()
        ready(None)

    def _give_back_expired(self) -> None:
        """Give back the slot (and with it the file) or the file alone, whichever has been held its time."""
        now = time.monotonic()
        if now - self._slot_since >= self.slot_seconds:
            self.release()
        elif self._file is not None and now - self._file_since >= self.file_seconds:
            self._close_file()

    def _close_file(self) -> None:
        file, self._file = self._file, None
        if file is not None:
            file.close()

    def release(self) -> None:
        """Close the file, then give the slot back (idempotent)."""
        try:
            self._close_file()
        finally:
            slot, self._slot = self._slot, None
            if slot is not None:
                slot.close()
