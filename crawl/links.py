"""Article links on a home or section page, as a pure function.

A start page links to everything: sections, tags, authors, pagination,
login, the feed.  Kept are links on the same site whose address looks like
an article: a slug of several words, a numeric id, or a dated path — and no
navigation segment or file extension that says otherwise.
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

import lxml.html

from extractors.errors import InvalidURL
from extractors.records import FetchedPage
from extractors.urls import normalize_url

_NAVIGATION = re.compile(
    r"/(?:tag|tags|topic|topics|topik|category|categories|kategori|author|authors|penulis|page|search|login|"
    r"register|signup|subscribe|account|about|contact|privacy|terms|impressum|datenschutz|feed|rss|newsletter|"
    r"video-?gallery|galleries|wp-admin|wp-login|cdn-cgi)(?:/|$|\.)",
    re.IGNORECASE,
)
_FILE = re.compile(r"\.(?:jpe?g|png|gif|webp|svg|pdf|zip|mp[34]|xml|rss|json|css|js|ico)$", re.IGNORECASE)
_SLUG = re.compile(r"[a-z0-9]+(?:[-_][a-z0-9]+){2,}", re.IGNORECASE)
_ID = re.compile(r"\d{4,}")
_DATED = re.compile(r"/(?:19|20)\d{2}/\d{1,2}/")


def _site(host: str) -> str:
    host = host.lower()
    return host[4:] if host.startswith("www.") else host


def looks_like_article(url: str) -> bool:
    """Whether an address looks like one article rather than a section, tag, file or utility page."""
    path = urlsplit(url).path
    if not path.strip("/") or _NAVIGATION.search(path) or _FILE.search(path):
        return False
    last = path.rstrip("/").rsplit("/", 1)[-1]
    return bool(_SLUG.fullmatch(last.rsplit(".", 1)[0]) or _ID.search(last) or _DATED.search(path))


def article_links_from_page(page: FetchedPage) -> list[str]:
    """Same-site article links of a page, normalised, in page order."""
    try:
        tree = lxml.html.document_fromstring(page.body)
    except (lxml.etree.ParserError, ValueError):
        return []
    site = _site(urlsplit(page.final_url).netloc)
    own = normalize_url(page.final_url) if page.final_url else ""
    found: dict[str, None] = {}
    for anchor in tree.iter("a"):
        href = (anchor.get("href") or "").strip()
        if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
            continue
        try:
            url = normalize_url(urljoin(page.final_url, href))
        except InvalidURL:
            continue
        if url != own and _site(urlsplit(url).netloc) == site and looks_like_article(url):
            found.setdefault(url, None)
    return list(found)
