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
from functools import lru_cache
from urllib.parse import urljoin

import lxml.html
from lxml import etree

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
# Headings of the boxes that follow an article: more of the site's content, or about its author.
_TAIL_HEADINGS = (
    _MARKERS + r"|related (?:posts?|products?|reading|content|guides?|topics?)|more like this|you may also like|"
    r"you might also like|you may like|more from [\w .'’-]{1,40}|more stories|more articles|popular posts?|"
    r"popular (?:stories|articles)|latest (?:posts?|stories|articles|news)|trending(?: now| stories)?|"
    r"read next|up next|what to read next|keep reading|about the author|about me|meet the author|"
    r"recommended (?:for you|reading|articles|stories)|top stories|editor'?s picks|"
    r"artikel lainnya|berita lainnya|berita populer|terpopuler|weitere artikel|das könnte sie interessieren|"
    r"à lire (?:aussi|également)|articles similaires|artículos relacionados|notícias relacionadas|"
    r"articoli correlati|gerelateerde artikelen"
)
TAIL_HEADING = re.compile(rf"^\s*(?:{_TAIL_HEADINGS})\s*[:：.!]?\s*$", re.IGNORECASE)
RELATED_MARKER = re.compile(rf"^\s*(?:{_MARKERS})\s*(?:[:：»>|\-–—]+|\s*$|(?=\s))", re.IGNORECASE)

