"""Backfills from web archives: WARC files and a CC-NEWS mirror on 127.0.0.1, under Prefect's test harness.

The archives are written by the tests: the demo site's pages under their own addresses, pages of other
hosts, and generated articles with known publication dates.
"""

from __future__ import annotations

import dataclasses
import gzip
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crawl.warc import WarcWriter
from extractors import extract_article
from extractors.records import FetchedPage
from flows.backfill import backfill
from flows.cli import app
from flows.demo_server import SITE_ROOT, demo_article_paths
from storage.queries import run_query
from tests.golden import PAGES

pytestmark = pytest.mark.usefixtures("prefect_harness")
runner = CliRunner()
HTML = (("content-type", "text/html; charset=utf-8"),)
_CANONICAL = re.compile(rb'<link rel="canonical" href="([^"?]+)')


@pytest.fixture(autouse=True)
def _in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSFLOW_EXTRACT_WORKERS", "0")  # no worker pool to start for a few pages
    monkeypatch.setenv("NEWSFLOW_BATCH_SIZE", "3")  # several batches per file


def demo_pages() -> list[FetchedPage]:
    """The demo site's article pages as an archive holds them: at their own addresses, an hour apart."""
    pages = []
    for index, path in enumerate(demo_article_paths()):
        html = (SITE_ROOT / path.strip("/") / "index.html").read_bytes()
        found = _CANONICAL.search(html)
        url = found.group(1).decode() if found else f"https://demo.example{path}"
        pages.append(FetchedPage(url, url, 200, HTML, html, datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=index)))
    return pages


def other_pages() -> list[FetchedPage]:
    """Pages of hosts no source names: the golden pages under other addresses."""
    when = datetime(2026, 11, 2, tzinfo=UTC)
    folders = sorted(p for p in PAGES.iterdir() if (p / "page.html").is_file())
    urls = [f"https://elsewhere-{i}.example/a/{folder.name}" for i, folder in enumerate(folders)]
    bodies = [(folder / "page.html").read_bytes() for folder in folders]
    return [FetchedPage(u, u, 200, HTML, body, when) for u, body in zip(urls, bodies, strict=True)]


def write_warc(path: Path, pages: list[FetchedPage]) -> Path:
    with open(path, "wb") as out:
        writer = WarcWriter(out)
        for page in pages:
            writer.write_page(page)
    return path


def demo_sources(tmp_path: Path) -> Path:
    hosts = sorted({p.url.split("/")[2].removeprefix("www.") for p in demo_pages()})
    path = tmp_path / "sources.toml"
    path.write_text(f'[[sources]]\nname = "demo"\ndomains = {json.dumps(hosts)}\n', encoding="utf-8")
    return path


def _articles(db: str) -> set[tuple[object, ...]]:
    return set(run_query(db, "SELECT url_key, content_hash, updated_at, source FROM articles").rows)


def test_a_warc_backfill_stores_exactly_the_source_s_articles_and_a_rerun_changes_nothing(
    tmp_path: Path, db_path: str
) -> None:
    demo, other = demo_pages(), other_pages()
    records = [*other[:3], *[p for pair in zip(demo, other[3:], strict=False) for p in pair], *demo[len(other) - 3 :]]
    assert set(demo) <= set(records) and len(records) > len(demo)
    warc = write_warc(tmp_path / "mixed.warc.gz", records)
    sources = demo_sources(tmp_path)
    args = ["backfill", "--warc", str(warc), "--source", "demo", "--sources", str(sources), "--db", db_path]

    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.stdout

    expected = {extract_article(p).url_key for p in demo_pages()}
    assert {key for key, *_ in _articles(db_path)} == expected
    assert all(source == "demo" for *_, source in _articles(db_path))
    fetched = dict(run_query(db_path, "SELECT url, fetched_at FROM pages").rows)
    assert fetched == {p.url: p.fetched_at for p in demo_pages()}
    assert run_query(db_path, "SELECT records_read, matched, stored, broken FROM archive_files").rows == (
        (len(records), len(demo), len(expected), 0),
    )

    before = (_articles(db_path), run_query(db_path, "SELECT * FROM pages ORDER BY url").rows)
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.stdout
    assert (_articles(db_path), run_query(db_path, "SELECT * FROM pages ORDER BY url").rows) == before
    assert run_query(db_path, "SELECT count(*) FROM archive_files").rows == ((1,),)


