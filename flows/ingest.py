"""The ``ingest`` Prefect flow: URLs and feeds in, articles in DuckDB out.

The flow is thin orchestration over batch tasks (never one task per URL):
discover (feeds) → per batch: fetch → extract → store, then a run record.
Per-URL problems become ``Failure`` values recorded in ``fetches``; only
infrastructure problems (the database) fail a task, and only transient
ones are retried.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.context import FlowRunContext

from extractors import ExtractOptions, extract_article
from extractors.errors import ExtractionError, FeedError, InvalidURL, NewsflowError
from extractors.records import Failure, FetchedPage
from extractors.urls import normalize_url
from flows.feeds import article_urls_from_feed
from flows.fetcher import FetchPolicy, fetch_all
from flows.settings import load_settings
from storage.writer import BatchCounts, Extracted, RunRecord, record_run, store_batch


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


def _only_transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Retry a batch task only for transient infrastructure errors (a locked database)."""
    error = state.result(raise_on_failure=False)
    return isinstance(error, NewsflowError) and error.transient


def _batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


@task(name="discover-feeds", cache_policy=NO_CACHE)
def discover_feeds(feed_urls: list[str], policy: FetchPolicy) -> tuple[list[str], list[Failure]]:
    """Fetch feeds and return their article URLs, and a Failure per unusable feed."""
    urls: list[str] = []
    failures: list[Failure] = []
    for result in fetch_all(feed_urls, policy, expect="feed"):
        if isinstance(result, Failure):
            failures.append(dataclasses.replace(result, stage="discover"))
            continue
        try:
            urls.extend(article_urls_from_feed(result))
        except FeedError as error:
            failures.append(Failure.from_error("discover", error))
    return urls, failures


@task(name="fetch-batch", cache_policy=NO_CACHE)
def fetch_batch(urls: list[str], policy: FetchPolicy) -> list[FetchedPage | Failure]:
    return fetch_all(urls, policy, expect="html")


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
    db: str, run_id: str, pages: list[FetchedPage], extracted: list[Extracted], failures: list[Failure]
) -> BatchCounts:
    return store_batch(db, run_id, pages, extracted, failures)


def _normalise_inputs(urls: Sequence[str]) -> tuple[list[str], list[Failure]]:
    seen: dict[str, None] = {}
    failures = []
    for raw in urls:
        try:
            seen.setdefault(normalize_url(raw), None)
        except InvalidURL as error:
            failures.append(Failure.from_error("discover", error))
    return list(seen), failures


@flow(name="ingest", log_prints=False)
def ingest(urls: list[str] | None = None, feeds: list[str] | None = None, db: str | None = None) -> IngestReport:
    """Fetch article pages and feeds, extract clean articles and store them in DuckDB.

    Args:
        urls: Article page URLs to fetch.
        feeds: RSS/Atom/JSON feed URLs whose entries are fetched as articles.
        db: Path of the DuckDB file (default: NEWSFLOW_DB or ./newsflow.duckdb).
    """
    logger = get_run_logger()
    settings = load_settings()
    db_path = db or settings.db
    policy = FetchPolicy.from_settings(settings)
    options = ExtractOptions(timezone=settings.timezone)
    context = FlowRunContext.get()
    run_id = str(context.flow_run.id) if context and context.flow_run else str(uuid.uuid4())
    started = datetime.now(UTC)
    parameters = json.dumps({"urls": urls or [], "feeds": feeds or [], "db": db_path})
    record_run(db_path, RunRecord(run_id, "ingest", started, "running", parameters))

    wanted, failures = _normalise_inputs(urls or [])
    if feeds:
        found, feed_failures = discover_feeds(list(feeds), policy)
        failures += feed_failures
        more, bad = _normalise_inputs(found)
        failures += bad
        wanted = list(dict.fromkeys(wanted + more))
    logger.info("%d article URLs to fetch (%d discovery failures)", len(wanted), len(failures))

    totals = Counter[str]()
    fetched = 0
    if failures:
        store_batch_task(db_path, run_id, [], [], failures)
    for number, batch in enumerate(_batches(wanted, settings.batch_size), start=1):
        results = fetch_batch(batch, policy)
        pages = [r for r in results if isinstance(r, FetchedPage)]
        fetch_failures = [r for r in results if isinstance(r, Failure)]
        extracted, extract_failures = extract_batch(pages, options)
        counts = store_batch_task(db_path, run_id, pages, extracted, fetch_failures + extract_failures)
        fetched += len(pages)
        failures += fetch_failures + extract_failures
        totals.update(new=counts.new, updated=counts.updated, unchanged=counts.unchanged)
        logger.info("batch %d: %d fetched, %d new, %d updated, %d unchanged, %d failed",
                    number, len(pages), counts.new, counts.updated, counts.unchanged, counts.failed)  # fmt: skip
    for failure in failures:
        logger.warning("%s failed at %s: %s (%s)", failure.url, failure.stage, failure.reason, failure.outcome)

    by_reason = dict(Counter(f.outcome for f in failures))
    report = IngestReport(
        run_id=run_id, db=db_path, requested=len(wanted), fetched=fetched, new=totals["new"],
        updated=totals["updated"], unchanged=totals["unchanged"], failed=len(failures), failures=by_reason,
    )  # fmt: skip
    record_run(
        db_path,
        RunRecord(
            run_id, "ingest", started, "completed", parameters, datetime.now(UTC), report.requested, report.fetched,
            report.new, report.updated, report.unchanged, report.failed, json.dumps(by_reason),
        ),
    )  # fmt: skip
    return report
