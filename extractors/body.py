"""The article's main text as ordered blocks (paragraphs, headings, lists, quotes).

trafilatura finds the main content; this module prepares the tree for it,
turns its output into text blocks, restores a standfirst it dropped and
filters the blocks that are boilerplate only by their words.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import lru_cache

import lxml.html
from lxml import etree

from extractors._trafilatura import MANUALLY_CLEANED, Extractor, bare_extraction
from extractors.boilerplate import TAIL_HEADING, is_boilerplate_block, strip_end_markers
from extractors.headline import header_after, headline
from extractors.html import in_body

_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0\u200b]+")
# stands for trafilatura's <lb/> until whitespace is collapsed: a newline in the source is just a space
_LINE_BREAK = "\x1e"
_LEAD_TOKEN = re.compile(
    r"^(?:[\w-]*__|[\w-]*--)?(?:lead|lede|standfirst|article-?lead|post-?lead|entry-?lead|intro|article-?intro|deck|dek|summary|"
    r"article-?summary|sapo|chapo|chapeau|subtitle|sub-?title|subheadline|excerpt|post-?excerpt|teaser-?text|"
    r"bajada|entradilla|sumario|linha-?fina|sottotitolo|occhiello)$",
    re.IGNORECASE,
)


_STANDFIRST_TAGS = frozenset(("p", "div", "h2"))
_NOT_ARTICLE_ROOTS = frozenset(("nav", "header", "footer", "aside", "menu", "form"))


# a cheap substring test before the exact token test, which then runs on few elements
_LEAD_HINT = re.compile(
    r"lead|lede|standfirst|intro|deck|dek|summary|sapo|chapo|chapeau|title|headline|excerpt|teaser|bajada|"
    r"entradilla|sumario|linha|occhiello",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Block:
    kind: str
    """'p', 'h', 'list', 'quote' or 'table'."""
    text: str
    link_share: float = 0.0
    """Share of the text that is link text (trafilatura's ``<ref>``)."""
    link_led: bool = False
    """A list whose every item opens with a link: headline teasers."""


def _inline_text(element: etree._Element, *, nested_lists: bool = True) -> tuple[str, int]:
    """The element's text, line breaks kept, and how many characters of it are link text; without
    ``nested_lists``, the text of lists inside it is left out (a list item's sub-items are items too)."""
    parts: list[str] = []
    link_chars = 0

    def walk(node: etree._Element, in_link: bool) -> None:
        nonlocal link_chars
        if node.text:
            parts.append(node.text)
            if in_link:
                link_chars += len(node.text.strip())
        for child in node:
            if child.tag == "lb" or (child.tag == "list" and not nested_lists):
                parts.append(_LINE_BREAK)
            elif child.tag != "graphic":
                walk(child, in_link or child.tag == "ref")
            if child.tail:
                # with links kept, trafilatura trims the space between a link and the word after it
                if child.tag == "ref" and child.tail[0].isalnum() and parts and parts[-1][-1:].isalnum():
                    parts.append(" ")
                parts.append(child.tail)
                if in_link:
                    link_chars += len(child.tail.strip())

    walk(element, element.tag == "ref")
    lines = (_SPACES.sub(" ", line).strip() for line in "".join(parts).split(_LINE_BREAK))
    return "\n".join(line for line in lines if line), link_chars


def _block(kind: str, pieces: list[tuple[str, int]], joiner: str = "\n") -> Block:
    text = joiner.join(t for t, _ in pieces if t)
    links = sum(n for t, n in pieces if t)
    return Block(kind, text, min(1.0, links / len(text)) if text else 0.0)


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
            blocks.append(_block("h", [_inline_text(child)]))
        elif tag == "list":
            items = [_inline_text(item, nested_lists=False) for item in child.iter("item")]
            block = _block("list", [(f"- {text}", links) for text, links in items if text])
            led = len(items) >= 2 and all(_opens_with_link(item) for item in child.iter("item"))
            blocks.append(dataclasses.replace(block, link_led=led))
        elif tag == "quote":
            blocks.append(_block("quote", [_inline_text(child)]))
        elif tag == "table":
            rows = []
            for row in child.iter("row"):
                cells = [_inline_text(cell) for cell in row.iter("cell")]
                rows.append((" | ".join(t for t, _ in cells if t), sum(n for _, n in cells)))
            blocks.append(_block("table", rows))
        elif tag in ("graphic", "ref") and not (child.text or "").strip():
            pass
        else:
            blocks.append(_block("p", [_inline_text(child)]))
        loose(child.tail)
    return [b for b in blocks if b.text]


def _opens_with_link(item: etree._Element) -> bool:
    if item.text and item.text.strip():
        return False
    first = next(iter(item), None)
    while first is not None and first.tag != "ref" and not (first.text or "").strip():
        first = next(iter(first), None)
    return first is not None and first.tag == "ref"


def _is_link_tail(block: Block) -> bool:
    """A block of a trailing "more stories" box: a heading, or a list or line that is nearly all links."""
    if block.kind == "h":
        return True
    if block.kind == "list":
        return block.link_share >= 0.6 or block.link_led
    return block.link_share >= 0.9 and len(block.text) < 200


@lru_cache(maxsize=16384)
def _names_a_lead(names: str) -> bool:
    # class names repeat across a page and a site's pages: decide each set once
    return bool(_LEAD_HINT.search(names)) and any(_LEAD_TOKEN.match(t) for t in names.split())


def find_standfirst(tree: lxml.html.HtmlElement) -> str | None:
    """A lead paragraph set apart by class (``.lead``, ``.standfirst``, ``.chapo``…) in the header under
    the headline.  Anywhere else such classes name other things: the excerpts of story cards, the
    summary of a sign-up form or a cart."""
    h1 = headline(tree)
    if h1 is None:
        return None
    for element, _ in header_after(h1):
        if element is None or element.tag not in _STANDFIRST_TAGS:
            continue
        if (element.get("class") is not None or element.get("id") is not None) and _names_a_lead(
            f"{element.get('class', '')} {element.get('id', '')}"
        ):
            text = " ".join(element.text_content().split())
            if 40 <= len(text) <= 1200:
                return text
    return None


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.casefold()))


