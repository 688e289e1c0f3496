"""Typed, immutable records that cross stage boundaries.

``FetchedPage`` (or ``NotModified`` for a 304) leaves the fetcher with the
``Attempt``s it took, ``Article`` leaves the extractor, ``Failure`` is what
any stage reports for a URL it could not handle.
They hold tuples rather than lists/dicts so that they are truly frozen,
hashable where possible and cheap to pickle into a worker process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message

from extractors.errors import NewsflowError

Headers = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at fetching a URL (redirect hops included), as the ``fetches`` table records it."""

    url: str
    attempt: int
    """1 for the first try, 2 for the first retry, …"""
    at: datetime
    status: int | None
    bytes: int | None
    elapsed_ms: int
    outcome: str
    """'ok', 'not_modified', or the failure's outcome ('timeout', 'http_error', …)."""
    error: str | None = None
    final_url: str | None = None


@dataclass(frozen=True, slots=True)
class Validators:
    """What a server said about a URL's version, sent back on the next request (conditional GET)."""

    etag: str | None = None
    last_modified: str | None = None

    def request_headers(self) -> dict[str, str]:
        headers = {}
        if self.etag:
            headers["If-None-Match"] = self.etag
        if self.last_modified:
            headers["If-Modified-Since"] = self.last_modified
        return headers


@dataclass(frozen=True, slots=True)
class FetchedPage:
    """One HTTP response body as received, before any parsing."""

    url: str
    """The URL that was asked for."""
    final_url: str
    """The URL after redirects: relative links resolve against this."""
    status: int
    headers: Headers
    """Response headers, names lower-cased, in received order."""
    body: bytes
    fetched_at: datetime
    attempts: tuple[Attempt, ...] = ()

    @property
    def validators(self) -> Validators:
        return Validators(self.header("etag"), self.header("last-modified"))

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key == name:
                return value
        return None

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ('' when absent)."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str | None:
        """The charset parameter of Content-Type, if the server sent one."""
        raw = self.header("content-type")
        if not raw:
            return None
        msg = Message()
        msg["content-type"] = raw
        value = msg.get_param("charset")
        return value.strip().lower() if isinstance(value, str) and value.strip() else None


@dataclass(frozen=True, slots=True)
class RelatedLink:
    """A link cut out of the body ("Also read: …" and the like)."""

    text: str
    url: str


@dataclass(frozen=True, slots=True)
class Article:
    """A clean news article, ready to be stored."""

    url: str
    canonical_url: str
    url_key: str | None
    """Deduplication key: canonical URL with host/AMP variants folded; None for a local file that names
    no http(s) address (such an article cannot be stored)."""
    title: str | None
    authors: tuple[str, ...]
    published_at: datetime | None
    modified_at: datetime | None
    language: str | None
    site_name: str | None
    section: str | None
    tags: tuple[str, ...]
    description: str | None
    lead_image_url: str | None
    body_text: str
    """Paragraphs, headings, lists and quotes in reading order, separated by blank lines."""
    headings: tuple[str, ...]
    """The subheadings among the body blocks, in order."""
    related_links: tuple[RelatedLink, ...]
    word_count: int
    is_paywalled: bool | None
    provenance: tuple[tuple[str, str], ...]
    """(field, source) pairs: where each metadata value came from."""
    content_hash: str
    extractor_version: str
    simhash: int | None = field(default=None, metadata={"unsigned": True})
    """64-bit SimHash of the body's 3-word shingles (extractors/fingerprint.py); None for a very short body."""
    sketch: bytes | None = None
    """MinHash sketch of the same shingles (resemblance of near-duplicates); not part of the JSON view."""
    published_local: str | None = None
    """The publication time as the page states it, ISO-8601 with the page's own UTC offset (its own day);
    None when the page gives no time of day."""

    def to_json_dict(self) -> dict[str, object]:
        """A JSON-ready view: ISO-8601 UTC timestamps ending in ``Z``, lists as lists."""
        return {
            "url": self.url,
            "canonical_url": self.canonical_url,
            "url_key": self.url_key,
            "title": self.title,
            "authors": list(self.authors),
            "published_at": iso_utc(self.published_at),
            "published_local": self.published_local,
            "modified_at": iso_utc(self.modified_at),
            "language": self.language,
            "site_name": self.site_name,
            "section": self.section,
            "tags": list(self.tags),
            "description": self.description,
            "lead_image_url": self.lead_image_url,
            "body_text": self.body_text,
            "headings": list(self.headings),
            "related_links": [{"text": link.text, "url": link.url} for link in self.related_links],
            "word_count": self.word_count,
            "is_paywalled": self.is_paywalled,
            "provenance": dict(self.provenance),
            "content_hash": self.content_hash,
            "extractor_version": self.extractor_version,
            "simhash": None if self.simhash is None else f"{self.simhash:016x}",
        }


