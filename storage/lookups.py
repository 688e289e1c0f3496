"""What the flows ask the database: which URLs it already has, their validators, stored raw pages.

All read-only and cheap (one query per batch); a database that does not
exist yet knows nothing.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from extractors.errors import InvalidURL
from extractors.records import ArchiveScope, Discovered, DocumentState, FetchedPage, Validators
from extractors.urls import normalize_url, url_key
from storage.connection import read_connection
from storage.page_files import read_bodies

# outcomes that will not change by asking again: the URL is not refetched unless a run asks to refresh
_SETTLED_FAILURES = ("no_content", "not_html", "too_large", "blocked_address", "invalid_url")
# outcomes of a fetch whose article is stored (under whatever key its canonical address gave it)
_STORED = ("new", "updated", "unchanged", "not_modified")


def lookup_key(url: str) -> str:
    """The ``url_key`` a URL's article would have (the URL itself when it cannot be normalised)."""
    try:
        return url_key(normalize_url(url))
    except InvalidURL:
        return url


# a last fetch after which asking again is pointless: the article is stored, or the failure will not change
_SETTLED = (
    f"outcome IN {_STORED + _SETTLED_FAILURES} "
    "OR (outcome = 'http_error' AND status BETWEEN 400 AND 499 AND status NOT IN (408, 429))"
)
# the last fetch of each article URL (feeds, sitemaps and robots.txt are not articles)
_LATEST_FETCHES = """
    SELECT f.url, f.outcome, f.status FROM fetches f {join}
    WHERE coalesce(f.stage, '') NOT IN ('robots', 'discover')
    QUALIFY row_number() OVER (PARTITION BY f.url ORDER BY f.fetched_at DESC, f.attempt DESC) = 1
"""


def known_among(con: duckdb.DuckDBPyConnection, urls: Sequence[str]) -> set[str]:
    """The URLs (of ``urls``) dealt with for good: their article is stored — found by its key, by the URL it
    was fetched from, or by the last fetch of the URL, which a redirect or a canonical address elsewhere leaves
    as the only trace — or their last fetch failed in a way that asking again will not change."""
    if not urls:
        return set()
    unique = list(dict.fromkeys(urls))
    con.register("candidates", pa.table({"url": unique, "key": [lookup_key(u) for u in unique]}))
    try:
        rows = con.execute(
            f"""
            WITH latest AS ({_LATEST_FETCHES.format(join="SEMI JOIN candidates c ON f.url = c.url")})
            SELECT c.url FROM candidates c SEMI JOIN articles a ON a.url_key = c.key
            UNION SELECT c.url FROM candidates c SEMI JOIN articles a ON a.url = c.url
            UNION SELECT url FROM latest WHERE {_SETTLED}
            """
        ).fetchall()
    finally:
        con.unregister("candidates")
    return {row[0] for row in rows}


def known_urls(db_path: str | Path, urls: Sequence[str]) -> set[str]:
    """The URLs (of ``urls``) whose article is stored, or whose last fetch failed for good."""
    if not urls or not Path(db_path).exists():
        return set()
    with read_connection(db_path) as con:
        return known_among(con, urls)


def document_state(etag: str | None, last_modified: str | None, children: Sequence[Any] | None) -> DocumentState:
    """A ``discovery_state`` row as the discovery reads it (``children``: structs of url and published)."""
    return DocumentState(
        Validators(etag, last_modified),
        tuple(Discovered(c["url"], c["published"], "state") for c in children or ()),
    )


def discovery_states(db_path: str | Path, source: str, rules: str) -> dict[str, DocumentState]:
    """The kept state of a source's discovery documents, by URL, where it was kept under the same ``rules``
    (see crawl/discovery.py for when a state is kept and what a 304 may then mean)."""
    if not Path(db_path).exists():
        return {}
    with read_connection(db_path) as con:
        rows = con.execute(
            "SELECT url, etag, last_modified, children FROM discovery_state WHERE source = ? AND rules = ?",
            [source, rules],
        ).fetchall()
    return {url: document_state(etag, last_modified, children) for url, etag, last_modified, children in rows}


def validators_for(db_path: str | Path, urls: Sequence[str]) -> dict[str, Validators]:
    """Stored ETag / Last-Modified per URL, for conditional requests."""
    if not urls or not Path(db_path).exists():
        return {}
    with read_connection(db_path) as con:
        con.register("wanted", pa.table({"url": list(urls)}))
        rows = con.execute(
            "SELECT v.url, v.etag, v.last_modified FROM http_validators v JOIN wanted w USING (url)"
        ).fetchall()
        con.unregister("wanted")
    return {url: Validators(etag, last_modified) for url, etag, last_modified in rows}


