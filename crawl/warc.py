"""Web archive (WARC) files in and out: FastWARC reads, warcio writes, ISA-L compresses.

Each library does what it is best at: FastWARC iterates records about twice as
fast as warcio and can skip a record on its headers before its body is read
(``func_filter``); warcio writes standard WARC/1.1 records with their block and
payload digests; ISA-L gzips each record on its own (one gzip member per
record, which every WARC reader accepts and which lets a reader seek to a
record).  Nothing else in newsflow imports these libraries.

Reading turns ``response`` records of HTML pages into ``FetchedPage`` values
(``url`` = WARC-Target-URI, ``fetched_at`` = WARC-Date, the HTTP status and
headers of the archived response).  A broken or truncated record does not end
the file: it becomes a ``Failure`` (``archive_error``, naming the file and the
record's offset) and reading goes on at the next record that parses.
"""

from __future__ import annotations

import http
import io
import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import brotli
import h11
from fastwarc.warc import ArchiveIterator, WarcRecord, WarcRecordType
from isal import igzip
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawl.payloads import GZIP_MAGIC, gunzip_capped
from extractors.errors import ArchiveError, NewsflowError, TooLarge
from extractors.records import Attempt, Failure, FetchedPage

_HTML_TYPES = frozenset(("text/html", "application/xhtml+xml"))
#: Headers that describe the transfer, not the page: the body is stored decoded, its length recomputed.
_TRANSFER_HEADERS = frozenset(("content-encoding", "transfer-encoding", "content-length"))
_GZIP_MEMBER = re.compile(rb"\x1f\x8b\x08")
_WARC_RECORD = re.compile(rb"(?:^|\r?\n)(WARC/1\.[01]\r?\n)")
#: Bytes read at a time while looking for the next record after a broken one.
_SCAN_CHUNK = 1 << 20
#: Largest page accepted from an archive, as a live fetch's default ``NEWSFLOW_MAX_BYTES``.
DEFAULT_MAX_PAGE_BYTES = 10 * 1024 * 1024
#: ISA-L's levels run 0-3; level 1 packs HTML to about a quarter at several times zlib's speed.
GZIP_LEVEL = 1


def domain_matcher(domains: Iterable[str]) -> Callable[[str], bool]:
    """Whether a URL's host is one of ``domains`` or under one of them (``example.com`` takes ``www.example.com``)."""
    wanted = frozenset(d.lower().strip(".") for d in domains)

    def matches(url: str) -> bool:
        try:
            host = (urlsplit(url).hostname or "").rstrip(".")
        except ValueError:
            return False
        while host:
            if host in wanted:
                return True
            host = host.partition(".")[2]
        return False

    return matches


@dataclass(slots=True)
class ReadCounts:
    """What reading one archive file met: response records, those of the wanted hosts that are HTML pages."""

    read: int = 0
    matched: int = 0
    broken: int = 0
    offsets: list[int] = field(default_factory=list)
    """Offsets of the broken records."""


def read_pages(
    stream: BinaryIO,
    name: str,
    wanted: Callable[[str], bool],
    counts: ReadCounts | None = None,
    max_bytes: int = DEFAULT_MAX_PAGE_BYTES,
) -> Iterator[FetchedPage | Failure]:
    """The archived HTML pages of the wanted hosts in a WARC file (gzipped per record, or not at all), in file
    order, and a ``Failure`` for each record that cannot be read; ``stream`` must be seekable.

    Records of other hosts are skipped on their headers, before their bodies are read; a page over
    ``max_bytes`` (as archived, or inflated) fails as ``too_large``, as a live fetch would.
    """
    counts = counts if counts is not None else ReadCounts()
    for item in _read(stream, name, wanted, counts, max_bytes):
        counts.matched += isinstance(item, FetchedPage)
        yield item


def _read(
    stream: BinaryIO, name: str, wanted: Callable[[str], bool], counts: ReadCounts, max_bytes: int
) -> Iterator[FetchedPage | Failure]:
    while True:
        last_good = stream.tell()  # the start of the last record read well, or of this reading
        held: tuple[FetchedPage | Failure, int, int] | None = None  # the newest page, until it is known whole
        try:
            for record in _records(stream, wanted, counts):
                last_good = record.stream_pos  # FastWARC counts from the file's start, not from where it began
                page = _page(record, name, last_good, max_bytes)
                if page is None:
                    continue
                if held is not None:
                    yield held[0]
                held = (page, last_good, record.content_length)
            if held is not None:
                # FastWARC hands out a record cut short by the end of the file as if it were whole
                page, offset, length = held
                if not _whole(stream, offset, length):
                    reason = f"{name}: the WARC record at offset {offset} is truncated: the file ends inside it"
                    page = Failure.from_error("fetch", ArchiveError(page.url, reason, offset))
                    counts.broken += 1
                    counts.offsets.append(offset)
                yield page
            return
        except OSError as error:
            # FastWARC stops at a record it cannot decompress or parse: that record fails alone (the one
            # before it was read to its end)
            if held is not None:
                yield held[0]
            offset, resume = _broken_span(stream, last_good)
            counts.broken += 1
            counts.offsets.append(offset)
            reason = f"{name}: broken WARC record at offset {offset}: {error}"
            yield Failure.from_error("fetch", ArchiveError(f"{name}#offset={offset}", reason, offset))
            if resume is None:
                return
            stream.seek(resume)