def _dated_page(host: str, day: date, index: int) -> FetchedPage:
    """A generated article published on ``day``."""
    url = f"https://{host}/{day:%Y/%m/%d}/story-{index}"
    title = f"Story {index} from {host} on {day:%d %B}"
    paragraphs = "".join(
        f"<p>Paragraph {n} of story {index}: the council met on {day:%A} and residents of {host} spoke at length "
        f"about the harbour, the river works and the new bus routes planned for the spring.</p>"
        for n in range(6)
    )
    html = (
        f'<html><head><title>{title}</title><link rel="canonical" href="{url}">'
        f'<script type="application/ld+json">{{"@type": "NewsArticle", "headline": "{title}", '
        f'"datePublished": "{day.isoformat()}T09:30:00+01:00", "author": {{"@type": "Person", "name": "Ana Lima"}}}}'
        f"</script></head><body><article><h1>{title}</h1>{paragraphs}</article></body></html>"
    )
    archived = datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=1, hours=index % 5)
    return FetchedPage(url, url, 200, HTML, html.encode(), archived)


def test_the_window_applies_to_the_extracted_publication_date_and_a_wider_one_reads_the_file_again(
    tmp_path: Path, db_path: str
) -> None:
    pages = [_dated_page("news.example", date(2026, 3, day), day) for day in range(1, 11)]
    warc = str(write_warc(tmp_path / "march.warc.gz", pages))
    sources = tmp_path / "sources.toml"
    sources.write_text('[[sources]]\nname = "n"\ndomains = ["news.example"]\n', encoding="utf-8")

    first = backfill(sources=["n"], since=date(2026, 3, 3), until=date(2026, 3, 5), warc_urls=[warc],
                     sources_file=str(sources), db=db_path)  # fmt: skip
    stored = {u for (u,) in run_query(db_path, "SELECT url FROM articles").rows}
    assert stored == {p.url for p in pages[2:5]}
    assert first.skipped == 7  # outside the window: extracted, not stored

    # a window the first run did not cover: the file is read again
    backfill(sources=["n"], since=date(2026, 3, 1), until=date(2026, 3, 10), warc_urls=[warc],
             sources_file=str(sources), db=db_path)  # fmt: skip
    assert run_query(db_path, "SELECT count(*) FROM articles").rows == ((10,),)
    # a window inside one already read: not read again
    third = backfill(sources=["n"], since=date(2026, 3, 4), until=date(2026, 3, 6), warc_urls=[warc],
                     sources_file=str(sources), db=db_path)  # fmt: skip
    assert third.fetched == 0
    assert run_query(db_path, "SELECT count(*) FROM archive_files").rows == ((2,),)


def test_a_file_that_cannot_be_read_fails_alone_and_is_not_marked_read(tmp_path: Path, db_path: str) -> None:
    good = write_warc(tmp_path / "good.warc.gz", [_dated_page("news.example", date(2026, 3, 2), 1)])
    sources = tmp_path / "sources.toml"
    sources.write_text('[[sources]]\nname = "n"\ndomains = ["news.example"]\n', encoding="utf-8")
    report = backfill(sources=["n"], days=0, warc_urls=[str(tmp_path / "missing.warc.gz"), str(good)],
                      sources_file=str(sources), db=db_path)  # fmt: skip
    assert report.new == 1 and report.failures == {"archive_error": 1}
    reason = run_query(db_path, "SELECT error FROM fetches WHERE outcome = 'archive_error'").rows[0][0]
    assert "missing.warc.gz" in reason
    assert run_query(db_path, "SELECT count(*) FROM archive_files").rows == ((1,),)


# --- CC-NEWS ----------------------------------------------------------------------------------------------

NOVEMBER = [date(2026, 11, day) for day in (3, 11, 12, 14, 27)]


