"""Opening the DuckDB file: one writer at a time, short-lived connections.

DuckDB lets one process hold a file for writing; a second one (reader or
writer) fails at once with "Could not set lock on file".  Writers here take
a file lock beside the database first, so writers in the same machine queue
instead of failing, open the database only for one short transaction, and
close it.  Readers retry briefly and then raise ``DatabaseLocked``.

A run writing batch after batch may instead *hold* the file for a few seconds
(``held_connection``): every ``write_connection`` and ``read_connection`` in
this process then uses that one connection, each write still its own
transaction.  Opening the file loads a table's primary-key index on first use
and closing it checkpoints; per batch, on a table of 20,000 articles, that
was most of the store time and grew with the table.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from extractors.errors import DatabaseLocked, StorageError
from storage.migrations import migrate

# Files written with the 1.x default format store long strings uncompressed.
_CONFIG: dict[str, str | bool | int | float | list[str]] = {"storage_compatibility_version": "v1.4.0"}
_LOCK_MESSAGE = "Could not set lock"
CHECKPOINT_THRESHOLD = "256MB"
#: A run's writes are a few small statements per batch, made while the extraction workers keep every core
#: busy: DuckDB's extra threads only contend with them (store time at 2,000 pages 2.4 -> 2.1 s with one).
WRITER_THREADS = 1


def _open(path: Path, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            if read_only:
                return duckdb.connect(str(path), read_only=True)
            return duckdb.connect(str(path), config=_CONFIG)
        except duckdb.IOException as exc:
            if _LOCK_MESSAGE not in str(exc):
                raise StorageError(str(path), f"cannot open database: {exc}") from exc
            if time.monotonic() >= deadline:
                raise DatabaseLocked(
                    str(path), f"database is busy: another process holds it (gave up after {wait_seconds:.0f}s)"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)


@contextmanager
def _file_lock(path: Path, wait_seconds: float) -> Iterator[None]:
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if time.monotonic() >= deadline:
                    raise DatabaseLocked(str(path), f"another writer holds {lock_path}") from exc
                time.sleep(0.05)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


_held: dict[Path, duckdb.DuckDBPyConnection] = {}


def _key(path: str | Path) -> Path:
    return Path(path).resolve()


@contextmanager
def held_connection(path: str | Path, wait_seconds: float = 120.0) -> Iterator[None]:
    """Keep the file open for writing in this process until the block ends (one writer's batches)."""
    db = Path(path)
    if _key(db) in _held:
        yield
        return
    if db.parent and not db.parent.exists():
        db.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(db, wait_seconds):
        con = _open(db, read_only=False, wait_seconds=wait_seconds)
        try:
            # a long index rebuild would otherwise draw DuckDB's progress bar into the run's output
            con.execute("SET enable_progress_bar = false")
            # past the default 16 MB of WAL, every commit paid for a checkpoint that recompressed the
            # not-yet-checkpointed text columns (0.2 s growing to 1.5 s per batch); the WAL is as durable,
            # and closing the file (every few seconds, see flows/writer_guard.py) checkpoints once
            con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
            con.execute(f"SET threads = {WRITER_THREADS}")
            migrate(con)
            _held[_key(db)] = con
            yield
        finally:
            _held.pop(_key(db), None)
            con.close()


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection, db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except duckdb.Error as exc:
        con.execute("ROLLBACK")
        # a database error is the infrastructure failing: say so as a StorageError, with the file
        raise StorageError(str(db), f"write failed and was rolled back: {exc}") from exc
    except BaseException:
        con.execute("ROLLBACK")
        raise


@contextmanager
def write_connection(path: str | Path, wait_seconds: float = 120.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A migrated connection for one short write; commit or roll back, then close (unless held)."""
    db = Path(path)
    held = _held.get(_key(db))
    if held is not None:
        with _transaction(held, db) as con:
            yield con
        return
    with held_connection(db, wait_seconds), _transaction(_held[_key(db)], db) as con:
        yield con


def require_database(path: str | Path) -> None:
    """Raise StorageError unless the database file exists (what reading it, or indexing it, needs)."""
    if not Path(path).exists():
        raise StorageError(str(path), "database file does not exist (run `newsflow demo` or `newsflow ingest` first)")


@contextmanager
def read_connection(path: str | Path, wait_seconds: float = 10.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, retried briefly while a writer holds the file."""
    db = Path(path)
    held = _held.get(_key(db))
    if held is not None:
        # this process is the writer: read through its connection (DuckDB refuses a second, read-only one)
        cursor = held.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
        return
    require_database(db)
    con = _open(db, read_only=True, wait_seconds=wait_seconds)
    try:
        yield con
    finally:
        con.close()
