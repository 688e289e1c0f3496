"""Bytes to a tree and to text: charsets, hidden compression, binary bodies, repairs, markers in prose."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trafilatura.utils import repair_faulty_html

from extractors import extract_html
from extractors import html as html_module
from extractors.errors import ExtractionError, NoArticleContent
from extractors.html import decode_html


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


_OPENINGS = st.sampled_from(
    ["", "<!DOCTYPE html>\n", "<!DOCTYPE html PUBLIC />\n", '<html lang="en" />\n', "<!doctype html>\n<html/>\n"]
)


@settings(max_examples=60, deadline=None)
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
