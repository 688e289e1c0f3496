"""Article metadata from JSON-LD, ``<meta>``, markup and visible bylines.

Each getter returns the value and where it came from (``jsonld``, ``meta``,
``html``, ``text`` or ``url``) so that the Article can carry provenance.
Sources are tried from most to least explicit; the first usable one wins.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any, cast
from urllib.parse import urljoin

import lxml.html
from lxml import etree

from extractors._trafilatura import extract_author as trafilatura_author
from extractors.dates import find_visible_dates, parse_machine_date, visible_date_spans
from extractors.errors import InvalidURL
from extractors.headline import header_text, headline, outside_foreign, text_above
from extractors.html import JSON_LD_SCRIPTS, in_body
from extractors.urls import is_http_url, normalize_url

Sourced = tuple[Any, str | None]

ARTICLE_TYPES = {
    "article", "newsarticle", "reportagenewsarticle", "analysisnewsarticle", "opinionnewsarticle",
    "backgroundnewsarticle", "reviewnewsarticle", "blogposting", "liveblogposting", "socialmediaposting",
    "scholarlyarticle", "techarticle", "report", "posting",
}  # fmt: skip

_BYLINE_PREFIX = re.compile(
    r"^\s*(?:written\s+by|posted\s+by|reported\s+by|words\s+by|text(?:\s+by)?|by|von|oleh|penulis|reporter|"
    r"pewarta|wartawan|por|par|door|di|de|autor(?:a|in)?|author|auteur|texto|testo|redaksi)\s*[:\-–]?\s+",
    re.IGNORECASE,
)
_AUTHOR_SPLIT = re.compile(r"\s*(?:,|;|&|\||·|•|\s+(?:and|und|dan|y|e|et|en|og|och)\s+)\s*", re.IGNORECASE)
_JOB_TITLE = re.compile(
    r"\b(?:staff|senior|chief|editor|editors|writer|reporter|correspondent|journalist|contributor|columnist|"
    r"redakteur(?:in)?|korrespondent(?:in)?|redaktion|wartawan|koresponden|kontributor|jornalista|periodista|"
    r"redactor|redactora|rédacteur|rédactrice|journaliste|giornalista|redacteur|verslaggever|news desk|desk)\b",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"\S+@\S+\.\w+")
# "Paulo Reis, de Blumenau", "Anna Schmidt, aus Berlin": where the reporter filed from, not a name
_PLACE = re.compile(r"^(?:from|in|aus|dari|di|de|em|en|à|a|da|desde|depuis)\s+\S")
_SPACES = re.compile(r"\s+")


def clean_text(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    text = _SPACES.sub(" ", value).strip()
    return text or None


def _walk_jsonld(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, list):
        for item in node:
            yield from _walk_jsonld(item)
    elif isinstance(node, dict):
        yield node
        if "@graph" in node:
            yield from _walk_jsonld(node["@graph"])


def _types(node: dict[str, Any]) -> set[str]:
    raw = node.get("@type")
    values = raw if isinstance(raw, list) else [raw]
    return {v.lower() for v in values if isinstance(v, str)}


@dataclass
class PageSignals:
    """What the ``<head>`` and structured data of one page say, gathered once."""

    tree: lxml.html.HtmlElement
    url: str
    metas: dict[str, list[str]]
    jsonld: list[dict[str, Any]]
    article_ld: dict[str, Any]
    jsonld_documents: tuple[str, ...] = ()
    """The JSON-LD scripts' texts as written (trafilatura's rescue reads them after the pruning strips scripts)."""

    @classmethod
    def read(cls, tree: lxml.html.HtmlElement, url: str) -> PageSignals:
        metas: dict[str, list[str]] = {}
        for meta in tree.iter("meta"):
            content = meta.get("content")
            if content is None:
                continue
            for attr in ("property", "name", "itemprop", "http-equiv"):
                key = meta.get(attr)
                if key:
                    metas.setdefault(key.strip().lower(), []).append(content.strip())
        nodes: list[dict[str, Any]] = []
        documents = tuple(script.text for script in cast(list[lxml.html.HtmlElement], JSON_LD_SCRIPTS(tree))
                          if script.text)  # fmt: skip
        for document in documents:
            raw = document.strip()
            raw = re.sub(r"^\s*(?:<!--|//\s*<!\[CDATA\[)|(?:-->|//\s*\]\]>)\s*$", "", raw)
            try:
                data = json.loads(raw)
            except ValueError:
                continue  # a broken JSON-LD block must not cost the other sources
            nodes.extend(_walk_jsonld(data))
        article = next((n for n in nodes if _types(n) & ARTICLE_TYPES), {})
        return cls(tree=tree, url=url, metas=metas, jsonld=nodes, article_ld=article, jsonld_documents=documents)

    def meta(self, *names: str) -> Sourced:
        for name in names:
            for value in self.metas.get(name, []):
                text = clean_text(value)
                if text:
                    return text, "meta"
        return None, None

    def meta_all(self, name: str) -> list[str]:
        return [t for t in (clean_text(v) for v in self.metas.get(name, [])) if t]

    def ld(self, key: str) -> Any:
        return self.article_ld.get(key)


def _absolute(url: object, base: str) -> str | None:
    if isinstance(url, dict):
        url = url.get("url") or url.get("@id") or url.get("contentUrl")
    if isinstance(url, list):
        url = url[0] if url else None
    if not isinstance(url, str) or not url.strip():
        return None
    return urljoin(base, url.strip())


def canonical_url(sig: PageSignals) -> Sourced:
    candidates: list[tuple[object, str]] = []
    for link in sig.tree.xpath(
        '//link[@href][contains(concat(" ", normalize-space(translate(@rel,"CANONICAL","canonical")), " "),'
        ' " canonical ")]'
    ):
        candidates.append((link.get("href"), "html"))
    main_entity = sig.ld("mainEntityOfPage")
    candidates += [(sig.ld("url"), "jsonld"), (main_entity, "jsonld")]
    candidates.append((sig.meta("og:url")[0], "meta"))
    for raw, source in candidates:
        absolute = _absolute(raw, sig.url)
        if absolute:
            try:
                return normalize_url(absolute), source
            except InvalidURL:
                continue
    if not is_http_url(sig.url):
        return sig.url, "url"  # a local file (file://) that names no address of its own: it has no key
    return normalize_url(sig.url), "url"


def site_name(sig: PageSignals) -> Sourced:
    value, source = sig.meta("og:site_name", "application-name", "apple-mobile-web-app-title")
    if value:
        return value, source
    publisher = sig.ld("publisher")
    if isinstance(publisher, dict) and clean_text(publisher.get("name")):
        return clean_text(publisher.get("name")), "jsonld"
    for node in sig.jsonld:
        if _types(node) & {"website", "newsmediaorganization", "organization"} and clean_text(node.get("name")):
            return clean_text(node.get("name")), "jsonld"
    return None, None


def title(sig: PageSignals, site: str | None) -> Sourced:
    value: str | None = clean_text(sig.ld("headline"))
    source: str | None = "jsonld"
    if not value:
        value, source = sig.meta("og:title", "twitter:title")
    if not value:
        h1 = sig.tree.xpath("//article//h1|//main//h1|//h1")
        value, source = (clean_text(h1[0].text_content()), "html") if h1 else (None, None)
    if not value:
        titles = sig.tree.xpath("//title")
        value, source = (clean_text(titles[0].text_content()), "html") if titles else (None, None)
    if value and site:
        for sep in (" | ", " - ", " – ", " — ", " :: ", " · "):
            if value.endswith(sep + site):
                value = value[: -len(sep + site)].strip()
    return value, source if value else None


def description(sig: PageSignals) -> Sourced:
    value, source = sig.meta("description", "og:description", "twitter:description")
    if value:
        return value, source
    ld = clean_text(sig.ld("description"))
    return (ld, "jsonld") if ld else (None, None)


def lead_image(sig: PageSignals, base: str) -> Sourced:
    """The lead image; relative addresses resolve against ``base`` (the canonical URL)."""
    value, source = sig.meta("og:image", "og:image:url", "og:image:secure_url")
    if value:
        return _absolute(value, base), source
    ld = _absolute(sig.ld("image") or sig.ld("thumbnailUrl"), base)
    if ld:
        return ld, "jsonld"
    value, source = sig.meta("twitter:image", "twitter:image:src")
    if value:
        return _absolute(value, base), source
    images = sig.tree.xpath("//article//figure//img/@src|//article//img/@src")
    return (_absolute(images[0], base), "html") if images else (None, None)


def section(sig: PageSignals) -> Sourced:
    value, source = sig.meta(
        "article:section", "og:article:section", "section", "parsely-section", "cxenseparse:recs:category"
    )
    if value:
        return value, source
    ld = sig.ld("articleSection")
    if isinstance(ld, list):
        ld = ld[0] if ld else None
    if clean_text(ld):
        return clean_text(ld), "jsonld"
    for node in sig.jsonld:
        if "breadcrumblist" in _types(node):
            items = node.get("itemListElement") or []
            names = [
                clean_text(i.get("name") or (i.get("item") or {}).get("name")) for i in items if isinstance(i, dict)
            ]
            names = [n for n in names if n]
            # first crumb is home, last is usually the article itself
            if len(names) >= 3:
                return names[-2], "jsonld"
    for element in _section_links(sig.tree):
        name = clean_text(element.text_content())
        if name and len(name) <= 40 and outside_foreign(element):
            return name, "html"
    return None, None


# WordPress marks the post's category links rel="category"; other CMSs name the box after the section
# (matched in Python: see _BYLINE_CLASS)
_SECTION_CLASS = re.compile(r"kanal|rubri|editoria|cat-links|post-category|article-section")


def _section_links(tree: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    """Category links, and the first link in (or being) each section box, in document order."""
    found: dict[lxml.html.HtmlElement, None] = {}
    for element in tree.iter(etree.Element):
        if element.tag == "a" and "category" in (element.get("rel") or "").split():
            found[element] = None
        if _SECTION_CLASS.search(element.get("class") or ""):
            first = next(element.iter("a"), None)
            if first is not None:
                found[first] = None
    # found in document order already: a box's first link comes before any link found after the box (one
    # inside the box would be that first link, and a box inside it has no earlier link)
    return list(found)


def _unique(values: list[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        key = value.casefold()
        if key not in seen:
            seen.add(key)
            out.append(value)
    return tuple(out)


def tags(sig: PageSignals) -> Sourced:
    """The tags the page displays (``article:tag``, ``rel=tag`` links, links into its tag pages) before the
    keywords it gives search engines (JSON-LD ``keywords``, ``news_keywords``/``keywords`` meta)."""
    values = sig.meta_all("article:tag") + sig.meta_all("og:article:tag")
    if values:
        return _unique(values), "meta"
    # WordPress marks category links rel="category tag": those name the section, not a tag
    tag_links = sig.tree.xpath(
        '//a[contains(concat(" ", @rel, " "), " tag ")][not(contains(concat(" ", @rel, " "), " category "))]'
    )
    if not tag_links:
        # no rel="tag": links into the site's tag or topic pages, outside sidebars and footers
        tag_links = [a for a in _tag_page_links(sig.tree) if outside_foreign(a)]
    found = [t for t in (clean_text(a.text_content()) for a in tag_links) if t]
    if found:
        return _unique(found), "html"
    keywords = sig.ld("keywords")
    if isinstance(keywords, str):
        keywords = keywords.split(",")
    if isinstance(keywords, list):
        cleaned = [t for t in (clean_text(k) for k in keywords) if t]
        if cleaned:
            return _unique(cleaned), "jsonld"
    for name in ("news_keywords", "keywords"):
        raw = sig.meta(name)[0]
        if raw:
            return _unique([t for t in (clean_text(k) for k in re.split(r"[,;]", raw)) if t]), "meta"
    return (), None


# links into the site's tag or topic pages (matched in Python: see _BYLINE_CLASS)
_TAG_HREF = re.compile(r"/(?:tags?|topics?|topik|thema|schlagwort|etiqueta|tema)/")


def _tag_page_links(tree: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    return [a for a in in_body(tree, "a") if _TAG_HREF.search(a.get("href") or "")]


def clean_author_names(raw: str) -> list[str]:
    """Split a byline into names, without prefixes, titles and e-mail addresses."""
    text = _EMAIL.sub(" ", raw)
    text = re.sub(r"\(.*?\)", " ", text)
    text = _SPACES.sub(" ", text).strip(" -–—|:")
    previous = None
    while previous != text:
        previous = text
        text = _BYLINE_PREFIX.sub("", text).strip()
    names: list[str] = []
    for part in _AUTHOR_SPLIT.split(text):
        part = part.strip(" -–—|:.")
        if _PLACE.match(part):
            continue
        part = _BYLINE_PREFIX.sub("", part).strip()
        if not part or _JOB_TITLE.search(part) or re.search(r"\d|https?:|www\.", part):
            continue
        words = part.split()
        if 1 <= len(words) <= 5 and len(part) >= 3:
            names.append(part)
    return names


def _ld_author_names(raw: Any) -> list[str]:
    entries = raw if isinstance(raw, list) else [raw]
    persons: list[str] = []
    organisations: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            persons.extend(clean_author_names(entry))
        elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
            target = organisations if "organization" in _types(entry) else persons
            target.extend(clean_author_names(entry["name"]))
    return persons or organisations


# Bylines by markup.  Class names are matched in Python, one pass over the elements: the same test as
# an XPath of contains() calls, which libxml2 evaluates at ~3 ms per page (~0.3 ms here).
_BYLINE_CLASS = re.compile(
    r"(?<!\S)(?:byline|author)(?!\S)|author-name|post-author|td-post-author-name|jeg_meta_author|article-author|"
    r"byline__|assinatura|autor|reporter|penulis|pewarta|writer"
)


def _byline_elements(tree: lxml.html.HtmlElement) -> Iterator[lxml.html.HtmlElement]:
    """Elements marked as a byline (rel or itemprop ``author``, or a byline class), in document order."""
    for element in tree.iter(etree.Element):
        marked = element.get("rel") == "author" or element.get("itemprop") == "author"
        if marked or _BYLINE_CLASS.search(element.get("class") or ""):
            yield element


# no byline markup at all: a short line that opens with "By", "Oleh", "Von", "Por", "Par", "Door"
_BYLINE_TEXT_XPATH = (
    "//body//*[self::div or self::p or self::span][not(*[self::div or self::p])]"
    "[string-length(normalize-space()) < 100]"
    "[starts-with(normalize-space(), 'By ') or starts-with(normalize-space(), 'Oleh ') or "
    "starts-with(normalize-space(), 'Von ') or starts-with(normalize-space(), 'Por ') or "
    "starts-with(normalize-space(), 'Par ') or starts-with(normalize-space(), 'Door ')]"
)


# "Sarah Johnson, Harbour Wire": the agency or paper credited next to a person is not an author
_ORGANISATION = re.compile(
    r"\b(?:wire|news|newswire|agency|press|media|herald|gazette|tribune|reuters|afp|dpa|antara|"
    r"associated press|bernama|xinhua|kyodo|efe|ansa|redaksi|redaktion|rédaction|redacción|redação|redazione)\b",
    re.IGNORECASE,
)


def _people_first(names: list[str], site: str | None) -> tuple[str, ...]:
    unique = _unique(names)
    people = tuple(
        n for n in unique if not _ORGANISATION.search(n) and (site is None or n.casefold() != site.casefold())
    )
    return people or unique


def names_a_person(names: Sequence[str], site: str | None) -> bool:
    """Whether any of ``names`` reads as a person's (not an organisation, not the site's name)."""
    return any(not _ORGANISATION.search(n) and (site is None or n.casefold() != site.casefold()) for n in names)


def byline_people(tree: lxml.html.HtmlElement, site: str | None) -> tuple[str, ...]:
    """People named by trafilatura's byline search (its author XPaths over a copy of the page with its
    comment, related and footer sections discarded): where JSON-LD, meta tags and newsflow's own byline
    reading named nobody, or only an organisation.  At most four names: more is a list of everyone."""
    try:
        found = trafilatura_author(tree)
    except Exception:
        return ()
    if not found:
        return ()
    names = [n for part in found.split(";") for n in clean_author_names(part)]
    people = [n for n in _unique(names) if names_a_person([n], site)]
    return tuple(people) if 0 < len(people) <= 4 else ()


def authors(sig: PageSignals, site: str | None = None) -> Sourced:
    """Author names, people before the agency or paper (``site``) credited beside them."""
    names = _ld_author_names(sig.ld("author"))
    if names:
        return _people_first(names, site), "jsonld"
    for key in ("author", "article:author", "dc.creator", "parsely-author", "sailthru.author", "byl"):
        for value in sig.meta_all(key):
            if not value.startswith("http"):
                names.extend(clean_author_names(value))
        if names:
            return _people_first(names, site), "meta"
    for element in itertools.chain(_byline_elements(sig.tree), sig.tree.xpath(_BYLINE_TEXT_XPATH)):
        if not outside_foreign(element):
            continue
        names = clean_author_names(element.text_content())
        if names:
            return _people_first(names, site), "html"
    return (), None


_PUBLISHED_META = (
    "article:published_time", "og:published_time", "datepublished", "pubdate", "publishdate", "publish-date",
    "parsely-pub-date", "sailthru.date", "dc.date.issued", "dc.date", "dcterms.created", "date", "article.published",
)  # fmt: skip
_MODIFIED_META = (
    "article:modified_time",
    "og:updated_time",
    "datemodified",
    "dcterms.modified",
    "last-modified",
    "article.updated",
)
_UPDATE_WORDS = r"updated?|diperbarui|diperbaharui|aktualisiert|mis à jour|actualizado|atualizado|aggiornato|bijgewerkt"
_UPDATED_WORD = re.compile(_UPDATE_WORDS, re.IGNORECASE)
# Elements that may hold the visible date: <time>, or a class naming a date, a time or the byline
# (matched in Python: see _BYLINE_CLASS).
_DATE_CLASS = re.compile(r"date|time|posted|publish|byline|meta|tanggal|waktu|fecha|datum|data")


# A date labelled as the update's ("Updated on", "Last updated:") or the original's ("Published", "Posted"),
# read in the few words before it (``_before``).
_LABEL_END = r"\W*(?:on|am|le|el|em|il|pada)?\W*$"
_UPDATE_LABEL = re.compile(rf"(?:{_UPDATE_WORDS}|updates|modified|reviewed){_LABEL_END}", re.IGNORECASE)
_PUBLISH_LABEL = re.compile(
    r"(?:published|posted|veröffentlicht|publicado|publié|pubblicato|gepubliceerd|diterbitkan|dipublikasikan|"
    rf"terbit){_LABEL_END}",
    re.IGNORECASE,
)


def _before(text: str, start: int) -> str:
    """The few words before ``start`` in ``text``, where a date's label sits."""
    return text[max(0, start - 30) : start]


