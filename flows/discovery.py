"""Discovery for one source: feeds, sitemaps (indexes walked) and start pages, through one fetcher.

Start pages give article links and the feeds they advertise; feeds give
entries; sitemaps come from the source or, when it lists none, from the
``Sitemap:`` lines of robots.txt.  Every document is fetched conditionally
when its validators are known, and a 304 simply contributes nothing new.
The result is every article URL found — normalised, deduplicated, filtered
by the source's patterns and date window, newest first — plus the documents
fetched and the failures met, as values.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time

from extractors.errors import FeedError, NewsflowError
from extractors.records import Attempt, Discovered, Failure, FetchedPage, NotModified, Validators
from flows.feeds import article_entries_from_feed, feed_links_from_page
from flows.fetcher import Fetcher
from flows.links import article_links_from_page
from flows.sitemaps import read_sitemap
from flows.sources import Source

MAX_SITEMAPS = 50
"""Sitemap documents read per source and run (an index of indexes can be huge)."""


@dataclass(frozen=True, slots=True)
class DiscoveryResult:
    articles: tuple[Discovered, ...]
    documents: tuple[FetchedPage | NotModified, ...]
    failures: tuple[Failure, ...]
    robots: tuple[Attempt, ...] = ()
    """robots.txt requests made on the way (not failures of the run, whatever they returned)."""


@dataclass(frozen=True, slots=True)
class Window:
    """Publication dates a backfill wants (either end open)."""

    since: datetime | None = None
    until: datetime | None = None

    @property
    def open(self) -> bool:
        return self.since is None and self.until is None

    def admits(self, when: datetime | None) -> bool:
        if self.open:
            return True
        if when is None:
            return False  # a backfill cannot tell whether an undated URL belongs to it
        return (self.since is None or when >= self.since) and (self.until is None or when < self.until)


class _Run:
    def __init__(self, fetcher: Fetcher, validators: Mapping[str, Validators]) -> None:
        self.fetcher = fetcher
        self.validators = validators
        self.documents: list[FetchedPage | NotModified] = []
        self.failures: list[Failure] = []

    async def get(self, url: str, expect: str) -> FetchedPage | None:
        result = await self.fetcher.fetch(url, "html" if expect == "html" else "feed", self.validators.get(url))
        if isinstance(result, Failure):
            self.failures.append(dataclasses.replace(result, stage="discover"))
            return None
        self.documents.append(result)
        return result if isinstance(result, FetchedPage) else None

    def fail(self, error: NewsflowError) -> None:
        self.failures.append(Failure.from_error("discover", error))


async def discover(
    source: Source, fetcher: Fetcher, validators: Mapping[str, Validators], window: Window | None = None
) -> DiscoveryResult:
    """Every article URL the source's feeds, sitemaps and start pages list (not yet filtered for known ones)."""
    window = window or Window()
    run = _Run(fetcher, validators)
    robots_seen = len(fetcher.robots_log)  # a run's fetcher may have served other sources before
    found: list[Discovered] = []
    feeds = list(source.feeds)

    for start in source.start_urls:
        page = await run.get(start, "html")
        if page is not None:
            found += [Discovered(url, None, "page") for url in article_links_from_page(page)]
            feeds += [f for f in feed_links_from_page(page) if f not in feeds]

    if source.archive_urls and window.since is not None and window.until is not None:
        # a dated archive page lists that day's articles: their date is the page's day
        for archive, day in source.archive_pages(window.since.date(), window.until.date()):
            page = await run.get(archive, "html")
            if page is not None:
                noon = datetime.combine(day, time(12), UTC)
                found += [Discovered(url, noon, "archive") for url in article_links_from_page(page)]

    for feed in feeds:
        page = await run.get(feed, "feed")
        if page is None:
            continue
        try:
            found += article_entries_from_feed(page, fetcher.policy.max_bytes)
        except NewsflowError as error:
            run.fail(error)

    sitemaps = list(source.sitemaps)
    if not sitemaps and source.robots_sitemaps:
        for seed in [*source.start_urls, *source.feeds]:
            rules = await fetcher.robots.for_url(seed)
            sitemaps += [s for s in rules.sitemaps if s not in sitemaps]
    found += await _walk_sitemaps(run, sitemaps, window)

    return DiscoveryResult(
        _select(source, found, window),
        tuple(run.documents),
        tuple(run.failures),
        tuple(fetcher.robots_log[robots_seen:]),
    )


async def _walk_sitemaps(run: _Run, roots: list[str], window: Window) -> list[Discovered]:
    found: list[Discovered] = []
    queue = list(roots)
    seen: set[str] = set()
    while queue and len(seen) < MAX_SITEMAPS:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        page = await run.get(url, "feed")
        if page is None:
            continue
        try:
            document = read_sitemap(page, run.fetcher.policy.max_bytes)
        except NewsflowError as error:
            run.fail(error)
            continue
        found += document.articles
        for child in document.children:
            if child.url in seen or child.url == url:
                run.fail(FeedError(url, f"sitemap index lists {child.url}, which was already read (a loop); skipped"))
                continue
            # an index child last changed before the window cannot hold articles from inside it
            if window.since is not None and child.published is not None and child.published < window.since:
                continue
            queue.append(child.url)
    return found


def _select(source: Source, found: list[Discovered], window: Window) -> tuple[Discovered, ...]:
    unique: dict[str, Discovered] = {}
    for item in found:
        if not source.wants(item.url) or not window.admits(item.published):
            continue
        if item.url not in unique or (unique[item.url].published is None and item.published is not None):
            unique[item.url] = item
    items = list(unique.values())
    dated = sorted((i for i in items if i.published), key=lambda i: i.published or datetime.min, reverse=True)
    return tuple(dated + [i for i in items if i.published is None])
