"""The page's headline and the header under it.

The first ``<h1>`` outside boxes that belong to other content (related stories, sidebars, comments,
author bios) is the article's headline; the few hundred characters that follow it are its header:
the standfirst, the byline and the date row.  Dates and standfirsts are read there rather than
anywhere on the page, where card excerpts and teaser dates of other stories sit.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from functools import lru_cache

import lxml.html

# Containers whose names must never be mistaken for the article's byline, date or standfirst.
FOREIGN_CONTAINER = re.compile(
    r"comment|respond|sidebar|widget|related|author-box|author-bio|about-author|footer|newsletter|popular|trending|recommend",
    re.IGNORECASE,
)
#: Characters of text after the headline that make its header: the dek, byline and date row, not the article.
HEADER_CHARS = 400
Piece = tuple[lxml.html.HtmlElement | None, str]
"""``(element, its own text)`` as an element opens, ``(None, a tail)`` after one."""
_WORD = re.compile(r"\w+")
#: Characters of text before the headline read with it: a kicker or a date row set above the title.
ABOVE_CHARS = 120
_NOT_TEXT = frozenset(("script", "style", "noscript", "template", "svg", "button", "select"))


def is_foreign(element: lxml.html.HtmlElement) -> bool:
    """Whether the element itself is a box of other content (an aside, a footer, a related list…)."""
    if element.tag in ("body", "html"):
        return False  # their classes describe the layout ("right-sidebar", "has-related"), not a box
    if element.tag in ("aside", "footer"):
        return True
    # no name the pattern knows holds a space: class and id can be tested apart
    return _foreign_name(element.get("class") or "") or _foreign_name(element.get("id") or "")


@lru_cache(maxsize=16384)
def _foreign_name(value: str) -> bool:
    # a page and a site repeat their class values over many elements: decide each one once
    return FOREIGN_CONTAINER.search(value) is not None


def outside_foreign(element: lxml.html.HtmlElement) -> bool:
    """Whether no ancestor of the element is a box of other content."""
    return not any(is_foreign(ancestor) for ancestor in element.iterancestors())


def headline(tree: lxml.html.HtmlElement, title: str | None = None) -> lxml.html.HtmlElement | None:
    """The first ``<h1>`` with text outside boxes of other content; on a page without one, the first
    ``<h2>``-``<h3>`` or title-classed element whose text is the article's ``title``."""
    for h1 in tree.iter("h1"):
        if h1.text_content().strip() and outside_foreign(h1):
            return h1
    wanted = _words(title)
    if not wanted:
        return None
    for element in tree.iter("h2", "h3", "div", "span", "p"):
        if element.tag in ("div", "span", "p") and "title" not in (element.get("class") or "").lower():
            continue
        if _words(element.text_content()) == wanted and outside_foreign(element):
            return element
    return None


def _words(text: str | None) -> str:
    return " ".join(_WORD.findall((text or "").casefold()))


def _pieces(element: lxml.html.HtmlElement) -> Iterator[Piece]:
    """The element's elements and visible text in document order, leaving out scripts and foreign boxes."""
    # a stack, not recursion: each piece of a nested generator passes up through every level above it
    stack: list[lxml.html.HtmlElement | str] = [element]
    while stack:
        top = stack.pop()
        if isinstance(top, str):
            yield None, top
            continue
        if not isinstance(top.tag, str) or top.tag in _NOT_TEXT or is_foreign(top):
            continue
        yield top, top.text or ""
        for child in reversed(top):
            if child.tail:
                stack.append(child.tail)
            stack.append(child)


def header_after(element: lxml.html.HtmlElement, limit: int = HEADER_CHARS) -> Iterator[Piece]:
    """What follows ``element`` in the document, as ``_pieces`` gives it, until ``limit`` characters of
    text have gone by."""
    seen = 0
    node: lxml.html.HtmlElement | None = element
    pending: list[Piece] = [(None, element.tail or "")]
    while node is not None:
        following = (piece for sibling in node.itersiblings() for piece in _with_tail(sibling))
        for found, text in itertools.chain(pending, following):
            yield found, text
            seen += len(text.strip())
            if seen >= limit:
                return
        node = node.getparent()
        pending = [(None, node.tail or "")] if node is not None else []


def _with_tail(element: lxml.html.HtmlElement) -> Iterator[Piece]:
    yield from _pieces(element)
    yield None, element.tail or ""


def header_text(element: lxml.html.HtmlElement, limit: int = HEADER_CHARS) -> str:
    """Up to ``limit`` characters of the visible text after ``element``, whitespace collapsed."""
    words = " ".join(" ".join(text.split()) for _, text in header_after(element, limit) if text.strip())
    return words[:limit]


def text_above(element: lxml.html.HtmlElement, limit: int = ABOVE_CHARS) -> str:
    """Up to ``limit`` characters of the visible text just before ``element``, whitespace collapsed."""
    pieces: list[str] = []
    size = 0
    node: lxml.html.HtmlElement | None = element
    while node is not None and size < limit:
        for sibling in node.itersiblings(preceding=True):
            text = " ".join(" ".join(t.split()) for _, t in _with_tail(sibling) if t.strip())
            if text:
                pieces.append(text)
                size += len(text) + 1
            if size >= limit:
                break
        parent = node.getparent()
        if parent is not None and parent.text and parent.text.strip() and size < limit:
            pieces.append(" ".join(parent.text.split()))
            size += len(pieces[-1]) + 1
        node = parent
    return " ".join(reversed(pieces))[-limit:]
