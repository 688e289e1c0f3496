"""What trafilatura keeps and readers do not want, cut from the tree or the text.

Two passes:

* ``prune_tree`` works on the parsed page before trafilatura sees it: it
  cuts inline related-link blocks ("Also read:", "Baca juga:", "Mehr zum
  Thema:" …) and keeps their links, and removes share bars, comment
  sections, ad slots, newsletter boxes and the like by their markup.
* ``is_boilerplate_block`` / ``strip_end_markers`` work on the text blocks
  trafilatura returns, for what only the words give away (credit lines,
  "follow us" calls to action, tag footers, ad labels, end markers).
"""

from __future__ import annotations

import re
from urllib.parse import urljoin

import lxml.html

from extractors.records import RelatedLink

_MARKERS = (
    # en
    r"also read|read also|read more|related|related articles?|related stories|related news|see also|more on this|"
    r"recommended|must read|don'?t miss|further reading|"
    # id
    r"baca juga|baca pula|lihat juga|simak juga|simak pula|berita terkait|artikel terkait|baca selengkapnya|"
    # de
    r"lesen sie auch|lesen sie mehr|mehr zum thema|auch interessant|das könnte sie auch interessieren|weiterlesen|"
    # fr
    r"(?:à )?lire aussi|(?:à )?lire également|voir aussi|sur le même sujet|"
    # es
    r"lee también|leer también|lea también|lea además|te puede interesar|más información|"
    # pt
    r"leia também|leia mais|veja também|saiba mais|"
    # it
    r"leggi anche|leggi pure|potrebbe interessarti|"
    # nl
    r"lees ook|lees meer|zie ook|bekijk ook"
)
RELATED_MARKER = re.compile(rf"^\s*(?:{_MARKERS})\s*(?:[:：»>|\-–—]+|\s*$|(?=\s))", re.IGNORECASE)

# class/id tokens of elements that are never article text
_BOILERPLATE_TOKEN = re.compile(
    r"^(?:share|shares|sharing|sharedaddy|share-?bar|share-?buttons?|share-top|share-bottom|social|social-?share|"
    r"sociable|addtoany|a2a_kit|"
    r"comments?|comment-?respond|respond|comments-area|disqus_thread|"
    r"newsletter|newsletter-?box|subscribe|subscription|signup|"
    r"related|related-?posts?|related-?articles?|jp-relatedposts|yarpp-related|crp_related|td-related|"
    r"jeg_postblock_related|rp4wp-related|"
    r"breadcrumbs?|breadcrumb-?trail|"
    r"tags|tags-?links|tag-?links|post-?tags|entry-?tags|article-?tags|tagcloud|jeg_post_tags|td-tags|"
    r"author-?box|author-?bio|about-?author|post-?author-?box|"
    r"ads?|advert|adverts|advertisement|ad-?slot|ad-?container|ad-?wrapper|adsbygoogle|code-?block|banner-?ad|"
    r"sponsored|dfp|gpt-ad|"
    r"cookie|cookies|cookie-?banner|cookie-?notice|consent|gdpr|"
    r"promo|popup|modal|sidebar|widget-?area|"
    r"post-?navigation|nav-?links|navigation|pagination|"
    r"reading-?time|read-?time|print|skip-?link|permalink-?slug|app-?download|app-?promo|"
    r"follow-?us|google-?news|"
    # theme-prefixed variants (jnews_related_post_container, jeg_share_button, td-post-sharing …)
    r"[\w-]*(?:related|sharing|share-?button|share-?bar|comment|newsletter|breadcrumb|advert)[\w-]*)$",
    re.IGNORECASE,
)
# not "form": ASP.NET sites wrap the whole page in one; comment and newsletter forms go with their boxes
_ALWAYS_DROP_TAGS = ("script", "style", "noscript", "textarea", "button", "select", "iframe", "template", "svg")
_PROTECTED_TAGS = {"html", "body", "main", "article"}