def _subheadings(tree: lxml.html.HtmlElement) -> list[tuple[str, str]]:
    """Each subheading of the page with the opening words of the paragraph that follows it."""
    found: list[tuple[str, str]] = []
    waiting: list[str] = []
    # one pass in document order: a heading waits for the next paragraph with text
    for element in in_body(tree, "h2", "h3", "h4", "p"):
        if element.tag == "p" and not waiting:
            continue
        text = " ".join(element.text_content().split())
        if not text:
            continue
        if element.tag != "p":
            if len(text) <= 200:
                waiting.append(text)
            continue
        if waiting:
            opening = _normalise(text)[:80]
            found.extend((heading, opening) for heading in waiting)
            waiting = []
    return found


def _restore_subheadings(blocks: list[Block], headings: list[tuple[str, str]], title: str | None, url: str) -> None:
    """Put back subheadings trafilatura dropped, before the paragraph they introduce.

    Only a heading whose following paragraph was kept comes back, so headings of boxes
    around the article (whose text was not kept) stay out.
    """
    present = {_normalise(b.text) for b in blocks if b.kind == "h"}
    # each block's normalised opening once, not once per heading (None for a heading); kept in step with ``blocks``
    openings = [None if b.kind == "h" else _normalise(b.text[:_OPENING_SOURCE_CHARS]) for b in blocks]
    for text, following in headings:
        key = _normalise(text)
        if not following or key in present or is_boilerplate_block(text, title, url):
            continue
        for index, opening in enumerate(openings):
            if opening is not None and _opens_with(blocks[index].text, opening, following):
                if index > 0 and openings[index - 1] is not None:
                    blocks.insert(index, Block("h", text))
                    openings.insert(index, None)
                    present.add(key)
                break


# enough source text for the 80 normalised characters a heading's following paragraph is known by
_OPENING_SOURCE_CHARS = 400


def _opens_with(text: str, opening: str, following: str) -> bool:
    if len(opening) >= len(following) or len(text) <= _OPENING_SOURCE_CHARS:
        return opening.startswith(following)
    return _normalise(text).startswith(following)  # the opening was cut short of the key: look again


_FALLBACK_BELOW_CHARS = 500
#: A trailing box's heading is cut with what follows it only when that is under this share of the text.
TAIL_SHARE = 0.35


@lru_cache(maxsize=2)
def _trafilatura_options(fast: bool) -> Extractor:
    # built once: trafilatura reads its options and never changes them (its recall retry takes a copy),
    # and building them reads its config file's values each time, ~0.15 ms a page
    # no url: trafilatura would resolve every link's href against it, and nothing reads the hrefs
    # "txt", not "python": only the body tree is read, and for "python" bare_extraction also renders the
    # body as text (~0.6 ms a page) that nothing reads
    return Extractor(
        output_format="txt",
        fast=fast,
        comments=False,
        tables=True,
        links=True,
        with_metadata=False,
        dedup=False,
    )


# Removed by trafilatura's tree cleaning before it reads any text: gone up front, trafilatura's raw-tree XPath
# prunes and its copies of the tree do not walk them.  Its baseline's cleaning removes footers and asides too,
# and its page-length measure does not read ``head``; menus (``nav``, a fifth of a news page's elements) only
# reached its baseline rescue and the page length that decides its recall retry, where menu text is noise.
_CLEANED_BY_TRAFILATURA = ("head", "footer", "aside", "nav")


def _drop_what_trafilatura_drops(tree: lxml.html.HtmlElement) -> None:
    """Strip (tails kept, as trafilatura does) the elements every trafilatura stage removes anyway.

    Only while a paragraph outside everything its cleaning removes is left: on a page whose every
    paragraph sits in such elements, its recall retry undoes the cleaning, and must find them there.
    """
    if all(next(p.iterancestors(MANUALLY_CLEANED), None) is not None for p in tree.iter("p")):
        return
    etree.strip_elements(tree, *_CLEANED_BY_TRAFILATURA, with_tail=False)


