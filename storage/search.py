"""Full-text search over the stored articles: DuckDB's fts extension, BM25 over title, description and body.

The extension comes from a package the install pulls in (``duckdb-ext-fts``,
built for exactly the pinned duckdb 1.4.4), so search works offline on a
fresh machine; ``INSTALL fts`` (which needs the internet) is only the
fallback.

The index does not follow inserts, and a build reads the whole corpus (15 s at
20,000 articles, 70 s at 100,000).  So ingest runs do not rebuild it: each
build is logged in ``search_index_builds`` with the newest article it saw, a
search first brings a stale index up to date, and ``newsflow reindex`` (the
scheduled ``reindex`` deployment) does it for SQL users of ``match_bm25``.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from time import monotonic

import duckdb

from extractors.errors import DatabaseLocked, StorageError
from storage.connection import WRITER_THREADS, read_connection, write_connection

INDEX_SCHEMA = "fts_main_articles"
_TERM = re.compile(r"\w+")


def load_fts(con: duckdb.DuckDBPyConnection, db: str, install: bool = True) -> None:
    """Load the fts extension into ``con``: the packaged build first, then (if ``install``) ``INSTALL fts``."""
    problems = []
    try:
        import duckdb_ext

        duckdb_ext.init(con)
        con.execute("LOAD fts")
        return
    except (ImportError, duckdb.Error) as exc:
        problems.append(f"packaged extension: {exc}")
        if not install:
            raise StorageError(db, f"DuckDB's fts extension is not available ({problems[0]})") from exc
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
#: 20,000 articles took ~1.1 GB (two threads), which would make a process's peak memory grow with the corpus.
#: Under this limit: 14.8 s at 20,000 articles, 71.5 s and a 434 MB process at 100,000 (2 cores).
INDEX_MEMORY_LIMIT = "256MB"


@dataclass(frozen=True, slots=True)
class IndexState:
    """How the BM25 index stands against the articles table."""

    built_at: datetime | None
    """When the index was last built (None: never, or before builds were logged)."""
    indexed: int
    """Articles the last build covered."""
    behind: int
    """Articles stored or changed since that build: a search would miss or misrank them."""

    @property
    def stale(self) -> bool:
        return self.built_at is None or self.behind > 0


def index_state(con: duckdb.DuckDBPyConnection) -> IndexState:
    """Where the index stands, from the build log (cheap: no index is read)."""
    logged = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'search_index_builds'").fetchone()
    last = None
    if logged and logged[0]:  # a database the first build's write will migrate has no log yet
        last = con.execute(
            "SELECT built_at, covers_until, articles FROM search_index_builds ORDER BY built_at DESC LIMIT 1"
        ).fetchone()
    if last is None or not has_index(con):
        total = con.execute("SELECT count(*) FROM articles").fetchone()
        return IndexState(None, 0, int(total[0]) if total else 0)
    built_at, covers_until, indexed = last
    behind = con.execute(
        "SELECT count(*) FROM articles WHERE ? IS NULL OR updated_at > ?", [covers_until, covers_until]
    ).fetchone()
    return IndexState(built_at, int(indexed), int(behind[0]) if behind else 0)


def rebuild_index(db: str | Path, wait_seconds: float = 120.0) -> IndexState:
    """(Re)build the BM25 index over title, description and body, and log the build (hold the writer slot).

    Waits up to ``wait_seconds`` for another writer to let go of the file (then ``DatabaseLocked``).
    """
    started = monotonic()
    with write_connection(db, wait_seconds) as con:
        load_fts(con, str(db))
        con.execute(f"SET memory_limit = '{INDEX_MEMORY_LIMIT}'")
        # the run's writes are small and share the cores with extraction (storage.connection); a build runs
        # alone and reads the whole corpus: give it every core
        con.execute("RESET threads")
        try:
            con.execute(
                "PRAGMA create_fts_index('articles', 'url_key', 'title', 'description', 'body_text', overwrite=1)"
            )
            # in the build's transaction: the articles it saw, no more
            con.execute(
                "INSERT INTO search_index_builds SELECT now(), max(updated_at), count(*), ? FROM articles",
                [monotonic() - started],
            )
        finally:
            # after a failed build the transaction is aborted and refuses even RESET: let the build's own
            # error through (the connection, limit and all, is closed as that error unwinds the write)
            with contextlib.suppress(duckdb.TransactionException):
                con.execute("RESET memory_limit")
                con.execute(f"SET threads = {WRITER_THREADS}")
        return index_state(con)


def refresh_index(db: str | Path, force: bool = False, wait_seconds: float = 120.0) -> tuple[IndexState, bool]:
    """Rebuild the index if articles changed since its last build (or always, with ``force``).

    Returns the index's state afterwards and whether it was rebuilt.
    """
    with read_connection(db) as con:
        state = index_state(con)
    if not (force or state.stale):
        return state, False
    return rebuild_index(db, wait_seconds), True


#: How long a search waits for a busy writer (a run storing a batch) before it answers from the index as
#: it is: a person is waiting for the answer.
SEARCH_WAIT_SECONDS = 10.0


def refresh_for_search(db: str | Path, wait_seconds: float | None = None) -> IndexState:
    """Bring the index up to date before a search; the index as it stands if the writer stays busy
    longer than ``wait_seconds`` (default ``SEARCH_WAIT_SECONDS``).

    Raises ``DatabaseLocked`` only when there is no index at all to answer from.
    """
    try:
        state, _ = refresh_index(db, wait_seconds=SEARCH_WAIT_SECONDS if wait_seconds is None else wait_seconds)
    except DatabaseLocked:
        with read_connection(db) as con:
            state = index_state(con)
        if state.built_at is None:
            raise
    return state


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
    refresh: bool = True,
) -> list[SearchHit]:
    """Articles matching ``query``, best first (BM25), with snippets.

    With ``refresh``, a stale index is brought up to date first (``refresh_for_search``).
    """
    if not _TERM.search(query):
        raise StorageError(str(db), "the search query has no words")
    if refresh:
        refresh_for_search(db)
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
