"""Discovery for one source: feeds, sitemaps (indexes walked) and start pages, through one fetcher.

Start pages give article links and the feeds they advertise; feeds give
entries; sitemaps come from the source or, when it lists none, from the
``Sitemap:`` lines of robots.txt; dated archive pages serve backfill windows.
The result is every article URL found — normalised, deduplicated, filtered
by the source's patterns and date window, newest first — plus the documents
fetched, what each document read in full listed, and the failures met, as values.

When a discovery document may be asked for conditionally
--------------------------------------------------------
A 304 on a feed, sitemap, sitemap index, start page or archive page must only
ever mean "nothing here that has not been dealt with".  So a document's
validators are kept (``discovery_state``, per source and URL) only for a
version read in full of which **every article entry was dealt with** when the
run ended: its article is stored, or its URL failed for good, or the source's
own include/exclude patterns leave it out.  An entry a run chose not to fetch
— dated outside its window, undated in a windowed run, over its cap — or that
failed transiently is not dealt with: that version is not kept, any older
state of the document is dropped, and the next run reads it in full and sees
those entries again.  Whether a version is kept is decided from what the
database holds after the run (``storage.writer.store_discovery``), never from
what the run meant to do, so no window, cap, refresh, explicit URL list or
crash can advance it past an entry it skipped.

It follows that a kept version holds nothing any run could still want in
``new`` mode, whatever its window.  A ``refresh`` wants the stored entries
too, so it sends no validators for discovery documents; nor is a state used
when the rules that chose the entries changed (the source's patterns, or
``DISCOVERY_RULES``).  Documents that lead to others keep that list: a sitemap
index its sitemaps, a start page the feeds it advertises.  On a 304 they are
still followed, each child under its own state — a sitemap index is settled
per child sitemap.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta

from crawl.feeds import article_entries_from_feed, feed_links_from_page
from crawl.fetcher import Expect, Fetcher
from crawl.links import article_links_from_page
from crawl.sitemaps import read_sitemap
from crawl.sources import Source
from extractors.errors import FeedError, NewsflowError
from extractors.records import (
    Attempt,
    Discovered,
    DocumentRead,
    DocumentState,
    Failure,
    FetchedPage,
    NotModified,
)

MAX_SITEMAPS = 50
"""Sitemap documents read per source and run (an index of indexes can be huge)."""

DISCOVERY_RULES = 1
"""Version of the code that decides what a document lists (link heuristics, feed and sitemap reading).
Raise it when that changes: states kept under the old rules are then not used, and documents are read in full."""


def rules_fingerprint(source: Source) -> str:
    """What decided which entries of a source's documents count: its patterns and the discovery rules."""
    rules = {"include": source.include, "exclude": source.exclude, "discovery": DISCOVERY_RULES}
    return hashlib.sha256(json.dumps(rules, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class LeftOut:
    """Discovered article URLs (each counted once) that a run did not fetch, by why."""

    excluded: int = 0
    """By the source's include/exclude patterns."""
    outside_window: int = 0
    """Dated, but not inside the run's window."""
    undated: int = 0
    """No date anywhere, in a windowed run (which cannot tell whether they belong to it)."""
    known: int = 0
    """Already stored, or failed for good (a refresh asks for these again)."""
    over_cap: int = 0
    """Over the run's cap (``max_articles``, or the source's ``max_articles_per_run``), newest first."""
    cap: int | None = None
    window: str = ""
    """The run's window (``Window.__str__``)."""
    settled: int = 0
    """Discovery documents that answered 304: every entry they list was dealt with before."""

    def reasons(self) -> list[str]:
        """Each reason that left something out, as a reader of the run's summary wants it."""
        lines = [
            (self.outside_window, f"dated outside {self.window}"),
            (self.undated, "undated (a window needs a date)"),
            (self.over_cap, f"over max_articles ({self.cap})"),
            (self.known, "already stored or failed for good"),
            (self.excluded, "excluded by the source's patterns"),
            (self.settled, "feeds, sitemaps or pages unchanged since all they list was stored (304)"),
        ]
        return [f"{count} {why}" for count, why in lines if count]


@dataclass(frozen=True, slots=True)
class DiscoveryResult:
    articles: tuple[Discovered, ...]
    documents: tuple[FetchedPage | NotModified, ...]
    failures: tuple[Failure, ...]
    robots: tuple[Attempt, ...] = ()
    """robots.txt requests made on the way (not failures of the run, whatever they returned)."""
    read: tuple[DocumentRead, ...] = ()
    """The documents read in full, with every entry they listed (whether the run takes it or not)."""
    left_out: LeftOut = field(default_factory=LeftOut)


@dataclass(frozen=True, slots=True)
class Window:
    """Publication dates a backfill wants (either end open)."""

    since: datetime | None = None
    until: datetime | None = None

    @property
    def open(self) -> bool:
        return self.since is None and self.until is None

    def __str__(self) -> str:
        """The window as days, both inclusive: ``2026-03-01..2026-04-30`` (an open end left empty)."""
        first = f"{self.since:%Y-%m-%d}" if self.since else ""
        last = f"{self.until - timedelta(days=1):%Y-%m-%d}" if self.until else ""
        return f"{first}..{last}"

    def admits(self, when: datetime | None) -> bool:
        if self.open:
            return True
        if when is None:
            return False  # a backfill cannot tell whether an undated URL belongs to it
        return (self.since is None or when >= self.since) and (self.until is None or when < self.until)


class _Run:
    def __init__(self, fetcher: Fetcher, source: Source, states: Mapping[str, DocumentState]) -> None:
        self.fetcher = fetcher
        self.source = source
        self.states = states
        self.documents: list[FetchedPage | NotModified] = []
        self.failures: list[Failure] = []
        self.read: list[DocumentRead] = []

    async def get(self, url: str, expect: Expect) -> FetchedPage | NotModified | None:
        """The document in full, or NotModified when its kept state is current (only then are validators sent)."""
        state = self.states.get(url)
        result = await self.fetcher.fetch(url, expect, state.validators if state else None)
        if isinstance(result, Failure):
            self.failures.append(dataclasses.replace(result, stage="discover"))
            return None
        self.documents.append(result)
        return result

    def children(self, url: str) -> tuple[Discovered, ...]:
        """What a document that answered 304 leads to, as its kept state lists it."""
        state = self.states.get(url)
        return state.children if state else ()

    def listed(
        self, page: FetchedPage, entries: list[Discovered], children: tuple[Discovered, ...] = ()
    ) -> list[Discovered]:
        """Record what a document read in full lists; returns its entries for the run to choose from."""
        wanted = tuple(dict.fromkeys(e.url for e in entries if self.source.wants(e.url)))
        self.read.append(DocumentRead(page.url, page.validators, wanted, children))
        return entries

    def fail(self, error: NewsflowError) -> None:
        self.failures.append(Failure.from_error("discover", error))


async def discover(
    source: Source, fetcher: Fetcher, states: Mapping[str, DocumentState], window: Window | None = None
) -> DiscoveryResult:
    """Every article URL the source's feeds, sitemaps and start pages list (not yet filtered for known ones).

    ``states``: the kept state of the source's documents that may be asked for conditionally (see the module's
    docstring); a document without one is read in full.
    """
    window = window or Window()
    run = _Run(fetcher, source, states)
    robots_seen = len(fetcher.robots_log)  # a run's fetcher may have served other sources before
    found: list[Discovered] = []
    feeds = list(source.feeds)

    for start in source.start_urls:
        page = await run.get(start, "html")
        if isinstance(page, FetchedPage):
            advertised = tuple(Discovered(f, None, "feed-link") for f in feed_links_from_page(page))
            found += run.listed(page, [Discovered(url, None, "page") for url in article_links_from_page(page)],
                                advertised)  # fmt: skip
        else:
            advertised = run.children(start) if page is not None else ()
        feeds += [f.url for f in advertised if f.url not in feeds]

    if source.archive_urls and window.since is not None and window.until is not None:
        # a dated archive page lists that day's articles: their date is the page's day
        for archive, day in source.archive_pages(window.since.date(), window.until.date()):
            page = await run.get(archive, "html")
            if isinstance(page, FetchedPage):
                noon = datetime.combine(day, time(12), UTC)
                found += run.listed(page, [Discovered(url, noon, "archive") for url in article_links_from_page(page)])

    for feed in feeds:
        page = await run.get(feed, "feed")
        if not isinstance(page, FetchedPage):
            continue
        try:
            found += run.listed(page, article_entries_from_feed(page, fetcher.policy.max_bytes))
        except NewsflowError as error:
            run.fail(error)

    sitemaps = list(source.sitemaps)
    if not sitemaps and source.robots_sitemaps:
        for seed in [*source.start_urls, *source.feeds]:
            rules = await fetcher.robots.for_url(seed)
            sitemaps += [s for s in rules.sitemaps if s not in sitemaps]
    found += await _walk_sitemaps(run, sitemaps, window)

    articles, left_out = _select(source, found, window)
    left_out = dataclasses.replace(left_out, settled=sum(isinstance(d, NotModified) for d in run.documents))
    return DiscoveryResult(
        articles,
        tuple(run.documents),
        tuple(run.failures),
        tuple(fetcher.robots_log[robots_seen:]),
        tuple(run.read),
        left_out,
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
        if isinstance(page, NotModified):
            children = run.children(url)
        else:
            try:
                document = read_sitemap(page, run.fetcher.policy.max_bytes)
            except NewsflowError as error:
                run.fail(error)
                continue
            found += run.listed(page, list(document.articles), document.children)
            children = document.children
        for child in _in_window_order(children, window):
            if child.url in seen or child.url == url:
                run.fail(FeedError(url, f"sitemap index lists {child.url}, which was already read (a loop); skipped"))
                continue
            # an index child last changed before the window cannot hold articles from inside it
            if window.since is not None and child.published is not None and child.published < window.since:
                continue
            queue.append(child.url)
    return found


def _in_window_order(children: tuple[Discovered, ...], window: Window) -> list[Discovered]:
    """An index's sitemaps in the order to read them: newest first, but in a window that has an end, those
    last changed inside the window first, then the ones after it from the oldest — the sitemaps most likely to
    list the window's articles come before ``MAX_SITEMAPS`` is reached."""
    if window.until is None:
        return list(children)
    until = window.until

    def rank(child: Discovered) -> tuple[int, float]:
        if child.published is None:
            return (2, 0.0)
        if window.admits(child.published):
            return (0, -child.published.timestamp())
        return (1, child.published.timestamp()) if child.published >= until else (3, 0.0)

    return sorted(children, key=rank)


def _select(source: Source, found: list[Discovered], window: Window) -> tuple[tuple[Discovered, ...], LeftOut]:
    unique: dict[str, Discovered] = {}
    excluded: set[str] = set()
    dated: set[str] = set()
    for item in found:
        if not source.wants(item.url):
            excluded.add(item.url)
            continue
        if item.published is not None:
            dated.add(item.url)
        if not window.admits(item.published):
            continue
        if item.url not in unique or (unique[item.url].published is None and item.published is not None):
            unique[item.url] = item
    items = list(unique.values())
    newest = sorted((i for i in items if i.published), key=lambda i: i.published or datetime.min, reverse=True)
    left = {i.url for i in found} - excluded - set(unique)
    left_out = LeftOut(len(excluded), len(left & dated), len(left - dated), window=str(window))
    return tuple(newest + [i for i in items if i.published is None]), left_out
