"""The parts of trafilatura newsflow uses beyond ``trafilatura.extract``, in one place.

Its public API returns text; newsflow needs its main-content tree (``bare_extraction`` with an
``Extractor`` options object), the list of tags its cleaning removes (``settings.MANUALLY_CLEANED``, so
that newsflow can drop them first), its helpers for raw input (``utils.handle_compressed_file``,
``is_dubious_html``, ``repair_faulty_html``), its byline search (``metadata.extract_author``, skipped
where none of its XPaths ``xpaths.AUTHOR_XPATHS`` could match) and its token sampling for SimHash
(``deduplication.sample_tokens``: fingerprints must stay comparable with the ones already stored).
None of these but ``bare_extraction`` is documented; trafilatura is pinned to 2.x in pyproject.toml
and ``tests/test_library_contracts.py`` fails, naming what moved, when an upgrade changes them.
"""

from __future__ import annotations

import re
from typing import cast

import lxml.html
from lxml.etree import XPath
from trafilatura import __version__, bare_extraction
from trafilatura.deduplication import sample_tokens
from trafilatura.metadata import extract_author as _extract_author
from trafilatura.settings import MANUALLY_CLEANED, Extractor
from trafilatura.utils import handle_compressed_file, is_dubious_html, repair_faulty_html

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


# Every attribute trafilatura's byline XPaths (``xpaths.AUTHOR_XPATHS``) test, and a pattern that matches any value
# they accept: ``author`` and ``Author`` in any of them, ``byline``, the class and id names they list.  Its search
# copies the page and prunes the copy with regex XPaths (~7 ms on a news page) before it looks; on a page where no
# attribute value holds any of these it cannot find a byline.  tests/test_library_contracts.py pins those XPaths.
_AUTHOR_ATTRIBUTES = XPath("//@class|//@id|//@itemprop|//@rel|//@data-component|//@data-testid", smart_strings=False)
_AUTHOR_VALUE = re.compile(
    r"uthor|yline|byl|BBL|username|screenname|writer|channel-name|submitted-by|posted-by|journalist-name|zuozhe|"
    r"bianji|xiaobian"
)
# element names its XPaths match whatever their attributes: ``//author``, and ``rel='me'`` (a child element)
_AUTHOR_ELEMENTS = ("author", "rel")


def extract_author(tree: lxml.html.HtmlElement) -> str | None:
    """trafilatura's byline search (``metadata.extract_author``); None at once where none of its XPaths can match."""
    if next(tree.iter(*_AUTHOR_ELEMENTS), None) is None and not _AUTHOR_VALUE.search(_attribute_values(tree)):
        return None
    return _extract_author(tree)


def _attribute_values(tree: lxml.html.HtmlElement) -> str:
    return "\n".join(cast(list[str], _AUTHOR_ATTRIBUTES(tree)))
