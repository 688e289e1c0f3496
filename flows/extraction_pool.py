"""Extraction across the machine's cores: worker processes turn fetched pages into articles.

Parsing and extraction are CPU-bound and hold the GIL, so threads would not
help; the flow hands each batch to a pool of worker processes (pebble), in
chunks of a few pages so one slow page does not leave a core idle.

Two guards keep a hostile page from costing more than itself:

* in a worker, each page runs under ``ExtractOptions.time_budget`` (SIGALRM in
  the worker's main thread), so a slow page fails with ``ExtractionTimeout``;
* a chunk that outlives its hard deadline (stuck in C code where no signal is
  seen) or whose worker dies (a crash in a C extension, the OOM killer) has its
  worker killed and replaced, and its pages are extracted again one at a time
  so that only the page that did it fails.

Workers start from a fork server that has already imported the extractors and
loaded their language model and date parser (``flows.worker_preload``), and
are replaced after ``MAX_CHUNKS_PER_WORKER`` chunks so memory cannot creep up
over a long run.  This module imports no Prefect: workers stay small.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

from pebble import ProcessExpired, ProcessFuture, ProcessPool

from crawl.interrupts import Interrupted, wait_for
from extractors import ExtractOptions, extract_article
from extractors.errors import ExtractionError, ExtractionTimeout
from extractors.records import Article, Failure, FetchedPage
from storage.packing import PackedHtml, pack_html

#: Chunks a worker handles before it is replaced by a fresh process.
MAX_CHUNKS_PER_WORKER = 250
#: Pages per chunk at most: small enough to balance the cores, large enough to keep IPC cheap.
MAX_CHUNK = 8
#: Seconds a chunk may run beyond its pages' budgets before its worker is killed.
HARD_SLACK = 30.0
#: Budget assumed for the hard deadline when a page has none of its own.
NO_BUDGET_DEADLINE = 120.0
#: added to the workers' niceness (see _yield_to_the_flow)
WORKER_NICENESS = 5


@dataclass(frozen=True, slots=True)
class PageResult:
    """What extraction made of one fetched page: its article or why not, and its body packed for storage."""

    page: FetchedPage
    outcome: Article | Failure
    packed: PackedHtml | None = None


def _extract_one(page: FetchedPage, options: ExtractOptions) -> Article | Failure:
    try:
        return extract_article(page, options)
    except ExtractionError as error:
        # report the URL that was asked for, which is what the fetch log is keyed on
        return dataclasses.replace(Failure.from_error("extract", error), url=page.url)
    except Exception as exc:
        reason = f"extractor bug: {type(exc).__name__}: {exc}"
        return Failure(page.url, "extract", "extraction_error", reason, transient=False)


def extract_pages(pages: Sequence[FetchedPage], options: ExtractOptions) -> list[tuple[Article | Failure, PackedHtml]]:
    """Extract and pack pages one after another in this process (what a worker does with its chunk)."""
    return [(_extract_one(page, options), pack_html(page.body)) for page in pages]


class ExtractionPool:
    """A pool of extraction worker processes; ``extract`` keeps the pages' order."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPool(
            max_workers=workers, max_tasks=MAX_CHUNKS_PER_WORKER, initializer=_yield_to_the_flow, context=_context()
        )

    def extract(self, pages: Sequence[FetchedPage], options: ExtractOptions) -> list[PageResult]:
        if not pages:
            return []
        size = max(1, min(MAX_CHUNK, len(pages) // (self.workers * 4)))
        chunks = [list(pages[i : i + size]) for i in range(0, len(pages), size)]
        futures = [
            self._pool.schedule(extract_pages, (chunk, options), timeout=_deadline(len(chunk), options))
            for chunk in chunks
        ]
        results: list[PageResult] = []
        for chunk, future in zip(chunks, futures, strict=True):
            try:
                results += [PageResult(page, *done) for page, done in zip(chunk, _wait(future), strict=True)]
            except (FutureTimeout, ProcessExpired):
                results += [self._alone(page, options) for page in chunk]
            except Interrupted:
                for pending in futures:
                    pending.cancel()  # type: ignore[no-untyped-call]  # the pool's workers stop with the run
                raise
        return results

    def _alone(self, page: FetchedPage, options: ExtractOptions) -> PageResult:
        """One page in a worker of its own: the page that killed its chunk fails, the others do not."""
        future = self._pool.schedule(extract_pages, ([page], options), timeout=_deadline(1, options))
        try:
            return PageResult(page, *_wait(future)[0])
        except FutureTimeout:
            reason = f"extraction did not finish within {_deadline(1, options):g} s; its worker was killed"
        except ProcessExpired as exc:
            reason = f"the extraction worker died on this page (exit code {exc.exitcode})"
        return PageResult(page, Failure.from_error("extract", ExtractionTimeout(page.url, reason)))

    def close(self) -> None:
        self._pool.stop()  # type: ignore[no-untyped-call]
        self._pool.join()


Chunk = list[tuple[Article | Failure, PackedHtml]]


def _wait(future: ProcessFuture[Chunk]) -> Chunk:
    """A chunk's results, waited for in steps that see a signal's cancellation (pebble's futures are
    concurrent.futures ones, untyped)."""
    return wait_for(cast("Future[Chunk]", future))


def _yield_to_the_flow() -> None:
    """Workers run at a lower CPU priority than the flow's process.

    The flow's fetching and storing are the pipeline's one serial path: while they wait for a core the
    workers soon run out of pages, and every batch commits later.  Niced workers still take every
    cycle the flow does not use.
    """
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)
    # a terminal's Ctrl-C reaches the whole process group: the flow cancels the run and stops the pool;
    # a worker dying of it first would break the pool and log its traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _deadline(pages: int, options: ExtractOptions) -> float:
    return pages * (options.time_budget or NO_BUDGET_DEADLINE) + HARD_SLACK


def _context() -> multiprocessing.context.BaseContext:
    if sys.platform.startswith("linux"):
        # a fork server, not fork: the flow's process has threads (Prefect, the HTTP client's loop), and
        # forking those is unsafe; the server imports and warms the extractors once and forks workers from itself
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__, "flows.worker_preload"])
        return context
    return multiprocessing.get_context("spawn")


