"""Guards for documents that strangers write: gzip with a size cap, XML without entities.

Feeds and sitemaps never need a DTD.  A document that declares entities is
refused before any parser sees it (billion laughs, external entities), and
XML is parsed with entity resolution, DTD loading and network access off.
Gzip is inflated at most one byte past the size cap, so a small bomb costs
nothing.
"""

from __future__ import annotations

import re
import zlib

from lxml import etree

from extractors.errors import FeedError, TooLarge

GZIP_MAGIC = b"\x1f\x8b"
_DTD = re.compile(rb"<!DOCTYPE[^>]*\[|<!ENTITY", re.IGNORECASE)


def gunzip_capped(data: bytes, url: str, max_bytes: int) -> bytes:
    """Inflate gzip data; TooLarge when it would exceed ``max_bytes``, FeedError when it is not gzip."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = decompressor.decompress(data, max_bytes + 1)
    except zlib.error as error:
        raise FeedError(url, f"not valid gzip: {error}") from error
    if len(out) > max_bytes:
        raise TooLarge(url, f"decompressed body is over the {max_bytes}-byte limit")
    if not decompressor.eof:
        raise FeedError(url, "not valid gzip: the stream is truncated")
    return out


def maybe_gunzip(data: bytes, url: str, max_bytes: int) -> bytes:
    return gunzip_capped(data, url, max_bytes) if data.startswith(GZIP_MAGIC) else data


def refuse_entities(data: bytes, url: str) -> None:
    """FeedError when an XML document declares a DTD subset or entities."""
    if _DTD.search(data[:65536]) or b"<!ENTITY" in data:
        raise FeedError(url, "the document declares XML entities (DTD); refused rather than expanded")


_SAFE = {"resolve_entities": False, "no_network": True, "load_dtd": False, "dtd_validation": False, "huge_tree": False}
_PARSER = etree.XMLParser(recover=True, **_SAFE)  # type: ignore[arg-type]
_STRICT_PARSER = etree.XMLParser(recover=False, **_SAFE)  # type: ignore[arg-type]


def parse_xml(data: bytes, url: str, strict: bool = False) -> etree._Element:
    """A parsed XML document, entities refused; FeedError when it is not XML.

    ``strict``: malformed XML is refused rather than repaired (a truncated sitemap would otherwise
    yield its last, cut-off address as an article URL).
    """
    refuse_entities(data, url)
    try:
        root = etree.fromstring(data, _STRICT_PARSER if strict else _PARSER)
    except etree.XMLSyntaxError as error:
        raise FeedError(url, f"not well-formed XML: {error}") from error
    if root is None:
        raise FeedError(url, "not XML: empty document")
    return root
