"""Sitemaps as pure functions: urlsets, sitemap indexes, gzip, news sitemaps, text sitemaps.

``read_sitemap`` turns one fetched sitemap into article URLs (with
``news:publication_date`` or ``lastmod``) and child sitemaps, both newest
first.  Walking an index — and refusing one that points at itself — is the
caller's loop (``crawl.discovery``), which fetches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lxml import etree

from crawl.payloads import maybe_gunzip, parse_xml
from extractors.dates import parse_machine_date
from extractors.errors import FeedError, InvalidURL
from extractors.records import Discovered, FetchedPage
from extractors.urls import normalize_url


@dataclass(frozen=True, slots=True)
class SitemapDocument:
    articles: tuple[Discovered, ...]
    """Article URLs, newest first (undated ones last, in document order)."""
    children: tuple[Discovered, ...]
    """Child sitemaps of an index (with their ``lastmod``), newest first."""


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child_text(element: etree._Element, name: str) -> str | None:
    for child in element.iter():
        if _local(child.tag) == name and child.text and child.text.strip():
            return child.text.strip()
    return None


def _date(value: str | None) -> datetime | None:
    parsed = parse_machine_date(value, UTC)
    return parsed[0] if parsed else None


def _newest_first(items: list[tuple[str, datetime | None]]) -> list[tuple[str, datetime | None]]:
    dated = sorted((i for i in items if i[1] is not None), key=lambda i: i[1] or datetime.min, reverse=True)
    return dated + [i for i in items if i[1] is None]


def read_sitemap(page: FetchedPage, max_bytes: int = 10 * 1024 * 1024) -> SitemapDocument:
    """Article URLs and child sitemaps of one sitemap; FeedError when it is none."""
    body = maybe_gunzip(page.body, page.final_url, max_bytes)
    if body.lstrip()[:1] != b"<":
        # a text sitemap: one URL per line
        lines = [line.strip() for line in body.decode("utf-8", errors="replace").splitlines() if line.strip()]
        return SitemapDocument(tuple(_discovered([(line, None) for line in lines], page.final_url)), ())
    # strict, as search engines read sitemaps: a malformed one is refused whole, with the parser's reason
    try:
        root = parse_xml(body, page.final_url, strict=True)
    except FeedError as error:
        raise FeedError(page.final_url, f"invalid sitemap: {error.reason}") from error
    kind = _local(root.tag)
    if kind == "sitemapindex":
        found: list[tuple[str, datetime | None]] = []
        for child in root:
            loc = _child_text(child, "loc") if _local(child.tag) == "sitemap" else None
            if loc:
                found.append((loc, _date(_child_text(child, "lastmod"))))
        return SitemapDocument((), tuple(_discovered(_newest_first(found), page.final_url, "sitemap-index")))
    if kind != "urlset":
        raise FeedError(page.final_url, f"not a sitemap (root element <{kind or '?'}>)")
    entries = []
    for element in root:
        if _local(element.tag) != "url":
            continue
        url_loc = _child_text(element, "loc")
        if url_loc:
            # a news sitemap's publication date says more than lastmod, which moves on every edit
            when = _date(_child_text(element, "publication_date")) or _date(_child_text(element, "lastmod"))
            entries.append((url_loc, when))
    return SitemapDocument(tuple(_discovered(_newest_first(entries), page.final_url)), ())


def _discovered(entries: list[tuple[str, datetime | None]], base: str, via: str = "sitemap") -> list[Discovered]:
    found: dict[str, Discovered] = {}
    for loc, when in entries:
        try:
            url = normalize_url(loc, base=base)
        except InvalidURL:
            continue
        found.setdefault(url, Discovered(url, when, via))
    return list(found.values())
