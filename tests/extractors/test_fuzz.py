"""Hostile HTML: the extractor returns an Article or raises ExtractionError — nothing else, and never hangs.

Generated documents (hypothesis) mix tags that open and never close, stray closing tags,
attributes of every size, entities, comments, CDATA, raw bytes and text in several encodings
at once.  Hand-made pathological pages cover what generation rarely reaches: 10,000 levels of
nesting, a ten-megabyte attribute, a hundred thousand attributes (minutes of trafilatura's and
jusText's time, cut short by the page's time budget), binary junk and empty documents.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extractors import Article, ExtractOptions, extract_html
from extractors.budget import time_budget
from extractors.errors import ExtractionError, ExtractionTimeout
from extractors.records import Failure, FetchedPage
from flows import extraction_pool
from flows.extraction_pool import ExtractionPool
from tests.golden import PAGES, load_expected

URL = "https://fuzz.example/news/2026/11/story"
TAGS = (
    "html", "head", "body", "title", "meta", "link", "div", "p", "span", "a", "b", "i", "em", "strong", "h1", "h2",
    "article", "main", "section", "header", "footer", "nav", "aside", "table", "tr", "td", "th", "ul", "ol", "li",
    "script", "style", "noscript", "template", "iframe", "img", "br", "svg", "math", "form", "select", "textarea",
    "figure", "blockquote", "pre", "time", "x-custom",
)  # fmt: skip
ATTRIBUTES = ("class", "id", "style", "href", "src", "rel", "property", "content", "charset", "hidden", "itemprop")
ENCODINGS = ("utf-8", "latin-1", "cp1252", "utf-16", "shift_jis", "koi8-r")

words = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
attribute = st.builds(
    lambda name, value, quote: f" {name}={quote}{value}{quote}",
    st.sampled_from(ATTRIBUTES) | st.text("abcdefgh-:", min_size=1, max_size=8),
    words | st.just("x" * 5000) | st.sampled_from(["display:none", "canonical", "og:url", "articleBody"]),
    st.sampled_from(['"', "'", ""]),
)
opening = st.builds(lambda tag, attrs, close: f"<{tag}{''.join(attrs)}{close}", st.sampled_from(TAGS),
                    st.lists(attribute, max_size=4), st.sampled_from([">", "/>", "", " "]))  # fmt: skip
closing = st.sampled_from(TAGS).map(lambda tag: f"</{tag}>")
oddities = st.sampled_from([
    "<!--", "-->", "<![CDATA[", "]]>", "<!DOCTYPE html>", "<?xml version='1.0' encoding='ebcdic'?>", "&#0;",
    "&#xD800;", "&#99999999;", "&amp", "&nbsp;", "<", ">", "\x00", "\ufeff", '<meta charset="utf-16">',
    '<meta http-equiv="Content-Type" content="text/html; charset=bogus">', "<script>", "</script>",
])  # fmt: skip
piece = st.one_of(words, opening, closing, oddities)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """A document whose pieces are each encoded on their own (mixed encodings), with raw bytes mixed in."""
    out = bytearray()
    for text in draw(st.lists(piece, max_size=120)):
        encoding = draw(st.sampled_from(ENCODINGS))
        out += text.encode(encoding, errors="replace")
        if draw(st.integers(0, 9)) == 0:
            out += draw(st.binary(max_size=30))
    return bytes(out)


def _extract(html: bytes, budget: float | None = 10.0) -> Article | ExtractionError:
    try:
        return extract_html(html, URL, ExtractOptions(time_budget=budget))
    except ExtractionError as error:
        return error


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(documents())
def test_generated_malformed_html_gives_an_article_or_an_extraction_error(html: bytes) -> None:
    result = _extract(html)
    if isinstance(result, Article):
        assert result.body_text.strip()
        assert result.url_key
    else:
        assert result.url == URL and result.reason


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_give_an_article_or_an_extraction_error(data: bytes) -> None:
    _extract(data)


def _nested(tag: bytes, depth: int, closed: bool) -> bytes:
    text = b"Words of an article nested far too deep for any parser to like. " * 20
    return b"<html><body>" + tag * depth + text + (b"</div>" * depth if closed else b"")


# every level holds the headline and most paragraphs: each one is a pop-up that swallowed the page
SWALLOWING_ASIDES = (
    b"<html><body>" + b"<aside><p>A paragraph of the page, long enough.</p>" * 5_000 + b"<h1>Headline</h1><p>End.</p>"
)
HUGE_ATTRIBUTE = b'<html><body><p class="' + b"a" * 10_000_000 + b'">Ten megabytes of class.</p></body></html>'
MIXED_ENCODINGS = (
    "<html><body><p>Ünïcödé ".encode() + "çà et là".encode("latin-1") + "<p>русский текст</p>".encode("koi8-r")
    + "\ufeff<p>utf-16 island</p>".encode("utf-16") + b"\x80\x81\xfe</body></html>"
)


@pytest.mark.parametrize(
    "html",
    [
        pytest.param(_nested(b"<div>", 10_000, closed=True), id="10k-nested-divs"),
        pytest.param(_nested(b"<div><p><span>", 10_000, closed=False), id="10k-unclosed-blocks"),
        pytest.param(_nested(b"<b>", 10_000, closed=False), id="10k-unclosed-inline"),
        pytest.param(_nested(b"<table><tr><td>", 5_000, closed=False), id="5k-nested-tables"),
        pytest.param(_nested(b"<ul><li>", 10_000, closed=False), id="10k-nested-lists"),
        pytest.param(SWALLOWING_ASIDES, id="5k-unclosed-asides-around-the-headline"),
        pytest.param(HUGE_ATTRIBUTE, id="10MB-attribute"),
        pytest.param(b"", id="empty"),
        pytest.param(b"   \n\t ", id="whitespace"),
        pytest.param(b"\xef\xbb\xbf", id="bom-only"),
        pytest.param(b"\x00" * 4096, id="nul-bytes"),
        pytest.param(b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 8, id="jpeg"),
        pytest.param(b"<?xml version='1.0'?>", id="xml-declaration-only"),
        pytest.param(MIXED_ENCODINGS, id="mixed-encodings"),
    ],
)
def test_pathological_pages_give_an_article_or_an_extraction_error(html: bytes) -> None:
    result = _extract(html)
    assert isinstance(result, Article | ExtractionError)


def _many_attributes(count: int = 100_000) -> bytes:
    attrs = b" ".join(b'a%d="x"' % i for i in range(count))
    return b"<html><body><div " + attrs + b">text</div><p>" + b"Some words of text. " * 30 + b"</p></body></html>"


@pytest.fixture
def default_unraisable_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    """Python's own hook for exceptions it cannot raise, as in production, instead of pytest's.

    An overrun that lands in a gc callback (hypothesis registers one) is such an exception, and the alarm
    repeats until the overrun surfaces: landing again inside pytest's hook, which is Python code and slow
    on a loaded machine, it fails the test though the page's timeout is raised as it should be."""
    monkeypatch.setattr(sys, "unraisablehook", sys.__unraisablehook__)


