"""A hostile web, one run: every fault route of the test server in a single ingest, against 127.0.0.1.

The run must finish, record each fault's outcome in ``fetches``, and store
the good URLs of the same run.  No test here can reach an address outside
127.0.0.0/8: the connect step of the test suite fails loudly on any other
address (``tests/conftest.py``), so a broken address guard fails the test.
"""

from __future__ import annotations

from typing import Any

import pytest

from flows.ingest import IngestReport, ingest
from storage.queries import run_query
from tests.conftest import FaultySiteHandler, LoopbackOnlyBackend

pytestmark = pytest.mark.usefixtures("prefect_harness")

GOOD = "/science/city-council-approves-river-restoration-plan/"
FEED_ARTICLE = "/business/port-strike-ends-after-wage-deal/"
FAULT_URLS = {
    "/fault/429-once/": "new",
    "/fault/503-once/": "new",
    "/fault/slow": "timeout",
    "/fault/reset": "connection_error",
    "/fault/truncated": "connection_error",
    "/fault/huge": "too_large",
    "/fault/gzip-bomb": "too_large",
    "/fault/pdf": "not_html",
    "/fault/cp1252/": "new",
    "/fault/loop-a": "too_many_redirects",
    "/fault/to-metadata": "blocked_address",
    "/fault/to-private": "blocked_address",
    "/fault/bad-redirect": "invalid_url",
    "/fault/disallowed/secret-plans-revealed": "skipped_robots",
}


@pytest.fixture(scope="module")
def hostile_run(site: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[IngestReport, str, str]:
    folder = tmp_path_factory.mktemp("faults")
    db = str(folder / "faults.duckdb")
    sources = folder / "sources.toml"
    sources.write_text(
        f"""
[[sources]]
name = "faults"
feeds = ["{site}/fault/laughs.xml", "{site}/fault/feed.xml"]
sitemaps = ["{site}/fault/sitemap-self.xml"]
requests_per_second = 50
per_host_concurrency = 4
allowed_private_networks = ["127.0.0.0/8"]
""",
        encoding="utf-8",
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NEWSFLOW_TIMEOUT", "1.0")
        env.setenv("NEWSFLOW_RETRIES", "1")
        env.setenv("NEWSFLOW_BACKOFF", "0.05")
        report = ingest(
            urls=[f"{site}{path}" for path in FAULT_URLS] + [f"{site}{GOOD}"],
            sources_file=str(sources),
            sources=["faults"],
            db=db,
        )
    return report, db, site


def _final_outcomes(db: str) -> dict[str, Any]:
    rows = run_query(
        db,
        "SELECT url, outcome FROM fetches QUALIFY row_number() OVER (PARTITION BY url ORDER BY attempt DESC) = 1",
    ).rows
    return dict(rows)


@pytest.mark.parametrize(("path", "outcome"), list(FAULT_URLS.items()))
def test_each_fault_is_recorded_with_its_outcome(
    hostile_run: tuple[IngestReport, str, str], path: str, outcome: str
) -> None:
    _, db, site = hostile_run
    assert _final_outcomes(db)[f"{site}{path}"] == outcome


def test_the_run_finishes_and_the_good_urls_land(hostile_run: tuple[IngestReport, str, str]) -> None:
    report, db, site = hostile_run
    assert run_query(db, "SELECT status FROM runs").rows == (("completed",),)
    stored = {row[0] for row in run_query(db, "SELECT url FROM articles").rows}
    # a plain URL, an entry of a feed that also lists failing URLs, one from a sitemap index that loops
    assert {f"{site}{GOOD}", f"{site}{FEED_ARTICLE}"} <= stored
    assert f"{site}/fault/429-once/" in stored and f"{site}/fault/503-once/" in stored
    assert report.new == len(stored)


def test_retry_after_is_honoured_and_every_attempt_is_recorded(hostile_run: tuple[IngestReport, str, str]) -> None:
    _, db, site = hostile_run
    attempts = run_query(
        db, f"SELECT attempt, status, outcome FROM fetches WHERE url = '{site}/fault/429-once/' ORDER BY attempt"
    ).rows
    assert attempts == ((1, 429, "http_error"), (2, 200, "new"))
    times = [at for at, path in FaultySiteHandler.log if path == "/fault/429-once/"]
    assert len(times) == 2 and times[1] - times[0] >= 0.95  # Retry-After: 1


def test_a_page_in_windows_1252_declared_only_in_meta_decodes(hostile_run: tuple[IngestReport, str, str]) -> None:
    _, db, _ = hostile_run
    title = run_query(db, "SELECT title FROM articles WHERE canonical_url LIKE '%cafe-prices-up%'").rows
    assert title == (("Café prices up 20 € – Harbour Gazette",),) or title == (("Café prices up 20 €",),)


def test_redirects_to_private_addresses_never_connect(hostile_run: tuple[IngestReport, str, str]) -> None:
    _, db, site = hostile_run
    assert LoopbackOnlyBackend.attempted == []
    error = run_query(db, f"SELECT error FROM fetches WHERE url = '{site}/fault/to-metadata'").rows[0][0]
    assert "169.254.169.254" in str(error)


def test_robots_disallowed_url_is_never_requested(hostile_run: tuple[IngestReport, str, str]) -> None:
    assert "/fault/disallowed/secret-plans-revealed" not in FaultySiteHandler.requests


def test_hostile_feeds_and_sitemaps_are_refused_not_expanded(hostile_run: tuple[IngestReport, str, str]) -> None:
    _, db, site = hostile_run
    sql = "SELECT url, error FROM fetches WHERE stage = 'discover' AND outcome = 'feed_error'"
    rows = dict(run_query(db, sql).rows)
    assert "entities" in str(rows[f"{site}/fault/laughs.xml"])
    assert "loop" in str(rows[f"{site}/fault/sitemap-self.xml"])