# class/id tokens of elements that are never article text
_FURNITURE_WORDS = (
    r"share|shares|sharing|sharedaddy|share-?bar|share-?buttons?|share-top|share-bottom|social|social-?share|"
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
    # metadata boxes: the byline, date and kicker are read as metadata and are not body text
    r"byline|assinatura|signature|post-?meta|entry-?meta|article-?meta|meta-?info|post-?info|chapeu|kicker|eyebrow|"
    r"reactions?|"
    # subscription prompts; not a bare "paywall", which some sites put on the locked article text itself
    r"paywall-?prompt|paywall-?box|paywall-?offer|paywall-?cta|regwall|subscribe-?wall|"
    r"premium-?(?:banner|prompt|teaser)|piano-?offer|tp-container|offer-?box|meter-?(?:banner|prompt)"
)
# theme-prefixed variants (jnews_related_post_container, jeg_share_button, td-post-sharing …)
_FURNITURE_PARTS = r"related|sharing|share-?button|share-?bar|comment|newsletter|breadcrumb|advert"
# WordPress's post_class() names the post's own terms ("category-native-advertising"): never furniture
_TERM_PREFIX = r"(?:category|tag|term|topic|postid|post|format|type|status)-"
# one search over "class id" per element: a whole furniture token, or a part inside a token that is not a term
_FURNITURE_WORD = re.compile(rf"(?:{_FURNITURE_WORDS})$", re.IGNORECASE)
_FURNITURE_PART = re.compile(_FURNITURE_PARTS, re.IGNORECASE)
_TERM = re.compile(_TERM_PREFIX, re.IGNORECASE)
# The same patterns (all lowercase ASCII) for a lowercased ASCII token, where they match exactly what the
# case-insensitive ones match, three times faster: a page brings ~200 class and id tokens not seen before
_FURNITURE_WORD_LOWER = re.compile(_FURNITURE_WORD.pattern)
_FURNITURE_PART_LOWER = re.compile(_FURNITURE_PART.pattern)
_TERM_LOWER = re.compile(_TERM.pattern)
# not "form": ASP.NET sites wrap the whole page in one; comment and newsletter forms go with their boxes
_ALWAYS_DROP_TAGS = ("script", "style", "noscript", "textarea", "button", "select", "iframe", "template", "svg")
_PROTECTED_TAGS = {"html", "body", "main", "article"}
_CODE_TAGS = ("pre", "code")
_MOST_OF_PAGE = 0.6
# a cell holding a heading or several paragraphs is page layout, not data; but a grid (two or more of the
# table's own rows of four or more cells: a comparison chart) is data whatever its cells hold
_LAYOUT_TABLES = (
    "//body//table[not(ancestor::table)][not((./tr|./*/tr)[count(td|th) >= 4][2])]"
    "[.//td[.//h1 or .//h2 or count(.//p) >= 2 or .//table] or .//th[.//h1 or .//h2 or count(.//p) >= 2]]"
)

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
# "Follow <paper> on Google News": tested only on blocks that name one of these channels
_FOLLOW_CHANNEL = re.compile(
    r"\b(?:follow|ikuti|folgen sie|suivez|síguenos|siga|segui|volg)\b.{0,60}\b(?:google (?:news|notícias|noticias|"
    r"actualités|nachrichten)|whatsapp|telegram)",
    re.IGNORECASE,
)
_CHANNEL_WORDS = ("google", "whatsapp", "telegram")
_CALL_TO_ACTION_PHRASES = (
    r"follow us on", r"follow .{0,30} on (?:google news|twitter|x|facebook|instagram|whatsapp|telegram)",
    r"subscribe to (?:our|the)", r"sign up for (?:our|the)", r"get the latest news", r"download (?:the|our) app",
    r"join our (?:whatsapp|telegram)",
    r"ikuti (?:kami|berita|update|terus)", r"dapatkan (?:update|berita)",
    r"gabung(?:lah)? (?:ke )?(?:saluran|channel|grup)", r"unduh aplikasi",
    r"folgen sie uns", r"abonnieren sie", r"newsletter abonnieren", r"laden sie die app",
    r"suivez-nous", r"abonnez-vous", r"téléchargez l'application",
    r"síguenos en", r"suscríbete", r"descarga la app",
    r"siga-nos", r"assine (?:a|o nosso)", r"baixe o app",
    r"seguici su", r"iscriviti alla", r"scarica l'app",
    r"volg ons op", r"abonneer je",
)  # fmt: skip
_CALL_TO_ACTION = re.compile("|".join(_CALL_TO_ACTION_PHRASES), re.IGNORECASE)
# Each phrase's literal opening, up to its first pattern syntax.  A block whose lowercased text holds
# none of them cannot match, and the substring tests are ~20x cheaper than the search, which tries
# every phrase at every position (0.6 ms a page, most blocks being short).
_CALL_TO_ACTION_OPENINGS = tuple(
    sorted({re.match(r"[^\\.()\[\]?*+{|^$]*", phrase).group() for phrase in _CALL_TO_ACTION_PHRASES})  # type: ignore[union-attr]
)
_FOOTER_LINE = re.compile(
    r"^\s*(?:tagged|tags?|topics?|filed under|categories|category|kategori|topik|schlagwörter|schlagworte|themen|"
    r"étiquettes|mots-clés|etiquetas|temas|tópicos|argomenti|onderwerpen|share this|share|bagikan|teilen|"
    r"partager|compartir|compartilhe|condividi|delen)\s*(?:[:：]|$)"
    # a post-meta line: "05/10/2018 - Posted by: A - Category: B"
    r"|(?:[\d/.\-\s]+[-–|•·]\s*)?(?:posted by|published by|posted on|publicado por|publicado em|"
    r"diposting oleh|dipublikasikan|veröffentlicht (?:am|von)|"
    r"publié (?:par|le)|pubblicato (?:da|il)|geplaatst (?:door|op))\b",
    re.IGNORECASE,
)
_COMMENT_FORM = re.compile(
    r"^(?:\d*\s*(?:comments?|komentar|kommentare?|commentaires?|comentários?|comentarios?|commenti)\s*$|"
    r"tell us what you think|what do you think\?\s*$|"
    r"réagir à cet article|vous devez être connecté|"
    r"leave a (?:reply|comment)|your email address will not be published|required fields are marked|"
    r"post comment|add a comment|tinggalkan (?:balasan|komentar)|kommentar schreiben|laisser un commentaire|"
    r"deja un comentario|deixe um comentário|lascia un commento)",
    re.IGNORECASE,
)
# rights and reprint notices, contact lines and widget messages at the foot of an article
_NOTICE = re.compile(
    r"^\s*(?:copyright\b|©|\(c\)\s*\d{4}|all rights reserved|hak cipta|alle rechte vorbehalten|"
    r"tous droits réservés|todos los derechos reservados|todos os direitos reservados|tutti i diritti riservati|"
    r"order reprints|reprints?\b|this copy is for your personal|an error has occurred|"
    r"(?:write to|contact|e-?mail|reach) .{0,80}\b(?:at|:)\s*\S+@\S+)",
    re.IGNORECASE,
)
# a block that is only a timestamp left over from a widget's data (a bare URL may be a cited source)
_MACHINE_VALUE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?\s*$")
# the prompt of a subscription wall
_PAYWALL_PROMPT = re.compile(
    r"^(?:continue reading with|subscribe to (?:continue|read)|already a subscriber|to continue reading|"
    r"this (?:article|story) is (?:for|available to) subscribers|"
    r"lesen sie weiter mit|weiterlesen mit|sie haben bereits ein abo|jetzt (?:anmelden|testen|abonnieren)|"
    r"testen sie .{0,20}kostenlos|mit .{0,20}abo weiterlesen|"
    r"lanjutkan membaca|baca selengkapnya dengan berlangganan|sudah berlangganan|"
    r"la suite est réservée aux abonnés|déjà abonné|abonnez-vous pour lire|"
    r"contenido exclusivo para suscriptores|ya eres suscriptor|"
    r"conteúdo exclusivo para assinantes|já é assinante|continue lendo com|"
    r"contenuto riservato agli abbonati|sei già abbonato|lees verder met|ben je al abonnee)",
    re.IGNORECASE,
)
# a badge standing alone: "LIVE", "Breaking", "Exclusive"
_BADGE = re.compile(
    r"^(?:live|live updates|breaking|breaking news|exclusive|updated|new|watch|listen|en direct|en vivo|ao vivo|"
    r"langsung|terkini|liveticker|eilmeldung|exklusiv|in diretta|ultim'ora)$",
    re.IGNORECASE,
)
# a desk's sign-off after the last paragraph: "C.D.", "(ant/rs)", "(dpa)"
_SIGN_OFF = re.compile(r"^(?:[A-Z]{1,3}(?:\.[A-Z]{1,3})+\.?|\(\s*[a-z]{1,6}(?:\s*/\s*[a-z]{1,6}){0,3}\s*\))$", re.I)
_READING_TIME = re.compile(
    r"^\s*(?:\d+\s*(?:min(?:ute)?s?|menit|minuten)\s*(?:read|baca|lesezeit|de lecture|de lectura|de leitura)?|"
    r"(?:lesezeit|reading time|waktu baca|temps de lecture|tiempo de lectura)\s*:?\s*\d+\s*\w*)\s*$",
    re.IGNORECASE,
)
_BREADCRUMB = re.compile(
    r"^\s*(?:home|beranda|startseite|accueil|inicio|início|página inicial|homepage)\s*(?:/|›|»|>|\|)", re.IGNORECASE
)


