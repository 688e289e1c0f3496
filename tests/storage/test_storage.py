"""Storage on a real DuckDB file: migrations, idempotent upserts, changed pages."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from extractors import extract_html
from extractors.article import fetched_page_from_file
from extractors.errors import DatabaseLocked, StorageError
from extractors.records import Discovered, DocumentRead, Failure, FetchedPage, Validators
from flows.writer_guard import WriterLease
from storage import page_files
from storage.connection import read_connection, write_connection
from storage.lookups import discovery_states, stored_pages
from storage.migrations import LATEST_VERSION, MIGRATIONS
from storage.queries import run_query
from storage.writer import Extracted, store_batch, store_discovery, sweep_page_files
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
    folder = page_files.directory(db_path)
    with read_connection(db_path) as con:
        # an analyst reads the raw HTML straight from the Parquet files the pages rows name
        (html,) = con.execute(
            f"SELECT f.html_zlib FROM pages p JOIN read_parquet('{folder}/*.parquet', filename = true) f"
            f" ON f.html_sha256 = p.html_sha256 AND f.filename = '{folder}/' || p.html_file"
        ).fetchone() or (None,)
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_name='articles'"
            ).fetchall()
        )
        links = con.execute("SELECT related_links[1].url, authors[1], published_at FROM articles").fetchone()
    assert zlib.decompress(html) == body
    assert [p.body for p in stored_pages(db_path, [_extracted(page).article.url_key])] == [body]
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


def test_a_run_waiting_between_writes_lets_a_reader_in(db_path: str) -> None:
    """The lease hands the file back while the run waits (a slow site, a long extraction), not at its
    next write; and the writer slot once its own time is up."""
    lease = WriterLease(db_path, slot_seconds=2.0, file_seconds=0.3)
    with lease.write():
        pass
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb,sys,time\n"
            "for _ in range(200):\n"
            "    try:\n"
            f"        duckdb.connect({db_path!r}, read_only=True).close(); print('in', flush=True); break\n"
            "    except duckdb.Error: time.sleep(0.05)\n"
            "else: print('busy', flush=True)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    got_in = threading.Event()
    answer: list[str] = []

    def listen() -> None:
        assert reader.stdout is not None
        answer.append(reader.stdout.readline().strip())
        got_in.set()

    threading.Thread(target=listen, daemon=True).start()
    deadline = time.monotonic() + 20

    def ready(timeout: float | None) -> bool:
        # what the run waits for: here, that the reader got in (bounded, so a broken lease fails, not hangs)
        limit = deadline - time.monotonic() if timeout is None else min(timeout, deadline - time.monotonic())
        return got_in.wait(max(limit, 0.0)) or time.monotonic() >= deadline

    try:
        lease.wait(ready)
    finally:
        reader.kill()
        reader.wait()
    assert answer == ["in"]
    assert lease.held  # the slot's own time is not up yet

    slot_up = time.monotonic() + 2.5
    lease.wait(lambda timeout: time.sleep(min(timeout or 0.05, 0.05)) or time.monotonic() >= slot_up)
    assert not lease.held


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


def _body_files(db_path: str) -> list[str]:
    return sorted(p.name for p in page_files.directory(db_path).glob("*.parquet"))


def test_a_repeated_batch_writes_no_second_body_file(db_path: str) -> None:
    body = (PAGES / "klaten-flashback" / "page.html").read_bytes()
    page = _page(body)
    store_batch(db_path, "run-1", [page], [_extracted(page)], [])
    files = _body_files(db_path)
    store_batch(db_path, "run-2", [page], [_extracted(page)], [])
    assert len(files) == 1 and _body_files(db_path) == files
    assert run_query(db_path, "SELECT html_file FROM pages").rows == ((files[0],),)


def test_sweep_removes_only_bodies_no_row_names(db_path: str) -> None:
    body = (PAGES / "klaten-flashback" / "page.html").read_bytes()
    page = _page(body)
    store_batch(db_path, "run-1", [page], [_extracted(page)], [])
    kept = _body_files(db_path)
    # what a run killed after writing its file but before its commit leaves behind
    orphan = page_files.write_bodies(db_path, [page_files.PageBody("0" * 64, "k", "https://x.example/", b"x")])
    assert sweep_page_files(db_path) == 0  # too young: its transaction could still be about to commit
    old = page_files.directory(db_path) / orphan
    os.utime(old, (0, 0))
    assert sweep_page_files(db_path) == 1
    assert _body_files(db_path) == kept
    assert [p.body for p in stored_pages(db_path, [_extracted(page).article.url_key])] == [body]


def test_a_missing_body_file_is_a_clear_storage_error(db_path: str) -> None:
    page = _page((PAGES / "klaten-flashback" / "page.html").read_bytes())
    store_batch(db_path, "run-1", [page], [_extracted(page)], [])
    for name in _body_files(db_path):
        (page_files.directory(db_path) / name).unlink()
    with pytest.raises(StorageError, match=r"cannot read page bodies from .*\.parquet"):
        stored_pages(db_path, [_extracted(page).article.url_key])


def test_pages_stored_before_body_files_still_read(db_path: str) -> None:
    """A database from before migration 4 keeps its blobs in ``pages`` and re-extracts from them."""
    body = (PAGES / "klaten-flashback" / "page.html").read_bytes()
    page = _page(body)
    key = _extracted(page).article.url_key
    import duckdb

    con = duckdb.connect(db_path)
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,"
                " applied_at TIMESTAMPTZ NOT NULL)")  # fmt: skip
    for migration in MIGRATIONS[:3]:
        for statement in migration.statements:
            con.execute(statement)
        con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [migration.version, migration.name])
    con.execute(
        "INSERT INTO pages VALUES (?, ?, ?, 200, '{}', ?, 'old-sha', ?, now(), 'run-0')",
        [page.url, page.final_url, key, zlib.compress(body), len(body)],
    )
    con.close()
    with write_connection(db_path):  # the upgrade: migration 4 leaves old rows as they are
        pass
    assert [p.body for p in stored_pages(db_path, [key])] == [body]
    assert not page_files.directory(db_path).exists()
    store_batch(db_path, "run-1", [page], [_extracted(page)], [])  # a new fetch of it goes to a file
    assert run_query(db_path, "SELECT count(*) FROM pages WHERE html_file IS NOT NULL").rows == ((1,),)
    assert [p.body for p in stored_pages(db_path, [key])] == [body] and len(_body_files(db_path)) == 1


def test_a_discovery_document_is_kept_only_when_every_entry_it_lists_is_dealt_with(db_path: str) -> None:
    body = (PAGES / "klaten-flashback" / "page.html").read_bytes()
    page = _page(body)
    store_batch(db_path, "run-1", [page], [_extracted(page)], [])  # URL is stored
    gone = "https://www.klatenflashback.example/news/removed-story-here/"
    later = "https://www.klatenflashback.example/news/a-story-for-later/"
    store_batch(db_path, "run-1", [], [], [Failure(gone, "fetch", "http_error", "HTTP 404", False, 404)])
    feed = "https://www.klatenflashback.example/feed.xml"
    sitemap = "https://www.klatenflashback.example/sitemap.xml"
    child = Discovered("https://www.klatenflashback.example/sitemap-1.xml", datetime(2026, 5, 1, tzinfo=UTC), "x")

    def read(url: str, entries: tuple[str, ...], etag: str, children: tuple[Discovered, ...] = ()) -> DocumentRead:
        return DocumentRead(url, Validators(etag, None), entries, children)

    def fetched(url: str) -> FetchedPage:
        return FetchedPage(url, url, 200, (("etag", '"v1"'),), b"<rss/>", datetime.now(UTC))

    reads = [read(feed, (URL, gone), '"v1"'), read(sitemap, (URL,), '"v1"', (child,))]
    assert store_discovery(db_path, "run-2", "s", [fetched(feed), fetched(sitemap)], [], reads, "rules-a") == 2
    states = discovery_states(db_path, "s", "rules-a")
    assert states[sitemap].children == (Discovered(child.url, child.published, "state"),)
    assert discovery_states(db_path, "s", "rules-b") == {}  # kept under other patterns: not used
    # the next version lists an entry no run has taken yet: it is not kept, and the older state goes
    newer = [read(feed, (URL, later), '"v2"')]
    assert store_discovery(db_path, "run-3", "s", [fetched(feed)], [], newer, "rules-a") == 0
    assert set(discovery_states(db_path, "s", "rules-a")) == {sitemap}


def test_an_article_without_an_address_is_refused_by_storage(tmp_path: Path) -> None:
    """A local file that names no http(s) address extracts (its url_key is None) but cannot be stored."""
    from extractors import extract_html
    from extractors.errors import StorageError
    from extractors.records import FetchedPage
    from storage.writer import Extracted, store_batch

    html = b"<html><body><article>" + b"<p>Plain words of a page without an address, long enough.</p>" * 8
    article = extract_html(html, "file:///tmp/bare.html")
    assert article.url_key is None
    page = FetchedPage("file:///tmp/bare.html", "file:///tmp/bare.html", 200, (), html, datetime.now(UTC))
    with pytest.raises(StorageError, match="no http"):
        store_batch(tmp_path / "news.duckdb", "run", [page], [Extracted(page, article)], [])