def _main_content(tree: lxml.html.HtmlElement, url: str, *, fast: bool) -> etree._Element | None:
    document = bare_extraction(tree, options=_trafilatura_options(fast))
    body = getattr(document, "body", None)
    return body if isinstance(body, etree._Element) else None


_JSON_LD = "application/ld+json"


def _restore_embedded_json(tree: lxml.html.HtmlElement, documents: tuple[str, ...]) -> None:
    # where its own extraction finds little, trafilatura's rescue reads the article from the page's JSON-LD
    # (articleBody, reviewBody, recipe steps) before it falls back to the text of the whole page
    body = tree.find("body")
    for document in documents:
        etree.SubElement(tree if body is None else body, "script", type=_JSON_LD).text = document


def extract_blocks(
    tree: lxml.html.HtmlElement,
    url: str,
    title: str | None,
    standfirst: str | None,
    *,
    full: bool = False,
    embedded: tuple[str, ...] = (),
) -> list[Block]:
    """Main-text blocks of an already pruned tree, boilerplate blocks removed; ``full``: always with
    trafilatura's comparison against its readability and jusText fallbacks (the safety net's pass);
    ``embedded``: the page's JSON-LD documents (``PageSignals.jsonld_documents``), when the pruning stripped them."""
    headings = _subheadings(tree)
    _drop_what_trafilatura_drops(tree)
    _restore_embedded_json(tree, embedded)
    body = None if full else _main_content(tree, url, fast=True)
    if body is None or sum(len(piece) for piece in body.itertext()) < _FALLBACK_BELOW_CHARS:
        # trafilatura's own pass found little: let it compare with its readability/jusText fallbacks,
        # which cost about a third of its time and change the result on a few pages in a hundred
        body = _main_content(tree, url, fast=False)
    # when it finds no article trafilatura falls back to whatever block it can; a menu is not one
    blocks = _blocks_from_body(body) if body is not None and body.tag not in _NOT_ARTICLE_ROOTS else []
    if _navigation_dump(blocks):
        blocks = _loose_prose(tree) or blocks
    cleaned: list[Block] = []
    for block in blocks:
        text = strip_end_markers(block.text)
        if not is_boilerplate_block(text, title, url):
            cleaned.append(dataclasses.replace(block, text=text))
    _restore_subheadings(cleaned, headings, title, url)
    if standfirst and not is_boilerplate_block(standfirst, title, url):
        wanted = _normalise(standfirst)
        if wanted and not any(wanted in _normalise(b.text) for b in cleaned):
            cleaned.insert(0, Block("p", standfirst))
    _cut_after_tail_heading(cleaned)
    # after the last paragraph of prose, headings and link lists are "more stories" boxes or the
    # leftovers of a removed one
    while cleaned and _is_link_tail(cleaned[-1]):
        cleaned.pop()
    return cleaned


#: A text this long with fewer sentence ends per 1,000 characters than this is a page's menus read as one text.
DUMP_CHARS = 2000
DUMP_STOPS_PER_1000 = 2.0
_STOP = re.compile(r"[.!?。！？](?:\s|$)")
# where an article's text can sit loose, between its container's child elements
_LOOSE_HOLDERS = ("div", "td", "section", "article", "main", "font", "center", "span")


def _navigation_dump(blocks: list[Block]) -> bool:
    """Whether trafilatura's result is the whole page as text (its baseline, when it found no article): one
    long text of menu entries and links, with hardly any sentence ending in it.  An article of many blocks
    (code listings, tables of figures: few full stops too) is not such a text."""
    if len(blocks) > 2:
        return False
    text = " ".join(block.text for block in blocks)
    if len(text) < DUMP_CHARS:
        return False
    return len(_STOP.findall(text)) * 1000 < DUMP_STOPS_PER_1000 * len(text)


def _loose_prose(tree: lxml.html.HtmlElement) -> list[Block]:
    """The article of a template that writes it as loose text inside a container (after an image, between
    ``<br>``s) rather than in paragraphs: the container whose own text, outside its child elements, holds the
    most sentence-bearing characters, as one paragraph per text run.  Empty when no container holds prose."""
    best: list[str] = []
    best_chars = 0
    for element in in_body(tree, *_LOOSE_HOLDERS):
        runs = [" ".join(piece.split()) for piece in (element.text, *(child.tail for child in element)) if piece]
        runs = [run for run in runs if len(run) >= 40 and _STOP.search(run)]
        chars = sum(len(run) for run in runs)
        if chars > best_chars:
            best, best_chars = runs, chars
    return [Block("p", run) for run in best] if best_chars >= 150 else []


def _cut_after_tail_heading(blocks: list[Block]) -> None:
    """Drop a trailing box's heading ("Related posts", "About the author", "More from …") and all after
    it, when it comes in the last part of the text: what follows such a heading is the site's, not the
    article's."""
    total = sum(len(block.text) for block in blocks)
    after = 0
    for index in range(len(blocks) - 1, 0, -1):
        block = blocks[index]
        if len(block.text) <= 60 and TAIL_HEADING.match(block.text):
            if after <= TAIL_SHARE * total:
                del blocks[index:]
            return
        after += len(block.text)
        if after > TAIL_SHARE * total:
            return
