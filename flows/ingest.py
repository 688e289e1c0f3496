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
import gc
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar, cast

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.futures import PrefectFuture
from prefect.utilities.annotations import quote

from crawl.discovery import DiscoveryResult, LeftOut, Window, discover, rules_fingerprint
from crawl.fetcher import Fetcher, FetchPolicy, FetchResult, fetch_all, run_sync
from crawl.session import fetch_session, session_for
from crawl.settings import Settings, load_settings
from crawl.sources import Source, clean_names, load_sources, select_sources
from extractors import ExtractOptions
from extractors.errors import ConfigError, InvalidURL, NewsflowError
from extractors.records import DocumentState, Failure, FetchedPage, NotModified, Validators
from extractors.urls import normalize_url, url_problem
from flows.extraction_pool import PageResult, extract_all
from flows.parameters import Names, OptionalDay, OptionalText
from flows.runs import IngestReport, RunBook, SourceReport
from flows.timing import stage
from flows.writer_guard import WriterLease
from storage.lookups import CrawlState
from storage.staging import RunStaging, StagedBatch
from storage.writer import BatchCounts, Extracted, store_batch, store_discovery

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Work:
    """What one source (or the URLs given by hand) contributes to a run."""

    name: str | None
    policy: FetchPolicy
    options: ExtractOptions
    urls: list[str]
    skipped: int
    discovery: DiscoveryResult | None
    left_out: LeftOut = field(default_factory=LeftOut)
    """Discovered URLs not fetched, by why."""
    rules: str = ""
    """Fingerprint of the rules that chose the source's entries (``rules_fingerprint``)."""


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


def as_is(value: T) -> T:
    """``value`` handed to a task untouched: Prefect otherwise walks task arguments looking for futures,
    rebuilding every dataclass on the way (a batch holds hundreds of pages and none is a future)."""
    return cast(T, quote(value))


def result_of(future: PrefectFuture[T], writer: WriterLease | None = None) -> T:
    """The future's result; while it is not ready, ``writer`` gives back what it may no longer hold idle."""
    if writer is not None and writer.held:
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        writer.wait(done.wait)
    return future.result()


def _batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


@task(name="discover-source", cache_policy=NO_CACHE)
def discover_source(
    source: Source, policy: FetchPolicy, states: dict[str, DocumentState], window: Window, run_id: str | None = None
) -> DiscoveryResult:
    """Fetch a source's start pages, feeds and sitemaps and list the article URLs they name."""
    with stage(run_id, "discover"):
        session = session_for(run_id)
        if session is not None:
            return session.run(discover(source, session.fetcher(policy), states, window))

        async def main() -> DiscoveryResult:
            async with Fetcher(policy) as fetcher:
                return await discover(source, fetcher, states, window)

        return run_sync(main())


@task(name="fetch-batch", cache_policy=NO_CACHE)
def fetch_batch(
    urls: list[str], policy: FetchPolicy, validators: dict[str, Validators], run_id: str | None = None
) -> list[FetchResult]:
    """Fetch one batch through the run's client (or a client of its own outside a run)."""
    with stage(run_id, "fetch"):
        session = session_for(run_id)
        if session is not None:
            return session.run(session.fetcher(policy).fetch_many(urls, "html", validators))
        return fetch_all(urls, policy, expect="html", validators=validators)


def split_results(results: Sequence[PageResult]) -> tuple[list[Extracted], list[Failure]]:
    """Articles (with their packed pages) apart from the pages that gave none."""
    extracted: list[Extracted] = []
    failures: list[Failure] = []
    for result in results:
        if isinstance(result.outcome, Failure):
            failures.append(result.outcome)
        else:
            extracted.append(Extracted(result.page, result.outcome, result.packed))
    return extracted, failures


@task(name="extract-batch", cache_policy=NO_CACHE)
def extract_batch(
    pages: list[FetchedPage], options: ExtractOptions, workers: int = 0, run_id: str | None = None
) -> tuple[list[Extracted], list[Failure]]:
    """Extract one batch in the run's worker processes (``workers`` 0: in this process)."""
    with stage(run_id, "extract"):
        return split_results(extract_all(pages, options, workers))


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
    with stage(run_id, "store"):
        return store_batch(db, run_id, pages, extracted, failures, not_modified, source)


