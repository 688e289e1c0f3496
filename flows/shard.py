"""The ``crawl`` flow: one shard's sources fetched and extracted on a Prefect worker, staged for the merge.

A shard is a set of sources (or, with ``hosts``, one share of their hosts), so each host's politeness stays
in one process.  The run is ``ingest``'s (discovery, fetch, extraction; ``flows/ingest.py``) with two
differences: what is stored already is read from the copy of the crawl state the last merge published
(``storage/staging.py``), and every batch goes to the staging area instead of the database, which a crawl
worker never opens.  ``flows/merge.py`` stores the staged batches, in one process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import cast

from prefect import flow
from prefect.context import FlowRunContext

from crawl.fetcher import host_key
from crawl.settings import load_settings
from crawl.sources import Source
from extractors.errors import ConfigError, NewsflowError
from flows.ingest import as_is, gather, stage_task
from flows.parameters import Names, OptionalDay, OptionalText
from flows.runs import IngestReport, RunBook, refused, staging_url
from flows.timing import stop_clock
from storage.staging import RunStaging, Staging

#: The merge deployment a crawl run started by a deployment asks for when it ends (flows/deployments.py).
MERGE_DEPLOYMENT = "merge/merge"


def host_share(spec: str) -> Callable[[str], bool]:
    """``"i/n"`` (1 ≤ i ≤ n): whether a URL's host falls in share i of n (by a hash of the host the fetcher paces
    by, the same on every machine), so n crawls of one source split its hosts between them."""
    try:
        index, count = (int(part) for part in spec.split("/"))
    except ValueError as exc:
        raise ConfigError(f"hosts must be a share written i/n, such as 1/4, not {spec!r}") from exc
    if not 1 <= index <= count:
        raise ConfigError(f"hosts {spec!r}: the share i/n needs 1 <= i <= n")

    def keep(url: str) -> bool:
        digest = hashlib.sha256(host_key(url).encode()).digest()
        return int.from_bytes(digest[:8], "big") % count == index - 1

    return keep


class StagedRunBook(RunBook):
    """A crawl run's bookkeeping: its batches and its final ``runs`` row go to the staging area."""

    def __init__(self, staging: Staging, parameters: dict[str, object], shard: str | None) -> None:
        super().__init__("crawl", f"(staged at {staging.url})", parameters)
        self.staging = staging
        self.staged = RunStaging(staging, self.run_id, shard)

    def start(self) -> None:
        self.state = self.staging.read_state()  # read at the start: what the merges stored up to now
        self.logger.info("staging at %s; the crawl state read holds %d article URLs",
                         self.staging.url, len(self.state.urls))  # fmt: skip

    def remember_sources(self, sources: Sequence[Source]) -> None:
        """The sources table is the database's: the merge host keeps it (its runs remember their sources)."""

    def _stage_run(self, status: str, report: IngestReport | None = None, error: str | None = None) -> None:
        staged = cast(RunStaging, self.staged)
        stage_task(staged, as_is(staged.run(self.end_row(status, report, error))))

    def finish(self) -> IngestReport:
        report = self.report()
        self._stage_run("completed", report)
        stop_clock(self.run_id)
        self._artifacts(report)
        self.logger.info("%d articles staged for the merge at %s", report.new, self.staging.url)
        return report

    def end(self, status: str, reason: str) -> None:
        stop_clock(self.run_id)
        try:
            self._stage_run(status, error=reason)
        except NewsflowError as second:
            self.logger.error("could not stage the run's end (%s) either: %s", status, second)


def _request_merge(book: RunBook) -> None:
    """A crawl started by a deployment asks the merge deployment for a run (queued behind a running one)."""
    context = FlowRunContext.get()
    if context is None or context.flow_run is None or context.flow_run.deployment_id is None:
        return
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    try:
        run_deployment(MERGE_DEPLOYMENT, timeout=0, tags=["newsflow", "after-crawl"])
    except ObjectNotFound:
        book.logger.warning("no %s deployment: the staged batches wait for the next merge", MERGE_DEPLOYMENT)


@flow(name="crawl", log_prints=False)
def crawl_shard(
    sources: Names = (),
    sources_file: OptionalText = None,
    hosts: OptionalText = None,
    staging: OptionalText = None,
    urls: Names = (),
    feeds: Names = (),
    since: OptionalDay = None,
    until: OptionalDay = None,
    refresh: bool = False,
) -> IngestReport:
    """Fetch and extract one shard's articles and stage them for the merge (a worker's flow; never opens the
    DuckDB file).

    Args:
        sources: Sources of the sources file in this shard. Empty: every source (none when URLs or feeds are given).
        sources_file: Path of the sources file. Empty: NEWSFLOW_SOURCES.
        hosts: A share of the sources' hosts, i/n (1/4 … 4/4), for n crawls of one large source. Empty: all.
        staging: Staging URL (directory or s3://bucket/prefix). Empty: NEWSFLOW_STAGING_URL.
        urls: Article page URLs to fetch.
        feeds: RSS/Atom/JSON feed URLs whose entries are fetched as articles.
        since: First publication date, inclusive, in UTC. Empty: no start.
        until: Last publication date, inclusive, in UTC. Empty: no end.
        refresh: Fetch discovered URLs again although they are stored (conditional requests).
    """
    settings = load_settings()
    try:
        url = staging_url(staging, settings.staging_url, "crawl")
        keep = host_share(hosts) if hosts else None
        area = Staging(url)
    except NewsflowError as error:
        return refused(error)
    shard = ",".join(sources) + (f" hosts {hosts}" if hosts else "") or None
    book = StagedRunBook(area, {
        "sources": list(sources), "sources_file": sources_file, "hosts": hosts, "staging": url, "urls": list(urls),
        "feeds": list(feeds), "since": since, "until": until, "refresh": refresh,
    }, shard)  # fmt: skip

    def body() -> None:
        gather(book, settings, sources, sources_file, urls, feeds, since, until, refresh, keep)

    report = book.run(body)
    if isinstance(report, IngestReport):
        _request_merge(book)
    return report
