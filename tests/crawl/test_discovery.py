"""Discovery as pure functions: feeds, sitemaps, start-page links, and the guards around them."""

from __future__ import annotations

import gzip
import ipaddress
from datetime import UTC, datetime

import pytest

from crawl.discovery import Window, _select
from crawl.feeds import article_entries_from_feed, feed_links_from_page
from crawl.links import article_links_from_page, looks_like_article
from crawl.netguard import AddressPolicy
from crawl.pacing import HostPacer
from crawl.robots import parse_robots
from crawl.sitemaps import read_sitemap
from crawl.sources import Source
from extractors.errors import FeedError, TooLarge
from extractors.records import FetchedPage


def _page(body: bytes | str, url: str = "https://news.example/feed.xml") -> FetchedPage:
    data = body.encode() if isinstance(body, str) else body
    return FetchedPage(url, url, 200, (("content-type", "application/xml"),), data, datetime.now(UTC))


NEWS_SITEMAP = """<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>https://news.example/a/older-story-here</loc><lastmod>2026-05-02T10:00:00Z</lastmod></url>
<url><loc>https://news.example/a/newest-story-here?utm_source=x</loc>
  <news:news><news:publication_date>2026-05-03T08:00:00+07:00</news:publication_date></news:news>
  <lastmod>2026-04-01</lastmod></url>
<url><loc>https://news.example/a/undated-story-here</loc></url>
</urlset>"""


def test_news_sitemap_newest_first_with_publication_dates() -> None:
    document = read_sitemap(_page(NEWS_SITEMAP))
    assert [d.url for d in document.articles] == [
        "https://news.example/a/newest-story-here",
        "https://news.example/a/older-story-here",
        "https://news.example/a/undated-story-here",
    ]
    newest = {d.url: d.published for d in document.articles}["https://news.example/a/newest-story-here"]
    assert newest == datetime(2026, 5, 3, 1, 0, tzinfo=UTC)  # news:publication_date wins over lastmod


def test_gzipped_sitemap_index_lists_children_newest_first() -> None:
    index = """<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
    <sitemap><loc>https://news.example/s/2026-01.xml.gz</loc><lastmod>2026-01-31</lastmod></sitemap>
    <sitemap><loc>https://news.example/s/2026-03.xml.gz</loc><lastmod>2026-03-31</lastmod></sitemap>
    </sitemapindex>"""
    document = read_sitemap(_page(gzip.compress(index.encode()), "https://news.example/sitemap.xml.gz"))
    assert [c.url for c in document.children] == [
        "https://news.example/s/2026-03.xml.gz", "https://news.example/s/2026-01.xml.gz",
    ]  # fmt: skip
    assert document.articles == ()


def test_text_sitemap_and_non_sitemap() -> None:
    text = read_sitemap(_page("https://news.example/a/one-two-three\nhttps://news.example/a/four-five-six\n"))
    assert len(text.articles) == 2
    with pytest.raises(FeedError, match="not a sitemap"):
        read_sitemap(_page('<?xml version="1.0"?><rss version="2.0"></rss>'))


def test_gzip_bomb_sitemap_is_refused() -> None:
    bomb = gzip.compress(b"<urlset>" + b" " * 5_000_000 + b"</urlset>")
    with pytest.raises(TooLarge):
        read_sitemap(_page(bomb), max_bytes=1_000_000)


def test_external_entity_feed_is_refused() -> None:
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<rss version="2.0"><channel><item><link>https://news.example/&x;</link></item></channel></rss>'
    )
    with pytest.raises(FeedError, match="entities"):
        article_entries_from_feed(_page(xxe))


def test_rss_atom_and_json_feeds_give_dated_entries() -> None:
    rss = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        "<item><link>https://news.example/a/first-story-today?utm_medium=rss</link>"
        "<pubDate>Tue, 12 May 2026 09:30:00 +0700</pubDate></item></channel></rss>"
    )
    entries = article_entries_from_feed(_page(rss))
    assert entries[0].url == "https://news.example/a/first-story-today"
    assert entries[0].published == datetime(2026, 5, 12, 2, 30, tzinfo=UTC)
    json_feed = (
        '{"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "url": "/a/json-item-here", '
        '"date_published": "2026-05-12T10:00:00Z"}]}'
    )
    items = article_entries_from_feed(_page(json_feed, "https://news.example/feed.json"))
    assert [(i.url, i.published) for i in items] == [
        ("https://news.example/a/json-item-here", datetime(2026, 5, 12, 10, 0, tzinfo=UTC))
    ]


