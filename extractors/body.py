"""The article's main text as ordered blocks (paragraphs, headings, lists, quotes).

trafilatura finds the main content; this module prepares the tree for it,
turns its output into text blocks, restores a standfirst it dropped and
filters the blocks that are boilerplate only by their words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import lxml.html
import trafilatura
from lxml import etree

from extractors.boilerplate import is_boilerplate_block, strip_end_markers

_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u200b]+")
_LEAD_TOKEN = re.compile(
    r"^(?:[\w-]*__|[\w-]*--)?(?:lead|lede|standfirst|article-?lead|post-?lead|entry-?lead|intro|article-?intro|deck|dek|summary|"
    r"article-?summary|sapo|chapo|chapeau|subtitle|sub-?title|subheadline|excerpt|post-?excerpt|teaser-?text|"
    r"bajada|entradilla|sumario|linha-?fina|sottotitolo|occhiello)$",
    re.IGNORECASE,
)


_NOT_ARTICLE_ROOTS = frozenset(("nav", "header", "footer", "aside", "menu", "form"))


@dataclass(frozen=True, slots=True)
class Block:
    kind: str
    """'p', 'h', 'list', 'quote' or 'table'."""
    text: str


def _inline_text(element: etree._Element) -> str:
    parts: list[str] = []

    def walk(node: etree._Element) -> None:
        if node.text:
            parts.append(node.text)
        for child in node:
            if child.tag == "lb":
                parts.append("\n")
            elif child.tag != "graphic":
                walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(element)
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line)


def _blocks_from_body(body: etree._Element) -> list[Block]:
    blocks: list[Block] = []

    def loose(text: str | None) -> None:
        # trafilatura leaves text that sat outside any <p> as the body's text or a block's tail
        if text and text.strip():
            blocks.append(Block("p", _SPACES.sub(" ", text).strip()))

    loose(body.text)
    for child in body:
        tag = child.tag
        if tag == "head":
            blocks.append(Block("h", _inline_text(child)))
        elif tag == "list":
            items = [_inline_text(item) for item in child.iter("item")]
            text = "\n".join(f"- {item}" for item in items if item)
            blocks.append(Block("list", text))
        elif tag == "quote":
            blocks.append(Block("quote", _inline_text(child)))
        elif tag == "table":
            rows = []
            for row in child.iter("row"):
                cells = [_inline_text(cell) for cell in row.iter("cell")]
                rows.append(" | ".join(c for c in cells if c))
            blocks.append(Block("table", "\n".join(r for r in rows if r)))
        elif tag in ("graphic", "ref") and not (child.text or "").strip():
            pass
        else:
            blocks.append(Block("p", _inline_text(child)))
        loose(child.tail)
    return [b for b in blocks if b.text]


def find_standfirst(tree: lxml.html.HtmlElement) -> str | None:
    """A lead paragraph set apart by class (``.lead``, ``.standfirst``…) or fully in bold."""
    for element in tree.xpath("//body//*[self::p or self::div or self::h2][@class or @id]"):
        tokens = f"{element.get('class', '')} {element.get('id', '')}".split()
        if any(_LEAD_TOKEN.match(t) for t in tokens):
            text = " ".join(element.text_content().split())
            if 40 <= len(text) <= 1200:
                return text
    return None


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def extract_blocks(tree: lxml.html.HtmlElement, url: str, title: str | None, standfirst: str | None) -> list[Block]:
    """Main-text blocks of an already pruned tree, boilerplate blocks removed."""
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        include_comments=False,
        include_tables=True,
        with_metadata=False,
        deduplicate=False,
    )
    body = getattr(document, "body", None)
    # when it finds no article trafilatura falls back to whatever block it can; a menu is not one
    blocks = _blocks_from_body(body) if body is not None and body.tag not in _NOT_ARTICLE_ROOTS else []
    cleaned: list[Block] = []
    for block in blocks:
        text = strip_end_markers(block.text)
        if not is_boilerplate_block(text, title, url):
            cleaned.append(Block(block.kind, text))
    if standfirst and not is_boilerplate_block(standfirst, title, url):
        wanted = _normalise(standfirst)
        if wanted and not any(wanted in _normalise(b.text) for b in cleaned[:3]):
            cleaned.insert(0, Block("p", standfirst))
    # a heading with nothing after it is the leftover of a removed box
    while cleaned and cleaned[-1].kind == "h":
        cleaned.pop()
    return cleaned
