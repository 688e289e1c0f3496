"""The ``backfill`` Prefect flow: ad hoc runs over a date window, launched from the UI or the CLI.

Three modes: ``new`` stores only URLs never seen; ``refresh`` asks again
(conditionally) for URLs already stored and updates what changed;
``reextract`` re-runs the current extractor over stored raw HTML — no network
at all — and records the extractor version.  Work is split in batch tasks
like ``ingest``; a progress artifact moves as batches finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from urllib.parse import urlsplit

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import Field

from crawl.discovery import Window
from crawl.fetcher import FetchPolicy
from crawl.session import fetch_session
from crawl.settings import load_settings
from crawl.sources import Source, clean_names, load_sources, select_sources
from extractors import ExtractOptions
from extractors.errors import ConfigError
from extractors.records import Failure
from flows.archive_backfill import ArchivePlan, archive_files, backfill_archives, check_archive_mode
from flows.extraction_pool import extract_all
from flows.ingest import STORE_RETRIES, _batches, as_is, crawl, plan_source, plan_urls, split_results, window_for
from flows.parameters import Names, OptionalCount, OptionalDay, OptionalText
from flows.runs import IngestReport, RunBook
from flows.timing import stage
from storage.lookups import stored_article_keys, stored_pages
from storage.writer import BatchCounts, Extracted, store_batch

Mode = Literal["new", "refresh", "reextract"]


@task(name="reextract-batch", cache_policy=NO_CACHE)
def reextract_batch(
    db: str, url_keys: list[str], options: ExtractOptions, workers: int = 0, run_id: str | None = None
) -> tuple[list[Extracted], list[Failure]]:
    """Extract stored raw pages again with the current extractor; reads the database, no network."""
    with stage(run_id, "extract"):
        return split_results(extract_all(stored_pages(db, url_keys), options, workers))


@task(name="store-reextracted", **STORE_RETRIES)
def store_reextracted(db: str, run_id: str, extracted: list[Extracted], failures: list[Failure]) -> BatchCounts:
    with stage(run_id, "store"):
        return store_batch(db, run_id, [], extracted, failures, record_fetches=False)


def _hosts(source: Source) -> list[str]:
    return sorted({urlsplit(u).hostname or "" for u in [*source.start_urls, *source.feeds, *source.sitemaps]} - {""})


def _reextract(
    book: RunBook, chosen: Sequence[Source], urls: list[str], window: Window,
    max_articles: int | None, timezone: str, batch_size: int, workers: int,
) -> None:  # fmt: skip
    # each source's articles get that source's options (its time zone and language)
    groups: list[tuple[str, ExtractOptions, list[str]]] = []
    for source in chosen:
        keys = stored_article_keys(book.db, window.since, window.until, _hosts(source), limit=max_articles)
        groups.append((source.name, source.extract_options(), keys))
    taken = {k for _, _, group in groups for k in group}
    if urls:
        keys = stored_article_keys(book.db, urls=urls)  # URLs named by hand, whatever their date
        groups.append(("urls", ExtractOptions(timezone=timezone), [k for k in keys if k not in taken]))
    elif not chosen:
        keys = stored_article_keys(book.db, window.since, window.until, limit=max_articles)
        groups.append(("all", ExtractOptions(timezone=timezone), keys))
    book.requested = sum(len(keys) for _, _, keys in groups)
    book.track_progress(sum(-(-len(keys) // batch_size) for _, _, keys in groups))
    for name, options, keys in groups:
        with book.source(name) as report:
            report.discovered = len(keys)
            for batch in _batches(keys, batch_size):
                extracted, failures = reextract_batch(book.db, batch, options, workers, book.run_id)
                with book.writer.write():
                    counts = store_reextracted(book.db, book.run_id, as_is(extracted), as_is(failures))
                report.count(len(extracted) + len(failures), counts, failures)
                book.batch_done()
            book.logger.info("%s: re-extracted %d stored pages, %d updated", name, report.fetched, report.updated)


@flow(name="backfill", log_prints=False)
def backfill(
    sources: Names = (),
    since: OptionalDay = None,
    until: OptionalDay = None,
    days: Annotated[int, Field(ge=0)] = 1,
    mode: Mode = "new",
    max_articles: OptionalCount = None,
    urls: Names = (),
    warc_urls: Names = (),
    ccnews: bool = False,
    sources_file: OptionalText = None,
    db: OptionalText = None,
) -> IngestReport:
    """Backfill a window of publication dates: new articles, a conditional refresh, or a re-extraction.

    Run with no parameters (Quick run), it takes the articles of every source published since yesterday
    that are not stored yet.

    Args:
        sources: Sources of the sources file to backfill. Empty: every source (or, when URLs are given, none).
        since: First publication date, inclusive, in UTC. Empty: `days` days before the last date.
        until: Last publication date, inclusive, in UTC. Empty: no end (today).
        days: When `since` is empty, how many days back the window starts (1: since yesterday); 0: no start,
            everything the sources list. Ignored when `since` is given.
        mode: "new" stores only articles not stored yet; "refresh" asks again (conditionally) for stored ones and
            updates what changed; "reextract" re-runs the extractor over stored HTML, with no network at all.
        max_articles: Most articles per source in this run, newest first. Empty: each source's max_articles_per_run.
        urls: Article URLs to take whatever their date.
        warc_urls: WARC files (paths on the machine running the flow, or http(s) addresses) to take the sources'
            pages from, instead of the live sites; the window applies to the extracted publication dates.
        ccnews: Take the sources' pages from Common Crawl's CC-NEWS archive, the files of the window's months
            (needs since; NEWSFLOW_CCNEWS_URL is the archive's address).
        sources_file: Path of the sources file. Empty: NEWSFLOW_SOURCES.
        db: Path of the DuckDB file. Empty: NEWSFLOW_DB or ./newsflow.duckdb.
    """
    settings = load_settings()
    db_path = db or settings.db
    first = since or (None if days == 0 else (until or datetime.now(UTC).date()) - timedelta(days=days))
    book = RunBook("backfill", db_path, {
        "sources": list(sources), "since": first, "until": until, "urls": list(urls), "mode": mode,
        "max_articles": max_articles, "sources_file": sources_file, "db": db_path, "warc_urls": list(warc_urls),
        "ccnews": ccnews,
    })  # fmt: skip

    def body() -> None:
        window = window_for(first, until)
        path = sources_file or settings.sources
        chosen: tuple[Source, ...] = ()
        if path and (clean_names(sources) or not urls):
            chosen = select_sources(load_sources(path), sources)
            book.remember_sources(chosen)
        elif clean_names(sources):
            raise ConfigError("sources are named but there is no sources file (sources_file or NEWSFLOW_SOURCES)")
        if clean_names(warc_urls) or ccnews:
            check_archive_mode(mode)
            if not chosen:
                raise ConfigError("a backfill from web archives needs a sources file with the sources to take")
            base = FetchPolicy.from_settings(settings)
            plan = ArchivePlan(chosen, window, settings.batch_size, settings.workers(), settings.max_archive_bytes)
            with fetch_session(book.run_id) as session:
                files = archive_files(book, settings, session, base, clean_names(warc_urls), ccnews, first, until)
                backfill_archives(book, plan, files, session, base)
            return
        if mode == "reextract":
            _reextract(book, chosen, list(urls), window, max_articles, settings.timezone,
                       settings.batch_size, settings.workers())  # fmt: skip
            return
        base = FetchPolicy.from_settings(settings)
        refresh = mode == "refresh"
        with fetch_session(book.run_id):  # one HTTP client per fetch policy for the whole run
            work = [plan_source(s, base, book.state, window, refresh, max_articles, book.run_id, book.writer)
                    for s in chosen]  # fmt: skip
            if urls:
                by_hand, _bad = plan_urls(urls, base, ExtractOptions(timezone=settings.timezone))
                work.append(by_hand)
            crawl(book, work, settings.batch_size, settings.workers(), progress=True)

    return book.run(body)
