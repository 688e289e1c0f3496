"""The pure extraction function: a fetched page in, a clean ``Article`` out.

No network, no Prefect, no database: bytes, a URL and options go in, an
``Article`` comes out or an ``ExtractionError`` is raised.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from lxml.etree import LxmlError

from extractors import metadata
from extractors._trafilatura import __version__ as trafilatura_version
from extractors.body import Block, extract_blocks, find_standfirst
from extractors.boilerplate import cut_related_blocks, prune_tree
from extractors.budget import time_budget
from extractors.dates import get_zone, htmldate_day
from extractors.errors import ExtractionError, NoArticleContent
from extractors.fingerprint import body_fingerprints, words
from extractors.html import parse_html
from extractors.language import detect_language
from extractors.records import Article, FetchedPage, RelatedLink
from extractors.safety import doubtful, fallback_wins, prose_chars
from extractors.sites import rules_for
from extractors.sites.rules import SiteRules, body_subtree, byline_text, drop_furniture, rule_time
from extractors.urls import is_http_url, url_key

#: Bump when a change alters what the extractor returns for the same page.
EXTRACTOR_REVISION = "8"
EXTRACTOR_VERSION = f"newsflow-{EXTRACTOR_REVISION}+trafilatura-{trafilatura_version}"


@dataclass(frozen=True, slots=True)
class ExtractOptions:
    """Per-source knowledge the page itself may not state."""

    timezone: str = "UTC"
    """IANA zone for timestamps written without one."""
    language: str | None = None
    """Language hint when the page declares none."""
    time_budget: float | None = 20.0
    """Seconds one page may take before it fails with ExtractionTimeout (None: no limit)."""


def extract_article(page: FetchedPage, options: ExtractOptions | None = None) -> Article:
    """Extract an Article from a fetched page."""
    return extract_html(page.body, page.final_url, options, header_charset=page.charset)


def extract_html(
    html: bytes,
    url: str,
    options: ExtractOptions | None = None,
    header_charset: str | None = None,
) -> Article:
    """Extract an Article from raw HTML bytes served at ``url``.

    Raises ``ExtractionError`` (or a subclass) and nothing else for any input: what the parsing
    libraries raise on hostile markup (recursion depth, lxml errors, bad values) is converted, and
    a page that overruns ``options.time_budget`` raises ``ExtractionTimeout``.
    """
    options = options or ExtractOptions()
    try:
        with time_budget(options.time_budget, url):
            return _extract(html, url, options, header_charset)
    except ExtractionError:
        raise
    except (RecursionError, MemoryError, ValueError, LxmlError) as exc:
        # deep nesting, huge documents and malformed values defeat lxml or trafilatura: that page fails
        raise ExtractionError(url, f"extractor gave up on the page: {type(exc).__name__}: {exc}") from exc


def _extract(html: bytes, url: str, options: ExtractOptions, header_charset: str | None) -> Article:
    zone = get_zone(options.timezone)
    tree = parse_html(html, url, header_charset)

    signals = metadata.PageSignals.read(tree, url)
    provenance: dict[str, str | None] = {}

    canonical, provenance["canonical_url"] = metadata.canonical_url(signals)
    rules = rules_for(url) or rules_for(canonical)
    if rules is not None:
        drop_furniture(rules, tree)
    site, provenance["site_name"] = metadata.site_name(signals)
    title, provenance["title"] = metadata.title(signals, site)
    authors, provenance["authors"] = metadata.authors(signals, site)
    times = metadata.timestamps(signals, zone, title)
    provenance["published_at"], provenance["modified_at"] = times.published_source, times.modified_source
    if rules is not None:
        byline = byline_text(rules, tree)
        if byline and metadata.clean_author_names(byline):
            authors, provenance["authors"] = tuple(metadata.clean_author_names(byline)), "html"
        published, modified = rule_time(rules.published, tree, zone), rule_time(rules.modified, tree, zone)
        if published is not None:
            times = dataclasses.replace(
                times, published=published[0], published_source="html", published_has_time=published[1]
            )
            provenance["published_at"] = "html"
        if modified is not None:
            times = dataclasses.replace(times, modified=modified[0], modified_source="html")
            provenance["modified_at"] = "html"
    if not metadata.names_a_person(authors, site):
        people = metadata.byline_people(tree, site)  # before any cut: bylines sit in headers and meta rows
        if people:
            authors, provenance["authors"] = people, "html"
    if times.published is None:
        # nothing newsflow reads states the day: htmldate's searches (on a copy: they may alter the tree)
        day = htmldate_day(copy.deepcopy(tree), url, zone)
        if day is not None:
            times = dataclasses.replace(times, published=day, published_source="htmldate", published_has_time=False)
            provenance["published_at"] = "htmldate"
    section, provenance["section"] = metadata.section(signals)
    tags, provenance["tags"] = metadata.tags(signals)
    description, provenance["description"] = metadata.description(signals)
    # Relative links resolve against the canonical address, not the fetched one: the same
    # article fetched through a mirror or another port must hash the same.
    image, provenance["lead_image_url"] = metadata.lead_image(signals, canonical)
    is_paywalled, provenance["is_paywalled"] = metadata.paywalled(signals)

    if rules is not None:
        tree = body_subtree(rules, tree)
    page_prose = prose_chars(tree)  # before the bets below: what the safety net measures them against
    standfirst = find_standfirst(tree)
    related = cut_related_blocks(tree, canonical)
    prune_tree(tree)
    blocks = extract_blocks(tree, url, title, standfirst, embedded=signals.jsonld_documents)
    kept = sum(len(block.text) for block in blocks)
    if doubtful(kept, page_prose):
        # the cuts took too much on this page: the text with only the certain cuts, if it holds more
        plain = _with_certain_cuts_only(html, url, header_charset, rules, title)
        if fallback_wins("\n".join(block.text for block in blocks), "\n".join(block.text for block in plain)):
            blocks, provenance["body_text"] = plain, "fallback"
    body_text = "\n\n".join(block.text for block in blocks)
    if not body_text.strip():
        raise NoArticleContent(url, "no article text found on the page")

    language, provenance["language"] = detect_language(body_text, metadata.html_language(signals) or options.language)
    written = words(body_text)
    fingerprints = body_fingerprints(body_text, written)
    article = Article(
        url=url,
        canonical_url=canonical,
        url_key=url_key(canonical) if is_http_url(canonical) else None,
        title=title,
        authors=tuple(authors),
        published_at=times.published.astimezone(UTC) if times.published else None,
        modified_at=times.modified.astimezone(UTC) if times.modified else None,
        language=language,
        site_name=site,
        section=section,
        tags=tuple(tags),
        description=description,
        lead_image_url=image,
        body_text=body_text,
        headings=tuple(block.text for block in blocks if block.kind == "h"),
        related_links=_unique_links(related),
        word_count=len(written),
        is_paywalled=is_paywalled,
        provenance=tuple((k, v) for k, v in provenance.items() if v),
        content_hash="",
        extractor_version=EXTRACTOR_VERSION,
        simhash=fingerprints.simhash if fingerprints else None,
        sketch=fingerprints.sketch if fingerprints else None,
        published_local=times.published.isoformat() if times.published and times.published_has_time else None,
    )
    return dataclasses.replace(article, content_hash=content_hash(article))


def _with_certain_cuts_only(
    html: bytes, url: str, header_charset: str | None, rules: SiteRules | None, title: str | None
) -> list[Block]:
    """The body from a fresh parse with only the cuts that are certain: the site's own rules and the
    word-level block filters (no related-box, link-list or furniture-class cuts)."""
    tree = parse_html(html, url, header_charset)
    if rules is not None:
        drop_furniture(rules, tree)
        tree = body_subtree(rules, tree)
    return extract_blocks(tree, url, title, find_standfirst(tree), full=True)


def _unique_links(links: list[RelatedLink]) -> tuple[RelatedLink, ...]:
    seen: set[str] = set()
    out = []
    for link in links:
        if link.url not in seen:
            seen.add(link.url)
            out.append(link)
    return tuple(out)


# Not content: where the page was fetched from, how it was extracted, and what derives from the body.
_NOT_CONTENT = (
    "url", "url_key", "content_hash", "extractor_version", "provenance", "word_count", "headings", "simhash",
    "published_local",  # the same instant as published_at, in the page's offset
)  # fmt: skip


def content_hash(article: Article) -> str:
    """A stable hash of what a reader sees; the fetched URL and versions do not count."""
    fields = {k: v for k, v in article.to_json_dict().items() if k not in _NOT_CONTENT}
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def fetched_page_from_file(data: bytes, url: str) -> FetchedPage:
    """A FetchedPage for HTML read from disk (the CLI and tests use it)."""
    return FetchedPage(
        url=url,
        final_url=url,
        status=200,
        headers=(("content-type", "text/html"),),
        body=data,
        fetched_at=datetime.now(UTC),
    )
