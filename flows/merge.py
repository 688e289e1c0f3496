"""The ``merge`` flow: every complete staged batch into DuckDB, by the database's one writer.

Crawl workers (``flows/shard.py``) stage batches under a staging URL; this flow, run where the DuckDB file
lives (deployment concurrency 1, and the ``duckdb-writer`` slot around each write), stores each batch with
the writes a single-process run makes (``store_batch``, ``store_discovery``, the run's row) and marks it
merged in the same transaction, in the order the batches were written.  A batch is complete only once its
manifest is written: a worker that died mid-batch leaves files that are never merged.  Then it publishes
the database's crawl state for the next crawls and deletes the merged batches.
"""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from prefect import flow, task

from crawl.settings import load_settings
from extractors.errors import NewsflowError
from flows.ingest import STORE_RETRIES, as_is
from flows.parameters import OptionalText
from flows.runs import IngestReport, RunBook, SourceReport, refused, staging_url
from flows.timing import stage
from storage.staging import BatchRef, StagedBatch, Staging, current_state, merge_batch, split_merged
from storage.writer import BatchCounts

#: How long a batch without its manifest is kept: a live worker finishes writing one within seconds, so one
#: this old belongs to a worker that died (its URLs are fetched again by the next crawl of its shard).
INCOMPLETE_KEPT = timedelta(hours=6)


@task(name="merge-batch", **STORE_RETRIES)
def merge_batch_task(db: str, batch: StagedBatch, merge_run_id: str) -> BatchCounts:
    """Store one staged batch and mark it merged, in one transaction."""
    with stage(merge_run_id, "store"):
        return merge_batch(db, batch, merge_run_id)


@flow(name="merge", log_prints=False)
def merge(staging: OptionalText = None, db: OptionalText = None) -> IngestReport:
    """Store every complete batch the crawl workers staged in DuckDB, then publish the crawl state for them.

    Args:
        staging: Staging URL (directory or s3://bucket/prefix). Empty: NEWSFLOW_STAGING_URL.
        db: Path of the DuckDB file. Empty: NEWSFLOW_DB or ./newsflow.duckdb.
    """
    settings = load_settings()
    try:
        url = staging_url(staging, settings.staging_url, "merge")
    except NewsflowError as error:
        return refused(error)
    db_path = db or settings.db
    book = RunBook("merge", db_path, {"staging": url, "db": db_path})

    def body() -> None:
        area = Staging(url)
        with stage(book.run_id, "plan"):
            complete = area.complete()
            refs, leftover = split_merged(db_path, complete)
            swept = area.sweep_incomplete(INCOMPLETE_KEPT, complete)
        if swept:
            book.logger.warning("deleted %d staged batches a worker never finished (older than %s): %s",
                                len(swept), INCOMPLETE_KEPT, ", ".join(swept))  # fmt: skip
        book.requested = sum(r.items for r in refs)
        book.track_progress(len(refs), "staged batches merged")
        book.logger.info("%d staged batches to merge from %s", len(refs), url)
        reports: dict[str, SourceReport] = {}
        started, rows, articles = time.monotonic(), 0, 0
        # the next batch is read (from object storage, often) while one is stored
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="newsflow-staging-read") as reader:
            ahead: Future[StagedBatch] | None = reader.submit(area.read, refs[0]) if refs else None
            for index, ref in enumerate(refs):
                assert ahead is not None
                batch = ahead.result()
                ahead = reader.submit(area.read, refs[index + 1]) if index + 1 < len(refs) else None
                with book.writer.write():
                    counts = merge_batch_task(db_path, as_is(batch), book.run_id)
                rows += len(batch.pages) + len(batch.failures) + len(batch.not_modified)
                articles += len(batch.extracted)
                if ref.kind == "pages":
                    name = batch.source or "urls"
                    if name not in reports:
                        reports[name] = SourceReport(name)
                        book.sources.append(reports[name])
                    reports[name].count(len(batch.pages), counts, batch.failures)
                book.batch_done()
        seconds = time.monotonic() - started
        if refs:
            book.logger.info("merged %d batches (%d URLs, %d articles) in %.2f s: %.0f articles/s", len(refs), rows,
                             articles, seconds, articles / seconds if seconds else 0.0)  # fmt: skip
        _publish(book, area, refs, leftover)

    return book.run(body)


def _publish(book: RunBook, area: Staging, merged: list[BatchRef], leftover: list[BatchRef]) -> None:
    """Publish the crawl state (when anything changed, or none was published yet), then drop the merged
    batches (``leftover``: those an earlier merge committed, and was stopped before it dropped them)."""
    if merged or leftover or area.read_state_stamp() is None:
        with book.writer.write(), stage(book.run_id, "store"):
            tables = current_state(book.db)
        stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{book.run_id}"
        area.publish_state(tables, stamp)
    for ref in [*leftover, *merged]:
        area.remove(ref)
