"""Polite, incremental crawling of a source, end to end through the CLI and the flow."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.demo_server import DemoSiteHandler, demo_article_paths, demo_source_toml, serve_site
from flows.ingest import ingest
from storage.queries import run_query

pytestmark = pytest.mark.usefixtures("prefect_harness")
runner = CliRunner()


class LoggingHandler(DemoSiteHandler):
    """The demo site with an access log of its own."""

    log: ClassVar[list[float]] = []

    def route(self, path: str) -> bool:
        type(self).log.append(time.monotonic())
        return False


@pytest.fixture
def logged_site() -> Iterator[str]:
    LoggingHandler.log.clear()
    with serve_site(LoggingHandler) as base_url:
        yield base_url


def test_requests_per_second_is_never_exceeded(logged_site: str, tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(
        demo_source_toml(logged_site).replace("requests_per_second = 20", "requests_per_second = 2"), encoding="utf-8"
    )
    db = str(tmp_path / "rate.duckdb")
    report = ingest(sources_file=str(sources), sources=["demo"], db=db)
    assert report.new == len(demo_article_paths()) and report.failed == 0
    # robots.txt was asked once for the whole run, and that request is in the fetch log too
    robots = run_query(db, "SELECT url, status, outcome FROM fetches WHERE stage = 'robots'").rows
    assert robots == ((f"{logged_site}/robots.txt", 200, "robots"),)
    times = sorted(LoggingHandler.log)
    assert len(times) >= 10  # robots.txt, home page, feed, sitemap and six articles
    # no window of one second ever holds more than two requests
    assert all(sum(1 for t in times if start <= t < start + 1.0) <= 2 for start in times)


def test_cli_ingest_of_the_demo_source_then_an_incremental_rerun(site: str, tmp_path: Path) -> None:
    sources = tmp_path / "sources.toml"
    sources.write_text(demo_source_toml(site), encoding="utf-8")
    db = str(tmp_path / "demo.duckdb")
    args = ["ingest", "--sources", str(sources), "--source", "demo", "--db", db]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    articles = len(demo_article_paths())
    assert (report["new"], report["failed"]) == (articles, 0)
    via = dict(run_query(db, "SELECT stage, count(*) FROM fetches GROUP BY ALL").rows)
    assert via["discover"] >= 3  # home page, feed and sitemap were all read

    second = runner.invoke(app, args)
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)
    assert (again["new"], again["updated"], again["fetched"]) == (0, 0, 0)
    run_id = again["run_id"]
    outcomes = {r[0] for r in run_query(db, f"SELECT outcome FROM fetches WHERE run_id = '{run_id}'").rows}
    assert outcomes == {"not_modified"}  # home page, feed and sitemap answered 304 to conditional requests
    assert run_query(db, "SELECT count(*) FROM articles").rows == ((articles,),)
    assert run_query(db, "SELECT count(*) FROM pages").rows == ((articles,),)


def test_cli_reports_a_bad_sources_file_before_running(tmp_path: Path) -> None:
    bad = tmp_path / "sources.toml"
    bad.write_text(
        '[[sources]]\nname = "x"\nfeeds = ["https://x.example/f"]\nper_host_concurrency = 0\n', encoding="utf-8"
    )
    result = runner.invoke(app, ["ingest", "--sources", str(bad), "--db", str(tmp_path / "x.duckdb")])
    assert result.exit_code == 2
    assert str(bad) in result.stderr and "source 'x', field per_host_concurrency" in result.stderr
    missing = runner.invoke(app, ["ingest", "--source", "demo", "--db", str(tmp_path / "x.duckdb")])
    assert missing.exit_code == 2 and "sources file" in missing.stderr


def test_one_http_client_per_source_for_the_whole_run(
    site: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crawl import fetcher as fetcher_module

    created: list[object] = []
    original = fetcher_module.Fetcher.__init__

    def counting(self: fetcher_module.Fetcher, *args: object, **kwargs: object) -> None:
        created.append(self)
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fetcher_module.Fetcher, "__init__", counting)
    monkeypatch.setenv("NEWSFLOW_BATCH_SIZE", "3")  # the demo's articles take three batches
    sources = tmp_path / "sources.toml"
    sources.write_text(demo_source_toml(site), encoding="utf-8")
    report = ingest(sources_file=str(sources), sources=["demo"], refresh=True, db=str(tmp_path / "one.duckdb"))
    assert report.requested == len(demo_article_paths()) > 6
    assert len(created) == 1  # discovery and every fetch batch shared one client
