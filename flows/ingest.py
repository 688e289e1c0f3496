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
import json
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.context import FlowRunContext

from extractors import ExtractOptions, extract_article
from extractors.errors import ExtractionError, InvalidURL, NewsflowError
from extractors.records import Failure, FetchedPage, NotModified, Validators
from extractors.urls import normalize_url
from flows.discovery import DiscoveryResult, Window, discover
from flows.fetcher import Fetcher, FetchPolicy, FetchResult, fetch_all, run_sync
from flows.settings import load_settings
from flows.sources import Source, load_sources, select_sources
from storage.lookups import known_urls, validators_for
from storage.writer import BatchCounts, Extracted, RunRecord, record_run, store_batch, store_discovery


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one run did, as counts (also stored in the ``runs`` table)."""

    run_id: str
    db: str
    requested: int
    fetched: int
    new: int
    updated: int
    unchanged: int
    failed: int
    failures: dict[str, int] = field(default_factory=dict)
    not_modified: int = 0
    skipped: int = 0
    """Discovered URLs not fetched: already stored, or over the source's per-run cap."""


@dataclass(frozen=True, slots=True)
class _Work:
    """What one source (or the ad hoc URLs) contributes to a run."""

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


def _batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


@task(name="discover-source", cache_policy=NO_CACHE)
def discover_source(
    source: Source, policy: FetchPolicy, validators: dict[str, Validators], window: Window
) -> DiscoveryResult:
    """Fetch a source's start pages, feeds and sitemaps and list the article URLs they name."""

    async def main() -> DiscoveryResult:
        async with Fetcher(policy) as fetcher:
            return await discover(source, fetcher, validators, window)

    return run_sync(main())


@task(name="fetch-batch", cache_policy=NO_CACHE)
def fetch_batch(urls: list[str], policy: FetchPolicy, validators: dict[str, Validators]) -> list[FetchResult]:
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


@task(
    name="store-batch",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=_only_transient,
)
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


@task(
    name="store-discovery",
    cache_policy=NO_CACHE,
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=_only_transient,
)
def store_discovery_task(
    db: str, run_id: str, source: str | None, result: DiscoveryResult, remember_versions: bool
) -> None:
    store_discovery(db, run_id, source, result.documents, result.failures, remember_versions)


def _normalise_inputs(urls: Sequence[str]) -> tuple[list[str], list[Failure]]:
    seen: dict[str, None] = {}
    failures = []
    for raw in urls:
        try:
            seen.setdefault(normalize_url(raw), None)
        except InvalidURL as error:
            failures.append(Failure.from_error("discover", error))
    return list(seen), failures


def _window(since: date | None, until: date | None) -> Window:
    def start(day: date | None) -> datetime | None:
        return datetime.combine(day, time.min, UTC) if day else None

    return Window(start(since), start(until))


def _plan_source(source: Source, base: FetchPolicy, db: str, window: Window, refresh: bool) -> _Work:
    policy = source.fetch_policy(base)
    seeds = [*source.start_urls, *source.feeds, *source.sitemaps]
    result = discover_source(source, policy, validators_for(db, seeds), window)
    found = [d.url for d in result.articles]
    known = set() if refresh else known_urls(db, found)
    fresh = [u for u in found if u not in known]
    chosen = fresh[: source.max_articles_per_run]
    return _Work(source.name, policy, source.extract_options(), chosen, len(found) - len(chosen), result)


