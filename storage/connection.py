"""Opening the DuckDB file: one writer at a time, short-lived connections.

Only newsflow's own databases are opened: a file that is not a DuckDB database, or a DuckDB database
without newsflow's ``schema_migrations`` (or with a newer schema than this code knows), is refused with
``NotNewsflowDatabase`` before anything is written to it.  No connection may install or auto-load DuckDB
extensions (that would reach the internet); ``sandboxed_connection`` also shuts out the file system.

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
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from extractors.errors import DatabaseLocked, NotNewsflowDatabase, StorageError
from storage.migrations import LATEST_VERSION, migrate

#: Every connection: DuckDB would otherwise download an extension it meets (a SQLite file, INSTALL httpfs).
_NO_DOWNLOADS: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
# Files written with the 1.x default format store long strings uncompressed.
_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "storage_compatibility_version": "v1.4.0", **_NO_DOWNLOADS
}
#: The magic bytes of a DuckDB file (its main header, after an 8-byte checksum).
_DUCKDB_MAGIC = (8, b"DUCK")
_LOCK_MESSAGE = "Could not set lock"
CHECKPOINT_THRESHOLD = "256MB"
#: A run's writes are a few small statements per batch, made while the extraction workers keep every core
#: busy: DuckDB's extra threads only contend with them (storing is faster with one).
WRITER_THREADS = 1


def _check_file(path: Path) -> None:
    """Refuse a file that is not a DuckDB database before DuckDB opens it (it would try an extension)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except FileNotFoundError:
        return  # a new database
    except OSError as exc:
        raise StorageError(str(path), f"cannot read the database file: {exc.strerror or exc}") from exc
    offset, magic = _DUCKDB_MAGIC
    if head[offset : offset + len(magic)] != magic:
        raise NotNewsflowDatabase(str(path), "not a DuckDB database file; newsflow leaves it alone")


def _check_schema(con: duckdb.DuckDBPyConnection, path: Path, may_be_new: bool) -> None:
    """Refuse a database newsflow did not make, or one made by a newer newsflow (nothing written to it)."""
    tables = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if not tables and may_be_new:
        return
    if "schema_migrations" not in tables:
        raise NotNewsflowDatabase(str(path), "not a newsflow database (it has no schema_migrations table)")
    found = con.execute("SELECT max(version) FROM schema_migrations").fetchone()
    version = found[0] if found and found[0] is not None else 0
    if version > LATEST_VERSION:
        raise NotNewsflowDatabase(
            str(path), f"made by a newer newsflow (schema version {version}; this one knows up to {LATEST_VERSION})"
        )


def _open(path: Path, read_only: bool, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    _check_file(path)
    deadline = time.monotonic() + wait_seconds
    delay = 0.05
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only, config=_NO_DOWNLOADS if read_only else _CONFIG)
        except duckdb.Error as exc:
            if _LOCK_MESSAGE not in str(exc):
                raise StorageError(str(path), f"cannot open database: {first_line(exc)}") from exc
            if time.monotonic() >= deadline:
                raise DatabaseLocked(
                    str(path), f"database is busy: another process holds it (gave up after {wait_seconds:.0f}s)"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
            continue
        try:
            _check_schema(con, path, may_be_new=not read_only)
        except duckdb.Error as exc:  # a damaged catalogue
            con.close()
            raise StorageError(str(path), f"cannot read the database: {first_line(exc)}") from exc
        except BaseException:
            con.close()
            raise
        return con


def first_line(exc: BaseException) -> str:
    """DuckDB's messages run on with hints and links: the first line says what happened."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def _file_lock(path: Path, wait_seconds: float) -> Iterator[None]:
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError(str(path), f"cannot open the writer lock {lock_path}: {exc.strerror or exc}") from exc
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
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(str(db), f"cannot create the database's folder: {exc.strerror or exc}") from exc
    with _file_lock(db, wait_seconds):
        con = _open(db, read_only=False, wait_seconds=wait_seconds)
        closed = False
        try:
            # a long index rebuild would otherwise draw DuckDB's progress bar into the run's output
            con.execute("SET enable_progress_bar = false")
            # past the default 16 MB of WAL, every commit paid for a checkpoint that recompressed the
            # not-yet-checkpointed text columns (0.2 s growing to 1.5 s per batch); the WAL is as durable,
            # and closing the file (every few seconds, see flows/writer_guard.py) checkpoints once
            con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
            con.execute(f"SET threads = {WRITER_THREADS}")
            try:
                migrate(con)
            except duckdb.Error as exc:
                raise StorageError(str(db), f"cannot update the database's schema: {first_line(exc)}") from exc
            _held[_key(db)] = con
            yield
            closed = True
            _close(con, db)  # closing checkpoints: a full disk shows here
        finally:
            _held.pop(_key(db), None)
            if not closed:
                with suppress(duckdb.Error):
                    con.close()


def _close(con: duckdb.DuckDBPyConnection, db: Path) -> None:
    try:
        con.close()
    except duckdb.Error as exc:
        raise StorageError(str(db), f"cannot write the database: {first_line(exc)}") from exc


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    """Roll back what can be; a failed write may have ended the transaction already, and the error that
    matters is the one that failed it, not "cannot rollback - no transaction is active"."""
    with suppress(duckdb.Error):
        con.execute("ROLLBACK")


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection, db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    try:
        con.execute("BEGIN TRANSACTION")
    except duckdb.Error as exc:
        raise StorageError(str(db), f"cannot write the database: {first_line(exc)}") from exc
    try:
        yield con
        con.execute("COMMIT")
    except duckdb.Error as exc:
        _rollback(con)
        # a database error is the infrastructure failing: say so as a StorageError, with the file
        raise StorageError(str(db), f"write failed and was rolled back: {first_line(exc)}") from exc
    except BaseException:
        _rollback(con)
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


#: What ``newsflow query`` may not change: with these locked, SQL cannot reach a file, the network or an
#: extension other than those loaded first, and cannot unlock them (DuckDB refuses to change a locked setting).
_SANDBOX = ("SET enable_external_access = false", "SET lock_configuration = true")


@contextmanager
def sandboxed_connection(path: str | Path, wait_seconds: float = 10.0) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection for SQL from a person: the fts extension loaded, then files, the network and
    the configuration locked away, so ``read_csv('/etc/passwd')``, ``COPY … TO`` or ``INSTALL`` fail."""
    from storage.search import load_fts

    db = Path(path)
    require_database(db)
    con = _open(db, read_only=True, wait_seconds=wait_seconds)
    try:
        with suppress(StorageError):
            load_fts(con, str(db), install=False)  # match_bm25 where an index exists; plain SQL without it
        for statement in _SANDBOX:
            con.execute(statement)
        yield con
    finally:
        con.close()
