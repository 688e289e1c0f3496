"""Article URLs from RSS/Atom/JSON feeds (feedparser), as pure functions."""

from __future__ import annotations

import feedparser

from extractors.errors import FeedError, InvalidURL
from extractors.records import FetchedPage
from extractors.urls import normalize_url


def article_urls_from_feed(page: FetchedPage) -> list[str]:
    """Entry links of a fetched feed, normalised and in feed order."""
    parsed = feedparser.parse(page.body, response_headers={"content-location": page.final_url})
    entries = parsed.get("entries") or []
    if not entries:
        problem = parsed.get("bozo_exception")
        reason = f"not a readable feed: {problem}" if problem else "feed has no entries"
        raise FeedError(page.final_url, reason)
    urls: list[str] = []
    for entry in entries:
        link = entry.get("link") or entry.get("id")
        if not isinstance(link, str):
            continue
        try:
            urls.append(normalize_url(link, base=page.final_url))
        except InvalidURL:
            continue  # one bad entry must not cost the rest of the feed
    return urls