def stored_article_keys(
    db_path: str | Path,
    since: datetime | None = None,
    until: datetime | None = None,
    hosts: Sequence[str] = (),
    urls: Sequence[str] = (),
    limit: int | None = None,
) -> list[str]:
    """``url_key``s of stored articles with raw HTML, newest first: those published in [since, until) on
    ``hosts`` (none: any host), plus those of ``urls``."""
    if not Path(db_path).exists():
        return []
    conditions: list[str] = []
    params: list[object] = []
    if since is not None:
        conditions.append("a.published_at >= ?")
        params.append(since)
    if until is not None:
        conditions.append("a.published_at < ?")
        params.append(until)
    if hosts:
        # the host the page was fetched from, or the one its canonical address names
        host_of = "lower(regexp_extract({}, '^https?://(?:www\\.)?([^/:]+)', 1))"
        placeholders = ", ".join("?" for _ in hosts)
        conditions.append(f"({host_of.format('a.url')} IN ({placeholders}) "
                          f"OR {host_of.format('a.canonical_url')} IN ({placeholders}))")  # fmt: skip
        wanted = [h.lower().removeprefix("www.") for h in hosts]
        params.extend(wanted + wanted)
    # the filters select articles; explicit URLs add theirs; neither means every stored article
    selected = " AND ".join(conditions) if conditions else ("false" if urls else "true")
    sql = f"""
        SELECT a.url_key FROM articles a
        WHERE EXISTS (SELECT 1 FROM pages p WHERE p.url_key = a.url_key)
          AND (({selected}) OR list_contains(?::VARCHAR[], a.url_key) OR list_contains(?::VARCHAR[], a.url))
        ORDER BY a.published_at DESC NULLS LAST, a.url_key
    """
    with read_connection(db_path) as con:
        rows = con.execute(sql, [*params, [lookup_key(u) for u in urls], list(urls)]).fetchall()
    found = [row[0] for row in rows]
    return found[:limit] if limit is not None else found


def stored_pages(db_path: str | Path, url_keys: Sequence[str]) -> list[FetchedPage]:
    """The newest stored raw page of each article, as it was fetched (for re-extraction without a request)."""
    if not url_keys:
        return []
    with read_connection(db_path) as con:
        con.register("wanted", pa.table({"url_key": list(url_keys)}))
        rows = con.execute(
            """
            SELECT p.url, p.final_url, p.status, p.headers, p.html_zlib, p.html_file, p.html_sha256, p.fetched_at
            FROM pages p JOIN wanted USING (url_key)
            QUALIFY row_number() OVER (PARTITION BY p.url_key ORDER BY p.fetched_at DESC) = 1
            """
        ).fetchall()
        con.unregister("wanted")
    # pages stored before migration 4 carry their blob; newer ones name the file holding it
    in_files = read_bodies(db_path, [(name, sha256) for *_, blob, name, sha256, _ in rows if blob is None])
    pages = []
    for url, final_url, status, headers, html_zlib, html_file, sha256, fetched_at in rows:
        header_map = json.loads(headers) if headers else {}
        body = zlib.decompress(html_zlib) if html_zlib is not None else in_files[(html_file, sha256)]
        pages.append(FetchedPage(url, final_url, status, tuple(header_map.items()), body, fetched_at))
    return pages


def runs_in_progress(db_path: str | Path, host: str) -> list[tuple[str, int]]:
    """(run_id, pid) of the runs recorded as ``running`` by processes on ``host``."""
    if not Path(db_path).exists():
        return []
    with read_connection(db_path) as con:
        rows = con.execute(
            "SELECT run_id, pid FROM runs WHERE status = 'running' AND host = ? AND pid IS NOT NULL", [host]
        ).fetchall()
    return [(str(run_id), int(pid)) for run_id, pid in rows]


def finished_archive_files(db_path: str | Path, paths: Sequence[str]) -> dict[str, list[ArchiveScope]]:
    """The scopes each of ``paths`` was read to its end for (``archive_files``)."""
    if not paths or not Path(db_path).exists():
        return {}
    with read_connection(db_path) as con:
        rows = con.execute(
            "SELECT path, sources, since, until FROM archive_files WHERE list_contains(?::VARCHAR[], path)",
            [list(paths)],
        ).fetchall()
    done: dict[str, list[ArchiveScope]] = {}
    for path, sources, since, until in rows:
        done.setdefault(path, []).append(ArchiveScope(frozenset(sources), since, until))
    return done


class CrawlState(Protocol):
    """What a crawl asks of the database before fetching: what is known, validators, discovery state."""

    def known_urls(self, urls: Sequence[str]) -> set[str]: ...

    def validators_for(self, urls: Sequence[str]) -> dict[str, Validators]: ...

    def discovery_states(self, source: str, rules: str) -> dict[str, DocumentState]: ...


@dataclass(frozen=True, slots=True)
class DatabaseState:
    """The crawl state read from the DuckDB file itself (a run on the database's own machine)."""

    db: str

    def known_urls(self, urls: Sequence[str]) -> set[str]:
        return known_urls(self.db, urls)

    def validators_for(self, urls: Sequence[str]) -> dict[str, Validators]:
        return validators_for(self.db, urls)

    def discovery_states(self, source: str, rules: str) -> dict[str, DocumentState]:
        return discovery_states(self.db, source, rules)


@dataclass(frozen=True, slots=True)
class StateTables:
    """The whole crawl state as Arrow tables, to be copied to crawl workers that cannot open the database
    (storage/staging.py): ``known`` (kind 'key' or 'url', value), ``validators``, ``discovery``."""

    known: pa.Table
    validators: pa.Table
    discovery: pa.Table


def state_tables(con: duckdb.DuckDBPyConnection) -> StateTables:
    """Everything ``known_among``, ``validators_for`` and ``discovery_states`` would answer, in one read."""
    known = con.execute(
        f"""
        SELECT 'key' AS kind, url_key AS value FROM articles
        UNION ALL SELECT 'url', url FROM articles
        UNION ALL SELECT 'url', url FROM ({_LATEST_FETCHES.format(join="")}) WHERE {_SETTLED}
        """
    ).fetch_arrow_table()
    validators = con.execute("SELECT url, etag, last_modified FROM http_validators").fetch_arrow_table()
    discovery = con.execute(
        "SELECT source, rules, url, etag, last_modified, children FROM discovery_state"
    ).fetch_arrow_table()
    return StateTables(known, validators, discovery)