@flow(name="ingest", log_prints=False)
def ingest(
    urls: list[str] | None = None,
    feeds: list[str] | None = None,
    sources_file: str | None = None,
    sources: list[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    refresh: bool = False,
    db: str | None = None,
) -> IngestReport:
    """Discover, fetch and extract news articles and store them in DuckDB.

    Args:
        urls: Article page URLs to fetch (always fetched, conditionally when stored before).
        feeds: RSS/Atom/JSON feed URLs whose entries are fetched as articles.
        sources_file: Path of a sources.toml (default: NEWSFLOW_SOURCES); used when sources are named.
        sources: Names of sources in the file to crawl ("all" or empty with a file: every source).
        since: Backfill window start (publication date, inclusive); URLs without a date are left out.
        until: Backfill window end (exclusive).
        refresh: Fetch discovered URLs again although they are stored (conditional requests).
        db: Path of the DuckDB file (default: NEWSFLOW_DB or ./newsflow.duckdb).
    """
    logger = get_run_logger()
    settings = load_settings()
    db_path = db or settings.db
    base = FetchPolicy.from_settings(settings)
    context = FlowRunContext.get()
    run_id = str(context.flow_run.id) if context and context.flow_run else str(uuid.uuid4())
    started = datetime.now(UTC)
    parameters = json.dumps({
        "urls": urls or [], "feeds": feeds or [], "sources_file": sources_file, "sources": sources or [],
        "since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
        "refresh": refresh, "db": db_path,
    })  # fmt: skip
    record_run(db_path, RunRecord(run_id, "ingest", started, "running", parameters))

    window = _window(since, until)
    work: list[_Work] = []
    failures: list[Failure] = []
    path = sources_file or settings.sources
    if path and (sources or not (urls or feeds)):
        chosen = select_sources(load_sources(path), [n for n in sources or [] if n != "all"])
        for source in chosen:
            work.append(_plan_source(source, base, db_path, window, refresh))
    if feeds:
        # feeds given by hand: just their entries, not the whole site's sitemaps
        adhoc = Source(
            name="adhoc", feeds=list(feeds), allowed_private_networks=list(base.allowed_networks),
            respect_robots=base.respect_robots, timezone=settings.timezone, robots_sitemaps=False,
        )  # fmt: skip
        planned = _plan_source(adhoc, base, db_path, window, refresh)
        work.append(dataclasses.replace(planned, policy=dataclasses.replace(planned.policy, requests_per_second=None)))
    if urls:
        wanted, bad = _normalise_inputs(urls)
        failures += bad
        work.append(_Work(None, base, ExtractOptions(timezone=settings.timezone), wanted, 0, None))

    totals = Counter[str]()
    fetched = 0
    if failures:
        store_batch_task(db_path, run_id, [], [], failures, [], None)
    handled: set[str] = set()
    for item in work:
        source_failures: list[Failure] = []
        # a URL that two sources (or a source and the URL list) name is fetched once per run
        item = dataclasses.replace(item, urls=[u for u in item.urls if u not in handled])
        handled.update(item.urls)
        logger.info("%s: %d article URLs to fetch, %d skipped (known or over the cap)",
                    item.name or "urls", len(item.urls), item.skipped)  # fmt: skip
        for batch in _batches(item.urls, settings.batch_size):
            results = fetch_batch(batch, item.policy, validators_for(db_path, batch))
            pages = [r for r in results if isinstance(r, FetchedPage)]
            unchanged = [r for r in results if isinstance(r, NotModified)]
            fetch_failures = [r for r in results if isinstance(r, Failure)]
            extracted, extract_failures = extract_batch(pages, item.options)
            batch_failures = fetch_failures + extract_failures
            counts = store_batch_task(db_path, run_id, pages, extracted, batch_failures, unchanged, item.name)
            fetched += len(pages)
            source_failures += batch_failures
            totals.update(new=counts.new, updated=counts.updated, unchanged=counts.unchanged,
                          not_modified=counts.not_modified)  # fmt: skip
            logger.info("%s batch: %d fetched, %d new, %d updated, %d unchanged, %d not modified, %d failed",
                        item.name or "urls", len(pages), counts.new, counts.updated, counts.unchanged,
                        counts.not_modified, counts.failed)  # fmt: skip
        if item.discovery is not None:
            # remember the feeds' and sitemaps' versions only when every article landed or failed for good:
            # after a transient failure the next run must see the same entries again
            settled = not any(f.transient for f in source_failures)
            store_discovery_task(db_path, run_id, item.name, item.discovery, settled)
            source_failures += list(item.discovery.failures)
        failures += source_failures
        totals.update(skipped=item.skipped)
    for failure in failures:
        logger.warning("%s failed at %s: %s (%s)", failure.url, failure.stage, failure.reason, failure.outcome)

    by_reason = dict(Counter(f.outcome for f in failures))
    report = IngestReport(
        run_id=run_id, db=db_path, requested=sum(len(w.urls) for w in work), fetched=fetched, new=totals["new"],
        updated=totals["updated"], unchanged=totals["unchanged"], failed=len(failures), failures=by_reason,
        not_modified=totals["not_modified"], skipped=totals["skipped"],
    )  # fmt: skip
    record_run(
        db_path,
        RunRecord(
            run_id, "ingest", started, "completed", parameters, datetime.now(UTC), report.requested, report.fetched,
            report.new, report.updated, report.unchanged, report.failed, json.dumps(by_reason), None,
            report.not_modified, report.skipped,
        ),
    )  # fmt: skip
    return report