@task(name="stage-batch", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
def stage_task(staged: RunStaging, batch: StagedBatch) -> BatchCounts:
    """Write one batch to the staging area (a crawl worker; flows/merge.py stores it)."""
    with stage(staged.run_id, "store"):
        staged.write(batch)
    return staged.counts(batch)


@task(name="store-discovery", **STORE_RETRIES)
def store_discovery_task(db: str, run_id: str, source: str, result: DiscoveryResult, rules: str) -> int:
    """Log the discovery documents and keep the state of those whose every entry is now dealt with."""
    with stage(run_id, "store"):
        return store_discovery(db, run_id, source, result.documents, result.failures, result.read, rules, result.robots)


def _normalise_inputs(urls: Sequence[str]) -> tuple[list[str], list[Failure]]:
    seen: dict[str, None] = {}
    failures = []
    for raw in urls:
        try:
            seen.setdefault(normalize_url(raw), None)
        except InvalidURL as error:
            failures.append(Failure.from_error("discover", error))
    return list(seen), failures


def window_for(since: date | None, until: date | None) -> Window:
    """Publication dates from ``since`` to ``until``, both inclusive, as UTC days; a reversed window is a
    ConfigError (it would select nothing, silently)."""
    if since and until and since > until:
        raise ConfigError(f"since {since.isoformat()} is after until {until.isoformat()}: the window is empty")

    def start(day: date | None) -> datetime | None:
        return datetime.combine(day, time.min, UTC) if day else None

    return Window(start(since), start(until + timedelta(days=1) if until else None))


def plan_source(
    source: Source,
    base: FetchPolicy,
    state: CrawlState,
    window: Window,
    refresh: bool,
    max_articles: int | None = None,
    run_id: str | None = None,
    writer: WriterLease | None = None,
    keep: Callable[[str], bool] | None = None,
) -> Work:
    """Discover a source's article URLs and choose the ones to fetch: unseen (unless refresh), newest first.

    Discovery documents are asked for conditionally only under a kept state (crawl/discovery.py); a refresh
    wants every stored entry again, so it reads them all in full.  ``writer``: the run's lease on the
    database, given back if discovery outlasts the time it may be held.  ``keep``: a shard's share of the
    URLs (flows/shard.py), taken before the cap, so each share fetches up to the cap of its own.
    """
    policy = source.fetch_policy(base)
    if source.archive_only:
        return Work(source.name, policy, source.extract_options(), [], 0, None)  # for web archives alone
    states = {} if refresh else state.discovery_states(source.name, rules_fingerprint(source))
    discovery = discover_source.submit(source, policy, as_is(states), window, run_id)
    result = result_of(discovery, writer)
    found = [d.url for d in result.articles if keep is None or keep(d.url)]
    with stage(run_id, "plan"):
        known = set() if refresh else state.known_urls(found)
    fresh = [u for u in found if u not in known]
    cap = max_articles or source.max_articles_per_run
    chosen = fresh[:cap]
    left_out = dataclasses.replace(result.left_out, known=len(found) - len(fresh), over_cap=len(fresh) - len(chosen),
                                   cap=cap)  # fmt: skip
    return Work(source.name, policy, source.extract_options(), chosen, len(found) - len(chosen), result, left_out,
                rules_fingerprint(source))  # fmt: skip


def plan_urls(urls: Sequence[str], policy: FetchPolicy, options: ExtractOptions) -> tuple[Work, list[Failure]]:
    """URLs given by hand: always fetched (conditionally when stored before)."""
    wanted, bad = _normalise_inputs(urls)
    return Work(None, policy, options, wanted, 0, None), bad


def crawl(book: RunBook, work: list[Work], batch_size: int, workers: int = 0, progress: bool = False) -> None:
    """Fetch, extract and store every planned URL in batches; count per source in ``book``."""
    handled: set[str] = set()
    planned = []
    for item in work:
        # a URL that two sources (or a source and the URL list) name is fetched once per run
        planned.append(dataclasses.replace(item, urls=[u for u in item.urls if u not in handled]))
        handled.update(planned[-1].urls)
    book.requested = sum(len(item.urls) for item in planned)
    if progress:
        book.track_progress(sum(len(item.urls) for item in planned), "URLs done")
    with _collect_only_new_objects(book.run_id) as collector:
        for item in planned:
            with book.source(item.name or "urls") as report:
                report.discovered = len(item.discovery.articles) if item.discovery else len(item.urls)
                report.skipped = item.skipped
                report.left_out = item.left_out.reasons()
                _crawl_one(book, item, batch_size, workers, report, collector)


#: Page bytes stored between two full garbage collections during a crawl (about three batches of 100
#: news pages): what a stored batch leaves in reference cycles stays bounded by this, and a collection
#: (2-9 ms, more as Prefect's buffered events grow towards their cap) is not paid on every batch.
COLLECT_AFTER_BYTES = 32 * 1024 * 1024


@dataclass(slots=True)
class _Collector:
    """Runs a full collection once the batches stored since the last one held ``COLLECT_AFTER_BYTES``.

    Prefect futures and httpx responses sit in reference cycles that keep a whole batch's pages alive
    until Python's next full collection, which a long run reaches rarely: without these, memory would
    grow with the run instead of staying at the few batches in flight.
    """

    run_id: str
    uncollected: int = 0

    def stored(self, pages: Sequence[FetchedPage]) -> None:
        self.uncollected += sum(len(page.body) for page in pages)
        if self.uncollected >= COLLECT_AFTER_BYTES:
            self.uncollected = 0
            with stage(self.run_id, "gc"):
                gc.collect()


@contextmanager
def _collect_only_new_objects(run_id: str) -> Iterator[_Collector]:
    """Make the crawl's collections cheap: what exists before the crawl (modules, Prefect's and
    pydantic's objects, ~10^6 of them) is frozen out of collection until it ends, so a collection
    scans only what the crawl made (~90 ms per collection otherwise).

    No collection before freezing: it would cost a quarter of a second per run (a tenth of a run of
    conditional requests), to free the little garbage start-up leaves, which unfreezing returns to
    the collector anyway."""
    gc.freeze()
    try:
        yield _Collector(run_id)
    finally:
        gc.unfreeze()


#: Batches fetched and handed to the extraction pool ahead of the ones being stored: while the flow waits
#: for the writer slot or stores, the workers still have a whole batch queued.
AHEAD = 2
#: Batches stored together, in one transaction.  A transaction costs ~40 ms beyond its rows (a dozen
#: statements, each with its planning, and the commit), paid half as often this way.  Fetching and
#: extracting keep their batch size, so no more pages are held at a time.
BATCHES_PER_COMMIT = 2


@dataclass(slots=True)
class _InFlight:
    """A batch whose pages are being extracted while the flow stores the batches before it."""

    results: list[FetchResult]
    extraction: PrefectFuture[tuple[list[Extracted], list[Failure]]] | None
    """None when the batch brought no page to extract (all 304s or failures): no task run for nothing."""


#: How far a batch may grow while the URLs answer without a body (304s): up to this many times the batch size.
MAX_BATCH_GROWTH = 4


class _Batches:
    """A source's URLs in fetch batches; while the answers carry no body, batches grow.

    A rerun of conditional requests is mostly 304s, which cost no extraction and almost no memory: there
    the fixed cost of a batch (a fetch task run, a store transaction) is what remains, and a batch twice
    the size halves it.  After a batch in which at most one answer in ten was a page, the next is twice
    as large, up to ``MAX_BATCH_GROWTH`` times the batch size; after any other, it is the batch size
    again.  So a run that fetches pages keeps the batch size, and the most pages one batch can hold is
    bounded (four batches' worth, if every URL of a grown batch changed at once).
    """

    def __init__(self, urls: Sequence[str], size: int) -> None:
        self._urls, self._base, self._size, self._position = urls, size, size, 0

    def next(self, after: Sequence[FetchResult] | None = None) -> list[str]:
        if after is not None:
            pages = sum(isinstance(r, FetchedPage) for r in after)
            grow = 10 * pages <= len(after)
            self._size = min(self._size * 2, self._base * MAX_BATCH_GROWTH) if grow else self._base
        batch = list(self._urls[self._position : self._position + self._size])
        self._position += len(batch)
        return batch


def _crawl_one(
    book: RunBook, item: Work, batch_size: int, workers: int, report: SourceReport, collector: _Collector
) -> None:
    """A pipeline over the source's batches: batch k is stored while k+1 and k+2 are extracted and fetched.

    Fetching is async I/O, extraction runs in worker processes and the store in this thread, so the
    three overlap and the cores stay busy extracting.  Batches are stored ``BATCHES_PER_COMMIT`` to a
    transaction, after their extraction: a URL counts as done only once its article is committed.  The
    run's writer lease is kept between batches and sources; it is given back while the flow waits longer
    than it may be held idle (``result_of``).
    """
    name = item.name or "urls"
    book.logger.info("%s: %d article URLs to fetch; not fetched: %s",
                     name, len(item.urls), ", ".join(item.left_out.reasons()) or "none")  # fmt: skip
    with stage(book.run_id, "plan"):
        known = book.state.validators_for(item.urls)  # one query for the source, not one per batch
    batches = _Batches(item.urls, batch_size)

    def fetch(batch: list[str]) -> PrefectFuture[list[FetchResult]] | None:
        if not batch:
            return None
        validators = {u: known[u] for u in batch if u in known}
        return fetch_batch.submit(as_is(batch), item.policy, as_is(validators), book.run_id)

    fetching = fetch(batches.next())
    pending: deque[_InFlight] = deque()
    while fetching is not None:
        results = result_of(fetching, book.writer)
        fetching = fetch(batches.next(after=results))
        pages = [r for r in results if isinstance(r, FetchedPage)]
        extraction = extract_batch.submit(as_is(pages), item.options, workers, book.run_id) if pages else None
        pending.append(_InFlight(results, extraction))
        if len(pending) > AHEAD:
            _store(book, item, report, _oldest(pending), collector)
    while pending:
        _store(book, item, report, _oldest(pending), collector)
    if item.discovery is not None and item.name is not None:
        # after the source's articles are committed: what is kept depends on what the database now holds
        if book.staged is not None:
            found = item.discovery
            batch = book.staged.discovery(item.name, item.rules, found.documents, found.failures, found.read,
                                          found.robots)  # fmt: skip
            stage_task(book.staged, as_is(batch))
        else:
            with book.writer.write():
                store_discovery_task(book.db, book.run_id, item.name, as_is(item.discovery), item.rules)
        report.failures.update(f.outcome for f in item.discovery.failures)
        for failure in item.discovery.failures:
            book.logger.warning("%s failed at discovery: %s (%s)", failure.url, failure.reason, failure.outcome)


def _oldest(pending: deque[_InFlight]) -> list[_InFlight]:
    return [pending.popleft() for _ in range(min(BATCHES_PER_COMMIT, len(pending)))]


def _store(book: RunBook, item: Work, report: SourceReport, batches: list[_InFlight], collector: _Collector) -> None:
    """Store extracted batches in one transaction and count them."""
    results = [r for batch in batches for r in batch.results]
    pages = [r for r in results if isinstance(r, FetchedPage)]
    unchanged = [r for r in results if isinstance(r, NotModified)]
    extracted: list[Extracted] = []
    failures = [r for r in results if isinstance(r, Failure)]
    for batch in batches:
        if batch.extraction is not None:
            done, failed = result_of(batch.extraction, book.writer)
            extracted += done
            failures += failed
    if book.staged is not None:
        # a crawl worker: the batch goes to the staging area, for the merge to store
        staged_batch = book.staged.batch(item.name, pages, extracted, failures, unchanged)
        counts = stage_task(book.staged, as_is(staged_batch))
    else:
        # the writer slot is taken here, in the flow, around the store task: taken inside a task run,
        # Prefect hands it back only after the task run ends, which costs the next writer seconds
        with stage(book.run_id, "store-call"), book.writer.write():
            counts = store_batch_task(
                book.db, book.run_id, as_is(pages), as_is(extracted), as_is(failures), as_is(unchanged), item.name
            )
    report.count(len(pages), counts, failures)
    for failure in failures:
        book.logger.warning("%s failed at %s: %s (%s)", failure.url, failure.stage, failure.reason, failure.outcome)
    book.logger.info("%s batch: %d fetched, %d new, %d updated, %d unchanged, %d not modified, %d failed",
                     item.name or "urls", len(pages), counts.new, counts.updated, counts.unchanged,
                     counts.not_modified, len(failures))  # fmt: skip
    book.batch_done(len(results))
    collector.stored(pages)  # a batch of 304s holds no page bodies: nothing worth a collection


@flow(name="ingest", log_prints=False)
def ingest(
    sources: Names = (),
    sources_file: OptionalText = None,
    urls: Names = (),
    feeds: Names = (),
    since: OptionalDay = None,
    until: OptionalDay = None,
    refresh: bool = False,
    db: OptionalText = None,
) -> IngestReport:
    """Discover, fetch and extract news articles and store them in DuckDB (the scheduled flow).

    Args:
        sources: Sources of the sources file to crawl. Empty: every source (or, when URLs or feeds are given, none).
        sources_file: Path of the sources file. Empty: NEWSFLOW_SOURCES.
        urls: Article page URLs to fetch (always fetched, conditionally when stored before).
        feeds: RSS/Atom/JSON feed URLs whose entries are fetched as articles.
        since: First publication date, inclusive, in UTC (URLs without a date are left out). Empty: no start.
        until: Last publication date, inclusive, in UTC. Empty: no end.
        refresh: Fetch discovered URLs again although they are stored (conditional requests).
        db: Path of the DuckDB file. Empty: NEWSFLOW_DB or ./newsflow.duckdb.
    """
    settings = load_settings()
    db_path = db or settings.db
    book = RunBook("ingest", db_path, {
        "sources": list(sources), "sources_file": sources_file, "urls": list(urls), "feeds": list(feeds),
        "since": since, "until": until, "refresh": refresh, "db": db_path,
    })  # fmt: skip

    return book.run(lambda: gather(book, settings, sources, sources_file, urls, feeds, since, until, refresh))


def gather(
    book: RunBook,
    settings: Settings,
    sources: Names,
    sources_file: str | None,
    urls: Names,
    feeds: Names,
    since: date | None,
    until: date | None,
    refresh: bool,
    keep: Callable[[str], bool] | None = None,
) -> None:
    """The body of an ingest (or crawl) run: plan every source, URL and feed given, then crawl them.

    ``keep``: a shard's share of the planned article URLs (flows/shard.py); None: all of them.
    """
    window = window_for(since, until)
    with fetch_session(book.run_id):  # one HTTP client per fetch policy for the whole run
        base = FetchPolicy.from_settings(settings)
        work: list[Work] = []
        path = sources_file or settings.sources
        if path and (clean_names(sources) or not (urls or feeds)):
            chosen = select_sources(load_sources(path), sources)
            book.remember_sources(chosen)
            for source in chosen:
                work.append(plan_source(source, base, book.state, window, refresh, run_id=book.run_id,
                                        writer=book.writer, keep=keep))  # fmt: skip
        elif clean_names(sources):
            raise ConfigError("sources are named but there is no sources file (sources_file or NEWSFLOW_SOURCES)")
        bad: list[Failure] = []
        fetchable = [f for f in feeds if url_problem(f) is None]
        # a feed given by hand that cannot be fetched as written fails alone, as a URL given by hand does
        bad += [Failure.from_error("discover", InvalidURL(f, f"not a URL newsflow can fetch: {url_problem(f)}"))
                for f in feeds if url_problem(f) is not None]  # fmt: skip
        if fetchable:
            # feeds given by hand: just their entries, not the whole site's sitemaps
            adhoc = Source(
                name="adhoc", feeds=fetchable, allowed_private_networks=list(base.allowed_networks),
                respect_robots=base.respect_robots, timezone=settings.timezone, robots_sitemaps=False,
            )  # fmt: skip
            planned = plan_source(adhoc, base, book.state, window, refresh, run_id=book.run_id, writer=book.writer,
                                  keep=keep)  # fmt: skip
            unpaced = dataclasses.replace(planned.policy, requests_per_second=None)
            work.append(dataclasses.replace(planned, policy=unpaced))
        if urls:
            by_hand, unusable = plan_urls(urls, base, ExtractOptions(timezone=settings.timezone))
            if keep is not None:
                by_hand = dataclasses.replace(by_hand, urls=[u for u in by_hand.urls if keep(u)])
            work.append(by_hand)
            bad += unusable
        if bad:
            _store_failures(book, bad)
        crawl(book, work, settings.batch_size, settings.workers())
        if bad:
            with book.source("invalid") as report:
                report.failures.update(f.outcome for f in bad)


def _store_failures(book: RunBook, failures: list[Failure]) -> None:
    """Record inputs that could not be used (a URL or feed given by hand that is not one newsflow fetches)."""
    if book.staged is not None:
        stage_task(book.staged, as_is(book.staged.batch(None, [], [], failures, [])))
        return
    with book.writer.write():
        store_batch_task(book.db, book.run_id, [], [], failures, [], None)