_AD_LABEL = re.compile(
    r"^(?:advertisement|advertising|ads?|sponsored|anzeige|werbung|iklan|publicidad|publicité|publicidade|"
    r"pubblicità|advertentie|scroll to continue(?: with content)?|continue reading below)$",
    re.IGNORECASE,
)
_END_MARKER = re.compile(r"\s*(?:\*{3,}|\(end\)|\[end\]|-\s?30\s?-|#{3,}|\(\*\))\s*$", re.IGNORECASE)
_CREDIT_LINE = re.compile(
    r"^\s*\(?(?:editor|edited by|editing by|writer|written by|reporter|reporting by|reported by|photo|photos|"
    r"photo credit|image|credit|source|penulis|editor|pewarta|redaktur|penyunting|wartawan|foto|sumber|"
    r"redaktion|autor|bearbeitung|bild|quelle|rédaction|rédacteur|édité par|crédit photo|source|"
    r"redacción|edición|editado por|fuente|edição|redação|fonte|redazione|a cura di|fonte|redactie|"
    r"eindredactie|bron)\s*[:：]"
    # wire-style credits without a colon: "Reporting by A; editing by B"
    r"|^\s*\(?(?:additional\s+)?(?:reporting|writing|editing|compiled|translated)\s+by\b",
    re.IGNORECASE,
)
_CALL_TO_ACTION = re.compile(
    r"follow us on|follow .{0,30} on (?:google news|twitter|x|facebook|instagram|whatsapp|telegram)|"
    r"subscribe to (?:our|the)|sign up for (?:our|the)|get the latest news|download (?:the|our) app|"
    r"join our (?:whatsapp|telegram)|"
    r"ikuti (?:kami|berita|update|terus)|dapatkan (?:update|berita)|gabung(?:lah)? (?:ke )?(?:saluran|channel|grup)|"
    r"unduh aplikasi|"
    r"folgen sie uns|abonnieren sie|newsletter abonnieren|laden sie die app|"
    r"suivez-nous|abonnez-vous|téléchargez l'application|"
    r"síguenos en|suscríbete|descarga la app|"
    r"siga-nos|assine (?:a|o nosso)|baixe o app|"
    r"seguici su|iscriviti alla|scarica l'app|"
    r"volg ons op|abonneer je",
    re.IGNORECASE,
)
_FOOTER_LINE = re.compile(
    r"^\s*(?:tagged|tags?|topics?|filed under|categories|category|kategori|topik|schlagwörter|schlagworte|themen|"
    r"étiquettes|mots-clés|etiquetas|temas|tópicos|argomenti|onderwerpen|share this|share|bagikan|teilen|"
    r"partager|compartir|compartilhe|condividi|delen)\s*[:：]",
    re.IGNORECASE,
)
_COMMENT_FORM = re.compile(
    r"^(?:leave a (?:reply|comment)|your email address will not be published|required fields are marked|"
    r"post comment|add a comment|tinggalkan (?:balasan|komentar)|kommentar schreiben|laisser un commentaire|"
    r"deja un comentario|deixe um comentário|lascia un commento)",
    re.IGNORECASE,
)
_READING_TIME = re.compile(
    r"^\s*(?:\d+\s*(?:min(?:ute)?s?|menit|minuten)\s*(?:read|baca|lesezeit|de lecture|de lectura|de leitura)?|"
    r"(?:lesezeit|reading time|waktu baca|temps de lecture|tiempo de lectura)\s*:?\s*\d+\s*\w*)\s*$",
    re.IGNORECASE,
)
_BREADCRUMB = re.compile(
    r"^\s*(?:home|beranda|startseite|accueil|inicio|início|página inicial|homepage)\s*(?:/|›|»|>|\|)", re.IGNORECASE
)


def _tokens(element: lxml.html.HtmlElement) -> list[str]:
    return f"{element.get('class', '')} {element.get('id', '')}".split()


def _is_furniture(element: lxml.html.HtmlElement) -> bool:
    return any(_BOILERPLATE_TOKEN.match(token) for token in _tokens(element))


def _text(element: lxml.html.HtmlElement) -> str:
    # itertext keeps "Mehr zum Thema" and the first link apart when they sit in separate elements
    return " ".join(" ".join(element.itertext()).split())


def _remove(element: lxml.html.HtmlElement) -> None:
    """Drop an element but keep its tail text, which belongs to the parent."""
    parent = element.getparent()
    if parent is None:
        return
    tail = element.tail
    if tail and tail.strip():
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


def _links(element: lxml.html.HtmlElement, base_url: str) -> list[RelatedLink]:
    found = []
    for anchor in element.iter("a"):
        href = (anchor.get("href") or "").strip()
        text = _text(anchor)
        if href and text and not href.startswith(("#", "javascript:", "mailto:")):
            found.append(RelatedLink(text=text, url=urljoin(base_url, href)))
    return found


def _opening(element: lxml.html.HtmlElement, size: int = 40) -> str:
    """The first characters of an element's text, without walking all of a large container."""
    pieces: list[str] = []
    length = 0
    for piece in element.itertext():
        pieces.append(piece)
        length += len(piece)
        if length >= size:
            break
    return " ".join(" ".join(pieces).split())


