"""What a per-site rule may say, and how a rule is applied to a parsed page.

A rule is a small declarative value: CSS selectors for furniture the generic
path cannot recognise, and for the body, byline or date when the generic
path picks the wrong element.  Rules are for what generic cannot know; a
site without one must still extract well.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo

import lxml.html
from lxml.cssselect import CSSSelector

from extractors.dates import find_visible_dates, parse_machine_date


@dataclass(frozen=True, slots=True)
class SiteRules:
    """Per-site knowledge, looked up by host."""

    name: str
    hosts: tuple[str, ...]
    """Hosts the rule covers; subdomains (``www.``, ``m.``) match too."""
    drop: tuple[str, ...] = ()
    """Selectors of elements that are never article text on this site."""
    body: str | None = None
    """Selector of the element that holds the article text."""
    byline: str | None = None
    """Selector whose text names the authors."""
    published: str | None = None
    """Selector whose ``datetime``/``content`` attribute or visible text gives the publication time."""
    modified: str | None = None
    """The same for the last-modified time."""

    def covers(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        return any(host == h or host.endswith(f".{h}") for h in self.hosts)


def _select(tree: lxml.html.HtmlElement, selector: str) -> list[lxml.html.HtmlElement]:
    found = CSSSelector(selector)(tree)
    return [e for e in found if isinstance(e, lxml.html.HtmlElement)] if isinstance(found, list) else []


def drop_furniture(rules: SiteRules, tree: lxml.html.HtmlElement) -> None:
    for selector in rules.drop:
        for element in _select(tree, selector):
            parent = element.getparent()
            if parent is not None:
                element.drop_tree()  # keeps the tail text, which belongs to the parent


def body_subtree(rules: SiteRules, tree: lxml.html.HtmlElement) -> lxml.html.HtmlElement:
    """The page reduced to the rule's body element, or the page itself when the rule has none or misses."""
    if rules.body is None:
        return tree
    found = _select(tree, rules.body)
    if not found:
        return tree
    document = lxml.html.document_fromstring("<html><head></head><body></body></html>")
    body = document.find("body")
    assert body is not None
    for element in found:
        body.append(element)
    return document


def byline_text(rules: SiteRules, tree: lxml.html.HtmlElement) -> str | None:
    if rules.byline is None:
        return None
    texts = [" ".join(e.text_content().split()) for e in _select(tree, rules.byline)]
    return " , ".join(t for t in texts if t) or None


def rule_time(selector: str | None, tree: lxml.html.HtmlElement, zone: tzinfo) -> tuple[datetime, bool] | None:
    """The first time found under ``selector`` and whether it has a time of day: a machine attribute
    first, then visible text."""
    if selector is None:
        return None
    for element in _select(tree, selector):
        machine = parse_machine_date(element.get("datetime") or element.get("content"), zone)
        if machine is not None:
            return machine
        found = find_visible_dates(" ".join(element.text_content().split()), zone)
        if found:
            return found[0]
    return None