class MirrorHandler(http.server.BaseHTTPRequestHandler):
    """A CC-NEWS mirror: files under ``root``; requests logged; a path in ``stall`` never answers."""

    root: Path
    log: list[str]
    stall: set[str]

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:
        self.log.append(self.path)
        if any(self.path.endswith(s) for s in self.stall):
            time.sleep(60)
            return
        target = self.root / self.path.lstrip("/")
        if not target.is_file():
            self.send_error(404)
            return
        data = target.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def build_mirror(root: Path) -> dict[str, list[FetchedPage]]:
    """Two months of CC-NEWS: a file per day listed above (and one in October), pages of two hosts,
    each page published the day before its file; returns the pages of each file."""
    files: dict[str, list[FetchedPage]] = {}
    days = [date(2026, 10, 28), *NOVEMBER]
    for serial, day in enumerate(days):
        published = day - timedelta(days=1)
        pages = [_dated_page(host, published, serial * 10 + i) for i in range(4) for host in ("news.example",)]
        pages.append(_dated_page("unrelated.example", published, serial * 10 + 9))
        name = f"crawl-data/CC-NEWS/{day:%Y/%m}/CC-NEWS-{day:%Y%m%d}031500-{serial:05d}.warc.gz"
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_warc(root / name, pages)
        files[name] = pages
    for month in ("10", "11"):
        listed = "".join(f"{name}\n" for name in files if f"/2026/{month}/" in name)
        (root / f"crawl-data/CC-NEWS/2026/{month}/warc.paths.gz").write_bytes(gzip.compress(listed.encode()))
    return files


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, type[MirrorHandler], dict[str, list[FetchedPage]]]]:
    root = tmp_path / "mirror"
    files = build_mirror(root)
    handler = type("Mirror", (MirrorHandler,), {"root": root, "log": [], "stall": set()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler, files
    finally:
        server.shutdown()
        server.server_close()


def _news_source(tmp_path: Path) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text('[[sources]]\nname = "news"\ndomains = ["news.example"]\n', encoding="utf-8")
    return path


def test_ccnews_reads_only_the_month_and_files_of_the_window(
    mirror: tuple[str, type[MirrorHandler], dict[str, list[FetchedPage]]],
    tmp_path: Path, db_path: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    base, handler, files = mirror
    monkeypatch.setenv("NEWSFLOW_CCNEWS_URL", base)
    report = backfill(sources=["news"], since=date(2026, 11, 10), until=date(2026, 11, 15), ccnews=True,
                      sources_file=str(_news_source(tmp_path)), db=db_path)  # fmt: skip
    read = [p for p in handler.log if p.endswith(".warc.gz")]
    assert sorted(read) == [f"/{n}" for n in files if re.search(r"CC-NEWS-202611(11|12|14)", n)]
    assert "/crawl-data/CC-NEWS/2026/10/warc.paths.gz" not in handler.log
    wanted = {p.url for n, pages in files.items() for p in pages
              if "news.example/" in p.url and date(2026, 11, 10) <= _day(p.url) <= date(2026, 11, 15)}  # fmt: skip
    assert {u for (u,) in run_query(db_path, "SELECT url FROM articles").rows} == wanted
    assert report.new == len(wanted)

    handler.log.clear()
    again = backfill(sources=["news"], since=date(2026, 11, 10), until=date(2026, 11, 15), ccnews=True,
                     sources_file=str(_news_source(tmp_path)), db=db_path)  # fmt: skip
    assert [p for p in handler.log if p.endswith(".warc.gz")] == [] and again.new == 0


def _day(url: str) -> date:
    year, month, day = url.split("/")[3:6]
    return date(int(year), int(month), int(day))


def test_a_killed_ccnews_backfill_resumes_at_the_next_file_and_ends_as_a_clean_run(
    mirror: tuple[str, type[MirrorHandler], dict[str, list[FetchedPage]]], tmp_path: Path,
) -> None:  # fmt: skip
    """The real command, killed with SIGKILL while it downloads its third file, then run again."""
    base, handler, files = mirror
    sources = _news_source(tmp_path)
    env = {**os.environ, "NEWSFLOW_CCNEWS_URL": base, "PREFECT_HOME": str(tmp_path / "prefect"),
           "NEWSFLOW_EXTRACT_WORKERS": "0", "NEWSFLOW_BATCH_SIZE": "2"}  # fmt: skip
    env.pop("PREFECT_API_URL", None)
    command = [str(Path(sys.executable).with_name("newsflow")), "backfill", "--ccnews", "--since", "2026-11-01",
               "--until", "2026-11-30", "--source", "news", "--sources", str(sources)]  # fmt: skip
    chosen = sorted(n for n in files if "/2026/11/" in n)
    handler.stall.add(chosen[2])
    killed_db = str(tmp_path / "killed.duckdb")
    process = subprocess.Popen([*command, "--db", killed_db], env=env, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while f"/{chosen[2]}" not in handler.log:
            if process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                raise AssertionError(f"the run ended before its third file: {output}")
            assert time.monotonic() < deadline, "the run never reached its third file"
            time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    done_before = {p for (p,) in run_query(killed_db, "SELECT path FROM archive_files").rows}
    assert done_before == {f"{base}/{n}" for n in chosen[:2]}

    handler.stall.clear()
    handler.log.clear()
    clean_db = str(tmp_path / "clean.duckdb")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEWSFLOW_CCNEWS_URL", base)
        for db in (killed_db, clean_db):  # the rerun (here, under the harness: the same flow), then a clean run
            backfill(sources=["news"], since=date(2026, 11, 1), until=date(2026, 11, 30), ccnews=True,
                     sources_file=str(sources), db=db)  # fmt: skip
            if db == killed_db:
                assert sorted(p for p in handler.log if p.endswith(".warc.gz")) == [f"/{n}" for n in chosen[2:]]
    content = "SELECT url_key, content_hash, title, published_at FROM articles ORDER BY url_key"
    assert run_query(killed_db, content).rows == run_query(clean_db, content).rows
    assert len(run_query(clean_db, content).rows) == 4 * len(chosen)


# --- the "already read" marks, over sequences of runs -----------------------------------------------------


class _Killed(Exception):
    """Stands for a run killed between two of its transactions."""


HOSTS = {"a": "a.example", "b": "b.example"}
DAYS = [date(2026, 3, day) for day in range(1, 7)]


def _property_files(root: Path) -> dict[str, list[FetchedPage]]:
    files = {}
    for number in range(3):
        pages = [
            _dated_page(host, DAYS[(number * 2 + k) % len(DAYS)], number * 10 + k)
            for k in range(2) for host in HOSTS.values()
        ]  # fmt: skip
        files[str(write_warc(root / f"part-{number}.warc.gz", pages))] = pages
    return files


@pytest.fixture(scope="module")
def property_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, list[FetchedPage]], Path]:
    root = tmp_path_factory.mktemp("archives")
    sources = root / "sources.toml"
    sources.write_text("".join(f'[[sources]]\nname = "{n}"\ndomains = ["{h}"]\n\n' for n, h in HOSTS.items()))
    return _property_files(root), sources


def _wanted(files: dict[str, list[FetchedPage]], step: tuple[tuple[str, ...], tuple[int, int] | None, tuple[str, ...], int | None]) -> set[str]:  # noqa: E501
    names, window, chosen, _ = step
    hosts = {HOSTS[n] for n in names}
    return {
        p.url for f in chosen for p in files[f]
        if p.url.split("/")[2] in hosts and (window is None or DAYS[window[0]] <= _day(p.url) <= DAYS[window[1]])
    }  # fmt: skip


def test_no_sequence_of_runs_killed_or_not_skips_an_article_a_finished_run_was_asked_for(
    property_data: tuple[dict[str, list[FetchedPage]], Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs over random files, sources and windows, some killed after a random number of commits: every
    article a finished run was asked for is stored, nothing no run asked for is, and every file marked read
    holds no article of its scope that is missing."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    import flows.archive_backfill

    files, sources = property_data
    paths = sorted(files)
    real_store = flows.archive_backfill.store_batch
    # few distinct values, so that runs of one sequence meet on the same files with other sources and windows
    step = st.tuples(
        st.sampled_from([("a",), ("b",), ("a", "b")]),
        st.sampled_from([None, (0, 2), (3, 5), (1, 4), (2, 2)]),
        st.sampled_from([tuple(paths[:2]), tuple(paths[1:]), (paths[0],), tuple(paths)]),
        st.sampled_from([None, None, 1, 3]),
    )
    examples = iter(range(1000))

    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(step, min_size=1, max_size=3))
    def runs(steps: list[tuple[tuple[str, ...], tuple[int, int] | None, tuple[str, ...], int | None]]) -> None:
        db = str(tmp_path / f"p{next(examples)}.duckdb")
        finished: set[str] = set()
        asked: set[str] = set()
        for names, window, chosen, kill_after in steps:
            calls = iter(range(1, 1000))

            def store(
                *args: object, kill_after: int | None = kill_after, calls: Iterator[int] = calls, **kwargs: object
            ) -> object:
                if kill_after is not None and next(calls) > kill_after:
                    raise _Killed
                return real_store(*args, **kwargs)  # type: ignore[arg-type]

            monkeypatch.setattr(flows.archive_backfill, "store_batch", store)
            since, until = (DAYS[window[0]], DAYS[window[1]]) if window else (None, None)
            wanted = _wanted(files, (names, window, chosen, kill_after))
            asked |= wanted
            try:
                backfill(sources=list(names), since=since, until=until, days=0, warc_urls=list(chosen),
                         sources_file=str(sources), db=db)  # fmt: skip
            except _Killed:
                continue
            finished |= wanted
        monkeypatch.setattr(flows.archive_backfill, "store_batch", real_store)
        stored = {u for (u,) in run_query(db, "SELECT url FROM articles").rows} if Path(db).exists() else set()
        assert finished <= stored <= asked
        if not Path(db).exists():
            return
        for path, names, since, until in run_query(db, "SELECT path, sources, since, until FROM archive_files").rows:
            hosts = {json.loads(n)[1][0] for n in names}
            for page in files[path]:
                day = _day(page.url)
                in_window = (since is None or day >= since.date()) and (until is None or day < until.date())
                if page.url.split("/")[2] in hosts and in_window:
                    assert page.url in stored, f"{path} is marked read but {page.url} is not stored"

    runs()


# --- WARC export ------------------------------------------------------------------------------------------


def test_a_warc_export_of_the_demo_database_round_trips(site: str, db_path: str, tmp_path: Path) -> None:
    """Exported pages read back and extracted give the stored articles; and backfilled from the export into a
    fresh database, the same articles again."""
    import io

    from crawl.warc import ReadCounts, read_pages
    from flows.ingest import ingest

    ingest(feeds=[f"{site}/feed.xml"], db=db_path)
    out = tmp_path / "demo.warc.gz"
    done = runner.invoke(app, ["export", "--format", "warc", "--out", str(out), "--db", db_path])
    assert done.exit_code == 0, done.stdout
    stored = set(run_query(db_path, "SELECT url_key, content_hash FROM articles").rows)
    assert len(stored) == len(demo_article_paths())
    counts = ReadCounts()
    pages = list(read_pages(io.BytesIO(out.read_bytes()), "demo.warc.gz", lambda url: True, counts))
    assert all(isinstance(p, FetchedPage) for p in pages) and counts.broken == 0
    assert {(a.url_key, a.content_hash) for a in (extract_article(p) for p in pages)} == stored  # type: ignore[arg-type]
    assert f"{len(stored)} pages" in done.stdout

    sources = tmp_path / "sources.toml"
    sources.write_text('[[sources]]\nname = "demo"\ndomains = ["127.0.0.1"]\n', encoding="utf-8")
    again = str(tmp_path / "again.duckdb")
    backfill(sources=["demo"], days=0, warc_urls=[str(out)], sources_file=str(sources), db=again)
    assert set(run_query(again, "SELECT url_key, content_hash FROM articles").rows) == stored


def test_a_remote_warc_goes_through_the_address_guard_and_the_size_cap(
    mirror: tuple[str, type[MirrorHandler], dict[str, list[FetchedPage]]],
    tmp_path: Path, db_path: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A WARC address on a link-local host is refused before any connection (the test's connect step fails
    loudly if one is tried); one over NEWSFLOW_MAX_ARCHIVE_BYTES is cut off; both fail alone."""
    base, _, files = mirror
    name = sorted(files)[1]
    monkeypatch.setenv("NEWSFLOW_MAX_ARCHIVE_BYTES", "2048")
    report = backfill(sources=["news"], days=0, warc_urls=["http://169.254.169.254/latest.warc.gz", f"{base}/{name}"],
                      sources_file=str(_news_source(tmp_path)), db=db_path)  # fmt: skip
    assert report.failures == {"archive_error": 2} and report.new == 0
    rows = run_query(db_path, "SELECT error FROM fetches WHERE outcome = 'archive_error'").rows
    reasons = " ".join(reason for (reason,) in rows)
    assert "169.254.169.254" in reasons and "2048" in reasons
    assert run_query(db_path, "SELECT count(*) FROM archive_files").rows == ((0,),)

    monkeypatch.delenv("NEWSFLOW_MAX_ARCHIVE_BYTES")
    again = backfill(sources=["news"], days=0, warc_urls=[f"{base}/{name}"], sources_file=str(_news_source(tmp_path)),
                     db=db_path)  # fmt: skip
    assert again.new == 4  # the file was not marked read: the next run reads it


def test_an_archived_capture_never_replaces_a_stored_article(tmp_path: Path, db_path: str) -> None:
    """The same address in a later archive (another capture, other text) is passed over, as a backfill of new
    articles passes over what is stored; two captures in one batch keep the later one."""
    first = _dated_page("news.example", date(2026, 3, 2), 1)
    other = dataclasses.replace(first, body=first.body.replace(b"Paragraph 0", b"Rewritten 0"),
                                fetched_at=first.fetched_at + timedelta(days=3))  # fmt: skip
    sources = tmp_path / "sources.toml"
    sources.write_text('[[sources]]\nname = "n"\ndomains = ["news.example"]\n', encoding="utf-8")
    args = {"sources": ["n"], "days": 0, "sources_file": str(sources), "db": db_path}
    backfill(warc_urls=[str(write_warc(tmp_path / "one.warc.gz", [first]))], **args)  # type: ignore[arg-type]
    later = backfill(warc_urls=[str(write_warc(tmp_path / "two.warc.gz", [other]))], **args)  # type: ignore[arg-type]
    assert later.skipped == 1 and later.new == later.updated == 0
    assert "Paragraph 0" in run_query(db_path, "SELECT body_text FROM articles").rows[0][0]

    both = str(tmp_path / "both.duckdb")
    backfill(warc_urls=[str(write_warc(tmp_path / "both.warc.gz", [first, other]))], **{**args, "db": both})  # type: ignore[arg-type]
    assert "Rewritten 0" in run_query(both, "SELECT body_text FROM articles").rows[0][0]


def test_warc_files_after_the_option_are_read_too_as_a_shell_glob_gives_them(tmp_path: Path, db_path: str) -> None:
    files = [write_warc(tmp_path / f"part-{i}.warc.gz", [_dated_page("news.example", date(2026, 3, 2), i)])
             for i in range(2)]  # fmt: skip
    sources = tmp_path / "sources.toml"
    sources.write_text('[[sources]]\nname = "n"\ndomains = ["news.example"]\n', encoding="utf-8")
    done = runner.invoke(app, ["backfill", "--warc", *map(str, files), "--sources", str(sources), "--db", db_path])
    assert done.exit_code == 0, done.stdout
    assert run_query(db_path, "SELECT count(*) FROM archive_files").rows == ((2,),)
    stray = runner.invoke(app, ["backfill", "stray", "--sources", str(sources), "--db", db_path])
    assert stray.exit_code == 2 and "unexpected argument 'stray'" in stray.output