_shared: ExtractionPool | None = None
_shared_lock = threading.Lock()


def shared_pool(workers: int) -> ExtractionPool:
    """The process's pool with ``workers`` workers, started on first use and stopped at exit."""
    global _shared
    with _shared_lock:
        if _shared is None or _shared.workers != workers:
            if _shared is not None:
                _shared.close()
            _shared = ExtractionPool(workers)
        return _shared


def start_fork_server(workers: int) -> None:
    """Start the fork server the extraction workers will come from, without waiting for its imports.

    A run's first extraction otherwise starts it and waits for its imports (~0.3 s of a core).  A
    command that is about to run a flow calls this first: the imports then overlap Prefect creating the
    flow run, while the process keeps one core busy.  Nothing for ``workers`` 0 (extraction in process).
    """
    if workers and _context().get_start_method() == "forkserver":
        multiprocessing.forkserver.ensure_running()


_runs_using = 0


@contextmanager
def workers_for_run() -> Iterator[None]:
    """A run that may extract; when the last such run of this process ends, the shared pool stops.

    Idle workers hold ~150 MB each, between scheduled runs and during a run's closing work (the
    search-index rebuild, which needs the memory more); starting them again costs about a second.
    """
    global _runs_using, _shared
    with _shared_lock:
        _runs_using += 1
    try:
        yield
    finally:
        with _shared_lock:
            _runs_using -= 1
            if _runs_using == 0 and _shared is not None:
                _shared.close()
                _shared = None


@atexit.register
def _stop_shared() -> None:
    if _shared is not None:
        _shared.close()


def extract_all(pages: Sequence[FetchedPage], options: ExtractOptions, workers: int) -> list[PageResult]:
    """Extract ``pages`` in ``workers`` processes, or in this process when ``workers`` is 0."""
    if workers == 0:
        return [PageResult(page, *done) for page, done in zip(pages, extract_pages(pages, options), strict=True)]
    return shared_pool(workers).extract(pages, options)
