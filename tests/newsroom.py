"""A news site whose articles change between runs, served on 127.0.0.1, for tests of discovery over sequences of runs.

Like a real site it lists its articles in several overlapping, incomplete ways:
the home page links the newest few and advertises the feed, the feed holds
the newest few, and a sitemap index points at one sitemap per month (with or
without ``lastmod``).  Every document and page answers conditional requests
by its ETag, so a 304 is exactly as cheap — and as dangerous — as on a real site.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime
from typing import ClassVar

from flows.demo_server import DemoSiteHandler, serve_site

HOME_LINKS = 4
FEED_ITEMS = 3


@dataclass
class Newsroom:
    """The site's articles (slug -> publication time, UTC) and how its sitemap index is written."""

    articles: dict[str, datetime] = field(default_factory=dict)
    index_lastmod: bool = True
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, published: datetime) -> str:
        with self.lock:
            slug = f"story-{len(self.articles):03d}-{published:%Y%m%d%H%M}"
            self.articles[slug] = published
            return slug

    def newest(self) -> list[tuple[str, datetime]]:
        with self.lock:
            return sorted(self.articles.items(), key=lambda item: (item[1], item[0]), reverse=True)


class NewsroomHandler(DemoSiteHandler):
    newsroom: ClassVar[Newsroom]

    def route(self, path: str) -> bool:
        base, articles = self.base_url, self.newsroom.newest()
        if path == "/robots.txt":
            body, kind = b"User-agent: *\nAllow: /\n", "text/plain"
        elif path == "/":
            newest = articles[:HOME_LINKS]
            links = "".join(f'<li><a href="{base}/news/{slug}/">Story {slug}</a></li>' for slug, _ in newest)
            body = (
                f'<html><head><title>Newsroom</title><link rel="alternate" type="application/rss+xml" '
                f'href="{base}/feed.xml"></head><body><ul>{links}</ul><a href="{base}/about">About</a></body></html>'
            ).encode()
            kind = "text/html; charset=utf-8"
        elif path == "/feed.xml":
            items = "".join(
                f"<item><title>{slug}</title><link>{base}/news/{slug}/</link>"
                f"<pubDate>{format_datetime(when)}</pubDate></item>"
                for slug, when in articles[:FEED_ITEMS]
            )
            body = f'<?xml version="1.0"?><rss version="2.0"><channel><title>N</title>{items}</channel></rss>'.encode()
            kind = "application/rss+xml"
        elif path == "/sitemap.xml":
            months: dict[str, datetime] = {}
            for _, when in articles:
                months.setdefault(f"{when:%Y-%m}", when)  # newest first: the month's newest article
            entries = "".join(
                f"<sitemap><loc>{base}/sitemaps/{month}.xml</loc>"
                + (f"<lastmod>{newest.isoformat()}</lastmod>" if self.newsroom.index_lastmod else "")
                + "</sitemap>"
                for month, newest in months.items()
            )
            body = f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{entries}</sitemapindex>'.encode()
            kind = "application/xml"
        elif path.startswith("/sitemaps/") and path.endswith(".xml"):
            month = path.removeprefix("/sitemaps/").removesuffix(".xml")
            urls = "".join(
                f"<url><loc>{base}/news/{slug}/</loc><lastmod>{when.isoformat()}</lastmod></url>"
                for slug, when in articles
                if f"{when:%Y-%m}" == month
            )
            body = f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{urls}</urlset>'.encode()
            kind = "application/xml"
        elif path.startswith("/news/"):
            slug = path.removeprefix("/news/").strip("/")
            when = dict(articles).get(slug)
            if when is None:
                self.send_body(404, b"gone", "text/html")
                return True
            body, kind = article_page(base, slug, when), "text/html; charset=utf-8"
        else:
            self.send_body(404, b"not here", "text/html")
            return True
        self.send_tagged(body, kind)
        return True

    def send_tagged(self, body: bytes, kind: str) -> None:
        """200 with an ETag of the content, or 304 when the request names it."""
        etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
        if etag in [t.strip() for t in (self.headers.get("If-None-Match") or "").split(",")]:
            self.send_body(304, b"", kind, {"ETag": etag})
        else:
            self.send_body(200, body, kind, {"ETag": etag})


def article_page(base: str, slug: str, when: datetime) -> bytes:
    """A plain article page whose stated publication time is the one the feed and sitemaps give."""
    number = int(slug.split("-")[1])
    paragraphs = "".join(
        f"<p>Report {number}, part {i}: the council of district {number} met on {when:%d %B %Y} to discuss "
        f"item {i * 7 + number} of its agenda, which residents had raised at {i + 2} public meetings.</p>"
        for i in range(5)
    )
    return (
        f'<html><head><title>Council meets on item {number}</title><link rel="canonical" href="{base}/news/{slug}/">'
        f'<meta property="article:published_time" content="{when.isoformat()}"></head><body><article>'
        f"<h1>Council meets on item {number}</h1>{paragraphs}</article></body></html>"
    ).encode()


@contextmanager
def serve_newsroom(newsroom: Newsroom) -> Iterator[str]:
    """Serve ``newsroom`` on a free port of 127.0.0.1; yields the base URL."""
    handler = type("BoundNewsroomHandler", (NewsroomHandler,), {"newsroom": newsroom})
    with serve_site(handler) as base_url:
        yield base_url


def newsroom_sources(base_url: str, name: str = "newsroom", max_articles_per_run: int = 200) -> str:
    """A sources file naming the site by its home page and sitemap index (the feed only as the home page says)."""
    return f"""
[[sources]]
name = "{name}"
start_urls = ["{base_url}/"]
sitemaps = ["{base_url}/sitemap.xml"]
requests_per_second = 0
per_host_concurrency = 4
max_articles_per_run = {max_articles_per_run}
allowed_private_networks = ["127.0.0.0/8"]
"""