@dataclass(frozen=True)
class ShownDates:
    """Dates the page displays with its headline."""

    published: tuple[datetime, bool] | None
    """Labelled as the publication's, else the first not labelled as an update's (below the headline,
    else the nearest above it)."""
    updated: tuple[datetime, bool] | None
    """The first labelled as an update's."""


def shown_dates(tree: lxml.html.HtmlElement, zone: tzinfo, title: str | None = None) -> ShownDates:
    """The dates the page displays with its headline (the date row under or above it).  Readers see
    these; machine dates that disagree with them are often a template's (the day the page was built or
    re-saved)."""
    h1 = headline(tree, title)
    if h1 is None:
        return ShownDates(None, None)
    below = header_text(h1)
    plain = updated = None
    for start, value in visible_date_spans(below, zone):
        if _PUBLISH_LABEL.search(_before(below, start)):
            return ShownDates(value, updated)
        if _UPDATE_LABEL.search(_before(below, start)):
            updated = updated or value
        elif plain is None:
            plain = value
    if plain is None:
        above = text_above(h1)
        for start, value in reversed(visible_date_spans(above, zone)):  # the nearest to the headline first
            if not _UPDATE_LABEL.search(_before(above, start)):
                plain = value
                break
    return ShownDates(plain, updated)


def _same_numbers(a: datetime, b: datetime) -> bool:
    """Whether two days are the same but for day and month read the other way round (03.04. vs 04.03.)."""
    return a.year == b.year and a.month == b.day and a.day == b.month


