"""Where web archive files come from: paths, HTTP(S) addresses, and Common Crawl's CC-NEWS listings.

A local WARC file is read in place.  A remote one is downloaded through the
guarded fetcher (address guard, robots.txt, pacing, retries, a size cap of
``NEWSFLOW_MAX_ARCHIVE_BYTES``) into a temporary file, streamed to disk chunk by
chunk, never held in memory; reading then needs a seekable file to step over a
broken record.

CC-NEWS publishes one listing per month, ``crawl-data/CC-NEWS/YYYY/MM/warc.paths.gz``,
of files named ``CC-NEWS-YYYYMMDDHHMMSS-NNNNN.warc.gz`` after the time their
fetching began.  Pages are archived after they are published, so the files for
a window of publication dates are those whose time falls between the window's
first day and ``CCNEWS_LAG_DAYS`` after its last.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol, TypeVar
from urllib.parse import urlsplit

from crawl.fetcher import Fetcher
from crawl.payloads import maybe_gunzip
from crawl.warc import open_local
from extractors.errors import ArchiveError, FeedError
from extractors.records import Failure, FetchedPage

#: Days after its last publication day that a window's pages may still be archived.
CCNEWS_LAG_DAYS = 3
#: Largest monthly listing accepted (a month lists a few thousand paths: ~100 KB gzipped).
LISTING_MAX_BYTES = 16 * 1024 * 1024
T = TypeVar("T")
_CCNEWS_FILE = re.compile(r"CC-NEWS-(\d{14})-\d+\.warc(?:\.gz)?$")


def is_remote(location: str) -> bool:
    return urlsplit(location).scheme.lower() in ("http", "https")


@contextmanager
def opened_archive(location: str, fetcher: Fetcher | None, run: RunAsync, max_bytes: int) -> Iterator[BinaryIO]:
    """The WARC file at ``location`` (a path, or an http(s) address fetched by ``fetcher``) open for reading.

    Raises ArchiveError when the file cannot be opened or downloaded.
    """
    if not is_remote(location):
        with open_local(location) as stream:
            yield stream
        return
    if fetcher is None:
        raise ArchiveError(location, "a remote WARC file needs a fetcher")
    with tempfile.TemporaryFile(prefix="newsflow-warc-") as sink:
        result = run(fetcher.download(location, sink, max_bytes))
        if isinstance(result, Failure):
            raise _error_of(result)
        sink.seek(0)
        yield sink


def _error_of(failure: Failure) -> ArchiveError:
    return ArchiveError(failure.url, f"the WARC file could not be downloaded: {failure.reason} ({failure.outcome})")


def ccnews_months(since: date, until: date) -> list[tuple[int, int]]:
    """(year, month) of every monthly listing that may hold files for publication dates since..until."""
    last = until + timedelta(days=CCNEWS_LAG_DAYS)
    months = []
    year, month = since.year, since.month
    while (year, month) <= (last.year, last.month):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def listing_url(base: str, year: int, month: int) -> str:
    return f"{base.rstrip('/')}/crawl-data/CC-NEWS/{year:04d}/{month:02d}/warc.paths.gz"


def parse_listing(data: bytes, url: str) -> list[str]:
    """The paths a monthly listing names (gzipped or not); FeedError when it is not a listing."""
    text = maybe_gunzip(data, url, LISTING_MAX_BYTES).decode("utf-8", errors="replace")
    paths = [line.strip() for line in text.splitlines() if line.strip()]
    strange = [p for p in paths if not _CCNEWS_FILE.search(p)]
    if strange:
        raise FeedError(url, f"not a CC-NEWS listing: {strange[0][:120]!r} is no CC-NEWS file path")
    return paths


def file_time(path: str) -> datetime:
    """When the fetching of a CC-NEWS file began, from its name."""
    found = _CCNEWS_FILE.search(path)
    if found is None:
        raise ValueError(f"not a CC-NEWS file name: {path}")
    return datetime.strptime(found.group(1), "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def pick_files(paths: list[str], since: date, until: date) -> list[str]:
    """The files whose fetching began between ``since`` and ``CCNEWS_LAG_DAYS`` after ``until``, in time order."""
    start = datetime.combine(since, datetime.min.time(), UTC)
    end = datetime.combine(until + timedelta(days=CCNEWS_LAG_DAYS + 1), datetime.min.time(), UTC)
    return sorted((p for p in paths if start <= file_time(p) < end), key=file_time)


def list_ccnews(base: str, since: date, until: date, fetcher: Fetcher, run: RunAsync) -> list[str]:
    """Addresses of the CC-NEWS files for publication dates since..until, read from the monthly listings.

    A listing that cannot be fetched or read raises its error: a backfill must not pass a month over
    silently.  Only a month after the window's, read for pages archived late, may be missing (not published
    yet)."""
    files: list[str] = []
    own = {(since.year, since.month), (until.year, until.month)}
    for year, month in ccnews_months(since, until):
        url = listing_url(base, year, month)
        result = run(fetcher.fetch(url, "any", max_bytes=LISTING_MAX_BYTES))
        if isinstance(result, Failure):
            if result.status == 404 and (year, month) > max(own):
                continue  # a month after the window, read only for late archiving, that is not published yet
            raise _error_of_listing(result)
        if not isinstance(result, FetchedPage):
            raise FeedError(url, "the listing answered 304 to an unconditional request")
        files += [f"{base.rstrip('/')}/{path.lstrip('/')}" for path in parse_listing(result.body, url)]
    return pick_files(files, since, until)


def _error_of_listing(failure: Failure) -> FeedError:
    return FeedError(failure.url, f"the CC-NEWS listing could not be fetched: {failure.reason} ({failure.outcome})")


def archive_name(location: str) -> str:
    """How a file is named in ``archive_files`` and in errors: its address, or its absolute path."""
    return location if is_remote(location) else str(Path(location).resolve())


class RunAsync(Protocol):
    """Runs a fetcher's coroutine to its end from synchronous code (``FetchSession.run``, ``run_sync``)."""

    def __call__(self, coro: Coroutine[Any, Any, T], /) -> T: ...