@pytest.mark.usefixtures("default_unraisable_hook")
def test_a_page_over_its_time_budget_fails_with_extraction_timeout() -> None:
    # unguarded, parsing and trafilatura's and jusText's loops spend ~8 s on this page (a minute at 100,000
    # attributes, most of it in the parser, which no budget interrupts)
    with pytest.raises(ExtractionTimeout, match="budget of 1 s"):
        extract_html(_many_attributes(30_000), URL, ExtractOptions(time_budget=1.0))


@pytest.mark.usefixtures("default_unraisable_hook")
def test_an_overrun_swallowed_where_it_landed_is_raised_again() -> None:
    # the alarm can land in a gc callback or a __del__, where Python prints the exception and goes on
    def swallowed_then_more_work() -> None:
        with time_budget(0.1, URL):
            with contextlib.suppress(BaseException):  # swallowed, as such a place does
                time.sleep(2)
            time.sleep(2)

    with pytest.raises(ExtractionTimeout, match=r"budget of 0\.1 s"):
        swallowed_then_more_work()


def _alarm_while_leaving(monkeypatch: pytest.MonkeyPatch) -> None:
    """The alarm goes off just as the budget stops its timer: the narrowest window of leaving the block."""
    stop_timer = signal.setitimer

    def setitimer(which: int, seconds: float, interval: float = 0.0) -> tuple[float, float]:
        if seconds == 0:
            os.kill(os.getpid(), signal.SIGALRM)  # its handler runs as soon as this call returns
        return stop_timer(which, seconds, interval)

    monkeypatch.setattr(signal, "setitimer", setitimer)


