"""Crash safety for real: SIGKILL an ingest run mid-way, run it again, compare with a clean run.

The run is `newsflow ingest` in its own process group (its temporary Prefect server, fork
server and extraction workers with it), against a local site whose pages come slowly enough
that the kill lands while batches are being fetched, extracted and committed.  The point of
the kill is drawn at random (the seed is printed, and NEWSFLOW_CRASH_SEED replays one).  The rerun
must also mark the killed run's ``runs`` row crashed, as its process is gone.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import duckdb
import psutil
import pytest

from flows.demo_server import DemoSiteHandler, serve_site
from flows.runs import crashed_runs
from storage.lookups import stored_pages
from storage.writer import RunRecord, record_run
from tests.golden import PAGES

ARTICLES = 48
PAGE_DELAY = 0.04  # seconds per article page: the run takes several seconds, the kill lands inside it


class SlowSite(DemoSiteHandler):
    """A sitemap of ARTICLES distinct articles, made from the golden pages, each served after a delay."""

    protocol_version = "HTTP/1.1"
    templates: ClassVar[list[bytes]] = []
    served: ClassVar[int] = 0
    lock = threading.Lock()

    def do_GET(self) -> None:
        base = self.base_url
        if self.path == "/sitemap.xml":
            urls = "".join(f"<url><loc>{base}/news/2026/11/story-{i:04d}</loc></url>" for i in range(ARTICLES))
            body = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'.encode()
            self.send_body(200, body, "application/xml")
        elif self.path.startswith("/news/2026/11/story-"):
            index = int(self.path.rsplit("-", 1)[1])
            time.sleep(PAGE_DELAY)
            with self.lock:
                type(self).served += 1
            own = f'<link rel="canonical" href="{base}{self.path}">'.encode()
            html = self.templates[index % len(self.templates)].replace(b"<head>", b"<head>" + own, 1)
            self.send_body(200, html, "text/html; charset=utf-8")
        else:
            self.send_body(404, b"", "text/plain")


def _templates() -> list[bytes]:
    """Golden pages without their own canonical address, with a plain <head> to put one in."""
    out = []
    for name in ("klaten-flashback", "dagblad-oost-dijk", "rheinland-kurier-stahlwerk", "diario-del-sur-sequia"):
        html = (PAGES / name / "page.html").read_bytes()
        html = html.replace(b'rel="canonical"', b'rel="was-canonical"').replace(b'property="og:url"', b'property="x"')
        if b"<head>" in html:
            out.append(html)
    return out


@pytest.fixture
def slow_site() -> Iterator[str]:
    SlowSite.templates = _templates()
    assert len(SlowSite.templates) >= 2
    with serve_site(SlowSite) as base:
        yield base


def _ingest(tmp_path: Path, site: str, db: Path) -> subprocess.Popen[str]:
    tmp_path.mkdir(exist_ok=True)
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f'[[sources]]\nname = "slow"\nsitemaps = ["{site}/sitemap.xml"]\nmax_articles_per_run = {ARTICLES}\n'
        "requests_per_second = 0\nper_host_concurrency = 4\nrespect_robots = false\n"
        'allowed_private_networks = ["127.0.0.0/8"]\n'
    )
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "NEWSFLOW_BATCH_SIZE": "4",
           "NEWSFLOW_EXTRACT_WORKERS": "1", "PREFECT_LOGGING_LEVEL": "WARNING"}  # fmt: skip
    env.pop("PREFECT_API_URL", None)  # ephemeral mode: the file lock, not a server's lease, guards the writer
    script = Path(sys.executable).with_name("newsflow")
    command = [str(script), "ingest", "--sources", str(sources), "--db", str(db)]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )


def _ingest_until_served(tmp_path: Path, site: str, db: Path, pages: int) -> subprocess.Popen[str]:
    """An ingest run, returned once the site has served ``pages`` article pages (it is still running)."""
    SlowSite.served = 0
    run = _ingest(tmp_path, site, db)
    deadline = time.monotonic() + 240
    while SlowSite.served < pages and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run.poll() is None, "the run ended too soon: make the site slower"
    return run


def _finish(process: subprocess.Popen[str]) -> None:
    out, _ = process.communicate(timeout=300)
    assert process.returncode == 0, out


def _kill_tree(process: subprocess.Popen[str]) -> None:
    """SIGKILL the run and everything it started (its group, and any child that left it)."""
    family = psutil.Process(process.pid).children(recursive=True)
    os.killpg(process.pid, signal.SIGKILL)
    for child in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    process.wait(timeout=30)
    psutil.wait_procs(family, timeout=30)


_COLUMNS = (
    "url_key, canonical_url, url, title, authors, published_at, modified_at, language, site_name, section, tags, "
    "description, body_text, headings, word_count, content_hash, extractor_version, simhash, duplicate_of, source"
)


def _contents(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            "articles": con.execute(f"SELECT {_COLUMNS} FROM articles ORDER BY url_key").fetchall(),
            "pages": con.execute("SELECT url_key, html_sha256 FROM pages ORDER BY url_key").fetchall(),
            "versions": con.execute("SELECT url_key, content_hash FROM article_versions ORDER BY url_key").fetchall(),
        }


def test_sigkill_mid_run_then_rerun_equals_a_clean_run(tmp_path: Path, slow_site: str) -> None:
    seed = int(os.environ.get("NEWSFLOW_CRASH_SEED", time.time_ns() % 100_000))
    print(f"NEWSFLOW_CRASH_SEED={seed}")
    kill_after = random.Random(seed).randint(6, ARTICLES - 6)  # article pages served before the kill

    crashed_db = tmp_path / "crashed.duckdb"
    victim = _ingest_until_served(tmp_path / "crashed", slow_site, crashed_db, kill_after)
    _kill_tree(victim)

    # what the kill left is a readable database holding only whole batches
    if crashed_db.exists():
        partial = _contents(crashed_db)
        print(f"killed after {kill_after} pages served: {len(partial['articles'])} articles committed")
        assert len(partial["articles"]) < ARTICLES
        assert len(partial["pages"]) == len({k for k, _ in partial["pages"]})

    # the clean run (its own database and Prefect home) runs beside the rerun: the kill above is the only
    # step that counts the site's requests
    clean_db = tmp_path / "clean.duckdb"
    clean_run = _ingest(tmp_path / "clean", slow_site, clean_db)
    _finish(_ingest(tmp_path / "crashed", slow_site, crashed_db))
    _finish(clean_run)
    clean = _contents(clean_db)
    assert len(clean["articles"]) == ARTICLES
    assert _contents(crashed_db) == clean
    # the killed run could not record its end; the rerun on this host found its process gone
    with duckdb.connect(str(crashed_db), read_only=True) as con:
        runs = con.execute("SELECT status, pid, error FROM runs ORDER BY started_at").fetchall()
    assert [status for status, _, _ in runs] == ["crashed", "completed"]
    assert runs[0][1] == victim.pid and "ended without finishing" in str(runs[0][2])
    # every stored page can still be re-extracted: the body files its rows name are whole
    keys = [str(key) for key, _ in clean["pages"]]
    assert {p.body for p in stored_pages(crashed_db, keys)} == {p.body for p in stored_pages(clean_db, keys)}


def test_only_runs_whose_process_is_gone_count_as_crashed(tmp_path: Path) -> None:
    db = str(tmp_path / "runs.duckdb")
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    sleeping = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    here, started = socket.gethostname(), datetime.now(UTC)
    try:
        for run_id, host, pid in [
            ("dead-here", here, finished.pid),
            ("alive-here", here, sleeping.pid),
            ("mine", here, os.getpid()),
            ("dead-elsewhere", "another-host", finished.pid),  # its process cannot be checked from here
        ]:
            record_run(db, RunRecord(run_id, "ingest", started, "running", "{}", host=host, pid=pid))
        assert crashed_runs(db, here, os.getpid()) == ["dead-here"]
    finally:
        sleeping.kill()
        sleeping.wait()


def test_ctrl_c_at_a_random_point_cancels_the_run_and_a_rerun_completes_it(tmp_path: Path, slow_site: str) -> None:
    """SIGINT to the whole process group (a terminal's Ctrl-C) while batches are fetched, extracted and
    committed: exit 130 within seconds, the run recorded as cancelled, no process left; the rerun lands
    the rest exactly once."""
    seed = int(os.environ.get("NEWSFLOW_CRASH_SEED", time.time_ns() % 100_000))
    print(f"NEWSFLOW_CRASH_SEED={seed}")
    stop_after = random.Random(seed).randint(6, ARTICLES - 6)
    db = tmp_path / "news.duckdb"
    run = _ingest_until_served(tmp_path / "run", slow_site, db, stop_after)
    signalled = time.monotonic()
    os.killpg(run.pid, signal.SIGINT)
    out, _ = run.communicate(timeout=60)
    assert time.monotonic() - signalled < 20, out
    assert run.returncode == 130, out
    assert "Traceback" not in out, out
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _group_alive(run.pid):
        time.sleep(0.2)
    assert not _group_alive(run.pid)
    with duckdb.connect(str(db), read_only=True) as con:
        runs = con.execute("SELECT status, error FROM runs").fetchall()
    assert runs == [("cancelled", "interrupted by SIGINT")]
    _finish(_ingest(tmp_path / "run", slow_site, db))
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT url_key) FROM articles").fetchone() == (ARTICLES, ARTICLES)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
