"""Bytes to an lxml tree: charset detection and tolerant parsing.

The charset comes from the Content-Type header, then from ``<meta>``, then
from detection (charset-normalizer), as browsers do.  Latin-1 labels are
read as windows-1252, which is what servers that send them mean (WHATWG).
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer
import lxml.html
import trafilatura
from lxml.etree import ParserError

from extractors.errors import ExtractionError

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""",
    re.IGNORECASE,
)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_WHATWG_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
}


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _WHATWG_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_html(body: bytes, header_charset: str | None = None) -> str:
    """Decode an HTML body to text, trying header, ``<meta>``, then detection."""
    if body.startswith(codecs.BOM_UTF8):
        return body[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    meta = _META_CHARSET.search(body[:8192])
    for label in (header_charset, meta.group(1).decode("ascii", "ignore") if meta else None):
        codec = _codec(label)
        if codec:
            try:
                return body.decode(codec)
            except UnicodeDecodeError:
                continue
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        best = charset_normalizer.from_bytes(body[:200_000]).best()
        codec = best.encoding if best is not None else "cp1252"
        return body.decode(codec, errors="replace")


def parse_html(body: bytes, url: str, header_charset: str | None = None) -> lxml.html.HtmlElement:
    """A parsed document; raises ExtractionError on an empty or unparsable body."""
    text = _XML_DECLARATION.sub("", decode_html(body, header_charset), count=1)
    if not text.strip():
        raise ExtractionError(url, "empty document")
    if "<" not in text:
        # binary junk or plain text: parsed as HTML it would come out as a one-paragraph "article"
        raise ExtractionError(url, "not an HTML document: no markup at all")
    # trafilatura's loader works around libxml2's doctype bug and drops comments and processing
    # instructions; a tree parsed any other way makes its main-content search miss whole sections.
    tree = trafilatura.load_html(text)
    if tree is not None:
        return tree
    try:
        return lxml.html.document_fromstring(text, base_url=url)
    except (ParserError, ValueError) as exc:
        raise ExtractionError(url, f"unparsable HTML: {exc}") from exc