def _target_uri(record: WarcRecord) -> str:
    # WARC/1.1's grammar put the URI in angle brackets, and some writers still do
    uri = str(record.headers.get("WARC-Target-URI", "") or "").strip()
    return uri.removeprefix("<").removesuffix(">")


def _records(stream: BinaryIO, wanted: Callable[[str], bool], counts: ReadCounts) -> Iterator[WarcRecord]:
    def keep(record: WarcRecord) -> bool:
        counts.read += 1
        return wanted(_target_uri(record))

    # not FastWARC's own decoding of Content-Encoding: a broken gzip body must fail its record, not the file
    return iter(
        ArchiveIterator(
            stream, record_types=WarcRecordType.response, parse_http=True, func_filter=keep, fsspec_args=False
        )
    )


def _page(record: WarcRecord, name: str, offset: int, max_bytes: int) -> FetchedPage | Failure | None:
    """The record as a fetched page; None for a response that is no HTML page (a redirect, an image)."""
    url = _target_uri(record) or f"{name}#offset={offset}"
    http_headers = record.http_headers
    status = http_headers.status_code if http_headers is not None else None
    if http_headers is None or status is None:
        reason = f"{name}: WARC record at offset {offset} holds no readable HTTP response (truncated?)"
        return Failure.from_error("fetch", ArchiveError(url, reason, offset))
    if status != 200:
        return None
    headers = tuple((str(k).lower(), str(v)) for k, v in http_headers.items())
    content_type = (record.http_content_type or "").split(";", 1)[0].strip().lower()
    if record.content_length > max_bytes:
        reason = f"{name}: WARC record at offset {offset} is over the {max_bytes}-byte page limit"
        return Failure.from_error("fetch", TooLarge(url, reason))
    body = record.reader.read()
    if content_type not in _HTML_TYPES and not (not content_type and body.lstrip()[:1] == b"<"):
        return None
    try:
        body = _decoded(body, dict(headers), url, max_bytes)
    except NewsflowError as error:
        reason = f"{name}: WARC record at offset {offset}: {error.reason}"
        return Failure.from_error("fetch", ArchiveError(url, reason, offset))
    headers = tuple((k, v) for k, v in headers if k not in _TRANSFER_HEADERS)
    at = record.record_date or datetime.now(UTC)
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    attempt = Attempt(url, 1, at, status, len(body), 0, "ok", None, url)
    return FetchedPage(url, url, status, headers, body, at, (attempt,))