@dataclass(frozen=True, slots=True)
class Discovered:
    """An article URL found by discovery, with the date its feed or sitemap gave it, if any."""

    url: str
    """Normalised (same rules as canonical URLs)."""
    published: datetime | None
    via: str
    """'feed', 'sitemap' or 'page' (a start page's links)."""


@dataclass(frozen=True, slots=True)
class DocumentRead:
    """A discovery document (feed, sitemap, sitemap index, start or archive page) read in full, and what it listed."""

    url: str
    """The URL asked for: the document's state is kept under it."""
    validators: Validators
    """The version read (sent back on the next run only if every entry was dealt with)."""
    entries: tuple[str, ...]
    """Article URLs it lists that the source's patterns admit, whatever their dates."""
    children: tuple[Discovered, ...] = ()
    """Documents it leads to (an index's sitemaps, the feeds a page advertises), with their dates if given."""


@dataclass(frozen=True, slots=True)
class DocumentState:
    """The version of a discovery document whose every entry was dealt with, as the last full read left it."""

    validators: Validators
    children: tuple[Discovered, ...]
    """Followed again when the document answers 304: each child has its own state."""


@dataclass(frozen=True, slots=True)
class NotModified:
    """A conditional request answered 304: the stored version is current, nothing to extract."""

    url: str
    final_url: str
    headers: Headers
    fetched_at: datetime
    attempts: tuple[Attempt, ...] = ()

    @property
    def validators(self) -> Validators:
        found = dict(self.headers)
        return Validators(found.get("etag"), found.get("last-modified"))


@dataclass(frozen=True, slots=True)
class Failure:
    """A URL that a stage could not handle, as a readable value."""

    url: str
    stage: str
    """'discover', 'fetch', 'read' (a local file), 'extract' or 'store'."""
    outcome: str
    reason: str
    transient: bool
    status: int | None = None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))
    attempts: tuple[Attempt, ...] = ()

    @classmethod
    def from_error(cls, stage: str, error: NewsflowError, attempts: tuple[Attempt, ...] = ()) -> Failure:
        return cls(
            url=error.url,
            stage=stage,
            outcome=error.outcome,
            reason=error.reason,
            transient=error.transient,
            status=getattr(error, "status", None),
            attempts=attempts,
        )


@dataclass(frozen=True, slots=True)
class ArchiveScope:
    """What a backfill took from a web archive file: the pages of these sources (each named with its domains
    and URL rules, ``Source.archive_key``) published in [since, until) (None: no bound)."""

    sources: frozenset[str]
    since: datetime | None
    until: datetime | None

    def covers(self, other: ArchiveScope) -> bool:
        """Whether reading a file for this scope stored everything reading it for ``other`` would."""
        starts_before = self.since is None or (other.since is not None and self.since <= other.since)
        ends_after = self.until is None or (other.until is not None and self.until >= other.until)
        return self.sources >= other.sources and starts_before and ends_after


@dataclass(frozen=True, slots=True)
class ArchiveFileDone:
    """A web archive file read to its end for a scope, every page it matched committed (``archive_files``)."""

    path: str
    scope: ArchiveScope
    read: int
    """Response records in the file."""
    matched: int
    """HTML pages of the scope's sources."""
    stored: int
    """Articles stored (new, updated or unchanged) from those pages, within the window."""
    broken: int
    """Records that could not be read."""


def iso_utc(value: datetime | None) -> str | None:
    """``2026-05-12T02:30:00Z`` for an aware datetime, None for None."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
