"""Body-text rules on small hand-made pages: what must survive and what must go."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from extractors import body as body_module
from extractors import extract_html
from extractors.boilerplate import prune_tree
from extractors.html import parse_html
from tests.golden import PAGES

_PARAGRAPHS = [
    "The harbour authority said on Tuesday that the new breakwater would be finished before the storm season.",
    "Engineers have been working in two shifts since March, and the last concrete blocks arrived this week.",
    "Fishermen welcomed the news but said the works had kept them from the inner basin for most of the year.",
    "The project was financed by the regional government and a loan from the national development bank.",
]


def _page(article: str, extra: str = "") -> bytes:
    return (
        "<html><head><title>Breakwater nearly finished</title></head><body>"
        f"<header><nav><a href='/'>Home</a> <a href='/news'>News</a></nav></header>{article}{extra}"
        "<footer><p>© Harbour Gazette</p></footer></body></html>"
    ).encode()


def test_article_container_named_after_an_advertising_category_is_kept() -> None:
    # WordPress's post_class() puts the post's own terms on the article container
    paragraphs = "".join(f"<p>{p}</p>" for p in _PARAGRAPHS)
    html = _page(f"<div class='post-12 post type-post hentry category-native-advertising-news'>{paragraphs}</div>")
    body = extract_html(html, "https://gazette.example/breakwater").body_text
    for paragraph in _PARAGRAPHS:
        assert paragraph in body


def test_furniture_class_on_the_container_with_most_of_the_text_does_not_cost_the_article() -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in _PARAGRAPHS)
    html = _page(f"<div class='content-with-sidebar-related-layout'>{paragraphs}</div>")
    body = extract_html(html, "https://gazette.example/breakwater").body_text
    assert _PARAGRAPHS[0] in body and _PARAGRAPHS[-1] in body


def test_share_bar_and_ad_label_go() -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in _PARAGRAPHS)
    html = _page(
        f"<article>{paragraphs[:len(paragraphs) // 2]}<div>Advertisement</div>"
        f"<div class='td-post-sharing'><a href='#'>Share on Facebook</a> <a href='#'>Tweet this story</a></div>"
        f"{paragraphs[len(paragraphs) // 2:]}</article>"
    )
    body = extract_html(html, "https://gazette.example/breakwater").body_text
    assert "Advertisement" not in body
    assert "Share on Facebook" not in body


def test_text_between_subheadings_outside_paragraphs_is_kept() -> None:
    # deal roundups and old CMSs put text straight after <h2>, with no <p> around it
    sections = "".join(f"<h2>Part {i}</h2>{p}<br>" for i, p in enumerate(_PARAGRAPHS, start=1))
    html = _page(f"<article><div class='entry-content'>{sections}</div></article>")
    article = extract_html(html, "https://gazette.example/breakwater")
    for paragraph in _PARAGRAPHS:
        assert paragraph in article.body_text
    assert article.body_text.index(_PARAGRAPHS[0]) < article.body_text.index(_PARAGRAPHS[-1])


def test_trailing_headline_teasers_and_rights_notice_go_but_inline_lists_stay() -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in _PARAGRAPHS)
    inline_list = "<ul><li>two cranes on the pier</li><li>a floating dock</li></ul>"
    teasers = (
        "<h3>More from the coast</h3><ul>"
        "<li><a href='/a'>Ferry fares rise again</a> The operator blamed fuel costs</li>"
        "<li><a href='/b'>Lighthouse reopens</a> Visitors can climb it from May</li></ul>"
    )
    html = _page(
        f"<article>{paragraphs[:200]}<p>The site now has:</p>{inline_list}{paragraphs[200:]}"
        f"<p>Copyright 2026 Harbour Gazette. All rights reserved.</p>{teasers}</article>"
    )
    body = extract_html(html, "https://gazette.example/breakwater").body_text
    assert "two cranes on the pier" in body
    assert "Ferry fares rise again" not in body
    assert "More from the coast" not in body
    assert "All rights reserved" not in body
    assert body.rstrip().endswith(_PARAGRAPHS[-1])


def test_link_followed_by_a_word_keeps_the_space_between_them() -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in _PARAGRAPHS)
    html = _page(f"<article>{paragraphs}<p>The <a href='/port'>port authority</a>\nwas not available for comment "
                 "on the plans for the northern quay and the new ferry terminal next year.</p></article>")
    body = extract_html(html, "https://gazette.example/breakwater").body_text
    assert "port authority was not available" in body


def test_what_trafilatura_drops_goes_before_it_runs_and_tails_stay() -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in _PARAGRAPHS)
    tree = lxml.html.fromstring(_page(f"<article>{paragraphs}<aside>Read more</aside>tail words</article>"))
    body_module._drop_what_trafilatura_drops(tree)
    assert tree.find("head") is None and not tree.xpath("//aside|//footer")
    assert "tail words" in tree.text_content() and _PARAGRAPHS[-1] in tree.text_content()


def test_nothing_goes_early_when_every_paragraph_sits_in_what_trafilatura_drops() -> None:
    # its recall retry undoes its cleaning on such a page, and must find those paragraphs in the tree
    paragraphs = "".join(f"<p>{p}</p>" for p in _PARAGRAPHS)
    tree = lxml.html.fromstring(_page(f"<aside>{paragraphs}</aside><nav><p>Home</p></nav>"))
    body_module._drop_what_trafilatura_drops(tree)
    assert tree.find("head") is not None and len(tree.xpath("//aside|//footer")) == 2



def test_a_nested_list_gives_each_item_once() -> None:
    nested = (
        "<ul><li>France<ul><li>Bordeaux: red blends from five grape varieties grown on the left bank.</li>"
        "<li>Burgundy: pinot noir and chardonnay from small walled vineyards.</li></ul></li>"
        "<li>Italy<ul><li>Tuscany: sangiovese from the hills around Florence and Siena.</li></ul></li></ul>"
    )
    paragraphs = "".join(f"<p>{p}</p>" for p in _PARAGRAPHS)
    body = extract_html(_page(f"<article>{paragraphs}{nested}</article>"), "https://gazette.example/wine").body_text
    assert body.count("Bordeaux: red blends") == 1 and body.count("Tuscany: sangiovese") == 1
    assert "- France\n" in body and "- Bordeaux: red blends" in body


def test_code_keeps_the_lines_a_highlighter_marks_as_comments() -> None:
    code = (
        '<pre><code class="language-bash"><span class="hljs-comment"># initialise the repository</span>\n'
        'git init\n<span class="token comment"># stage every change</span>\ngit add -A</code></pre>'
    )
    paragraphs = "".join(f"<p>{p}</p>" for p in _PARAGRAPHS)
    body = extract_html(_page(f"<article>{paragraphs}{code}</article>"), "https://gazette.example/git").body_text
    assert "# initialise the repository" in body and "# stage every change" in body



_DEK = "The harbour will reopen to ferries in spring, a year later than planned, after a winter of storms."


def test_the_standfirst_is_read_under_the_headline_only() -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in _PARAGRAPHS)
    under = f"<article><h1>Breakwater nearly finished</h1><p class='lead'>{_DEK}</p>{paragraphs}</article>"
    body = extract_html(_page(under), "https://gazette.example/breakwater").body_text
    assert body.startswith(_DEK)
    cards = (
        "<div class='more'>"
        + "".join(f"<div class='card'><p class='excerpt'>Card {i}: {_DEK}</p></div>" for i in range(3))
        + "</div>"
    )
    elsewhere = f"<article><h1>Breakwater nearly finished</h1>{paragraphs}</article>"
    body = extract_html(_page(elsewhere, cards), "https://gazette.example/breakwater").body_text
    assert "Card 0" not in body


def test_a_layout_class_on_body_does_not_hide_the_headline() -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in _PARAGRAPHS)
    page = _page(f"<article><h1>Breakwater nearly finished</h1><p class='standfirst'>{_DEK}</p>{paragraphs}</article>")
    page = page.replace(b"<body>", b"<body class='single right-sidebar has-related'>")
    assert extract_html(page, "https://gazette.example/breakwater").body_text.startswith(_DEK)



def test_a_trailing_box_heading_ends_the_article() -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in _PARAGRAPHS * 2)
    cards = "".join(f"<p>Product {i}: a robot vacuum with strong suction and a slim design.</p>" for i in range(3))
    html = _page(f"<article>{paragraphs}<h3>Related Products</h3>{cards}</article>")
    body = extract_html(html, "https://gazette.example/breakwater").body_text
    assert body.endswith(_PARAGRAPHS[-1]) and "Product 0" not in body


def test_a_box_heading_early_in_the_article_cuts_nothing() -> None:
    paragraphs = "".join(f"<p>{p}</p>" for p in _PARAGRAPHS * 2)
    html = _page(f"<article><p>{_PARAGRAPHS[0]}</p><h2>More from the harbour</h2>{paragraphs}</article>")
    body = extract_html(html, "https://gazette.example/breakwater").body_text
    assert body.endswith(_PARAGRAPHS[-1])


# the golden pages, and a page on which trafilatura retries in recall mode after weighing its first result
# against the whole page's text (dropping anything that measure counts changes its result there)
_TRAFILATURA_INPUTS = [*sorted(PAGES.glob("*/page.html")), PAGES.parent / "aeb" / "escalation.html.gz"]
_ESCALATION = _TRAFILATURA_INPUTS[-1]


def _trafilatura_text(page: Path, prepare: Callable[[lxml.html.HtmlElement], None]) -> list[str]:
    """trafilatura's fast and full passes over the page as newsflow prunes it, after ``prepare``."""
    html = gzip.decompress(page.read_bytes()) if page.suffix == ".gz" else page.read_bytes()
    tree = parse_html(html, "https://example.com/")
    prune_tree(tree)
    prepare(tree)
    found = [body_module._main_content(tree, "https://example.com/", fast=fast) for fast in (True, False)]
    return [" ".join(b.itertext()) if b is not None else "" for b in found]