@pytest.mark.usefixtures("default_unraisable_hook")
@pytest.mark.parametrize("overrun", [False, True])
def test_an_alarm_while_the_block_is_left_neither_escapes_nor_keeps_firing(
    monkeypatch: pytest.MonkeyPatch, overrun: bool
) -> None:
    _alarm_while_leaving(monkeypatch)
    with contextlib.ExitStack() as stack:
        if overrun:
            stack.enter_context(pytest.raises(ExtractionTimeout, match=r"budget of 0\.05 s"))
        with time_budget(0.05, URL):
            time.sleep(1 if overrun else 0)  # within its budget the block ends as it should: no timeout
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0), "the budget left its timer running"
    time.sleep(0.15)  # a timer left running would raise here, outside any budget


def _page(url: str, body: bytes) -> FetchedPage:
    return FetchedPage(url=url, final_url=url, status=200, headers=(), body=body, fetched_at=datetime.now(UTC))


def test_the_pool_kills_a_stuck_worker_and_only_that_page_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """No budget inside the worker (as if the page were stuck in C code): the hard deadline kills it."""
    monkeypatch.setattr(extraction_pool, "NO_BUDGET_DEADLINE", 0.5)
    monkeypatch.setattr(extraction_pool, "HARD_SLACK", 2.0)
    expected = load_expected("klaten-flashback")
    good = (PAGES / "klaten-flashback" / "page.html").read_bytes()
    pages = [_page(f"{expected['url']}?copy={i}", good) for i in range(7)]
    pages.insert(3, _page(URL, _many_attributes()))
    pool = ExtractionPool(1)
    try:
        results = pool.extract(pages, ExtractOptions(time_budget=None))
    finally:
        pool.close()
    assert [r.page.url for r in results] == [p.url for p in pages]
    stuck = results[3].outcome
    assert isinstance(stuck, Failure) and stuck.outcome == "extraction_timeout" and "killed" in stuck.reason
    others = [r.outcome for i, r in enumerate(results) if i != 3]
    assert all(isinstance(o, Article) and o.title == expected["title"] for o in others)
    assert all(r.packed is not None for i, r in enumerate(results) if i != 3)


def test_the_workers_stop_when_the_last_run_using_them_ends() -> None:
    expected = load_expected("klaten-flashback")
    page = _page(expected["url"], (PAGES / "klaten-flashback" / "page.html").read_bytes())
    with extraction_pool.workers_for_run():
        with extraction_pool.workers_for_run():  # two runs of one served process overlap
            first = extraction_pool.shared_pool(1)
            assert isinstance(first.extract([page], ExtractOptions())[0].outcome, Article)
        assert extraction_pool._shared is first  # the other run still extracts with it
        assert extraction_pool.shared_pool(1) is first
    assert extraction_pool._shared is None
    with extraction_pool.workers_for_run():  # the next run starts a fresh pool
        again = extraction_pool.shared_pool(1)
        assert again is not first and isinstance(again.extract([page], ExtractOptions())[0].outcome, Article)
    assert extraction_pool._shared is None
