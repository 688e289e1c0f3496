"""Reading and writing web archive files: records in, pages out, and broken records failing alone."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime

import pytest
from fastwarc.warc import ArchiveIterator, WarcRecordType
from warcio.archiveiterator import ArchiveIterator as WarcioIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawl.warc import ReadCounts, WarcWriter, domain_matcher, read_pages
from extractors.records import FetchedPage

WHEN = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def _page(url: str, text: str = "story", content_type: str = "text/html; charset=utf-8") -> FetchedPage:
    body = f"<html><body><article><p>{text} " + "word " * 300 + "</p></article></body></html>"
    return FetchedPage(url, url, 200, (("content-type", content_type),), body.encode(), WHEN)


def _warc(pages: list[FetchedPage]) -> tuple[bytes, list[int]]:
    """A WARC written by newsflow, and each record's offset."""
    out = io.BytesIO()
    writer = WarcWriter(out)
    offsets = []
    for page in pages:
        offsets.append(out.tell())
        writer.write_page(page)
    return out.getvalue(), offsets


def _read(data: bytes, domains: list[str]) -> tuple[list[object], ReadCounts]:
    counts = ReadCounts()
    return list(read_pages(io.BytesIO(data), "test.warc.gz", domain_matcher(domains), counts)), counts


def test_pages_of_the_wanted_hosts_come_out_with_their_archive_time_and_headers() -> None:
    pages = [_page("https://www.example.com/a"), _page("https://other.org/b"), _page("https://news.example.com/c")]
    data, _ = _warc(pages)
    out, counts = _read(data, ["example.com"])
    assert [p.url for p in out if isinstance(p, FetchedPage)] == ["https://www.example.com/a", "https://news.example.com/c"]
    first = out[0]
    assert isinstance(first, FetchedPage)
    assert first.fetched_at == WHEN and first.status == 200 and first.body == pages[0].body
    assert dict(first.headers)["content-type"] == "text/html; charset=utf-8"
    assert (counts.read, counts.matched, counts.broken) == (3, 2, 0)


@pytest.mark.parametrize(
    ("url", "matches"),
    [
        ("https://example.com/x", True),
        ("https://a.b.example.com/x", True),
        ("https://EXAMPLE.com./x", True),
        ("https://badexample.com/x", False),
        ("https://example.com.evil.org/x", False),
        ("not a url", False),
        ("https://[::1/x", False),
    ],
)
def test_a_domain_takes_its_host_and_subdomains_only(url: str, matches: bool) -> None:
    assert domain_matcher(["example.com"])(url) is matches


def test_what_is_not_an_html_page_is_left_out() -> None:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    for status, content_type in (("301 Moved", "text/html"), ("200 OK", "image/png"), ("200 OK", "text/html")):
        headers = StatusAndHeaders(status, [("Content-Type", content_type)], protocol="HTTP/1.1")
        record = writer.create_warc_record(
            "https://example.com/p", "response", payload=io.BytesIO(b"<html><p>x</p></html>"), http_headers=headers
        )
        writer.write_record(record)
    pages, counts = _read(out.getvalue(), ["example.com"])
    assert len(pages) == 1 and counts.read == 3


def test_a_gzip_encoded_body_is_inflated_and_its_encoding_headers_dropped() -> None:
    body = b"<html><body><p>" + b"inflated text " * 100 + b"</p></body></html>"
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    headers = StatusAndHeaders(
        "200 OK", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")], protocol="HTTP/1.1"
    )
    payload = gzip.compress(body)
    record = writer.create_warc_record(
        "https://example.com/z", "response", payload=io.BytesIO(payload), http_headers=headers
    )
    writer.write_record(record)
    (page,), _ = _read(out.getvalue(), ["example.com"])
    assert isinstance(page, FetchedPage) and page.body == body
    assert "content-encoding" not in dict(page.headers)


def test_a_broken_record_fails_alone_with_its_offset_and_reading_goes_on() -> None:
    pages = [_page(f"https://example.com/{i}") for i in range(5)]
    data, offsets = _warc(pages)
    broken = bytearray(data)
    for k in range(40, 90):  # inside the third record's compressed bytes
        broken[offsets[2] + k] ^= 0x5A
    out, counts = _read(bytes(broken), ["example.com"])
    failures = [p for p in out if not isinstance(p, FetchedPage)]
    assert [p.url for p in out if isinstance(p, FetchedPage)] == [pages[i].url for i in (0, 1, 3, 4)]
    assert len(failures) == 1
    assert failures[0].outcome == "archive_error"  # type: ignore[attr-defined]
    assert f"offset {offsets[2]}" in failures[0].reason and "test.warc.gz" in failures[0].reason  # type: ignore[attr-defined]
    assert counts.broken == 1 and counts.offsets == [offsets[2]]


def test_junk_between_records_is_one_failure_at_its_offset() -> None:
    pages = [_page(f"https://example.com/{i}") for i in range(3)]
    data, offsets = _warc(pages)
    junk = data[: offsets[1]] + b"not a record at all " * 20 + data[offsets[1] :]
    out, counts = _read(junk, ["example.com"])
    assert [p.url for p in out if isinstance(p, FetchedPage)] == [p.url for p in pages]
    assert counts.offsets == [offsets[1]]


def test_a_broken_first_record_does_not_stop_the_file() -> None:
    pages = [_page(f"https://example.com/{i}") for i in range(3)]
    data, _ = _warc(pages)
    broken = bytearray(data)
    for k in range(30, 60):
        broken[k] ^= 0xFF
    out, counts = _read(bytes(broken), ["example.com"])
    assert [p.url for p in out if isinstance(p, FetchedPage)] == [pages[1].url, pages[2].url]
    assert counts.offsets == [0]


