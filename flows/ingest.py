"""The ``ingest`` Prefect flow: sources, feeds and URLs in, articles in DuckDB out.

The flow is thin orchestration over batch tasks (never one task per URL):
per source, discover (feeds, sitemaps, start pages) → drop URLs already stored
→ per batch: fetch (conditional when validators are known) → extract → store,
then a run record.  Per-URL problems become ``Failure`` values recorded in
``fetches``; only infrastructure problems (the database) fail a task, and
only transient ones are retried.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from extractors import ExtractOptions, extract_article
from extractors.errors import ExtractionError, InvalidURL, NewsflowError
from extractors.records import Failure, FetchedPage, NotModified, Validators
from extractors.urls import normalize_url
from flows.discovery import DiscoveryResult, Window, discover
from flows.fetcher import Fetcher, FetchPolicy, FetchResult, fetch_all, run_sync
from flows.runs import IngestReport, RunBook, SourceReport
from flows.session import fetch_session, session_for
from flows.settings import load_settings
from flows.sources import Source, load_sources, select_sources
from flows.writer_guard import single_writer
from storage.lookups import known_urls, validators_for
from storage.writer import BatchCounts, Extracted, store_batch, store_discovery


@dataclass(frozen=True, slots=True)
class Work:
    """What one source (or the URLs given by hand) contributes to a run."""

    name: str | None
    policy: FetchPolicy
    options: ExtractOptions
    urls: list[str]
    skipped: int
    discovery: DiscoveryResult | None


def _only_transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Retry a batch task only for transient infrastructure errors (a locked database)."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, NewsflowError) and error.transient


#: How every task that writes the database is retried: only for transient infrastructure errors
#: (a locked database); per-URL retries live in the fetcher.
STORE_RETRIES: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "retries": 3,
    "retry_delay_seconds": [2, 5, 15],
    "retry_condition_fn": _only_transient,
}


def _batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


@task(name="discover-source", cache_policy=NO_CACHE)
def discover_source(
    source: Source, policy: FetchPolicy, validators: dict[str, Validators], window: Window, run_id: str | None = None
) -> DiscoveryResult:
    """Fetch a source's start pages, feeds and sitemaps and list the article URLs they name."""
    session = session_for(run_id)
    if session is not None:
        return session.run(discover(source, session.fetcher(policy), validators, window))

    async def main() -> DiscoveryResult:
        async with Fetcher(policy) as fetcher:
            return await discover(source, fetcher, validators, window)

    return run_sync(main())


@task(name="fetch-batch", cache_policy=NO_CACHE)
def fetch_batch(
    urls: list[str], policy: FetchPolicy, validators: dict[str, Validators], run_id: str | None = None
) -> list[FetchResult]:
    """Fetch one batch through the run's client (or a client of its own outside a run)."""
    session = session_for(run_id)
    if session is not None:
        return session.run(session.fetcher(policy).fetch_many(urls, "html", validators))
    return fetch_all(urls, policy, expect="html", validators=validators)


@task(name="extract-batch", cache_policy=NO_CACHE)
def extract_batch(pages: list[FetchedPage], options: ExtractOptions) -> tuple[list[Extracted], list[Failure]]:
    extracted: list[Extracted] = []
    failures: list[Failure] = []
    for page in pages:
        try:
            extracted.append(Extracted(page, extract_article(page, options)))
        except ExtractionError as error:
            # report the URL that was asked for, which is what the fetch log is keyed on
            failures.append(dataclasses.replace(Failure.from_error("extract", error), url=page.url))
    return extracted, failures


@task(name="store-batch", **STORE_RETRIES)
def store_batch_task(
    db: str,
    run_id: str,
    pages: list[FetchedPage],
    extracted: list[Extracted],
    failures: list[Failure],
    not_modified: list[NotModified],
    source: str | None,
) -> BatchCounts:
    return store_batch(db, run_id, pages, extracted, failures, not_modified, source)


