"""Metadata fallbacks: publication dates in the page's own offset (``published_local``), htmldate where
newsflow's own reading finds no date, and trafilatura's byline search where it names no person."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from extractors import ExtractOptions, extract_html
from extractors.records import FetchedPage
from storage.writer import Extracted, store_batch

BODY = "<p>" + "A sentence of plain article text that goes on for a while. " * 8 + "</p>"


def _page(head: str, body: str = "") -> bytes:
    document = f"<html><head><title>Story</title>{head}</head><body><article>{body}{BODY * 3}</article></body></html>"
    return document.encode()


def test_the_page_own_offset_and_day_are_kept() -> None:
    ld = '<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2026-05-12T06:30:00+07:00"}'
    article = extract_html(_page(ld + "</script>"), "https://news.example/a")
    assert article.published_at == datetime(2026, 5, 11, 23, 30, tzinfo=UTC)  # the day before, in UTC
    assert article.published_local == "2026-05-12T06:30:00+07:00"
    assert article.to_json_dict()["published_local"] == "2026-05-12T06:30:00+07:00"


def test_a_time_without_zone_takes_the_source_zone_and_a_bare_day_has_no_local_time() -> None:
    timed = extract_html(_page('<meta property="article:published_time" content="2026-05-12T06:30:00">'),
                         "https://news.example/a", ExtractOptions(timezone="Asia/Jakarta"))  # fmt: skip
    assert timed.published_local == "2026-05-12T06:30:00+07:00"
    day = extract_html(_page('<meta property="article:published_time" content="2026-05-12">'), "https://news.example/a")
    assert day.published_at is not None and day.published_local is None


def test_htmldate_finds_the_day_where_no_markup_states_it() -> None:
    article = extract_html(_page(""), "https://news.example/2025/03/14/a-story-with-its-day-in-the-path/")
    assert article.published_at is not None and article.published_at.date().isoformat() == "2025-03-14"
    assert dict(article.provenance)["published_at"] == "htmldate"
    assert article.published_local is None


def test_a_page_without_any_date_stays_undated() -> None:
    article = extract_html(_page(""), "https://news.example/a-story")
    assert article.published_at is None and "published_at" not in dict(article.provenance)


def test_dates_in_scripts_and_styles_are_not_the_page_date() -> None:
    # a script bundle's build date and a state blob's other stories: htmldate's extensive search would read them
    code = ('<script>window.__STATE__ = {"build": "2019-03-04T10:00:00", "next": "March 4, 2019"};</script>'
            '<style>.badge::after { content: "2018-02-03"; }</style>')  # fmt: skip
    article = extract_html(_page(code, code), "https://news.example/a-story")
    assert article.published_at is None


def test_htmldate_still_reads_json_ld_in_the_body() -> None:
    # newsflow's own reading takes JSON-LD dates first; htmldate is handed the documents it cannot (a @graph
    # node without a type newsflow reads) and reads their dates
    ld = '<script type="application/ld+json">{"@graph": [{"@type": "WebPage", "datePublished": "2021-05-06"}]}</script>'
    article = extract_html(_page("", ld), "https://news.example/a-story")
    assert article.published_at is not None and article.published_at.date().isoformat() == "2021-05-06"


def test_published_local_is_stored(tmp_path: Path) -> None:
    ld = '<script type="application/ld+json">{"@type": "NewsArticle", "datePublished": "2026-05-12T06:30:00+07:00"}'
    html = _page(ld + "</script>")
    url = "https://news.example/a"
    page = FetchedPage(url=url, final_url=url, status=200, headers=(), body=html, fetched_at=datetime.now(UTC))
    article = extract_html(html, url)
    db = tmp_path / "news.duckdb"
    store_batch(db, "run", [page], [Extracted(page, article)], [])
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT published_local FROM articles").fetchone() == ("2026-05-12T06:30:00+07:00",)


def _site_page(byline: str) -> bytes:
    head = '<meta property="og:site_name" content="Example News"><meta name="author" content="Example News">'
    return _page(head, f"<h1>Story</h1>{byline}")


def test_a_byline_names_the_person_where_meta_gives_only_the_site() -> None:
    article = extract_html(_site_page('<div class="author-info"><a rel="author" href="/authors/jd">Jane Doe</a></div>'),
                           "https://news.example/a")  # fmt: skip
    assert article.authors == ("Jane Doe",)
    assert dict(article.provenance)["authors"] == "html"


def test_the_site_name_stays_when_no_person_is_named() -> None:
    article = extract_html(_site_page(""), "https://news.example/a")
    assert article.authors == ("Example News",)


_TEMPLATE_LD = '<script type="application/ld+json">{"@type": "BlogPosting", "datePublished": "%s"}</script>'


def _headline_page(published: str, under_headline: str, later: str = "") -> bytes:
    return _page(_TEMPLATE_LD % published, f"<h1>Story</h1><p class='dek'>What it is about.</p>{under_headline}{later}")


def _day(html: bytes) -> str | None:
    article = extract_html(html, "https://news.example/a")
    return article.published_at.date().isoformat() if article.published_at else None


def test_the_date_shown_under_the_headline_wins_over_a_template_date() -> None:
    html = _headline_page("2025-06-24", "<div class='meta'>Jane Doe <span>August 25, 2024</span></div>")
    article = extract_html(html, "https://news.example/a")
    assert article.published_at == datetime(2024, 8, 25, tzinfo=UTC)
    assert dict(article.provenance)["published_at"] == "text" and article.published_local is None


def test_the_published_label_wins_over_an_updated_one() -> None:
    row = "<div>By Jane Doe, Updated Aug 21, 2025 · Published Apr 26, 2023</div>"
    assert _day(_headline_page("2025-08-21", row)) == "2023-04-26"


def test_an_update_shown_under_the_headline_does_not_replace_the_publication_day() -> None:
    for label in ("Updated", "Last updated:", "Updated on", "Aktualisiert am"):
        assert _day(_headline_page("2021-08-12T10:00:00+00:00", f"<div>{label} 22.02.2025</div>")) == "2021-08-12"


def test_a_machine_time_on_the_shown_day_is_kept() -> None:
    article = extract_html(_headline_page("2024-08-25T09:15:00-04:00", "<time>Aug 25, 2024</time>"), "https://x.example/a")
    assert article.published_local == "2024-08-25T09:15:00-04:00"
    assert dict(article.provenance)["published_at"] == "jsonld"


def test_dates_in_boxes_and_far_below_the_headline_are_not_the_page_date() -> None:
    related = "<div class='related-posts'><a href='/b'>Another story</a> <span>March 3, 2019</span></div>"
    assert _day(_headline_page("2024-01-10", related)) == "2024-01-10"
    far = "<p>" + "Words of the article itself. " * 30 + "It happened on May 5, 2001.</p>"
    assert _day(_headline_page("2024-01-10", far)) == "2024-01-10"


def test_a_day_and_month_read_the_other_way_round_keeps_the_machine_date() -> None:
    assert _day(_headline_page("2024-09-10", "<div>By Jane Doe 09.10.2024</div>")) == "2024-09-10"


def test_a_page_with_only_a_shown_date_gets_it() -> None:
    assert _day(_page("", "<h1>Story</h1><div>Posted on 3 March 2026</div>")) == "2026-03-03"


def test_the_headline_is_found_by_the_title_where_the_page_has_no_h1() -> None:
    head = '<meta property="og:title" content="How to plan a garden">'
    body = "<h2 class='post-title'>How to plan a garden</h2><div>by Jane Doe on Jan 22, 2025</div>"
    article = extract_html(_page(head, body), "https://news.example/a")
    assert article.published_at == datetime(2025, 1, 22, tzinfo=UTC)
    assert dict(article.provenance)["published_at"] == "text"  # read as the headline's, not by htmldate


def test_a_date_row_above_the_headline_counts() -> None:
    body = "<a href='/blog'>Back to blog</a><div>Dec 12, 2025 · 4 min read</div><h1>Story</h1><p>Intro.</p>"
    article = extract_html(_page("", body), "https://news.example/a")
    assert article.published_at == datetime(2025, 12, 12, tzinfo=UTC)
    assert dict(article.provenance)["published_at"] == "text"


def test_a_page_that_shows_only_its_update_is_dated_by_it() -> None:
    article = extract_html(_page("", "<h1>Story</h1><div>By Jane Doe · Updated May 6, 2025</div>"), "https://x.example/a")
    assert article.published_at == datetime(2025, 5, 6, tzinfo=UTC) == article.modified_at
    assert dict(article.provenance)["published_at"] == "text"
