"""The parts of trafilatura newsflow uses beyond ``trafilatura.extract``, in one place.

Its public API returns text; newsflow needs its main-content tree (``bare_extraction`` with an
``Extractor`` options object), the list of tags its cleaning removes (``settings.MANUALLY_CLEANED``, so
that newsflow can drop them first), its helpers for raw input (``utils.handle_compressed_file``,
``is_dubious_html``, ``repair_faulty_html``), its byline search (``metadata.extract_author``, run on
the few elements its XPaths ``xpaths.AUTHOR_XPATHS`` could match) and its token sampling for SimHash
(``deduplication.sample_tokens``: fingerprints must stay comparable with the ones already stored).
None of these but ``bare_extraction`` is documented; trafilatura is pinned to 2.x in pyproject.toml
and ``tests/test_library_contracts.py`` fails, naming what moved, when an upgrade changes them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from copy import deepcopy
from typing import cast

import lxml.html
from lxml import etree
from lxml.etree import XPath
from trafilatura import __version__, bare_extraction
from trafilatura.deduplication import sample_tokens
from trafilatura.htmlprocessing import prune_unwanted_nodes
from trafilatura.json_metadata import normalize_authors
from trafilatura.metadata import extract_author as _extract_author
from trafilatura.settings import MANUALLY_CLEANED, Extractor
from trafilatura.utils import handle_compressed_file, is_dubious_html, repair_faulty_html, trim
from trafilatura.xpaths import AUTHOR_DISCARD_XPATHS, AUTHOR_XPATHS

__all__ = [
    "MANUALLY_CLEANED",
    "Extractor",
    "__version__",
    "bare_extraction",
    "extract_author",
    "handle_compressed_file",
    "is_dubious_html",
    "repair_faulty_html",
    "sample_tokens",
]


# trafilatura's byline search (``metadata.extract_author``) copies the page, prunes the copy with its discard XPaths
# (``xpaths.AUTHOR_DISCARD_XPATHS``: comment, sidebar, date and title boxes, times, figures), runs its three byline
# XPaths over what is left, and takes the first match whose text is 3-119 characters long.  Those XPaths test
# regular expressions through Python callbacks on every element: ~9 ms on a news page, most of it spent on
# elements no byline XPath can match.  Both sets of XPaths test only an element's own name and attributes (and, for
# ``rel='me'``, the text of its ``rel`` children), so the same search is run here on what can matter: the elements
# whose attributes hold a value the byline XPaths test (``_AUTHOR_VALUE`` matches all of them), with their
# ancestors for the discard test.  tests/test_library_contracts.py pins both sets of XPaths and checks, on
# generated pages, that this finds what trafilatura's own search finds.
_TESTED_ATTRIBUTES = ("class", "id", "itemprop", "rel", "data-component", "data-testid")
# relative: trafilatura searches a copy of the element it is given, and a page's document can hold more than its
# root element (libxml2 keeps what follows a closed ``</html>`` as further top-level elements)
_ATTRIBUTES = "|".join(f"@{name}|.//@{name}" for name in _TESTED_ATTRIBUTES)
_AUTHOR_ATTRIBUTES = XPath(_ATTRIBUTES, smart_strings=False)
# those of the attributes whose value is one of ``$values``: libxml2 compares each with the whole node-set,
# cheap for a few values; past ``_HOLDING_MAX`` every attribute is read as a Python string that knows its element
_HOLDING = XPath(f"({_ATTRIBUTES})[. = $values]")
_HOLDING_MAX = 16
_AUTHOR_ATTRIBUTE_NODES = XPath(_ATTRIBUTES)
_AUTHOR_VALUE = re.compile(
    r"uthor|yline|byl|BBL|username|screenname|writer|channel-name|submitted-by|posted-by|journalist-name|zuozhe|"
    r"bianji|xiaobian"
)
# an element name none of the XPaths tests: the stand-ins' root, and the stand-in for an element whose name
# XML does not allow (``o:p``), which no XPath names either
_UNNAMED = "newsflow-stand-in"
_BYLINE_LIMIT = 120  # extract_author's len_limit


def extract_author(tree: lxml.html.HtmlElement) -> str | None:
    """What trafilatura's byline search (``metadata.extract_author``) returns for ``tree``, found by testing
    only the elements its XPaths could match."""
    try:
        candidates = _candidates(tree)
        chains = [list(_chain(c, tree)) for c in candidates]
        discarded = set(_matching(_stand_ins({e for chain in chains for e in chain}, False), AUTHOR_DISCARD_XPATHS))
        kept = [c for c, chain in zip(candidates, chains, strict=True) if not discarded.intersection(chain)]
        stand_ins = _stand_ins(kept, True)
    except ValueError:  # a value XML does not allow (a control character): trafilatura's own search
        return _extract_author(tree)
    for expression in AUTHOR_XPATHS:
        for element in _matching(stand_ins, [expression]):
            content = trim(" ".join(_pruned(element).itertext()))
            if content and 2 < len(content) < _BYLINE_LIMIT:
                return normalize_authors(None, content)
    return None


def _candidates(tree: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    """``tree`` and its descendants that any byline XPath could match, in document order."""
    # the values first, as plain strings, then the elements holding one that matters: a Python object for every
    # element with a class or an id would cost more than the whole search
    values = [v for v in set(cast(list[str], _AUTHOR_ATTRIBUTES(tree))) if _AUTHOR_VALUE.search(v)]
    found: dict[lxml.html.HtmlElement, None] = {}
    if values:
        if len(values) <= _HOLDING_MAX:
            holder = etree.Element(_UNNAMED)
            for value in values:
                etree.SubElement(holder, _UNNAMED).text = value
            held = cast(list[etree._ElementUnicodeResult], _HOLDING(tree, values=list(holder)))
        else:
            wanted = set(values)
            attributes = cast(list[etree._ElementUnicodeResult], _AUTHOR_ATTRIBUTE_NODES(tree))
            held = [value for value in attributes if value in wanted]
        # attribute nodes in document order: their elements are too
        found = dict.fromkeys(cast(lxml.html.HtmlElement, value.getparent()) for value in held)
    # ``//author`` whatever its attributes, and ``rel='me'``: an element with a ``rel`` child
    extra = [*tree.iter("author"), *(r.getparent() for r in tree.iter("rel") if r is not tree)]
    found.update(dict.fromkeys(extra))
    if extra:
        order = {e: i for i, e in enumerate(tree.iter())}
        return sorted(found, key=order.__getitem__)
    return list(found)  # attribute nodes come in document order


def _chain(element: lxml.html.HtmlElement, tree: lxml.html.HtmlElement) -> Iterable[lxml.html.HtmlElement]:
    """``element`` and its ancestors up to ``tree`` (not included): what pruning the copy of ``tree`` may remove."""
    while element is not tree and element is not None:
        yield element
        element = element.getparent()


StandIns = tuple[etree._Element, dict[etree._Element, lxml.html.HtmlElement]]


def _stand_ins(elements: Iterable[lxml.html.HtmlElement], with_rel: bool) -> StandIns:
    """Bare copies of ``elements`` under one root, in their order, for the XPaths to judge: each with the
    attributes they test and, ``with_rel``, its ``rel`` children's text as the pruned copy of the page has it."""
    root = etree.Element(_UNNAMED)
    originals: dict[etree._Element, lxml.html.HtmlElement] = {}
    for element in elements:
        attributes = {name: value for name in _TESTED_ATTRIBUTES if (value := element.get(name)) is not None}
        try:
            stand_in = etree.SubElement(root, element.tag, attributes)
        except ValueError:  # a name XML does not allow: no XPath names it
            stand_in = etree.SubElement(root, _UNNAMED, attributes)
        originals[stand_in] = element
        if with_rel:
            for rel in element.iterchildren("rel"):
                etree.SubElement(stand_in, "rel").text = cast(str, _pruned(rel).xpath("string()"))
    return root, originals


def _matching(stand_ins: StandIns, expressions: list[XPath]) -> list[lxml.html.HtmlElement]:
    """The elements ``expressions`` match, judged on their stand-ins (in the elements' order for one expression)."""
    root, originals = stand_ins
    found = (e for expression in expressions for e in cast(list[etree._Element], expression(root)))
    return [originals[e] for e in found if e in originals]


def _pruned(element: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    """A copy of ``element`` as the pruned copy of the page holds it (what the discard XPaths leave inside it)."""
    return cast(lxml.html.HtmlElement, prune_unwanted_nodes(deepcopy(element), AUTHOR_DISCARD_XPATHS))
