"""What the crawler asks the database before fetching: which URLs it already has, and their validators.

Both are read-only and cheap (one query per batch); a database that does not
exist yet knows nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from extractors.errors import InvalidURL
from extractors.records import Validators
from extractors.urls import normalize_url, url_key
from storage.connection import read_connection

# outcomes that will not change by asking again: the URL is not refetched unless a run asks to refresh
_SETTLED_FAILURES = ("no_content", "not_html", "too_large", "blocked_address", "invalid_url")


def _key(url: str) -> str:
    try:
        return url_key(normalize_url(url))
    except InvalidURL:
        return url


def known_urls(db_path: str | Path, urls: Sequence[str]) -> set[str]:
    """The URLs (of ``urls``) whose article is stored, or whose last fetch failed for good."""
    if not urls or not Path(db_path).exists():
        return set()
    candidates = pa.table({"url": list(urls), "key": [_key(u) for u in urls]})
    with read_connection(db_path) as con:
        con.register("candidates", candidates)
        rows = con.execute(
            f"""
            SELECT c.url FROM candidates c
            WHERE EXISTS (SELECT 1 FROM articles a WHERE a.url_key = c.key OR a.url = c.url)
               OR EXISTS (
                    SELECT 1 FROM (
                        SELECT url, outcome, status FROM fetches
                        QUALIFY row_number() OVER (PARTITION BY url ORDER BY fetched_at DESC, attempt DESC) = 1
                    ) f
                    WHERE f.url = c.url
                      AND (f.outcome IN {_SETTLED_FAILURES}
                           OR (f.outcome = 'http_error' AND f.status BETWEEN 400 AND 499
                               AND f.status NOT IN (408, 429))))
            """
        ).fetchall()
        con.unregister("candidates")
    return {row[0] for row in rows}


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
