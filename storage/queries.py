"""Read-only access for people and the CLI: SQL, exports, corpus statistics, one article's history."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import duckdb

from extractors.errors import InvalidURL, StorageError, UnsafeOutput
from extractors.records import FetchedPage
from extractors.urls import normalize_url, url_key
from storage.connection import first_line, read_connection, sandboxed_connection
from storage.lookups import stored_pages
from storage.page_files import directory as pages_directory
from storage.search import IndexState, index_state


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: tuple[tuple[object, ...], ...]


def run_query(db_path: str | Path, sql: str) -> QueryResult:
    """Run SQL from a person on a sandboxed read-only connection: it reads the database and nothing else."""
    with sandboxed_connection(db_path) as con:
        try:
            cursor = con.execute(sql)
        except duckdb.Error as exc:
            raise StorageError(str(db_path), f"query failed: {first_line(exc)}") from exc
        columns = tuple(d[0] for d in cursor.description or ())
        rows = tuple(tuple(r) for r in cursor.fetchall()) if columns else ()
    return QueryResult(columns, rows)


ExportFormat = Literal["parquet", "jsonl", "csv", "warc"]
_COPY_OPTIONS = {"parquet": "FORMAT parquet, COMPRESSION zstd", "jsonl": "FORMAT json", "csv": "FORMAT csv, HEADER"}


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def database_files(db_path: str | Path) -> tuple[Path, ...]:
    """The files that make up the database: the file, its WAL, its writer lock and its page-body folder."""
    db = Path(db_path).resolve()
    return db, db.with_name(db.name + ".wal"), db.with_name(db.name + ".lock"), pages_directory(db)


def check_output(db_path: str | Path, out: str | Path) -> None:
    """Raise UnsafeOutput if writing ``out`` would overwrite a file of the database (symlinks followed)."""
    target = Path(out).resolve()
    for part in database_files(db_path):
        same = target == part or part in target.parents
        if not same and target.exists() and part.exists():
            same = os.path.samefile(target, part)  # a hard link
        if same:
            raise UnsafeOutput(str(out), f"refusing to write over the database's own file {part}")


@dataclass(frozen=True, slots=True)
class ExportFilter:
    """Which articles an export takes: published in [since, until] (UTC days, both inclusive), of a source or
    site name, in a language; None: no condition."""

    since: date | None = None
    until: date | None = None
    source: str | None = None
    language: str | None = None

    def selection(self) -> str:
        """The articles as SQL over ``articles``, oldest first."""
        conditions = ["true"]
        if self.since:
            conditions.append(f"published_at >= TIMESTAMPTZ {_literal(self.since.isoformat() + ' 00:00:00+00')}")
        if self.until:  # inclusive
            end = _literal(self.until.isoformat() + " 00:00:00+00")
            conditions.append(f"published_at < TIMESTAMPTZ {end} + INTERVAL 1 DAY")
        if self.source:
            conditions.append(f"(source = {_literal(self.source)} OR site_name = {_literal(self.source)})")
        if self.language:
            conditions.append(f"language = {_literal(self.language)}")
        return f"SELECT * FROM articles WHERE {' AND '.join(conditions)} ORDER BY published_at NULLS LAST, url_key"


def export_articles(
    db_path: str | Path, fmt: ExportFormat, out: str | Path, chosen: ExportFilter = ExportFilter()
) -> int:
    """Stream the chosen articles to a file with DuckDB's COPY (nothing is held in memory); returns the count."""
    selection = chosen.selection()
    check_output(db_path, out)
    with read_connection(db_path) as con:
        try:
            con.execute(f"COPY ({selection}) TO {_literal(str(out))} ({_COPY_OPTIONS[fmt]})")
            counted = con.execute(f"SELECT count(*) FROM ({selection})").fetchone()
        except duckdb.Error as exc:
            raise StorageError(str(db_path), f"export failed: {first_line(exc)}") from exc
    return int(counted[0]) if counted else 0


#: Articles whose pages are read from the page files at a time by ``exported_pages``.
PAGES_PER_READ = 200


def exported_pages(db_path: str | Path, chosen: ExportFilter = ExportFilter()) -> Iterator[FetchedPage]:
    """The newest stored page of each chosen article, a few hundred read at a time."""
    with read_connection(db_path) as con:
        try:
            keys = [key for (key,) in con.execute(f"SELECT url_key FROM ({chosen.selection()})").fetchall()]
        except duckdb.Error as exc:
            raise StorageError(str(db_path), f"export failed: {first_line(exc)}") from exc
    for start in range(0, len(keys), PAGES_PER_READ):
        yield from stored_pages(db_path, keys[start : start + PAGES_PER_READ])