@lru_cache(maxsize=16384)
def _is_furniture_token(token: str) -> bool:
    if token.isascii():
        token = token.lower()
        word, part, term = _FURNITURE_WORD_LOWER, _FURNITURE_PART_LOWER, _TERM_LOWER
    else:
        word, part, term = _FURNITURE_WORD, _FURNITURE_PART, _TERM
    if word.match(token):
        return True
    return part.search(token) is not None and not term.match(token)


def _is_furniture(element: lxml.html.HtmlElement) -> bool:
    # class and id apart: a class value repeats far more often than a class and id pair (cache hits)
    classes, ident = element.get("class"), element.get("id")
    return bool((classes and _furniture_names(classes)) or (ident and _furniture_names(ident)))


@lru_cache(maxsize=16384)
def _furniture_names(names: str) -> bool:
    # class and id values repeat across a page and across a site's pages: decide each one once
    return any(_is_furniture_token(token) for token in names.split())


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


_BLOCK_TAGS = frozenset(("p", "div", "aside", "section", "ul", "ol", "li", "blockquote", "h2", "h3", "h4", "h5"))
_CANDIDATE_TAGS = _BLOCK_TAGS | {"strong", "b"}


def _marker_candidates(tree: lxml.html.HtmlElement) -> list[lxml.html.HtmlElement]:
    """Elements whose text may open with a related-link marker, outermost first, in reading order.

    Testing every element's opening text costs a walk per element; testing each text node once
    and climbing from the few that match is an order of magnitude cheaper on large pages.
    """
    found: list[lxml.html.HtmlElement] = []
    seen: set[lxml.html.HtmlElement] = set()
    for text in tree.xpath("//body//text()[normalize-space()]"):
        if not RELATED_MARKER.match(text):
            continue
        owner = text.getparent()
        if owner is None:
            continue
        if text.is_tail:
            owner = owner.getparent()
        chain: list[lxml.html.HtmlElement] = []
        # climb while the marker text stays within the opening of the block
        for element in (owner, *owner.iterancestors()):
            if element.tag in _PROTECTED_TAGS or element.tag == "body":
                break
            chain.append(element)
            if len(chain) >= 6:
                break
        for element in reversed(chain):
            if element.tag in _CANDIDATE_TAGS and element not in seen:
                seen.add(element)
                found.append(element)
    return found