def _strip_menus(tree: lxml.html.HtmlElement) -> None:
    etree.strip_elements(tree, "nav", with_tail=False)


@pytest.mark.parametrize("page", _TRAFILATURA_INPUTS, ids=lambda p: p.parent.name if p.name == "page.html" else p.name)
def test_dropping_early_what_trafilatura_drops_leaves_its_result_unchanged(page: Path) -> None:
    # what makes the early drop of heads, footers and asides safe: every stage of trafilatura's pass removes
    # them itself; menus are the one deliberate change (next test)
    dropped = _trafilatura_text(page, body_module._drop_what_trafilatura_drops)
    assert dropped == _trafilatura_text(page, _strip_menus)


def test_menu_text_no_longer_reaches_trafilaturas_rescue() -> None:
    """Menus went only to trafilatura's baseline rescue and its page-length measure, and came out as body text
    where its pass found no article; dropped up front, their entries do not."""
    html = gzip.decompress(_ESCALATION.read_bytes())
    tree = parse_html(html, "https://example.com/")
    prune_tree(tree)
    elsewhere = {line.strip() for e in tree.iter() if e.tag != "nav" and not list(e.iterancestors("nav"))
                 for line in [e.text or "", e.tail or ""]}  # fmt: skip
    menu_only = {t.strip() for nav in tree.iter("nav") for t in nav.itertext() if t.strip()} - elsewhere
    assert menu_only

    def keep(tree: lxml.html.HtmlElement) -> None:
        pass

    with_menus = _trafilatura_text(_ESCALATION, keep)[0]
    without = _trafilatura_text(_ESCALATION, body_module._drop_what_trafilatura_drops)[0]
    assert any(entry in with_menus for entry in menu_only)
    assert not any(entry in without.splitlines() for entry in menu_only)


# furniture words and parts in mixed case, a term prefix, and letters whose case-insensitive match is not ASCII
_TOKEN_PIECES = ["ad", "ADS", "Related", "share-Bar", "category-", "Tag-", "COMMENT", "news", "x", "-", "_"]
_TOKEN_PIECES += ["ſ", "K", "İ", "é"]


@given(st.lists(st.sampled_from(_TOKEN_PIECES), max_size=4).map("".join) | st.text(max_size=12))
@settings(max_examples=300, deadline=None)
def test_furniture_tokens_are_decided_case_insensitively(token: str) -> None:
    """The lowercased-ASCII shortcut decides every token as the case-insensitive patterns do."""
    import extractors.boilerplate as b

    # what makes the shortcut exact: no uppercase and no non-ASCII letter in the patterns themselves
    for pattern in (b._FURNITURE_WORD.pattern, b._FURNITURE_PART.pattern, b._TERM.pattern):
        assert pattern.isascii() and pattern == pattern.lower(), pattern[:60]

    expected = bool(b._FURNITURE_WORD.match(token)) or (
        b._FURNITURE_PART.search(token) is not None and not b._TERM.match(token)
    )
    assert b._is_furniture_token.__wrapped__(token) == expected