@dataclass(frozen=True, slots=True)
class Stats:
    per_source: QueryResult
    failures: QueryResult
    database_bytes: int
    index: IndexState
    """How the full-text search index stands (built when, how many articles it has not taken in yet)."""


def corpus_stats(db_path: str | Path, last_runs: int = 20) -> Stats:
    """Counts per source with the newest article, and failure rates by reason over the last runs."""
    with read_connection(db_path) as con:
        per_source = _result(con, """
            SELECT coalesce(a.source, a.site_name, '?') AS source, count(DISTINCT a.url_key) AS articles,
                   count(DISTINCT a.url_key) FILTER (a.duplicate_of IS NOT NULL) AS duplicates,
                   count(v.content_hash) AS versions,
                   strftime(max(a.published_at) AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M') AS newest_utc
            FROM articles a LEFT JOIN article_versions v USING (url_key)
            GROUP BY ALL ORDER BY articles DESC""")  # fmt: skip
        failures = _result(con, f"""
            WITH recent AS (SELECT run_id FROM runs ORDER BY started_at DESC LIMIT {int(last_runs)}),
                 final AS (SELECT * FROM fetches WHERE run_id IN (SELECT run_id FROM recent)
                           QUALIFY row_number() OVER (PARTITION BY run_id, url ORDER BY attempt DESC) = 1)
            SELECT outcome, count(*) AS urls, round(100.0 * count(*) / sum(count(*)) OVER (), 1) AS percent
            FROM final GROUP BY ALL ORDER BY urls DESC""")  # fmt: skip
        index = index_state(con)
    return Stats(per_source, failures, Path(db_path).stat().st_size, index)


@dataclass(frozen=True, slots=True)
class ArticleHistory:
    article: QueryResult
    versions: QueryResult
    fetches: QueryResult


def article_history(db_path: str | Path, url: str) -> ArticleHistory | None:
    """One article by any of its URLs, with every version and every fetch of it."""
    try:
        key = url_key(normalize_url(url))
    except InvalidURL:
        key = url
    with read_connection(db_path) as con:
        found = con.execute(
            "SELECT url_key FROM articles WHERE url_key = ? OR url = ? OR canonical_url = ? LIMIT 1", [key, url, url]
        ).fetchone()
        if found is None:
            return None
        key = found[0]
        article = _result(con, "SELECT * EXCLUDE (body_text) , body_text FROM articles WHERE url_key = ?", [key])
        versions = _result(con, """
            SELECT seen_at, content_hash, extractor_version, title, length(body_text) AS chars
            FROM article_versions WHERE url_key = ? ORDER BY seen_at""", [key])  # fmt: skip
        fetches = _result(con, """
            SELECT f.fetched_at, f.run_id, f.attempt, f.status, f.outcome, f.bytes, f.elapsed_ms, f.error
            FROM fetches f WHERE f.url_key = ? OR f.url IN (SELECT url FROM articles WHERE url_key = ?)
            ORDER BY f.fetched_at, f.attempt""", [key, key])  # fmt: skip
    return ArticleHistory(article, versions, fetches)


def _result(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> QueryResult:
    cursor = con.execute(sql, params or [])
    columns = tuple(d[0] for d in cursor.description or ())
    return QueryResult(columns, tuple(tuple(r) for r in cursor.fetchall()))


#: The columns of ``articles`` that say what was stored, not when or by which run: two databases that
#: stored the same pages agree on these, whichever way (one process, or staged and merged) they got them.
CONTENT_COLUMNS = (
    "url_key", "canonical_url", "url", "title", "authors", "published_at", "published_local", "modified_at",
    "language", "site_name", "section", "tags", "description", "lead_image_url", "body_text", "headings",
    "related_links", "word_count", "is_paywalled", "provenance", "content_hash", "extractor_version",
    "page_sha256", "source", "simhash", "duplicate_of",
)  # fmt: skip


def article_contents(db_path: str | Path) -> list[tuple[object, ...]]:
    """Every article's ``CONTENT_COLUMNS``, in ``url_key`` order: compares two databases row by row."""
    with read_connection(db_path) as con:
        rows = con.execute(f"SELECT {', '.join(CONTENT_COLUMNS)} FROM articles ORDER BY url_key").fetchall()
    return [tuple(row) for row in rows]