@task(name="store-discovery", **STORE_RETRIES)
def store_discovery_task(
    db: str, run_id: str, source: str | None, result: DiscoveryResult, remember_versions: bool
) -> None:
    store_discovery(db, run_id, source, result.documents, result.failures, remember_versions, result.robots)


def _normalise_inputs(urls: Sequence[str]) -> tuple[list[str], list[Failure]]:
    seen: dict[str, None] = {}
    failures = []
    for raw in urls:
        try:
            seen.setdefault(normalize_url(raw), None)
        except InvalidURL as error:
            failures.append(Failure.from_error("discover", error))
    return list(seen), failures


def window_for(since: date | None, until: date | None, until_inclusive: bool = False) -> Window:
    """Publication dates from ``since`` (inclusive) to ``until`` (exclusive, or inclusive if asked), UTC days."""

    def start(day: date | None) -> datetime | None:
        return datetime.combine(day, time.min, UTC) if day else None

    end = until + timedelta(days=1) if until and until_inclusive else until
    return Window(start(since), start(end))


def plan_source(
    source: Source,
    base: FetchPolicy,
    db: str,
    window: Window,
    refresh: bool,
    max_articles: int | None = None,
    run_id: str | None = None,
) -> Work:
    """Discover a source's article URLs and choose the ones to fetch: unseen (unless refresh), newest first."""
    policy = source.fetch_policy(base)
    seeds = [*source.start_urls, *source.feeds, *source.sitemaps]
    result = discover_source(source, policy, validators_for(db, seeds), window, run_id)
    found = [d.url for d in result.articles]
    known = set() if refresh else known_urls(db, found)
    fresh = [u for u in found if u not in known]
    chosen = fresh[: max_articles or source.max_articles_per_run]
    return Work(source.name, policy, source.extract_options(), chosen, len(found) - len(chosen), result)


def plan_urls(urls: Sequence[str], policy: FetchPolicy, options: ExtractOptions) -> tuple[Work, list[Failure]]:
    """URLs given by hand: always fetched (conditionally when stored before)."""
    wanted, bad = _normalise_inputs(urls)
    return Work(None, policy, options, wanted, 0, None), bad


