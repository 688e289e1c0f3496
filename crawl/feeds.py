"""Article URLs from RSS/Atom/JSON feeds (feedparser), and feeds a page points to.

Pure functions on fetched bytes: no network.  feedparser is given only
documents that declare no XML entities (``crawl.payloads``).
"""

from __future__ import annotations

import calendar
import json
from datetime import UTC, datetime
from urllib.parse import urljoin

import feedparser
import lxml.html

from crawl.payloads import maybe_gunzip, refuse_entities
from extractors.errors import FeedError, InvalidURL
from extractors.records import Discovered, FetchedPage
from extractors.urls import normalize_url

_FEED_TYPES = ("application/rss+xml", "application/atom+xml", "application/feed+json", "application/json")


def _entry_date(entry: feedparser.FeedParserDict) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    return None


def _json_feed(page: FetchedPage, body: bytes) -> list[Discovered]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise FeedError(page.final_url, f"not a readable JSON Feed: {error}") from error
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise FeedError(page.final_url, "JSON Feed has no items list")
    found = []
    for item in items:
        if not isinstance(item, dict):
            continue
        link = item.get("url") or item.get("external_url") or item.get("id")
        published = None
        if isinstance(item.get("date_published"), str):
            try:
                published = datetime.fromisoformat(item["date_published"].replace("Z", "+00:00")).astimezone(UTC)
            except ValueError:
                published = None
        if isinstance(link, str):
            try:
                found.append(Discovered(normalize_url(link, base=page.final_url), published, "feed"))
            except InvalidURL:
                continue
    return found


def article_entries_from_feed(page: FetchedPage, max_bytes: int = 10 * 1024 * 1024) -> list[Discovered]:
    """Entry links of a fetched feed, normalised, in feed order, with their dates."""
    body = maybe_gunzip(page.body, page.final_url, max_bytes)
    if body.lstrip()[:1] == b"{":
        return _json_feed(page, body)
    refuse_entities(body, page.final_url)
    parsed = feedparser.parse(body, response_headers={"content-location": page.final_url})
    entries = parsed.get("entries") or []
    if not entries:
        problem = parsed.get("bozo_exception")
        reason = f"not a readable feed: {problem}" if problem else "feed has no entries"
        raise FeedError(page.final_url, reason)
    found: list[Discovered] = []
    for entry in entries:
        link = entry.get("link") or entry.get("id")
        if not isinstance(link, str):
            continue
        try:
            found.append(Discovered(normalize_url(link, base=page.final_url), _entry_date(entry), "feed"))
        except InvalidURL:
            continue  # one bad entry must not cost the rest of the feed
    return found


def feed_links_from_page(page: FetchedPage) -> list[str]:
    """Feeds a page advertises with ``<link rel=alternate type=application/rss+xml …>``."""
    try:
        tree = lxml.html.document_fromstring(page.body)
    except (lxml.etree.ParserError, ValueError):
        return []
    found: dict[str, None] = {}
    for link in tree.iter("link"):
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        if "alternate" in (link.get("rel") or "").lower().split() and link.get("href") and kind in _FEED_TYPES:
            try:
                found.setdefault(normalize_url(urljoin(page.final_url, link.get("href", ""))), None)
            except InvalidURL:
                continue
    return list(found)