def _is_related_block(element: lxml.html.HtmlElement) -> bool:
    """A short block that opens with a related-link marker and is mostly links after it."""
    text = _text(element)
    if not text or len(text) > 1500:
        return False
    marker = RELATED_MARKER.match(text)
    if not marker:
        return False
    rest = text[marker.end() :].strip()
    link_chars = sum(len(_text(a)) for a in element.iter("a"))
    if not rest:
        return False
    # running prose that merely starts with "Read more …" has far more words than link text
    return link_chars >= 0.6 * len(rest)


def _is_marker_heading(element: lxml.html.HtmlElement) -> bool:
    text = _text(element)
    marker = RELATED_MARKER.match(text)
    return marker is not None and not text[marker.end() :].strip() and not list(element.iter("a"))


def _is_link_list(element: lxml.html.HtmlElement) -> bool:
    text = _text(element)
    link_chars = sum(len(_text(a)) for a in element.iter("a"))
    return bool(text) and link_chars >= 0.6 * len(text)


def cut_related_blocks(tree: lxml.html.HtmlElement, base_url: str) -> list[RelatedLink]:
    """Remove inline related-link blocks and return their links in reading order."""
    related: list[RelatedLink] = []
    candidates = tree.xpath(
        "//body//*[self::p or self::div or self::aside or self::section or self::ul or self::ol or self::li"
        " or self::blockquote or self::h2 or self::h3 or self::h4 or self::h5 or self::strong or self::b]"
    )
    removed: set[lxml.html.HtmlElement] = set()
    for element in candidates:
        # the cheap test first: only blocks that open with a marker need the ancestor walks below
        if element.tag in _PROTECTED_TAGS or not RELATED_MARKER.match(_opening(element)):
            continue
        if element.getparent() is None or any(a in removed for a in element.iterancestors()):
            continue
        # related-post lists around the article are furniture for prune_tree, not inline links
        if _is_furniture(element) or any(
            _is_furniture(a) or a.tag in ("aside", "footer", "nav") for a in element.iterancestors()
        ):
            continue
        if _is_related_block(element):
            # a marker inside a content paragraph of its own? only cut the smallest block
            if element.tag in ("strong", "b"):
                continue
            related.extend(_links(element, base_url))
            removed.add(element)
            _remove(element)
        elif element.tag in ("h2", "h3", "h4", "h5", "p", "strong", "b", "div") and _is_marker_heading(element):
            following = element.getnext()
            if following is not None and following.tag in ("ul", "ol", "div", "p") and _is_link_list(following):
                related.extend(_links(following, base_url))
                removed.update((element, following))
                _remove(following)
                _remove(element)
    return related


def prune_tree(tree: lxml.html.HtmlElement) -> None:
    """Remove page furniture that is identifiable from markup alone."""
    for element in list(tree.iter(*_ALWAYS_DROP_TAGS)):
        _remove(element)
    body = tree.find("body")
    if body is None:
        return
    doomed = []
    for element in body.iter():
        if not isinstance(element.tag, str) or element.tag in _PROTECTED_TAGS:
            continue
        if element.get("itemprop") == "articleBody":
            continue
        style = (element.get("style") or "").replace(" ", "").lower()
        if (
            element.get("hidden") is not None
            or "display:none" in style
            or _is_furniture(element)
            or (
                element.tag in ("ins", "small", "span", "div", "p")
                and len(element) <= 2
                and _AD_LABEL.match(_text(element))
            )
        ):
            doomed.append(element)
    for element in doomed:
        # never drop a container that holds the article itself
        if element.xpath(".//article|.//*[@itemprop='articleBody']|.//main"):
            continue
        if element.getparent() is not None:
            _remove(element)


def strip_end_markers(text: str) -> str:
    return _END_MARKER.sub("", text).rstrip()


def is_boilerplate_block(text: str, title: str | None, url: str) -> bool:
    """True for a text block that is page furniture rather than article text."""
    stripped = text.strip()
    if not stripped or _END_MARKER.fullmatch(stripped):
        return True
    short = len(stripped) < 250
    if title and stripped.casefold() == title.casefold():
        return True
    if short and (
        _AD_LABEL.match(stripped)
        or _CREDIT_LINE.match(stripped)
        or _FOOTER_LINE.match(stripped)
        or _COMMENT_FORM.match(stripped)
        or _READING_TIME.match(stripped)
        or _BREADCRUMB.match(stripped)
        or RELATED_MARKER.fullmatch(stripped)
    ):
        return True
    if len(stripped) < 300 and _CALL_TO_ACTION.search(stripped):
        return True
    # a URL slug shown as text ("qatar-pushes-for-diplomacy-…")
    return " " not in stripped and stripped.count("-") >= 3 and stripped.lower() in url.lower()
