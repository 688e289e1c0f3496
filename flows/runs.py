"""What every flow run shares: its ``runs`` row, per-source counts, artifacts and failure handling.

A run's report is built from ``SourceReport``s (one per source, plus "urls"
for URLs given by hand).  At the end it is written to the ``runs`` table and
shown as a table and a markdown artifact on the flow run.  A run that fails
on infrastructure (database, sources file) records why before it raises.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast

from prefect import get_run_logger
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext
from prefect.states import Failed

from crawl.interrupts import run_cancelled, signal_of
from crawl.sources import Source
from extractors.errors import ConfigError, NewsflowError
from extractors.records import Failure
from flows.extraction_pool import workers_for_run
from flows.timing import Timings, start_clock, stop_clock
from flows.writer_guard import WriterLease, single_writer
from storage.lookups import CrawlState, DatabaseState, runs_in_progress
from storage.staging import RunStaging
from storage.writer import BatchCounts, RunRecord, mark_runs_crashed, record_run, record_sources, sweep_page_files


def crashed_runs(db: str, host: str, own_pid: int) -> list[str]:
    """The runs recorded as ``running`` by processes of ``host`` that no longer exist."""
    return [run for run, pid in runs_in_progress(db, host) if pid != own_pid and not _alive(pid)]


def _alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine (signal 0 only checks; nothing is sent).

    A recycled pid reads as alive: the old run then stays ``running``, never wrongly ``crashed``.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


class _NewsflowErrorLoggedOnce(logging.Filter):
    """Drops a record whose exception is a newsflow error: the run logged it in one line already."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], NewsflowError))


#: Seconds a run stopped by a signal waits for the database to record that (another writer may hold it).
CANCEL_RECORD_SECONDS = 3.0

_ENGINE_LOGGER = "prefect.flow_runs"
"""Where Prefect's engine logs "Engine execution exited with unexpected exception", with the traceback, when a
deployment's run ends Failed (``prefect.flow_engine.run_flow``'s ``error_logger``)."""


def _quiet_engine_for_newsflow_errors() -> None:
    logger = logging.getLogger(_ENGINE_LOGGER)
    if not any(isinstance(f, _NewsflowErrorLoggedOnce) for f in logger.filters):
        logger.addFilter(_NewsflowErrorLoggedOnce())


def _failed(error: NewsflowError) -> IngestReport:
    """The run's final state for ``error``, already logged in one line.

    Prefect makes a returned state the run's final state (and raises ``data`` to a direct caller); raised, the
    error would be logged with its traceback, and again as the run's final state.  A deployment's run still
    ends in Prefect's engine raising it, with a traceback: that one is dropped."""
    _quiet_engine_for_newsflow_errors()
    return cast(IngestReport, Failed(message=str(error), data=error))


def refused(error: NewsflowError) -> IngestReport:
    """A run that cannot start (bad parameters): one line in its log, the run Failed with the error, which a
    direct caller gets raised (as ``RunBook.run`` does for errors once the run has started)."""
    get_run_logger().error("run failed: %s", error)
    return _failed(error)


def staging_url(given: str | None, setting: str | None, flow: str) -> str:
    """The staging URL a ``crawl`` or ``merge`` run uses: the parameter, else NEWSFLOW_STAGING_URL."""
    url = given or setting
    if not url:
        raise ConfigError(f"{flow} needs a staging URL (the staging parameter or NEWSFLOW_STAGING_URL)")
    return url


@dataclass(slots=True)
class SourceReport:
    """Counts for one source in one run (mutable while the run goes on)."""

    source: str
    discovered: int = 0
    skipped: int = 0
    fetched: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    not_modified: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    left_out: list[str] = field(default_factory=list)
    """Why discovered URLs were not fetched ("12 dated outside 2026-03-01..2026-04-30", "40 over max_articles")."""

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def count(self, fetched: int, counts: BatchCounts, failures: Iterable[Failure]) -> None:
        """Add a stored batch: the pages it fetched, what the store did with their articles, the URLs that failed."""
        self.fetched += fetched
        self.new += counts.new
        self.updated += counts.updated
        self.unchanged += counts.unchanged
        self.not_modified += counts.not_modified
        self.failures.update(f.outcome for f in failures)


@dataclass(frozen=True, slots=True)
class IngestReport:
    """What one run did, as counts (also stored in the ``runs`` table and shown as artifacts)."""

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
    """Discovered URLs not fetched: already stored, or over the per-run cap."""
    sources: tuple[tuple[str, dict[str, int]], ...] = ()
    """Per-source counts, in run order."""
    timings: Timings | None = None
    """Where the run's wall time went (busy seconds per stage, idle seconds)."""


