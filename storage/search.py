"""Full-text search over the stored articles: DuckDB's fts extension, BM25 over title, description and body.

The extension comes from a package the install pulls in (``duckdb-ext-fts``,
built for exactly the pinned duckdb 1.4.4), so search works offline on a
fresh machine; ``INSTALL fts`` (which needs the internet) is only the
fallback.  The index does not follow inserts: flows rebuild it after every
run that changed articles, and a search on a database without one builds it.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import duckdb

from extractors.errors import StorageError
from storage.connection import read_connection, write_connection

INDEX_SCHEMA = "fts_main_articles"
_TERM = re.compile(r"\w+")


def load_fts(con: duckdb.DuckDBPyConnection, db: str) -> None:
    """Load the fts extension into ``con``: the packaged build first, then ``INSTALL fts``."""
    problems = []
    try:
        import duckdb_ext

        duckdb_ext.init(con)
        con.execute("LOAD fts")
        return
    except (ImportError, duckdb.Error) as exc:
        problems.append(f"packaged extension: {exc}")
    try:
        con.execute("SET autoinstall_known_extensions = true")
        con.execute("INSTALL fts")
        con.execute("LOAD fts")
    except duckdb.Error as exc:
        problems.append(f"INSTALL fts: {exc}")
        raise StorageError(
            db,
            f"full-text search needs DuckDB's fts extension for duckdb {duckdb.__version__}: install the matching "
            f"duckdb-ext-fts package (pip install 'newsflow' pulls it in) or allow INSTALL fts, which needs the "
            f"internet ({'; '.join(problems)})",
        ) from exc


def has_index(con: duckdb.DuckDBPyConnection) -> bool:
    found = con.execute("SELECT count(*) FROM duckdb_schemas() WHERE schema_name = ?", [INDEX_SCHEMA]).fetchone()
    return bool(found and found[0])


#: DuckDB memory while the index is rebuilt; the rest spills to ``<db>.tmp``.  Unbounded, building it over
#: 20,000 articles took ~1.1 GB (two threads), which would make a run's peak memory grow with the corpus.
#: Under this limit: 14.8 s at 20,000 articles, 71.5 s and a 434 MB process at 100,000 (2 cores).
INDEX_MEMORY_LIMIT = "256MB"


def rebuild_index(db: str | Path) -> None:
    """(Re)build the BM25 index over title, description and body (call with the writer slot held)."""
    with write_connection(db) as con:
        load_fts(con, str(db))
        con.execute(f"SET memory_limit = '{INDEX_MEMORY_LIMIT}'")
        try:
            con.execute(
                "PRAGMA create_fts_index('articles', 'url_key', 'title', 'description', 'body_text', overwrite=1)"
            )
        finally:
            # after a failed build the transaction is aborted and refuses even RESET: let the build's own
            # error through (the connection, limit and all, is closed as that error unwinds the write)
            with contextlib.suppress(duckdb.TransactionException):
                con.execute("RESET memory_limit")


@dataclass(frozen=True, slots=True)
class SearchHit:
    url: str
    title: str | None
    source: str | None
    published_at: datetime | None
    language: str | None
    score: float
    snippet: str
    """A stretch of the text around the best match; matched words are wrapped in ``**``."""


def snippet(text: str, query: str, width: int = 220) -> str:
    """The stretch of ``text`` with the most query words, those words wrapped in ``**``."""
    terms = {t.casefold() for t in _TERM.findall(query) if len(t) > 1}
    if not text:
        return ""

    def term_of(word: str) -> str | None:
        folded = word.casefold()
        # a light stem match, as the index stems: "mediation" finds "mediating" and "mediator"
        return next((t for t in terms if folded.startswith(t[: max(4, len(t) - 3)])), None)

    def matches(word: str) -> bool:
        return term_of(word) is not None

    hits = [(m.start(), term) for m in _TERM.finditer(text) if (term := term_of(m.group())) is not None]
    if hits:
        # the window that shows the most different query words, then the most matches
        def coverage(start: int) -> tuple[int, int]:
            inside = [term for position, term in hits if start <= position < start + width * 3 // 4]
            return len(set(inside)), len(inside)

        best = max((position for position, _ in hits), key=coverage)
        begin = max(0, best - width // 4)
    else:
        begin = 0
    end = min(len(text), begin + width)
    piece = " ".join(text[begin:end].split())
    piece = _TERM.sub(lambda m: f"**{m.group()}**" if matches(m.group()) else m.group(), piece)
    return ("…" if begin > 0 else "") + piece + ("…" if end < len(text) else "")


def search(
    db: str | Path,
    query: str,
    source: str | None = None,
    since: date | None = None,
    until: date | None = None,
    language: str | None = None,
    limit: int = 10,
) -> list[SearchHit]:
    """Articles matching ``query``, best first (BM25), with snippets."""
    if not _TERM.search(query):
        raise StorageError(str(db), "the search query has no words")
    with read_connection(db) as con:
        indexed = has_index(con)
    if not indexed:
        rebuild_index(db)
    conditions: list[str] = ["score IS NOT NULL"]
    params: list[object] = [query]
    if source:
        conditions.append("(a.source = ? OR a.site_name = ?)")
        params += [source, source]
    if since:
        conditions.append("a.published_at >= ?")
        params.append(datetime.combine(since, time.min, UTC))
    if until:
        conditions.append("a.published_at < ?")  # until is inclusive: before the next day
        params.append(datetime.combine(until + timedelta(days=1), time.min, UTC))
    if language:
        conditions.append("a.language = ?")
        params.append(language)
    with read_connection(db) as con:
        load_fts(con, str(db))
        rows = con.execute(
            f"""
            SELECT canonical_url, title, coalesce(source, site_name), published_at, language, score, body_text
            FROM (SELECT *, {INDEX_SCHEMA}.match_bm25(url_key, ?) AS score FROM articles) a
            WHERE {" AND ".join(conditions)}
            ORDER BY score DESC LIMIT {int(limit)}
            """,
            params,
        ).fetchall()
    return [
        SearchHit(url, title, src, published, lang, float(score), snippet(body, query))
        for url, title, src, published, lang, score, body in rows
    ]
