"""Read-only access for people and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from extractors.errors import StorageError
from storage.connection import read_connection


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]


def run_query(db_path: str | Path, sql: str) -> QueryResult:
    """Run one SQL statement on a read-only connection."""
    with read_connection(db_path) as con:
        try:
            cursor = con.execute(sql)
        except duckdb.Error as exc:
            raise StorageError(str(db_path), f"query failed: {exc}") from exc
        columns = tuple(d[0] for d in cursor.description or ())
        rows = tuple(tuple(r) for r in cursor.fetchall()) if columns else ()
    return QueryResult(columns, rows)