def _text_follows(element: lxml.html.HtmlElement) -> bool:
    """Whether a paragraph of article text comes right after the element (within its next siblings)."""
    for count, sibling in enumerate(element.itersiblings()):
        if count >= 3:
            break
        if sibling.tag == "p" and len(_opening(sibling, 80)) >= 80:
            return True
    return False


def cut_related_blocks(tree: lxml.html.HtmlElement, base_url: str) -> list[RelatedLink]:
    """Remove inline related-link blocks and return their links in reading order."""
    related: list[RelatedLink] = []
    candidates = _marker_candidates(tree)
    removed: set[lxml.html.HtmlElement] = set()
    for element in candidates:
        if not RELATED_MARKER.match(_opening(element)):
            continue
        if element.getparent() is None or any(a in removed for a in element.iterancestors()):
            continue
        # related-post widgets around or after the article are furniture for prune_tree; a box the
        # article text continues after ("Lees ook" aside between paragraphs) is inline
        box = next(
            (e for e in (element, *element.iterancestors()) if _is_furniture(e) or e.tag in ("aside", "footer", "nav")),
            None,
        )
        if box is not None and not _text_follows(box):
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


def unwrap_layout_tables(tree: lxml.html.HtmlElement) -> None:
    """Turn tables used for page layout into plain blocks.

    Old CMSs lay the whole page out in a ``<table>``; read as a table, the article becomes
    one cell and its paragraphs, headings and boxes run together into one block.
    """
    for table in tree.xpath(_LAYOUT_TABLES):
        for element in table.iter("table", "tbody", "thead", "tfoot", "tr", "td", "th"):
            element.tag = "div"
            for name in ("valign", "width", "cellpadding", "cellspacing", "colspan", "rowspan"):
                element.attrib.pop(name, None)


# Containers trafilatura's cleaning removes with all they hold (its settings.MANUALLY_CLEANED) that can hold
# flow content: left unclosed, one of them swallows the rest of the page.
_SWALLOWING_CONTAINERS = ("aside", "footer", "nav", "menu", "dialog")
#: A furniture container holding the headline and this share of the page's paragraphs swallowed the page.
SWALLOWED_SHARE = 2 / 3
# an unclosed pop-up inside an unclosed menu is two; more is a hostile page, whose every level would cost a walk
_MAX_SWALLOWING = 8