def _row(report: SourceReport) -> dict[str, object]:
    return {
        "source": report.source, "discovered": report.discovered, "skipped": report.skipped,
        "fetched": report.fetched, "new": report.new, "updated": report.updated, "unchanged": report.unchanged,
        "not_modified": report.not_modified, "failed": report.failed,
        "failed_by_reason": ", ".join(f"{k}: {v}" for k, v in sorted(report.failures.items())) or "-",
        "not_fetched": ", ".join(report.left_out) or "-",
        "seconds": round(report.seconds, 1),
    }  # fmt: skip


class RunBook:
    """The bookkeeping of one flow run: its row in ``runs``, per-source counts, progress, artifacts."""

    def __init__(self, flow: str, db: str, parameters: dict[str, object]) -> None:
        context = FlowRunContext.get()
        self.run_id = str(context.flow_run.id) if context and context.flow_run else str(uuid.uuid4())
        self.flow = flow
        self.db = db
        self.parameters = json.dumps(parameters, default=str)
        self.started = datetime.now(UTC)
        self.sources: list[SourceReport] = []
        self.requested = 0
        self._progress: object | None = None
        self._clock = time.monotonic()
        self.stages = start_clock(self.run_id)
        #: every write of the run goes through this lease on the writer slot
        self.writer = WriterLease(db)
        self.logger = get_run_logger()
        #: what is stored already, for the crawl's choices (a staged crawl reads the merge's published copy)
        self.state: CrawlState = DatabaseState(db)
        #: a crawl worker's staging area, where its batches go instead of the database (None: the database)
        self.staged: RunStaging | None = None

    def start(self) -> None:
        host, pid = socket.gethostname(), os.getpid()
        with self.writer.write():
            record_run(self.db, RunRecord(
                self.run_id, self.flow, self.started, "running", self.parameters, host=host, pid=pid,
            ))  # fmt: skip
            # a run killed on this host (SIGKILL, the OOM killer, a reboot) could not record its end
            gone = crashed_runs(self.db, host, pid)
            if gone:
                self.logger.warning("marking %d run(s) whose process is gone as crashed: %s", len(gone), gone)
                reason = f"its process ended without finishing the run (found by run {self.run_id})"
                mark_runs_crashed(self.db, gone, reason)

    @contextmanager
    def source(self, name: str) -> Iterator[SourceReport]:
        report = SourceReport(name)
        self.sources.append(report)
        started = time.monotonic()
        try:
            yield report
        finally:
            report.seconds = time.monotonic() - started

    def track_progress(self, total: int, description: str = "batches done") -> None:
        """A progress artifact in the Prefect UI: ``total`` units (batches, URLs) to do."""
        self._progress = create_progress_artifact(0.0, key=f"{self.flow}-progress", description=description)
        self._total = max(total, 1)
        self._done = 0

    def batch_done(self, units: int = 1) -> None:
        if self._progress is None:
            return
        self._done += units
        update_progress_artifact(self._progress, 100.0 * self._done / self._total)  # type: ignore[arg-type]

    def report(self) -> IngestReport:
        failures: Counter[str] = Counter()
        for source in self.sources:
            failures.update(source.failures)
        return IngestReport(
            run_id=self.run_id, db=self.db, requested=self.requested,
            fetched=sum(s.fetched for s in self.sources), new=sum(s.new for s in self.sources),
            updated=sum(s.updated for s in self.sources), unchanged=sum(s.unchanged for s in self.sources),
            failed=sum(failures.values()), failures=dict(failures),
            not_modified=sum(s.not_modified for s in self.sources), skipped=sum(s.skipped for s in self.sources),
            sources=tuple((s.source, {k: v for k, v in _row(s).items() if isinstance(v, int)}) for s in self.sources),
            timings=self.stages.timings(),
        )  # fmt: skip

    def remember_sources(self, sources: Sequence[Source]) -> None:
        """Keep the sources' configuration in the ``sources`` table, next to what they produced."""
        with self.writer.write():
            record_sources(self.db, [(s.name, s.model_dump_json()) for s in sources])

    def finish(self) -> IngestReport:
        report = self.report()
        if report.new or report.updated:
            # not rebuilt here: a build reads the whole corpus, so every run would pay for all the runs before
            # it (storage/search.py); the next search or the reindex deployment brings it up to date
            self.logger.info(
                "%d articles new or updated: the search index takes them in at the next `newsflow search` or "
                "`newsflow reindex` (the reindex deployment)", report.new + report.updated,
            )  # fmt: skip
        with self.writer.write():
            record_run(self.db, self.end_row("completed", report))
            if report.fetched:
                # body files left by a run killed between writing them and its commit
                sweep_page_files(self.db)
        self.writer.release()
        report = dataclasses.replace(report, timings=self.stages.timings())
        stop_clock(self.run_id)
        self._artifacts(report)
        return report

    def run(self, body: Callable[[], None]) -> IngestReport:
        """Start the run, run its body, finish it, and return its report.

        Any newsflow error (a ConfigError: bad parameters, a bad sources file; a StorageError: disk full,
        a read-only or damaged database) is recorded in the run's ``runs`` row where that can still be
        written, logged in one line with no traceback, ends the run Failed, and is raised to a direct
        caller.  A signal (SIGINT, SIGTERM) marks the row ``cancelled``; see ``crawl/interrupts.py``.
        """
        try:
            self.start()
            with self.running():
                body()
            return self.finish()
        except NewsflowError as error:
            self.fail(error)
            return _failed(error)
        except BaseException as stop:
            signum = signal_of(stop)
            if signum is None:
                raise
            self.end("cancelled", f"interrupted by {signal.Signals(signum).name}")
            run_cancelled(signum, self.run_id)
            raise

    @contextmanager
    def running(self) -> Iterator[None]:
        """The body of a flow run: an error gives the database file and the writer slot back (a body that
        ends well leaves them to ``finish``, which writes next); the extraction workers stop unless another
        run of this process still uses them."""
        try:
            with workers_for_run():
                yield
        except BaseException:
            self.writer.release()
            raise

    def fail(self, error: NewsflowError) -> None:
        """Record why the run stopped (best effort: the database may be what failed)."""
        self.logger.error("run failed: %s", error)
        self.end("failed", str(error))

    def end(self, status: str, reason: str) -> None:
        """Record the run's end as ``status`` for ``reason``, if the database can still be written; a
        cancelled run waits for the file only briefly (the next run marks it crashed otherwise)."""
        self.writer.release()
        stop_clock(self.run_id)
        wait = CANCEL_RECORD_SECONDS if status == "cancelled" else 30.0
        try:
            with single_writer(self.db, timeout_seconds=wait):
                record_run(self.db, self.end_row(status, error=reason), wait_seconds=wait)
        except NewsflowError as second:
            self.logger.error("could not record the run's end (%s) in the runs table either: %s", status, second)

    def end_row(self, status: str, report: IngestReport | None = None, error: str | None = None) -> RunRecord:
        """The run's ``runs`` row as it ends: ``status``, the counts of ``report`` (none for a run that did not
        finish), why it stopped."""
        row = RunRecord(self.run_id, self.flow, self.started, status, self.parameters, datetime.now(UTC),
                        error=error, host=socket.gethostname())  # fmt: skip
        if report is None:
            return row
        return dataclasses.replace(
            row, requested=report.requested, fetched=report.fetched, new=report.new, updated=report.updated,
            unchanged=report.unchanged, failed=report.failed, failures=json.dumps(report.failures),
            not_modified=report.not_modified, skipped=report.skipped,
        )  # fmt: skip

    def _artifacts(self, report: IngestReport) -> None:
        rows = [_row(s) for s in self.sources]
        if rows:
            create_table_artifact(rows, key=f"{self.flow}-sources", description=f"{self.flow}: counts per source")
        seconds = time.monotonic() - self._clock
        lines = [
            f"# {self.flow} run `{self.run_id}`",
            "",
            f"Database `{self.db}`; {seconds:.1f} s.",
            "",
            "| discovered | requested | fetched | new | updated | unchanged | not modified | skipped | failed |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {sum(s.discovered for s in self.sources)} | {report.requested} | {report.fetched} | {report.new} "
            f"| {report.updated} | {report.unchanged} | {report.not_modified} | {report.skipped} | {report.failed} |",
        ]
        if report.timings is not None:
            busy = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in report.timings.stages if seconds)
            lines += ["", f"Busy per stage (stages overlap): {busy or '-'}; idle {report.timings.idle:.1f} s."]
        left_out = [f"- `{s.source}`: {', '.join(s.left_out)}" for s in self.sources if s.left_out]
        if left_out:
            lines += ["", "Discovered but not fetched:", "", *left_out]
        if report.failures:
            lines += ["", "Failed by reason: " + ", ".join(f"`{k}` {v}" for k, v in sorted(report.failures.items()))]
        create_markdown_artifact("\n".join(lines), key=f"{self.flow}-summary", description=f"{self.flow} summary")
