"""Storage on a real DuckDB file: migrations, idempotent upserts, changed pages."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import zlib
from datetime import UTC, datetime

import pytest

from extractors import extract_html
from extractors.article import fetched_page_from_file
from extractors.errors import DatabaseLocked, StorageError
from extractors.records import Failure, FetchedPage
from storage.connection import read_connection, write_connection
from storage.migrations import LATEST_VERSION
from storage.queries import run_query
from storage.writer import Extracted, store_batch
from tests.golden import PAGES

URL = "https://www.klatenflashback.example/international/qatar-pushes-for-diplomacy-in-the-midst-of-middle-east-conflict,-these-are-the-facts-of-discussions-with-the-us/"


def _page(body: bytes, url: str = URL) -> FetchedPage:
    return fetched_page_from_file(body, url)


def _extracted(page: FetchedPage) -> Extracted:
    return Extracted(page, extract_html(page.body, page.final_url))


def test_migrations_create_schema_from_empty(db_path: str) -> None:
    with write_connection(db_path) as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        versions = [r[0] for r in con.execute("SELECT version FROM schema_migrations").fetchall()]
    assert {"articles", "pages", "fetches", "runs", "schema_migrations"} <= tables
    assert versions == list(range(1, LATEST_VERSION + 1))
    with write_connection(db_path) as con:  # a second open applies nothing again
        assert con.execute("SELECT count(*) FROM schema_migrations").fetchone() == (LATEST_VERSION,)


def test_upsert_is_idempotent(db_path: str) -> None:
    body = (PAGES / "klaten-flashback" / "page.html").read_bytes()
    page = _page(body)
    first = store_batch(db_path, "run-1", [page], [_extracted(page)], [])
    again = _page(body, URL + "?utm_source=x")  # same article reached through a tracking URL
    second = store_batch(db_path, "run-2", [again], [_extracted(again)], [])
    assert (first.new, first.updated, first.unchanged) == (1, 0, 0)
    assert (second.new, second.updated, second.unchanged) == (0, 0, 1)
    counts = run_query(db_path, "SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM pages)")
    assert counts.rows == ((1, 1),)


def test_changed_page_updates_its_row(db_path: str) -> None:
    body = (PAGES / "klaten-flashback" / "page.html").read_bytes()
    page = _page(body)
    store_batch(db_path, "run-1", [page], [_extracted(page)], [])
    edited = _page(body.replace(b"Doha is also often an important partner", b"Doha is still a key partner"))
    counts = store_batch(db_path, "run-2", [edited], [_extracted(edited)], [])
    assert (counts.new, counts.updated) == (0, 1)
    rows = run_query(db_path, "SELECT body_text, run_id FROM articles").rows
    assert len(rows) == 1
    assert "Doha is still a key partner" in str(rows[0][0]) and rows[0][1] == "run-2"
    assert run_query(db_path, "SELECT count(*) FROM pages").rows == ((2,),)


def test_stored_html_round_trips_and_types_are_native(db_path: str) -> None:
    body = (PAGES / "klaten-flashback" / "page.html").read_bytes()
    page = _page(body)
    store_batch(db_path, "run-1", [page], [_extracted(page)], [])
    with read_connection(db_path) as con:
        (html,) = con.execute("SELECT html_zlib FROM pages").fetchone() or (None,)
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name='articles'"
            ).fetchall()
        )
        links = con.execute("SELECT related_links[1].url, authors[1], published_at FROM articles").fetchone()
    assert zlib.decompress(html) == body
    assert types["authors"] == "VARCHAR[]" and types["published_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["related_links"].startswith("STRUCT")
    assert links is not None and links[0].endswith("strait-of-hormuz/") and links[1] == "Dimas Prasetyo"
    assert links[2] == datetime(2026, 5, 12, 2, 30, tzinfo=UTC)


def test_duplicate_keys_in_one_batch_keep_the_latest(db_path: str) -> None:
    body = (PAGES / "klaten-flashback" / "page.html").read_bytes()
    old = _page(body)
    new_page = dataclasses.replace(
        _page(body.replace(b"Doha is also", b"Doha remains")), fetched_at=datetime(2099, 1, 1, tzinfo=UTC)
    )
    store_batch(db_path, "run-1", [old, new_page], [_extracted(new_page), _extracted(old)], [])
    rows = run_query(db_path, "SELECT body_text FROM articles").rows
    assert len(rows) == 1 and "Doha remains" in str(rows[0][0])


def test_failures_are_logged_per_url(db_path: str) -> None:
    failure = Failure("https://x.example/a", "fetch", "http_error", "HTTP 500", True, 500)
    counts = store_batch(db_path, "run-1", [], [], [failure])
    store_batch(db_path, "run-1", [], [], [failure])  # a retried batch does not log twice
    assert counts.failed == 1
    rows = run_query(db_path, "SELECT url, outcome, status, error FROM fetches").rows
    assert rows == (("https://x.example/a", "http_error", 500, "HTTP 500"),)


def test_query_is_read_only(db_path: str) -> None:
    with write_connection(db_path):
        pass
    with pytest.raises(StorageError, match=r"read-only|read only"):
        run_query(db_path, "DELETE FROM articles")


def test_missing_database_is_a_clear_error(tmp_path: object) -> None:
    with pytest.raises(StorageError, match="does not exist"):
        run_query("/nonexistent/dir/x.duckdb", "SELECT 1")


def test_reader_gives_up_with_a_clear_busy_error(db_path: str) -> None:
    with write_connection(db_path):
        pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,sys,time; c=duckdb.connect({db_path!r}); print('ready', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(DatabaseLocked, match="busy"), read_connection(db_path, wait_seconds=0.3):
            pass
    finally:
        holder.kill()
        holder.wait()
    assert run_query(db_path, "SELECT count(*) FROM articles").rows == ((0,),)