def _date_containers(tree: lxml.html.HtmlElement) -> Iterator[lxml.html.HtmlElement]:
    for element in tree.iter(etree.Element):
        if element.tag == "time" or (element.tag != "meta" and _DATE_CLASS.search(element.get("class") or "")):
            yield element


@dataclass(frozen=True)
class Timestamps:
    """Aware datetimes in the page's own offset (or the source's zone)."""

    published: datetime | None
    published_source: str | None
    modified: datetime | None
    modified_source: str | None
    published_has_time: bool = False
    """Whether the page gave the publication's time of day (else only its day)."""


def timestamps(sig: PageSignals, zone: tzinfo, title: str | None = None) -> Timestamps:
    """Published and modified times. Each source is asked for each role on its own, never swapped;
    ``title`` helps find the headline on pages without an ``<h1>``."""

    with_time: set[datetime] = set()

    def machine(values: list[tuple[object, str]]) -> tuple[datetime | None, str | None]:
        date_only: tuple[datetime | None, str | None] = (None, None)
        for raw, source in values:
            parsed = parse_machine_date(raw if isinstance(raw, str) else None, zone)
            if parsed is None:
                continue
            if parsed[1]:
                with_time.add(parsed[0])
                return parsed[0], source
            if date_only[0] is None:
                date_only = (parsed[0], source)
        return date_only

    def meta_values(names: tuple[str, ...]) -> list[tuple[object, str]]:
        return [(v, "meta") for name in names for v in sig.meta_all(name)]

    published = machine(
        [(sig.ld("datePublished"), "jsonld"), (sig.ld("dateCreated"), "jsonld"), *meta_values(_PUBLISHED_META)]
    )
    modified = machine([(sig.ld("dateModified"), "jsonld"), *meta_values(_MODIFIED_META)])

    if published[0] is None or modified[0] is None:
        pub_times: list[tuple[object, str]] = []
        mod_times: list[tuple[object, str]] = []
        for element in sig.tree.xpath("//time[@datetime]"):
            if not outside_foreign(element):
                continue
            names = f"{element.get('class', '')} {element.get('itemprop', '')}"
            target = mod_times if re.search(r"updated|modified", names, re.IGNORECASE) else pub_times
            target.append((element.get("datetime"), "html"))
        if published[0] is None:
            published = machine(pub_times)
        if modified[0] is None:
            modified = machine(mod_times)

    dates = shown_dates(sig.tree, zone, title)
    shown = dates.published
    if shown is not None:
        day = shown[0].date()
        same_day = [t for t in (published[0], modified[0]) if t is not None and t.date() == day]
        if same_day:
            published = (same_day[0], published[1] if same_day[0] is published[0] else modified[1])
        elif published[0] is None or not _same_numbers(published[0], shown[0]):
            published = (shown[0], "text")
            if shown[1]:
                with_time.add(shown[0])

    if published[0] is None:
        for element in _date_containers(sig.tree):
            if not outside_foreign(element) or len(element.text_content()) > 300:
                continue
            text = clean_text(element.text_content()) or ""
            found = find_visible_dates(text, zone)
            if not found:
                continue
            if _UPDATED_WORD.search(text.split(" ", 1)[0]) and modified[0] is None:
                modified = (found[0][0], "text")
                continue
            published = (found[0][0], "text")
            if found[0][1]:
                with_time.add(found[0][0])
            if len(found) > 1 and modified[0] is None and _UPDATED_WORD.search(text):
                modified = (found[1][0], "text")
            break
    if published[0] is None and dates.updated is not None:
        # the page shows only when it was updated: that is its date of record (htmldate reads it so too)
        published = (dates.updated[0], "text")
        if dates.updated[1]:
            with_time.add(dates.updated[0])
        if modified[0] is None:
            modified = published
    return Timestamps(published[0], published[1], modified[0], modified[1], published[0] in with_time)


def paywalled(sig: PageSignals) -> Sourced:
    def flag(value: object) -> bool | None:
        if isinstance(value, bool):
            return not value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "false"
        return None

    direct = flag(sig.ld("isAccessibleForFree"))
    if direct is not None:
        return direct, "jsonld"
    parts = sig.ld("hasPart")
    for part in parts if isinstance(parts, list) else [parts]:
        if isinstance(part, dict) and flag(part.get("isAccessibleForFree")):
            return True, "jsonld"
    return None, None


def html_language(sig: PageSignals) -> str | None:
    raw = sig.tree.get("lang") or sig.meta("og:locale", "content-language", "language")[0] or sig.ld("inLanguage")
    if not isinstance(raw, str) or not raw.strip():
        return None
    return raw.strip().replace("_", "-").split("-")[0].lower() or None
