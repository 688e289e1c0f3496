"""Backfill from web archives: WARC files and Common Crawl's CC-NEWS, into the same store as live pages.

The ``backfill`` flow calls ``backfill_archives`` when it is given WARC files
(``warc_urls``) or ``ccnews``.  Each file is one Prefect task run
(``archive-file``): it reads the file's ``response`` records of the chosen
sources' hosts (FastWARC skips the others on their headers), extracts them in
the run's worker processes in batches, keeps the articles published inside the
window and stores them with the rules of a live crawl (upsert on ``url_key``,
versions, near-duplicates).  ``pages.fetched_at`` is the record's WARC-Date.

A file counts as read only when all its pages are committed: its
``archive_files`` row is written in the transaction of its last batch.  A
killed run therefore resumes at the first file without such a row, and a
repeat reads no file whose row covers its sources and window
(``ArchiveScope.covers``).

As any backfill of new articles, it stores only addresses not stored yet: an archived capture never
replaces a stored article (a live fetch is the newer), and the pages of a half-read file that a killed
run committed are passed over when the file is read again.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime

from prefect import task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE

from crawl.archives import archive_name, list_ccnews, opened_archive
from crawl.discovery import Window
from crawl.fetcher import Fetcher, FetchPolicy
from crawl.interrupts import wait_for
from crawl.session import FetchSession
from crawl.settings import Settings
from crawl.sources import Source
from crawl.warc import ReadCounts, domain_matcher, read_pages
from extractors.errors import ArchiveError, ConfigError
from extractors.records import ArchiveFileDone, ArchiveScope, Failure, FetchedPage
from flows.extraction_pool import extract_all
from flows.ingest import split_results
from flows.runs import RunBook, SourceReport
from flows.timing import stage
from storage.lookups import finished_archive_files, known_urls
from storage.writer import Extracted, store_batch


@dataclass(frozen=True, slots=True)
class ArchivePlan:
    """What every file of a run is read for."""

    sources: tuple[Source, ...]
    window: Window
    batch_size: int
    workers: int
    max_bytes: int

    @property
    def scope(self) -> ArchiveScope:
        return ArchiveScope(frozenset(s.archive_key() for s in self.sources), self.window.since, self.window.until)

    def owner(self) -> Callable[[str], Source | None]:
        """The source a page's URL belongs to (the first whose domains and URL rules take it), or None."""
        matchers = [(source, domain_matcher(source.archive_domains())) for source in self.sources]

        def owner(url: str) -> Source | None:
            return next((s for s, matches in matchers if matches(url) and s.wants(url)), None)

        return owner


def archive_files(
    book: RunBook, settings: Settings, session: FetchSession, policy: FetchPolicy,
    locations: Sequence[str], ccnews: bool, since: date | None, until: date | None,
) -> list[str]:  # fmt: skip
    """The files a run reads: the WARC files named, then the CC-NEWS files of the window."""
    files = list(dict.fromkeys(locations))
    if ccnews:
        if since is None:
            raise ConfigError("a CC-NEWS backfill needs a window: give since (and until, or it ends today)")
        last = until or datetime.now(UTC).date()
        with stage(book.run_id, "discover"):
            found = list_ccnews(settings.ccnews_url, since, last, session.fetcher(policy), session.run)
        book.logger.info("CC-NEWS %s..%s: %d files in the monthly listings", since, last, len(found))
        files += [f for f in found if f not in files]
    return files


def backfill_archives(
    book: RunBook, plan: ArchivePlan, files: Sequence[str], session: FetchSession, policy: FetchPolicy
) -> None:
    """Read each file not yet read for this scope, one task run per file, and count per source in ``book``."""
    if not plan.sources:
        raise ConfigError("a backfill from web archives needs a source (its domains): name one with sources")
    scope = plan.scope
    names = {f: archive_name(f) for f in files}
    finished = finished_archive_files(book.db, list(names.values()))
    todo = [f for f in files if not any(done.covers(scope) for done in finished.get(names[f], []))]
    book.logger.info("%d web archive files: %d to read, %d read before for these sources and window",
                     len(files), len(todo), len(files) - len(todo))  # fmt: skip
    book.track_progress(len(todo), "archive files read")
    fetcher = session.fetcher(policy)
    with ExitStack() as timing:  # each source's report counts (and times) the whole reading
        reports = {s.name: timing.enter_context(book.source(s.name)) for s in plan.sources}
        for location in todo:
            done = archive_file.with_options(task_run_name=f"archive-file {_short(names[location])}")(
                location, plan, _Context(book, reports, fetcher, session)
            )
            if done is not None:
                book.logger.info("%s: %d records, %d pages of the sources, %d articles stored, %d broken",
                                 done.path, done.read, done.matched, done.stored, done.broken)  # fmt: skip
            book.batch_done()


@dataclass(frozen=True, slots=True)
class _Context:
    """The run's objects a file's task works with (it runs in the flow's thread, never elsewhere)."""

    book: RunBook
    reports: dict[str, SourceReport]
    fetcher: Fetcher
    session: FetchSession

    def __repr__(self) -> str:  # what Prefect shows of the task's parameters
        return f"run {self.book.run_id}"


def _short(name: str) -> str:
    return name.rsplit("/", 1)[-1][:60]


#: Batches handed to the extraction workers ahead of the one being stored.
AHEAD = 1


@dataclass(frozen=True, slots=True)
class _Batch:
    """One batch of a file: its pages by source, extracted (or being extracted), and the records that failed."""

    extraction: Future[list[_Extracted]]
    failures: list[Failure]


@dataclass(frozen=True, slots=True)
class _Extracted:
    source: Source
    pages: list[FetchedPage]
    extracted: list[Extracted]
    failed: list[Failure]


