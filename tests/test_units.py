"""Small pure pieces: URL keys, dates, authors, charset decoding, boilerplate rules."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trafilatura.utils import repair_faulty_html

from extractors import extract_html
from extractors import html as html_module
from extractors.dates import find_visible_dates, get_zone, parse_machine_date
from extractors.errors import ExtractionError, InvalidURL, NoArticleContent
from extractors.html import decode_html
from extractors.metadata import clean_author_names
from extractors.urls import normalize_url, url_key


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("HTTPS://WWW.Example.COM:443/a/?utm_source=x&id=3&fbclid=1#top", "https://www.example.com/a/?id=3"),
        ("http://example.com/a?gclid=1&mc_cid=2", "http://example.com/a"),
    ],
)
def test_normalize_url(raw: str, normalised: str) -> None:
    assert normalize_url(raw) == normalised


def test_url_key_folds_host_and_amp_variants() -> None:
    keys = {url_key(normalize_url(u)) for u in (
        "https://www.example.com/news/story/", "http://m.example.com/news/story", "https://amp.example.com/news/story/amp/",
        "https://example.com/news/story?amp=1",
    )}  # fmt: skip
    assert keys == {"https://example.com/news/story"}
    assert url_key(normalize_url("http://127.0.0.1:8765/a/")) == "https://127.0.0.1:8765/a"


def test_normalize_rejects_non_http() -> None:
    with pytest.raises(InvalidURL):
        normalize_url("ftp://example.com/x")


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("Kamis, 21 Mei 2026 | 14:15 WIB", "UTC", datetime(2026, 5, 21, 7, 15, tzinfo=UTC)),
        ("Senin, 4 Mei 2026 09:00 WITA", "UTC", datetime(2026, 5, 4, 1, 0, tzinfo=UTC)),
        ("04.03.2026, 18:42 Uhr", "Europe/Berlin", datetime(2026, 3, 4, 17, 42, tzinfo=UTC)),
        ("4 mars 2026 à 18h42", "Europe/Paris", datetime(2026, 3, 4, 17, 42, tzinfo=UTC)),
        ("2 de junio de 2026, 10:30", "America/Argentina/Buenos_Aires", datetime(2026, 6, 2, 13, 30, tzinfo=UTC)),
        ("July 9, 2026 9:15 PM UTC", "Asia/Jakarta", datetime(2026, 7, 9, 21, 15, tzinfo=UTC)),
    ],
)
def test_visible_dates(text: str, zone: str, expected: datetime) -> None:
    assert find_visible_dates(text, get_zone(zone))[0] == (expected, True)


def test_machine_dates() -> None:
    assert parse_machine_date("2026-05-12T09:30:00+07:00") == (datetime(2026, 5, 12, 2, 30, tzinfo=UTC), True)
    assert parse_machine_date("2026-05-12", get_zone("Asia/Jakarta")) == (
        datetime(2026, 5, 11, 17, 0, tzinfo=UTC),
        False,
    )
    assert parse_machine_date("not a date") is None


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ("By Sarah Johnson and Tom Lee, Staff Writers", ["Sarah Johnson", "Tom Lee"]),
        ("Von Julia Becker und Martin Schulz", ["Julia Becker", "Martin Schulz"]),
        ("Penulis: Rina Wulandari", ["Rina Wulandari"]),
        ("Oleh Andi Saputra dan Dewi Lestari", ["Andi Saputra", "Dewi Lestari"]),
        ("Por María López y Juan Pérez (Redactor) · maria@example.com", ["María López", "Juan Pérez"]),
    ],
)
def test_author_cleaning(raw: str, names: list[str]) -> None:
    assert clean_author_names(raw) == names


def test_charset_from_meta_only() -> None:
    html = '<html><head><meta charset="windows-1252"></head><body><p>Café – “quoted”</p></body></html>'
    assert "Café – “quoted”" in decode_html(html.encode("cp1252"))
    assert "Fußball" in decode_html("<p>Fußball</p>".encode("iso-8859-1"), header_charset="iso-8859-1")


def test_running_prose_with_a_marker_word_is_kept() -> None:
    html = b"""<html><body><article><h1>T</h1>
    <p>Read more about the council's plans, the mayor said on Tuesday, because the budget debate will continue
    next week and residents are invited to <a href="/consultation">the consultation</a> which runs
    until the end of the month.</p>
    <p>Also read: <a href="/other">Another story entirely</a></p>
    <p>The second paragraph of the story is long enough to count as text for the extractor, with several
    clauses in it.</p>
    </article></body></html>"""
    article = extract_html(html, "https://x.example/story")
    assert "Read more about the council's plans" in article.body_text
    assert "Another story" not in article.body_text
    assert [link.url for link in article.related_links] == ["https://x.example/other"]


def test_page_without_text_raises() -> None:
    with pytest.raises(NoArticleContent):
        extract_html(b"<html><body><nav><a href='/'>Home</a></nav></body></html>", "https://x.example/")


def test_an_agency_credited_beside_a_reporter_is_not_an_author() -> None:
    html = (
        b"<html><head><meta name='author' content='Sarah Johnson, Harbour Wire'><title>T</title></head><body><article>"
        + b"<p>Dock workers voted on Thursday to end a nine-day strike after accepting a pay rise.</p>" * 5
        + b"</article></body></html>"
    )
    assert extract_html(html, "https://x.example/a").authors == ("Sarah Johnson",)
    alone = html.replace(b"Sarah Johnson, Harbour Wire", b"Harbour Wire")
    assert extract_html(alone, "https://x.example/a").authors == ("Harbour Wire",)  # nobody else to credit


@pytest.mark.parametrize("body", [b"\x00\x01garbage", b"just some plain text, no markup"])
def test_a_body_without_any_markup_is_refused_clearly(body: bytes) -> None:
    with pytest.raises(ExtractionError, match="not an HTML document"):
        extract_html(body, "https://x.example/a")


def test_a_body_compressed_without_saying_so_is_decompressed() -> None:
    html = (
        b"<html><head><title>Dock strike ends</title></head><body><article>"
        + b"<p>Dock workers voted on Thursday to end a nine-day strike after accepting a pay rise.</p>" * 5
        + b"</article></body></html>"
    )
    article = extract_html(gzip.compress(html), "https://x.example/a")
    assert article.title == "Dock strike ends"
    assert article.body_text.startswith("Dock workers voted on Thursday")


@pytest.mark.parametrize(
    "body",
    [
        gzip.compress(b"<html>" + bytes(range(256)) * 40)[:300],  # a truncated archive: not decompressible
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40 + b"<p>",  # an image that happens to hold a '<'
        b"%PDF-1.7\n" + bytes(range(7, 32)) * 400 + b"<</Type /Catalog>>",
    ],
)
def test_a_binary_body_is_refused_not_decoded_into_mojibake(body: bytes) -> None:
    with pytest.raises(ExtractionError, match="binary content"):
        extract_html(body, "https://x.example/a")


def test_a_crawl_collects_garbage_once_enough_page_bytes_were_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from extractors.article import fetched_page_from_file
    from flows import ingest

    collections: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda *args: collections.append(1) or 0)
    monkeypatch.setattr(ingest, "COLLECT_AFTER_BYTES", 1000)
    collector = ingest._Collector("run")
    page = fetched_page_from_file(b"x" * 400, "https://a.example/")
    collector.stored([page])
    collector.stored([])  # a batch of 304s: no bodies
    assert collections == []
    collector.stored([page, page])  # 1,200 bytes since the last collection
    collector.stored([page])
    assert collections == [1]



def test_fetch_batches_grow_while_the_answers_are_304s_and_shrink_at_the_first_pages() -> None:
    from extractors.article import fetched_page_from_file
    from extractors.records import NotModified
    from flows import ingest

    urls = [f"https://a.example/{i}" for i in range(5000)]
    batches = ingest._Batches(urls, 100)
    page = fetched_page_from_file(b"<p>x</p>", urls[0])
    unchanged = NotModified(urls[0], urls[0], (), page.fetched_at)
    sizes = [len(batches.next())]
    for answers in ([unchanged] * 100, [unchanged] * 200, [unchanged] * 400, [page] * 11 + [unchanged] * 89):
        sizes.append(len(batches.next(after=answers)))
    # doubled up to four times the batch size, then the batch size again after a batch with pages
    assert sizes == [100, 200, 400, 400, 100]
    assert len(batches.next(after=[page] + [unchanged] * 9)) == 200  # one page in ten still counts as few


# trafilatura's repair over the whole text; newsflow's skips the text after the opening when nothing is to strip
_OPENINGS = st.sampled_from(
    ["", "<!DOCTYPE html>\n", "<!DOCTYPE html PUBLIC />\n", '<html lang="en" />\n', "<!doctype html>\n<html/>\n"]
)


@settings(max_examples=200, deadline=None)
@given(opening=_OPENINGS, filler=st.text(alphabet="ab <>/\n\r", min_size=4000, max_size=9000))
def test_repair_of_the_opening_only_matches_the_whole_repair(opening: str, filler: str) -> None:
    text = opening + filler + '\n<html class="late" />\n'
    beginning = text[:50].lower()
    assert html_module._repair(text, beginning, strip_chars=False) == repair_faulty_html(text, beginning)


@pytest.mark.parametrize("codec", ["utf-8", "cp1252", "utf-16"])
def test_characters_xml_forbids_are_stripped_wherever_they_are(codec: str) -> None:
    prose = "The council met on Tuesday to discuss the budget for the coming year in detail. " * 80
    # past the opening the repair would otherwise skip, and in a codec where bytes say nothing of characters
    bad = "\x00\x0b\ufffe" if codec != "cp1252" else "\x00\x0b"
    html = f"<html><body>\n<p>{prose}</p>\n<p>Late{bad} paragraph</p>\n</body></html>"
    tree = html_module.parse_html(html.encode(codec), "https://x.example/story", header_charset=codec)
    # left in, libxml2 keeps them as they are or turns NUL into U+FFFD
    assert "Late paragraph" in tree.text_content()
