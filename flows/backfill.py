"""The ``backfill`` Prefect flow: ad hoc runs over a date window, launched from the UI or the CLI.

Three modes: ``new`` stores only URLs never seen; ``refresh`` asks again
(conditionally) for URLs already stored and updates what changed;
``reextract`` re-runs the current extractor over stored raw HTML — no network
at all — and records the extractor version.  Work is split in batch tasks
like ``ingest``; a progress artifact moves as batches finish.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Literal
from urllib.parse import urlsplit

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from extractors import ExtractOptions
from extractors.errors import ConfigError
from extractors.records import Failure
from flows.extraction_pool import extract_all
from flows.fetcher import FetchPolicy
from flows.ingest import STORE_RETRIES, _batches, as_is, crawl, plan_source, plan_urls, split_results, window_for
from flows.runs import IngestReport, RunBook
from flows.session import fetch_session
from flows.settings import load_settings
from flows.sources import Source, load_sources, select_sources
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
    book: RunBook, chosen: Sequence[Source], urls: list[str], since: date | None, until: date | None,
    max_articles: int | None, timezone: str, batch_size: int, workers: int,
) -> None:  # fmt: skip
    window = window_for(since, until, until_inclusive=True)
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
                report.fetched += len(extracted) + len(failures)
                report.new += counts.new
                report.updated += counts.updated
                report.unchanged += counts.unchanged
                report.failures.update(f.outcome for f in failures)
                book.batch_done()
            book.logger.info("%s: re-extracted %d stored pages, %d updated", name, report.fetched, report.updated)


@flow(name="backfill", log_prints=False)
def backfill(
    sources: list[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    urls: list[str] | None = None,
    mode: Mode = "new",
    max_articles: int | None = None,
    sources_file: str | None = None,
    db: str | None = None,
) -> IngestReport:
    """Backfill a date window for some sources: new articles, a conditional refresh, or a re-extraction.

    Args:
        sources: Names of sources in the sources file; empty means every source.
        since: First publication date to include (from sitemap lastmod / news:publication_date, feed dates,
            or the source's dated archive pages).
        until: Last publication date to include (inclusive).
        urls: Extra article URLs to include, whatever their date.
        mode: "new" stores only unseen URLs; "refresh" asks again (conditionally) for stored ones and
            updates what changed; "reextract" re-runs the extractor over stored HTML with no network.
        max_articles: Most articles per source in this run (default: the source's max_articles_per_run).
        sources_file: Path of the sources file (default: NEWSFLOW_SOURCES).
        db: Path of the DuckDB file (default: NEWSFLOW_DB or ./newsflow.duckdb).
    """
    settings = load_settings()
    db_path = db or settings.db
    book = RunBook("backfill", db_path, {
        "sources": sources or [], "since": since, "until": until, "urls": urls or [], "mode": mode,
        "max_articles": max_articles, "sources_file": sources_file, "db": db_path,
    })  # fmt: skip
    book.start()
    with book.running():
        path = sources_file or settings.sources
        chosen: tuple[Source, ...] = ()
        if path:
            chosen = select_sources(load_sources(path), sources)
            book.remember_sources(chosen)
        elif sources:
            raise ConfigError("sources are named but there is no sources file (sources_file or NEWSFLOW_SOURCES)")
        if mode == "reextract":
            _reextract(book, chosen, list(urls or []), since, until, max_articles, settings.timezone,
                       settings.batch_size, settings.workers())  # fmt: skip
        else:
            base = FetchPolicy.from_settings(settings)
            window = window_for(since, until, until_inclusive=True)
            refresh = mode == "refresh"
            with fetch_session(book.run_id):  # one HTTP client per fetch policy for the whole run
                work = [
                    plan_source(s, base, db_path, window, refresh, max_articles, book.run_id, book.writer)
                    for s in chosen
                ]
                if urls:
                    by_hand, _bad = plan_urls(urls, base, ExtractOptions(timezone=settings.timezone))
                    work.append(by_hand)
                crawl(book, work, settings.batch_size, settings.workers(), progress=True)
    return book.finish()