def _decoded(body: bytes, headers: dict[str, str], url: str, max_bytes: int) -> bytes:
    """The page as the server meant it: archives keep some payloads as they were sent (chunked, compressed),
    others decoded but with the original headers.  A payload that does not decode as its headers say but
    already reads as HTML is kept; one that reads as neither fails (ArchiveError).

    Not FastWARC's own decoding: it raises on the first such mismatch and ends the whole file."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = _dechunked(body)
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding in ("", "identity") or (body.lstrip()[:1] == b"<" and not body.startswith(GZIP_MAGIC)):
        return body
    try:
        if encoding in ("gzip", "x-gzip"):
            return gunzip_capped(body, url, max_bytes)
        if encoding == "deflate":
            inflater = zlib.decompressobj(zlib.MAX_WBITS if body[:1] == b"\x78" else -zlib.MAX_WBITS)
            inflated = inflater.decompress(body, max_bytes + 1)
        elif encoding == "br":
            inflated = brotli.decompress(body)
        else:
            raise ArchiveError(url, f"the payload is in an encoding newsflow does not read: {encoding!r}")
    except (zlib.error, brotli.error) as error:
        raise ArchiveError(url, f"the payload is not valid {encoding}: {error}") from error
    if len(inflated) > max_bytes:
        raise TooLarge(url, f"the decoded payload is over the {max_bytes}-byte page limit")
    return inflated


def _dechunked(body: bytes) -> bytes:
    """A chunked payload joined by h11 (httpx's HTTP/1.1 parser); the payload as it is if it is not chunked."""
    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="GET", target="/", headers=[("Host", "archive")]))
    connection.receive_data(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    connection.receive_data(b"")
    pieces: list[bytes] = []
    try:
        while True:
            event = connection.next_event()
            if isinstance(event, h11.Data):
                pieces.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(pieces)
            elif event is h11.NEED_DATA or isinstance(event, h11.ConnectionClosed):
                return body
    except h11.RemoteProtocolError:
        return body  # archived already joined, the header kept


def _whole(stream: BinaryIO, offset: int, length: int) -> bool:
    """Whether the last record of the file, at ``offset`` with a block of ``length`` bytes, is all there."""
    stream.seek(offset)
    if stream.read(3) == b"\x1f\x8b\x08":
        return _member_end(stream, offset) is not None
    return stream.seek(0, io.SEEK_END) - offset >= length


def _broken_span(stream: BinaryIO, last_good: int) -> tuple[int, int | None]:
    """Where the record that broke the reading starts, and where the next readable record starts (None:
    none follows).  ``last_good``: the start of the last record read well (or of the reading).

    In a file gzipped per record the records after ``last_good`` are walked member by member, so a broken
    member, or bytes between two members, is found where it begins; in an uncompressed file the first
    ``WARC/1.x`` line that does not read is the broken record.
    """
    stream.seek(last_good)
    gzipped = stream.read(3) == b"\x1f\x8b\x08"
    broken = last_good
    if gzipped:
        while _starts_record(stream, broken):
            end = _member_end(stream, broken)
            if end is None:
                break
            broken = end
    else:
        broken = next((c for c in _record_starts(stream, last_good) if not _starts_record(stream, c)), last_good)
    resume = next((c for c in _record_starts(stream, broken + 1) if _starts_record(stream, c)), None)
    return broken, resume


def _member_end(stream: BinaryIO, offset: int) -> int | None:
    """Where the gzip member starting at ``offset`` ends (None: it does not end well)."""
    stream.seek(offset)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    consumed = 0
    while not inflater.eof:
        chunk = stream.read(_SCAN_CHUNK)
        if not chunk:
            return None
        try:
            inflater.decompress(chunk)
        except zlib.error:
            return None
        consumed += len(chunk)
    return offset + consumed - len(inflater.unused_data)


def _record_starts(stream: BinaryIO, after: int) -> Iterator[int]:
    """Offsets at or after ``after`` where a record may start: a gzip member's magic number, or (in an
    uncompressed file) a ``WARC/1.x`` line."""
    position, seen = after, -1
    while True:
        stream.seek(position)
        chunk = stream.read(_SCAN_CHUNK)
        if not chunk:
            return
        found = sorted(
            {position + m.start() for m in _GZIP_MEMBER.finditer(chunk)}
            | {position + m.start(1) for m in _WARC_RECORD.finditer(chunk)}
        )
        for candidate in found:
            if candidate > seen and candidate >= after:
                seen = candidate
                yield candidate
        if len(chunk) < _SCAN_CHUNK:
            return
        # chunks overlap a little: a record start cut by one chunk's end is found in the next
        position += len(chunk) - 16


def _starts_record(stream: BinaryIO, offset: int) -> bool:
    stream.seek(offset)
    try:
        next(iter(ArchiveIterator(stream, parse_http=False, fsspec_args=False)))
    except (OSError, StopIteration):
        return False
    return True


def open_local(path: str | Path) -> BinaryIO:
    """A WARC file on disk, opened for ``read_pages``; ArchiveError when it cannot be opened."""
    try:
        return open(path, "rb")  # the caller closes it
    except OSError as error:
        raise ArchiveError(str(path), f"cannot open the WARC file {path}: {error.strerror or error}") from error


class WarcWriter:
    """Writes WARC/1.1 ``response`` records, one gzip member each, to a binary file."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.records = 0

    def write_page(self, page: FetchedPage) -> None:
        """One page as its response: the URL it came from, its fetch time, its status, headers and body."""
        buffer = io.BytesIO()
        writer = WARCWriter(buffer, gzip=False, warc_version="WARC/1.1")
        phrase = _reason_phrase(page.status)
        headers = [(k, v) for k, v in page.headers if k.lower() not in _TRANSFER_HEADERS]
        headers.append(("Content-Length", str(len(page.body))))
        http_headers = StatusAndHeaders(f"{page.status} {phrase}", headers, protocol="HTTP/1.1")
        record = writer.create_warc_record(
            page.final_url,
            "response",
            payload=io.BytesIO(page.body),
            http_headers=http_headers,
            warc_headers_dict={"WARC-Date": _warc_date(page.fetched_at)},
        )
        writer.write_record(record)
        self._out.write(igzip.compress(buffer.getvalue(), GZIP_LEVEL))
        self.records += 1


def _reason_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _warc_date(when: datetime) -> str:
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + (f".{when.microsecond:06d}Z" if when.microsecond else "Z")