def crawl(book: RunBook, work: list[Work], batch_size: int, progress: bool = False) -> None:
    """Fetch, extract and store every planned URL in batches; count per source in ``book``."""
    handled: set[str] = set()
    planned = []
    for item in work:
        # a URL that two sources (or a source and the URL list) name is fetched once per run
        planned.append(dataclasses.replace(item, urls=[u for u in item.urls if u not in handled]))
        handled.update(planned[-1].urls)
    book.requested = sum(len(item.urls) for item in planned)
    if progress:
        book.track_progress(sum(-(-len(item.urls) // batch_size) for item in planned))
    for item in planned:
        with book.source(item.name or "urls") as report:
            report.discovered = len(item.discovery.articles) if item.discovery else len(item.urls)
            report.skipped = item.skipped
            _crawl_one(book, item, batch_size, report)


def _crawl_one(book: RunBook, item: Work, batch_size: int, report: SourceReport) -> None:
    logger = book.logger
    name = item.name or "urls"
    logger.info("%s: %d article URLs to fetch, %d skipped (known or over the cap)", name, len(item.urls), item.skipped)
    transient = False
    for batch in _batches(item.urls, batch_size):
        results = fetch_batch(batch, item.policy, validators_for(book.db, batch), book.run_id)
        pages = [r for r in results if isinstance(r, FetchedPage)]
        unchanged = [r for r in results if isinstance(r, NotModified)]
        fetch_failures = [r for r in results if isinstance(r, Failure)]
        extracted, extract_failures = extract_batch(pages, item.options)
        failures = fetch_failures + extract_failures
        # the writer slot is taken here, in the flow, around the store task: taken inside a task run,
        # Prefect hands it back only after the task run ends, which costs the next writer seconds
        with single_writer(book.db):
            counts = store_batch_task(book.db, book.run_id, pages, extracted, failures, unchanged, item.name)
        report.fetched += len(pages)
        report.new += counts.new
        report.updated += counts.updated
        report.unchanged += counts.unchanged
        report.not_modified += counts.not_modified
        report.failures.update(f.outcome for f in failures)
        transient = transient or any(f.transient for f in failures)
        for failure in failures:
            logger.warning("%s failed at %s: %s (%s)", failure.url, failure.stage, failure.reason, failure.outcome)
        logger.info("%s batch: %d fetched, %d new, %d updated, %d unchanged, %d not modified, %d failed",
                    name, len(pages), counts.new, counts.updated, counts.unchanged, counts.not_modified,
                    len(failures))  # fmt: skip
        book.batch_done()
    if item.discovery is not None:
        # remember the feeds' and sitemaps' versions only when every article landed or failed for good:
        # after a transient failure the next run must see the same entries again
        with single_writer(book.db):
            store_discovery_task(book.db, book.run_id, item.name, item.discovery, not transient)
        report.failures.update(f.outcome for f in item.discovery.failures)
        for failure in item.discovery.failures:
            logger.warning("%s failed at discovery: %s (%s)", failure.url, failure.reason, failure.outcome)


@flow(name="ingest", log_prints=False)
def ingest(
    sources: list[str] | None = None,
    sources_file: str | None = None,
    urls: list[str] | None = None,
    feeds: list[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    refresh: bool = False,
    db: str | None = None,
) -> IngestReport:
    """Discover, fetch and extract news articles and store them in DuckDB (the scheduled flow).

    Args:
        sources: Names of sources in the sources file to crawl; empty means every source in the file.
        sources_file: Path of the sources file (default: NEWSFLOW_SOURCES).
        urls: Extra article page URLs to fetch (always fetched, conditionally when stored before).
        feeds: Extra RSS/Atom/JSON feed URLs whose entries are fetched as articles.
        since: Only articles published on or after this date (URLs without a date are left out).
        until: Only articles published before this date.
        refresh: Fetch discovered URLs again although they are stored (conditional requests).
        db: Path of the DuckDB file (default: NEWSFLOW_DB or ./newsflow.duckdb).
    """
    settings = load_settings()
    db_path = db or settings.db
    book = RunBook("ingest", db_path, {
        "sources": sources or [], "sources_file": sources_file, "urls": urls or [], "feeds": feeds or [],
        "since": since, "until": until, "refresh": refresh, "db": db_path,
    })  # fmt: skip
    book.start()
    try:
        with fetch_session(book.run_id):  # one HTTP client per fetch policy for the whole run
            base = FetchPolicy.from_settings(settings)
            window = window_for(since, until)
            work: list[Work] = []
            path = sources_file or settings.sources
            if path and (sources or not (urls or feeds)):
                chosen = select_sources(load_sources(path), sources)
                book.remember_sources(chosen)
                for source in chosen:
                    work.append(plan_source(source, base, db_path, window, refresh, run_id=book.run_id))
            if feeds:
                # feeds given by hand: just their entries, not the whole site's sitemaps
                adhoc = Source(
                    name="adhoc", feeds=list(feeds), allowed_private_networks=list(base.allowed_networks),
                    respect_robots=base.respect_robots, timezone=settings.timezone, robots_sitemaps=False,
                )  # fmt: skip
                planned = plan_source(adhoc, base, db_path, window, refresh, run_id=book.run_id)
                unpaced = dataclasses.replace(planned.policy, requests_per_second=None)
                work.append(dataclasses.replace(planned, policy=unpaced))
            bad: list[Failure] = []
            if urls:
                by_hand, bad = plan_urls(urls, base, ExtractOptions(timezone=settings.timezone))
                work.append(by_hand)
            if bad:
                with single_writer(db_path):
                    store_batch_task(db_path, book.run_id, [], [], bad, [], None)
            crawl(book, work, settings.batch_size)
            if bad:
                with book.source("invalid") as report:
                    report.failures.update(f.outcome for f in bad)
    except NewsflowError as error:
        book.fail(error)
        raise
    return book.finish()