def test_start_page_links_keep_articles_only() -> None:
    html = """<html><head><link rel="alternate" type="application/rss+xml" href="/rss.xml"></head><body>
    <a href="/">Home</a><a href="/politik/">Politik</a><a href="/tag/wahlen/">Wahlen</a>
    <a href="/politik/landtag-beschliesst-neues-schulgesetz-4471.html">Landtag</a>
    <a href="https://www.news.example/2026/05/12/flut/">Flut</a>
    <a href="/login">Login</a><a href="/media/photo.jpg">Foto</a>
    <a href="https://other.example/some-long-article-slug">Elsewhere</a>
    <a href="/politik/landtag-beschliesst-neues-schulgesetz-4471.html#comments">again</a></body></html>"""
    page = FetchedPage("https://news.example/", "https://news.example/", 200, (), html.encode(), datetime.now(UTC))
    assert article_links_from_page(page) == [
        "https://news.example/politik/landtag-beschliesst-neues-schulgesetz-4471.html",
        "https://www.news.example/2026/05/12/flut/",
    ]
    assert feed_links_from_page(page) == ["https://news.example/rss.xml"]
    assert not looks_like_article("https://news.example/category/sport/")


def test_backfill_window_keeps_dated_urls_inside_it() -> None:
    source = Source(name="s", sitemaps=["https://news.example/s.xml"])
    found = list(read_sitemap(_page(NEWS_SITEMAP)).articles)
    window = Window(datetime(2026, 5, 2, 12, tzinfo=UTC), datetime(2026, 5, 4, tzinfo=UTC))
    chosen, left_out = _select(source, found, window)
    assert [d.url for d in chosen] == ["https://news.example/a/newest-story-here"]
    assert (left_out.outside_window, left_out.undated, left_out.excluded) == (1, 1, 0)
    assert left_out.reasons() == ["1 dated outside 2026-05-02..2026-05-03", "1 undated (a window needs a date)"]
    everything, nothing = _select(source, found, Window())
    assert len(everything) == 3 and nothing.reasons() == []
    patterned = Source(name="s", sitemaps=["https://news.example/s.xml"], exclude=["undated"])
    assert _select(patterned, found, Window())[1].excluded == 1


@pytest.mark.parametrize(
    ("address", "allowed", "permitted"),
    [
        ("93.184.216.34", (), True),
        ("127.0.0.1", (), False),
        ("10.1.2.3", (), False),
        ("172.16.0.1", (), False),
        ("192.168.1.1", (), False),
        ("169.254.169.254", (), False),
        ("100.64.0.1", (), False),
        ("0.0.0.0", (), False),
        ("224.0.0.1", (), False),
        ("::1", (), False),
        ("fe80::1", (), False),
        ("fd00::1", (), False),
        ("::ffff:127.0.0.1", (), False),
        ("127.0.0.1", ("127.0.0.0/8",), True),
        ("::ffff:127.0.0.1", ("127.0.0.0/8",), True),
        ("169.254.169.254", ("127.0.0.0/8",), False),
    ],
)
def test_address_policy(address: str, allowed: tuple[str, ...], permitted: bool) -> None:
    assert AddressPolicy.allowing(allowed).permits(ipaddress.ip_address(address)) is permitted


def test_robots_rules_follow_rfc_9309() -> None:
    rules = parse_robots(200, b"User-agent: *\nDisallow: /private/\nCrawl-delay: 3\nSitemap: https://x.example/s.xml\n")
    assert not rules.allows("https://x.example/private/a", "newsflow")
    assert rules.allows("https://x.example/public/a", "newsflow")
    assert rules.crawl_delay("newsflow") == 3.0 and rules.sitemaps == ["https://x.example/s.xml"]
    assert parse_robots(404, b"").allows("https://x.example/anything", "newsflow")
    assert not parse_robots(503, b"").allows("https://x.example/anything", "newsflow")
    assert not parse_robots(None, b"", "timed out").allows("https://x.example/anything", "newsflow")


def test_pacer_spaces_starts_per_host() -> None:
    pacer = HostPacer()
    waits = [pacer.reserve("a.example", 0.5) for _ in range(3)]
    assert waits[0] == 0.0 and waits[1] >= 0.5 and waits[2] >= 1.0
    assert pacer.reserve("b.example", 0.5) == 0.0  # another host has its own schedule
