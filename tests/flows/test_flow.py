"""The ``ingest`` and ``reindex`` flows under Prefect's test harness, against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json

import pytest

from flows.demo_server import demo_article_paths
from flows.ingest import ingest
from flows.reindex import reindex
from storage.connection import read_connection
from storage.queries import run_query
from storage.search import index_state, search
from tests.golden import load_expected

pytestmark = pytest.mark.usefixtures("prefect_harness", "fast_fetch")


def test_demo_feed_lands_every_article_and_a_rerun_adds_nothing(site: str, db_path: str) -> None:
    report = ingest(feeds=[f"{site}/feed.xml"], db=db_path)
    articles = len(demo_article_paths())
    assert (report.requested, report.new, report.failed) == (articles, articles, 0)
    assert run_query(db_path, "SELECT count(*) FROM articles").rows == ((articles,),)

    klaten = load_expected("klaten-flashback")
    row = run_query(
        db_path,
        "SELECT title, authors, section, tags, strftime(published_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ'), "
        f"len(related_links) FROM articles WHERE canonical_url = '{klaten['canonical_url']}'",
    ).rows
    assert row == ((klaten["title"], klaten["authors"], klaten["section"], klaten["tags"], klaten["published_at"], 2),)

    # the rerun asks for the feed conditionally: 304, nothing new to fetch
    again = ingest(feeds=[f"{site}/feed.xml"], db=db_path)
    assert (again.requested, again.new, again.updated, again.failed) == (0, 0, 0, 0)
    feed_rows = run_query(db_path, f"SELECT outcome FROM fetches WHERE url = '{site}/feed.xml' ORDER BY fetched_at")
    assert [r[0] for r in feed_rows.rows] == ["fetched", "not_modified"]
    # a refresh asks for every stored article conditionally: 304s, no extraction, no new rows
    refreshed = ingest(urls=[f"{site}{path}" for path in demo_article_paths()], refresh=True, db=db_path)
    assert (refreshed.not_modified, refreshed.new, refreshed.fetched) == (articles, 0, 0)
    assert run_query(db_path, "SELECT count(*) FROM articles").rows == ((articles,),)
    assert run_query(db_path, "SELECT count(*) FROM pages").rows == ((articles,),)
    runs = run_query(db_path, "SELECT status, new, not_modified FROM runs ORDER BY started_at").rows
    assert runs == (("completed", articles, 0), ("completed", 0, 0), ("completed", 0, articles))


def test_failing_urls_are_recorded_and_the_rest_land(site: str, db_path: str) -> None:
    good = f"{site}/science/city-council-approves-river-restoration-plan/"
    urls = [
        f"{site}/fault/500",
        f"{site}/fault/slow",
        f"{site}/fault/404",
        f"{site}/fault/pdf",
        f"{site}/fault/empty",
        good,
        "ftp://nope",
    ]
    report = ingest(urls=urls, db=db_path)
    assert report.new == 1
    assert report.failures == {"http_error": 2, "timeout": 1, "not_html": 1, "no_content": 1, "invalid_url": 1}
    last = "QUALIFY row_number() OVER (PARTITION BY url ORDER BY attempt DESC) = 1"
    outcomes = dict(run_query(db_path, f"SELECT url, outcome FROM fetches {last}").rows)
    assert outcomes[f"{site}/fault/500"] == "http_error"
    assert outcomes[f"{site}/fault/slow"] == "timeout"
    assert outcomes[good] == "new"
    errors = dict(run_query(db_path, f"SELECT url, error FROM fetches WHERE error IS NOT NULL {last}").rows)
    assert errors[f"{site}/fault/500"] == "HTTP 500"
    assert "timed out" in str(errors[f"{site}/fault/slow"])
    run = run_query(db_path, "SELECT status, failed, failures FROM runs").rows[0]
    assert run[0] == "completed" and run[1] == 6 and json.loads(str(run[2]))["timeout"] == 1
    # the page whose text could not be extracted is kept for a later re-extraction
    assert run_query(db_path, f"SELECT count(*) FROM pages WHERE url = '{site}/fault/empty'").rows == ((1,),)


def test_feed_with_failing_entries(site: str, db_path: str) -> None:
    report = ingest(feeds=[f"{site}/fault/feed.xml", f"{site}/fault/404"], db=db_path)
    assert report.new == 1
    assert report.failures == {"http_error": 2, "timeout": 1}


def test_ingest_leaves_the_search_index_to_reindex_which_builds_it_once(site: str, db_path: str) -> None:
    ingest(feeds=[f"{site}/feed.xml"], db=db_path)
    articles = len(demo_article_paths())
    with read_connection(db_path) as con:
        before = index_state(con)
    # the run did not pay for a build over the whole corpus
    assert (before.built_at, before.behind) == (None, articles)

    built = reindex(db=db_path)
    assert (built.rebuilt, built.articles) == (True, articles)
    again = reindex(db=db_path)
    assert (again.rebuilt, again.built_at) == (False, built.built_at)
    klaten = load_expected("klaten-flashback")
    assert search(db_path, "Qatar mediation")[0].url == klaten["canonical_url"]
    assert run_query(db_path, "SELECT articles FROM search_index_builds").rows == ((articles,),)