@task(name="archive-file", cache_policy=NO_CACHE)
def archive_file(location: str, plan: ArchivePlan, context: _Context) -> ArchiveFileDone | None:
    """Read one WARC file: its pages of the plan's sources are extracted and stored in batches, the next batch
    extracted while one is stored; the file is recorded as read with its last batch.  None when the file
    cannot be opened or downloaded (recorded as a failure, the file not marked read)."""
    book = context.book
    name = archive_name(location)
    owner = plan.owner()
    counts = ReadCounts()
    progress = create_progress_artifact(0.0, description=f"{name}: share of the file read")
    stored = 0
    try:
        with (
            ThreadPoolExecutor(1, thread_name_prefix="archive-extract") as extracting,
            stage(book.run_id, "fetch"),
            opened_archive(location, context.fetcher, context.session.run, plan.max_bytes) as stream,
        ):
            size = max(stream.seek(0, 2), 1)
            stream.seek(0)
            pending: deque[_Batch] = deque()
            pages: list[FetchedPage] = []
            failures: list[Failure] = []
            for item in read_pages(stream, name, lambda url: owner(url) is not None, counts):
                if isinstance(item, Failure):
                    failures.append(item)
                    continue
                pages.append(item)
                if len(pages) >= plan.batch_size:
                    pages = _unknown(book, context, owner, pages)
                    pending.append(_Batch(extracting.submit(_extract, book.run_id, plan, owner, pages), failures))
                    pages, failures = [], []
                    if len(pending) > AHEAD:
                        stored += _store(context, plan, pending.popleft())
                    update_progress_artifact(progress, 100.0 * min(stream.tell(), size) / size)  # type: ignore[arg-type]
            pages = _unknown(book, context, owner, pages)
            pending.append(_Batch(extracting.submit(_extract, book.run_id, plan, owner, pages), failures))
            while len(pending) > 1:
                stored += _store(context, plan, pending.popleft())
            done = ArchiveFileDone(name, plan.scope, counts.read, counts.matched, stored, counts.broken)
            stored += _store(context, plan, pending.popleft(), done)
    except ArchiveError as error:
        # a file that cannot be opened or downloaded fails alone; it is not recorded as read
        book.logger.warning("%s", error)
        with book.writer.write():
            store_batch(book.db, book.run_id, [], [], [Failure.from_error("fetch", error)])
        for report in context.reports.values():
            report.failures[error.outcome] += 1
        return None
    update_progress_artifact(progress, 100.0)  # type: ignore[arg-type]
    return dataclasses.replace(done, stored=stored)  # the mark, with its last batch's articles counted


def _unknown(
    book: RunBook, context: _Context, owner: Callable[[str], Source | None], pages: list[FetchedPage]
) -> list[FetchedPage]:
    """The pages whose address is not stored yet (nor failed for good), as a backfill of new articles takes
    them: an archived capture never replaces what is stored, however it came (a live fetch is newer).  Checked
    before extraction, to spare the work, and again when the batch is stored, after the batches before it."""
    with stage(book.run_id, "plan"):
        known = known_urls(book.db, [p.url for p in pages])
    for page in pages:
        source = owner(page.url) if page.url in known else None
        if source is not None:
            context.reports[source.name].skipped += 1
    return [p for p in pages if p.url not in known]


def _extract(
    run_id: str, plan: ArchivePlan, owner: Callable[[str], Source | None], pages: list[FetchedPage]
) -> list[_Extracted]:
    """A batch's pages extracted in the run's workers, each with its source's options."""
    groups: dict[str, list[FetchedPage]] = {}
    by_name = {s.name: s for s in plan.sources}
    for page in pages:
        source = owner(page.url)
        if source is not None:
            groups.setdefault(source.name, []).append(page)
    out = []
    with stage(run_id, "extract"):
        for name, group in groups.items():
            source = by_name[name]
            extracted, failed = split_results(extract_all(group, source.extract_options(), plan.workers))
            out.append(_Extracted(source, group, extracted, failed))
    return out


def _store(context: _Context, plan: ArchivePlan, batch: _Batch, done: ArchiveFileDone | None = None) -> int:
    """Store a batch's articles published inside the window, one transaction per source (``done``, the
    file's mark, goes with the last; a batch with no page still writes it); returns the articles stored."""
    book = context.book
    groups = wait_for(batch.extraction) or [_Extracted(plan.sources[0], [], [], [])]  # a signal ends the wait
    stored = 0
    for index, group in enumerate(groups):
        inside = [e for e in group.extracted if plan.window.admits(e.article.published_at)]
        with stage(book.run_id, "plan"):
            known = known_urls(book.db, [e.page.url for e in inside])  # what the batches before stored
        kept = [e for e in inside if e.page.url not in known]
        failures = [*group.failed, *(batch.failures if index == 0 else [])]
        last = index == len(groups) - 1
        mark = dataclasses.replace(done, stored=done.stored + stored) if done is not None and last else None
        with stage(book.run_id, "store-call"), book.writer.write(), stage(book.run_id, "store"):
            counts = store_batch(book.db, book.run_id, [e.page for e in kept], kept, failures,
                                 source=group.source.name, archive_done=mark)  # fmt: skip
        report = context.reports[group.source.name]
        report.discovered += len(group.pages)
        report.skipped += len(group.extracted) - len(kept)
        report.count(len(group.pages), counts, failures)
        stored += counts.new + counts.updated + counts.unchanged
    return stored


def check_archive_mode(mode: str) -> None:
    """A ConfigError unless ``mode`` is one an archive backfill runs in ("new")."""
    if mode != "new":
        raise ConfigError(f"a backfill from web archives takes only new pages: the mode must be 'new', not {mode!r}")