def _unwrap_swallowing_elements(tree: lxml.html.HtmlElement) -> None:
    """Keep the content of elements the parser nested wrongly around the article, dropping only the element.

    A button or select that holds paragraphs or headings: an unclosed ``<button>`` swallows the rest of the
    page.  An aside, footer, nav, menu or dialog that holds the headline and most of the page's paragraphs: an
    unclosed newsletter pop-up or menu did (a real sidebar or footer holds neither), and removed as furniture
    it would take the article with it.
    """
    swallowing = [
        element
        for element in tree.iter("button", "select")
        if next(element.iter("p", "h1", "h2", "h3", "article", "main"), None) is not None
    ]
    body = tree.find("body")
    headline = None if body is None else body.find(".//h1")
    if body is not None and headline is not None:
        containers = list(headline.iterancestors(*_SWALLOWING_CONTAINERS))
        paragraphs = sum(1 for _ in body.iter("p")) if containers else 0
        for element in reversed(containers[-_MAX_SWALLOWING:]):  # outermost first: an inner one holds no more
            inside = sum(1 for _ in element.iter("p"))
            if inside < 3 or inside < SWALLOWED_SHARE * paragraphs:
                break
            swallowing.append(element)
    for element in swallowing:
        element.tag = "div"


def prune_tree(tree: lxml.html.HtmlElement) -> None:
    """Remove page furniture that is identifiable from markup alone."""
    _unwrap_swallowing_elements(tree)
    etree.strip_elements(tree, *_ALWAYS_DROP_TAGS, with_tail=False)
    unwrap_layout_tables(tree)
    body = tree.find("body")
    if body is None:
        return
    doomed = []
    # only elements with a class, id, hidden flag or style can be furniture by markup
    for element in body.xpath(".//*[@class or @id or @hidden or @style]"):
        if not (
            _is_furniture(element)
            or element.get("hidden") is not None
            or "display:none" in (element.get("style") or "").replace(" ", "").lower()
        ):
            continue
        if element.tag in _PROTECTED_TAGS or element.get("itemprop") == "articleBody":
            continue
        # a syntax highlighter's classes ("hljs-comment", "token comment") name code, not furniture
        if element.tag in _CODE_TAGS or next(element.iterancestors(*_CODE_TAGS), None) is not None:
            continue
        doomed.append(element)
    # an ad label is a leaf holding the one word ("Advertisement", "Anzeige", "Iklan")
    for element in body.iter("ins", "small", "span", "div", "p"):
        text = element.text
        if text and len(text) < 60 and len(element) == 0 and _AD_LABEL.match(text.strip()):
            doomed.append(element)
    page_chars = body.xpath("string-length(normalize-space(.))")
    removed: set[lxml.html.HtmlElement] = set()
    for element in doomed:
        if element.getparent() is None or any(a in removed for a in element.iterancestors()):
            continue  # gone with a box already removed
        # never drop a container that holds the article itself: one marked as such, or one that
        # holds most of the page's text (a class name that misleads must not cost the article)
        if element.xpath(".//article|.//*[@itemprop='articleBody']|.//main"):
            continue
        if element.xpath("string-length(normalize-space(.))") > _MOST_OF_PAGE * page_chars:
            continue
        removed.add(element)
        _remove(element)


def strip_end_markers(text: str) -> str:
    text = text.rstrip()
    # markers are short: look only at the end instead of trying the pattern at every position
    start = max(0, len(text) - 12)
    found = _END_MARKER.search(text, start)
    return text[: found.start()].rstrip() if found else text


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
        or _NOTICE.match(stripped)
        or _MACHINE_VALUE.match(stripped)
        or _SIGN_OFF.match(stripped)
        or _BADGE.match(stripped)
        or _PAYWALL_PROMPT.match(stripped)
    ):
        return True
    if len(stripped) < 300:
        lowered = stripped.lower()
        if any(opening in lowered for opening in _CALL_TO_ACTION_OPENINGS) and _CALL_TO_ACTION.search(stripped):
            return True
        if any(w in lowered for w in _CHANNEL_WORDS) and _FOLLOW_CHANNEL.search(stripped):
            return True
    # a URL slug shown as text ("qatar-pushes-for-diplomacy-…")
    return " " not in stripped and stripped.count("-") >= 3 and stripped.lower() in url.lower()