def test_a_file_cut_inside_its_last_record_fails_that_record() -> None:
    pages = [_page(f"https://example.com/{i}") for i in range(3)]
    data, offsets = _warc(pages)
    out, counts = _read(data[:-40], ["example.com"])
    assert [p.url for p in out if isinstance(p, FetchedPage)] == [pages[0].url, pages[1].url]
    last = out[-1]
    assert not isinstance(last, FetchedPage) and last.outcome == "archive_error" and "truncated" in last.reason
    assert counts.offsets == [offsets[2]]


def test_an_uncompressed_warc_is_read_and_a_broken_record_in_it_fails_alone() -> None:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=False)
    for i in range(3):
        headers = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        body = f"<html><p>page {i}</p></html>".encode()
        record = writer.create_warc_record(
            f"https://example.com/{i}", "response", payload=io.BytesIO(body), http_headers=headers
        )
        writer.write_record(record)
    data = out.getvalue()
    pages, _ = _read(data, ["example.com"])
    assert [p.url for p in pages if isinstance(p, FetchedPage)] == [f"https://example.com/{i}" for i in range(3)]
    second = data.index(b"WARC/1", 10)
    broken = data[:second] + b"WARC/9.9 nonsense\r\n\r\n" + data[second + 20 :]
    pages, counts = _read(broken, ["example.com"])
    assert [p.url for p in pages if isinstance(p, FetchedPage)] == ["https://example.com/0", "https://example.com/2"]
    assert counts.broken == 1


def test_a_page_over_the_size_limit_fails_as_too_large() -> None:
    data, _ = _warc([_page("https://example.com/big", "big " * 5000)])
    counts = ReadCounts()
    (out,) = read_pages(io.BytesIO(data), "t", domain_matcher(["example.com"]), counts, max_bytes=2000)
    assert not isinstance(out, FetchedPage) and out.outcome == "too_large"


def test_written_records_are_standard_warc_both_readers_accept() -> None:
    pages = [_page("https://example.com/a"), _page("https://example.com/b")]
    data, _ = _warc(pages)
    read = [
        (r.rec_headers.get_header("WARC-Target-URI"), r.rec_headers.get_header("WARC-Date"),
         r.rec_headers.get_header("WARC-Payload-Digest", ""), r.content_stream().read())
        for r in WarcioIterator(io.BytesIO(data)) if r.rec_type == "response"
    ]  # fmt: skip
    expected = [(p.url, "2025-03-04T05:06:07Z", p.body) for p in pages]
    assert [(url, date, body) for url, date, _, body in read] == expected
    assert all(digest.startswith("sha1:") for _, _, digest, _ in read)
    # FastWARC with digest checks on skips a record whose block or payload digest does not match
    stream = io.BytesIO(data)
    fast = ArchiveIterator(stream, record_types=WarcRecordType.response, verify_digests=True, fsspec_args=False)
    assert sum(1 for _ in fast) == 2
    # one gzip member per record: each can be read alone from its offset
    assert data.count(b"\x1f\x8b\x08") >= 2


def _record(url: str, headers: list[tuple[str, str]], payload: bytes) -> bytes:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(payload), http_headers=http))
    return out.getvalue()


_BODY = b"<html><body><p>" + b"archived text " * 80 + b"</p></body></html>"


def _chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


@pytest.mark.parametrize(
    ("headers", "payload"),
    [
        ([("Transfer-Encoding", "chunked")], _chunked(_BODY[:100], _BODY[100:])),
        ([("Transfer-Encoding", "chunked")], _BODY),  # joined by the archive, the header kept
        ([("Content-Encoding", "br")], __import__("brotli").compress(_BODY)),
        ([("Content-Encoding", "deflate")], __import__("zlib").compress(_BODY)),
        ([("Content-Encoding", "gzip")], _BODY),  # decoded by the archive, the header kept
        ([("Content-Encoding", "gzip"), ("Transfer-Encoding", "chunked")], _chunked(gzip.compress(_BODY))),
    ],
    ids=["chunked", "chunked-header-only", "brotli", "deflate", "gzip-header-only", "gzip-chunked"],
)  # fmt: skip
def test_payloads_archived_as_sent_or_already_decoded_both_give_the_page(
    headers: list[tuple[str, str]], payload: bytes
) -> None:
    data = _record("https://example.com/p", [("Content-Type", "text/html"), *headers], payload)
    (page,), counts = _read(data, ["example.com"])
    assert isinstance(page, FetchedPage) and page.body == _BODY and counts.broken == 0
    assert not {"content-encoding", "transfer-encoding"} & set(dict(page.headers))


def test_a_payload_that_decodes_as_nothing_fails_alone() -> None:
    broken = _record("https://example.com/a", [("Content-Type", "text/html"), ("Content-Encoding", "gzip")],
                     gzip.compress(_BODY)[:-40])  # fmt: skip
    good = _record("https://example.com/b", [("Content-Type", "text/html")], _BODY)
    pages, _ = _read(broken + good, ["example.com"])
    assert [type(p).__name__ for p in pages] == ["Failure", "FetchedPage"]
    assert pages[0].outcome == "archive_error"  # type: ignore[union-attr]


def test_a_target_uri_in_angle_brackets_is_read_as_the_address() -> None:
    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
    record = writer.create_warc_record("<https://example.com/old-style>", "response", payload=io.BytesIO(_BODY),
                                       http_headers=http)  # fmt: skip
    writer.write_record(record)
    (page,), _ = _read(out.getvalue(), ["example.com"])
    assert isinstance(page, FetchedPage) and page.url == "https://example.com/old-style"
