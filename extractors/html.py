"""Bytes to an lxml tree: charset detection and tolerant parsing.

The charset comes from the Content-Type header, then from ``<meta>``, then
from detection (charset-normalizer), as browsers do.  Latin-1 labels are
read as windows-1252, which is what servers that send them mean (WHATWG).

A body still gzipped although no Content-Encoding said so (a misconfigured
server or cache, a ``.html.gz`` served as is) is decompressed first, by
trafilatura's function, with its bound against decompression bombs; a body
that is binary after that (an image, a PDF, a truncated archive) is refused
instead of being decoded into an "article" of mojibake.
"""

from __future__ import annotations

import codecs
import re

import charset_normalizer
import lxml.html
from lxml import etree
from lxml.etree import ParserError

from extractors._trafilatura import handle_compressed_file, is_dubious_html, repair_faulty_html
from extractors.errors import ExtractionError

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""",
    re.IGNORECASE,
)
# trafilatura's own parser settings (comments and processing instructions dropped, no default doctype),
# with element classes chosen in C: lxml.html's default chooser is a Python method called for every
# element proxy, about a tenth of the extraction time, only to give <form> and <input> richer classes
_PARSER = lxml.html.HTMLParser(  # type: ignore[call-arg]  # lxml-stubs lack default_doctype
    collect_ids=False, default_doctype=False, encoding="utf-8", remove_comments=True, remove_pis=True
)
_PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=lxml.html.HtmlElement,
        comment=lxml.html.HtmlComment,
        pi=lxml.html.HtmlProcessingInstruction,
        entity=lxml.html.HtmlEntity,
    )
)
_GZIP_MAGIC = b"\x1f\x8b\x08"
# C0 controls other than tab, newline, form feed and carriage return: text never holds many of them
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f]")
#: Share of control characters in the first ``_SNIFF_CHARS`` above which a body is binary, not text.
BINARY_SHARE = 0.02
_SNIFF_CHARS = 8192
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
    return _decode(body, header_charset)[0]


def _decode(body: bytes, header_charset: str | None) -> tuple[str, str]:
    """The text and the name of the codec that gave it."""
    if body.startswith(codecs.BOM_UTF8):
        return body[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace"), "utf-8"
    meta = _META_CHARSET.search(body[:8192])
    for label in (header_charset, meta.group(1).decode("ascii", "ignore") if meta else None):
        codec = _codec(label)
        if codec:
            try:
                return body.decode(codec), codec
            except UnicodeDecodeError:
                continue
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        best = charset_normalizer.from_bytes(body[:200_000]).best()
        codec = best.encoding if best is not None else "cp1252"
        return body.decode(codec, errors="replace"), codec


# Codecs in which a byte below 0x20 is always that control character: for these, the controls libxml2
# refuses can be looked for in the bytes, where deleting them and comparing lengths is a fast C loop
_BYTE_TRANSPARENT = re.compile(r"utf-8|ascii|cp125\d|iso8859-\d+|koi8-[ru]|mac-[a-z]+")
_XML_INVALID_BYTES = bytes((*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20)))


def _needs_char_repair(body: bytes, codec: str, text: str) -> bool:
    """Whether ``text`` (``body`` decoded by ``codec``) may hold characters that XML forbids.

    Stripping them (trafilatura's repair) is a regular expression over the whole text, ~0.6 ms on a news
    page that almost never holds one; this answers in a third of that.
    """
    if "\ufffe" in text or "\uffff" in text or not _BYTE_TRANSPARENT.fullmatch(codec):
        return True
    return len(body.translate(None, _XML_INVALID_BYTES)) != len(body)


def parse_html(body: bytes, url: str, header_charset: str | None = None) -> lxml.html.HtmlElement:
    """A parsed document; raises ExtractionError on an empty, binary or unparsable body."""
    if body.startswith(_GZIP_MAGIC):
        # trafilatura's decompression, bounded by its MAX_FILE_SIZE; only behind gzip's magic number, as its
        # speculative attempts at other formats would cost every ordinary page a failed decompression
        body = handle_compressed_file(body)
    text, codec = _decode(body, header_charset)
    text = _XML_DECLARATION.sub("", text, count=1)
    if not text or text.isspace():
        raise ExtractionError(url, "empty document")
    head = text[:_SNIFF_CHARS]
    if len(_CONTROL.findall(head)) > BINARY_SHARE * len(head):
        raise ExtractionError(url, "not an HTML document: binary content (an image, a PDF or an archive?)")
    if "<" not in text:
        # binary junk or plain text: parsed as HTML it would come out as a one-paragraph "article"
        raise ExtractionError(url, "not an HTML document: no markup at all")
    return _load(text, url, strip_chars=_needs_char_repair(body, codec, text))


def _load(text: str, url: str, strip_chars: bool) -> lxml.html.HtmlElement:
    # the steps of trafilatura's load_html with the parser above: its repair of libxml2's doctype bug,
    # then the document (a string that declares an encoding is refused as text)
    beginning = text[:50].lower()
    text = _repair(text, beginning, strip_chars)
    tree: lxml.html.HtmlElement | None = None
    # its bytes first: the parser reads UTF-8 whatever the page declares, and libxml2 parses UTF-8 bytes
    # faster than it converts a Python string (~0.1 ms a page, the encoding included)
    for document in (text.encode("utf-8", "surrogatepass"), text):
        try:
            tree = lxml.html.fromstring(document, parser=_PARSER)
        except (ParserError, ValueError):
            continue
        if len(tree) >= 1:
            break
    if tree is None or (is_dubious_html(beginning) and len(tree) < 2):
        # trafilatura's check: no <html> in sight and a single element is not a document
        return _fallback(text, url)
    return tree


def _repair(text: str, beginning: str, strip_chars: bool) -> str:
    """trafilatura's ``repair_faulty_html``; with no characters to strip, run on the document's opening only.

    Its other two fixes (the doctype line, a self-closing ``<html/>`` in the first four lines of the first
    4096 characters) never reach past the first line break after character 4096.
    """
    cut = text.find("\n", 4096) + 1
    if strip_chars or cut == 0:
        return repair_faulty_html(text, beginning)
    head = text[:cut]
    repaired = repair_faulty_html(head, beginning)
    return text if repaired == head else repaired + text[cut:]


def _fallback(text: str, url: str) -> lxml.html.HtmlElement:
    try:
        return lxml.html.document_fromstring(text, base_url=url)
    except (ParserError, ValueError) as exc:
        raise ExtractionError(url, f"unparsable HTML: {exc}") from exc


def in_body(tree: lxml.html.HtmlElement, *tags: str) -> list[lxml.html.HtmlElement]:
    """What ``//body//*[self::tag or ...]`` selects from ``tree``: those elements inside any <body> of its
    document, in document order.  lxml's tag filter runs in C, in a third of the XPath's time."""
    bodies = list(tree.getroottree().getroot().iter("body"))
    found = [element for body in bodies for element in body.iter(*tags) if element is not body]
    return found if len(bodies) < 2 else list(dict.fromkeys(found))  # a body inside a body: each element once


#: The page's JSON-LD scripts (a ``type`` naming ``ld+json``, in any case), wherever they sit.
JSON_LD_SCRIPTS = etree.XPath('//script[contains(translate(@type,"LDJSON","ldjson"),"ld+json")]')
