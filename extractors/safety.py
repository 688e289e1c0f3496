"""The safety net under newsflow's cuts.

The cuts newsflow makes before and after trafilatura (related boxes, link lists, furniture classes,
calls to action) are bets on a page's layout.  On a template they were not written for, a bet can
take the article with it: a body that is only the page's "Skip to content" link, a listicle whose
item sections read as "more stories".  So every bet is bounded:

* ``prose_chars`` measures, before any cut, how much sentence-bearing text the page holds in its
  paragraphs and prose list items (link text and navigation left out);
* when the cleaned body keeps less than ``DOUBT_SHARE`` of that (or is a scrap under
  ``SCRAP_CHARS`` on a page with more), the body is *doubtful*;
* a doubtful body is extracted again from a fresh parse with only the certain cuts (a site's own
  rules, the word-level block filters trafilatura's output goes through anyway), and that text wins
  when the doubtful body is under ``KEEP_SHARE`` of it.  ``provenance["body_text"]`` then says
  ``fallback``.
"""

from __future__ import annotations

import re
from collections import Counter

import lxml.html

from extractors.html import in_body

#: A cleaned body under this share of the page's prose is doubtful.
DOUBT_SHARE = 0.3
#: The fallback wins when the doubtful body is under this share of the fallback's text.
KEEP_SHARE = 0.4
#: A doubtful body is elsewhere on the page when under this share of its words is in the fallback.
ELSEWHERE_SHARE = 0.6
#: A body this short on a page with several times more prose is a scrap (a skip link, a title alone).
SCRAP_CHARS = 200
#: Non-link characters a paragraph or list item needs to count as prose.
PROSE_MIN_CHARS = 30
# not "form" (ASP.NET pages wrap the whole page in one), nor "header"/"footer" (an unclosed one holds the
# rest of the page): few paragraphs sit in them, and counting them only makes the net a little more cautious
_NAVIGATION = frozenset(("nav", "menu"))
# Elements that make a <div> or <li> a container rather than a piece of prose.
_BLOCKS = frozenset(("p", "div", "li", "ul", "ol", "table", "section", "article", "h1", "h2", "h3", "h4", "h5", "h6",
                     "blockquote", "pre", "figure", "form", "header", "footer", "aside", "nav", "dl"))  # fmt: skip
_WORD = re.compile(r"\w+")
_TERMINATOR = re.compile(r"[.!?。！？]")
_FIRST_WORD_CHAR = re.compile(r"\w")


def _own_text(element: lxml.html.HtmlElement, text: str) -> int:
    """Characters of the element's text (``text``, its text content) outside links."""
    total = len(" ".join(text.split()))
    linked = sum(len(" ".join(a.text_content().split())) for a in element.iter("a"))
    return total - linked


def _holds_blocks(element: lxml.html.HtmlElement) -> bool:
    # most containers hold a block as a child: looking there first saves setting up lxml's tag filter,
    # which then walks the descendants in C
    if not len(element):
        return False
    return any(child.tag in _BLOCKS for child in element) or next(element.iterdescendants(*_BLOCKS), None) is not None


def prose_chars(tree: lxml.html.HtmlElement) -> int:
    """Sentence-bearing text of the page's paragraphs, prose list items and text-only ``<div>``s (templates
    that write their articles in divs), outside navigation."""
    bodies = list(tree.getroottree().getroot().iter("body"))
    # sets built by lxml's C iteration: walking every element's ancestors costs a third of the function
    navigation = {e for body in bodies for nav in body.iter(*_NAVIGATION) for e in nav.iter("p", "li", "div")}
    in_items = {e for body in bodies for item in body.iter("p", "li") for e in item.iter("div")}
    total = 0
    for element in in_body(tree, "p", "li", "div"):
        if element in navigation:
            continue
        if element.tag == "li" and element.find(".//p") is not None:
            continue  # its paragraphs count themselves
        if element.tag == "div" and (element in in_items or _holds_blocks(element)):
            continue  # the paragraph or item that holds it counts it, or its inner blocks count themselves
        text = element.text_content()
        if len(text) < PROSE_MIN_CHARS:
            continue
        own = _own_text(element, text)
        if own >= PROSE_MIN_CHARS and _has_sentence(text):
            total += own
    return total


def _has_sentence(text: str) -> bool:
    """Whether the text holds a sentence: a word character, ten or more characters without a full stop,
    then one.  In linear time: the obvious regex backtracks quadratically on long text without stops."""
    pieces = _TERMINATOR.split(text)
    for piece in pieces[:-1]:  # each followed by a terminator
        first = _FIRST_WORD_CHAR.search(piece)
        if first is not None and len(piece) - first.start() >= 11:
            return True
    return False


def doubtful(body_chars: int, page_prose: int) -> bool:
    """Whether a cleaned body of ``body_chars`` looks cut too far on a page with ``page_prose``."""
    if body_chars < DOUBT_SHARE * page_prose:
        return True
    return body_chars < SCRAP_CHARS and page_prose >= 3 * SCRAP_CHARS


def fallback_wins(body: str, fallback: str) -> bool:
    """Whether the text with only the certain cuts should replace a doubtful body: it holds much more,
    or the body is mostly text the fallback does not hold (the cuts moved the extraction to another
    part of the page, such as a testimonials wall beside a cut article)."""
    if len(body) < KEEP_SHARE * len(fallback):
        return True
    if len(fallback) <= len(body):
        return False
    words = Counter(_WORD.findall(body.lower()))
    shared = words & Counter(_WORD.findall(fallback.lower()))
    return sum(shared.values()) < ELSEWHERE_SHARE * sum(words.values())
