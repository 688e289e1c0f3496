"""Contracts with the library internals newsflow relies on (crawl/_httpcore_pool.py,
extractors/_trafilatura.py, flows/prefect_runtime.py).  Each fails loudly, naming what moved upstream,
when an upgrade changes an internal; the module that uses it says why it is needed."""

from __future__ import annotations

import hashlib
import inspect

import httpcore
import httpx
import lxml.html
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from crawl import _httpcore_pool
from crawl.netguard import AddressPolicy, guarded_transport
from extractors import _trafilatura


def test_httpx_transport_keeps_its_pool_in_a_private_attribute() -> None:
    transport = httpx.AsyncHTTPTransport()
    assert isinstance(getattr(transport, "_pool", None), httpcore.AsyncConnectionPool), (
        "httpx.AsyncHTTPTransport no longer keeps an httpcore pool in `_pool`: "
        "crawl/_httpcore_pool.install_pool must put the guarded backend in another way"
    )
    guarded = guarded_transport(AddressPolicy(), 4)
    assert isinstance(guarded._pool, _httpcore_pool.Pool), "install_pool did not take effect"


def test_httpcore_pool_internals_the_assignment_pass_uses() -> None:
    pool = httpcore.AsyncConnectionPool(max_connections=3, max_keepalive_connections=2)
    for name in ("_connections", "_requests", "_http2", "_max_connections", "_max_keepalive_connections"):
        assert hasattr(pool, name), f"httpcore.AsyncConnectionPool lost `{name}`: update crawl/_httpcore_pool.Pool"
    method = getattr(httpcore.AsyncConnectionPool, "_assign_requests_to_connections", None)
    assert method is not None and list(inspect.signature(method).parameters) == ["self"], (
        "httpcore.AsyncConnectionPool._assign_requests_to_connections moved or changed its signature: "
        "crawl/_httpcore_pool.Pool overrides it"
    )
    from httpcore._async.connection_pool import AsyncPoolRequest

    for name in ("assign_to_connection", "is_queued"):
        assert callable(getattr(AsyncPoolRequest, name, None)), f"httpcore's AsyncPoolRequest lost `{name}`"
    request = AsyncPoolRequest(httpcore.Request("GET", "http://127.0.0.1/"))
    assert request.connection is None and request.is_queued(), "httpcore's AsyncPoolRequest changed its state"
    from httpcore._utils import is_socket_readable

    assert callable(is_socket_readable), "httpcore._utils.is_socket_readable is gone: PooledStream uses it"


def test_trafilatura_internals() -> None:
    assert {"aside", "footer"} <= set(_trafilatura.MANUALLY_CLEANED), (
        "trafilatura.settings.MANUALLY_CLEANED no longer lists aside/footer: extractors/body.py drops them early"
    )
    options = _trafilatura.Extractor(output_format="python", fast=True, comments=False, tables=True, links=True,
                                     with_metadata=False, dedup=False)  # fmt: skip
    tree = lxml.html.fromstring("<html><body><article>" + "<p>A sentence of article text here.</p>" * 20)
    document = _trafilatura.bare_extraction(tree, options=options)
    assert getattr(document, "body", None) is not None, "trafilatura.bare_extraction no longer returns .body"
    tokens = _trafilatura.sample_tokens("alpha beta gamma delta epsilon", 4)
    assert isinstance(tokens, list) and all(isinstance(t, str) for t in tokens), (
        "trafilatura.deduplication.sample_tokens changed: stored SimHash fingerprints would no longer compare"
    )
    byline = lxml.html.fromstring('<html><body><div class="author">Jane Doe</div><p>Text.</p></body></html>')
    assert _trafilatura.extract_author(byline) in (None, "Jane Doe"), "trafilatura.metadata.extract_author changed"
    assert _trafilatura.is_dubious_html("<html>") is False and callable(_trafilatura.repair_faulty_html)
    assert _trafilatura.handle_compressed_file(b"<html></html>") == b"<html></html>"


# trafilatura 2.3's byline and byline-discard XPaths, whitespace collapsed: extractors/_trafilatura.extract_author
# runs its search on the elements whose attributes hold what these can match, judged on bare copies of them
_AUTHOR_XPATHS_SHA256 = "52b3a4d1177c18bb839ab532764865e4c94e3c73bf81fb9d72f0cae1ab4e47d4"
_AUTHOR_DISCARD_XPATHS_SHA256 = "bc72e4f5f66922ec82a463e23a3289656cc29120f6711e9f95ab5c5fd90ec31f"


def _digest(expressions: list[etree.XPath]) -> str:
    return hashlib.sha256("\n".join(" ".join(e.path.split()) for e in expressions).encode()).hexdigest()


def test_trafilatura_byline_search_reads_only_its_author_xpaths() -> None:
    from trafilatura import metadata, xpaths

    assert _digest(xpaths.AUTHOR_XPATHS) == _AUTHOR_XPATHS_SHA256, (
        "trafilatura.xpaths.AUTHOR_XPATHS changed: check that they still test only an element's name, the attributes "
        "in extractors/_trafilatura._TESTED_ATTRIBUTES and its rel children, that _AUTHOR_VALUE matches every "
        "attribute value they accept, then update the digest"
    )
    assert _digest(xpaths.AUTHOR_DISCARD_XPATHS) == _AUTHOR_DISCARD_XPATHS_SHA256, (
        "trafilatura.xpaths.AUTHOR_DISCARD_XPATHS changed: check that they still test only an element's name and "
        "the attributes in extractors/_trafilatura._TESTED_ATTRIBUTES, then update the digest"
    )
    assert set(metadata.extract_author.__code__.co_names) == {
        "prune_unwanted_nodes", "deepcopy", "AUTHOR_DISCARD_XPATHS", "extract_metainfo", "AUTHOR_XPATHS",
        "normalize_authors",
    }, "trafilatura.metadata.extract_author changed: extractors/_trafilatura.extract_author must follow"  # fmt: skip
    assert _trafilatura._BYLINE_LIMIT in metadata.extract_author.__code__.co_consts, (
        "trafilatura.metadata.extract_author's len_limit changed: update extractors/_trafilatura._BYLINE_LIMIT"
    )


_BYLINE_WORDS = ["author", "Author", "AUTHOR", "authorName", "author-name", "byline", "Byline", "byl", "BBL",
                 "username", "screenname", "writer", "channel-name", "posted-by", "submitted-by", "journalist-name",
                 "zuozhe", "bianji", "xiaobian", "AuthorCard", "AuthorURL", "me", "name", "meta", "post", "by",
                 "auth", "line", "writ", "credit", "contributor", "reporter", "date", "title"]  # fmt: skip
_BYLINE_ATTRIBUTES = ["class", "id", "itemprop", "rel", "data-component", "data-testid", "name", "title", "href"]
_BYLINE_TAGS = ["a", "div", "span", "p", "h3", "h4", "strong", "address", "link", "author", "rel", "li"]


def _article_page(markup: str) -> str:
    return f"<html><body><article><p>Some article text.</p>{markup}</article></body></html>"


def _render(element: tuple[str, list[tuple[str, str]], str, list[object], str]) -> str:
    """An element (name, attributes, text, children, tail) as markup."""
    tag, attributes, text, children, tail = element
    rendered = "".join(f' {name}="{value}"' for name, value in attributes)
    inner = "".join(_render(child) for child in children)  # type: ignore[arg-type]
    return f"<{tag}{rendered}>{text}{inner}</{tag}>{tail}"


def _byline_page(elements: list[tuple[str, list[tuple[str, str]], str]]) -> str:
    return _article_page("".join(_render((tag, attributes, text, [], "")) for tag, attributes, text in elements))


def _same_byline(page: str) -> None:
    from trafilatura.metadata import extract_author

    ours, theirs = _trafilatura.extract_author(lxml.html.fromstring(page)), extract_author(lxml.html.fromstring(page))
    assert ours == theirs, f"the pre-checked byline search found {ours!r}, trafilatura's {theirs!r}, on {page}"


def test_byline_search_is_skipped_only_where_trafilatura_finds_nothing() -> None:
    """Every element, attribute and value of the vocabulary alone on a page: the same byline either way."""
    for tag in _BYLINE_TAGS:
        for attribute in _BYLINE_ATTRIBUTES:
            for word in _BYLINE_WORDS:
                _same_byline(_byline_page([(tag, [(attribute, word)], "Jane Doe")]))


_BYLINE_VALUES = st.lists(st.sampled_from(_BYLINE_WORDS), min_size=1, max_size=3).map(" ".join)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(_BYLINE_TAGS),
            st.lists(st.tuples(st.sampled_from(_BYLINE_ATTRIBUTES), _BYLINE_VALUES), max_size=3),
            st.sampled_from(["Jane Doe", "me", "By Jane Doe and John Roe", "x", ""]),
        ),
        max_size=4,
    )
)
def test_byline_search_is_skipped_only_where_trafilatura_finds_nothing_on_mixed_pages(
    elements: list[tuple[str, list[tuple[str, str]], str]],
) -> None:
    """Property: on pages of several bylines and near misses, the same byline either way."""
    _same_byline(_byline_page(elements))


# Nested pages: bylines inside discarded boxes (comments, sidebars, figures), discarded boxes inside bylines (a
# <time>, a date span), rel children, tails that the pruning moves, names XML does not allow.
_NESTED_TAGS = [*_BYLINE_TAGS, "section", "time", "figure", "o:p"]
_NESTED_WORDS = [*_BYLINE_WORDS, "comments", "commentlist", "sidebar", "is-hidden", "quote", "print", "category",
                 "meta-date", "Figure", "ProductReviews", "comments-area", "article-share"]  # fmt: skip
_NESTED_TEXTS = ["Jane Doe", "me", "By Jane Doe", "x", "", "5 March 2024", "m"]


def _nested_element(
    children: st.SearchStrategy[list[object]],
) -> st.SearchStrategy[tuple[str, list[tuple[str, str]], str, list[object], str]]:
    """An element (name, attributes, text, children, tail) for ``_render``, its children drawn from ``children``."""
    return st.tuples(
        st.sampled_from(_NESTED_TAGS),
        st.lists(st.tuples(st.sampled_from(_BYLINE_ATTRIBUTES), st.sampled_from(_NESTED_WORDS)), max_size=2),
        st.sampled_from(_NESTED_TEXTS),
        children,
        st.sampled_from(["", " and John Roe", " | ", "e"]),
    )


_NESTED = st.recursive(
    _nested_element(st.just([])), lambda children: _nested_element(st.lists(children, max_size=3)), max_leaves=12
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_NESTED, min_size=1, max_size=3))
def test_byline_search_on_its_candidates_finds_what_trafilatura_finds_on_nested_pages(
    elements: list[tuple[str, list[tuple[str, str]], str, list[object], str]],
) -> None:
    """Property: searching only the elements the byline XPaths could match (judged on bare copies, with their
    ancestors for the discard test) finds the byline trafilatura's search of the whole pruned page finds."""
    _same_byline(_article_page("".join(map(_render, elements))))


def test_byline_search_leaves_out_what_trafilatura_prunes() -> None:
    # a byline inside a box the discard XPaths remove, and a date inside a byline, which they remove from its text
    _same_byline(_article_page('<div class="sidebar"><span class="author">Jane Doe</span></div>'))
    _same_byline(_article_page('<figure><div class="author">John Roe</div></figure><p class="byline">Jane Doe</p>'))
    _same_byline(_article_page('<div class="author">By Jane Doe <time>5 March 2024, updated at noon</time></div>'))


def test_byline_search_on_a_page_of_many_byline_values() -> None:
    # more distinct values than libxml2's node-set comparison is used for: their elements are found the other way
    assert _trafilatura._HOLDING_MAX < 40
    boxes = "".join(f'<div class="sidebar"><span class="author-{i}">Troll {i}</span></div>' for i in range(40))
    _same_byline(_article_page(f'{boxes}<p class="byline">Jane Doe</p><span class="author-x">Ann Lee</span>'))


def test_byline_search_reads_rel_children_as_the_pruned_page_has_them() -> None:
    # pruning the <time> moves its tail: the rel child reads "me" only once it is gone
    _same_byline("<html><body><div><rel>m<time>today</time>e</rel>Jane Doe</div></body></html>")
    _same_byline("<html><body><div><rel>me<time>today</time></rel>Jane Doe</div></body></html>")


def test_byline_search_reads_only_the_root_element_as_trafilatura_does() -> None:
    # libxml2 keeps elements after a closed </html> as further top-level nodes; trafilatura copies the root only
    page = '<html><body><p>Text.</p></body></html><div class="author">Jane Doe</div>'
    tree = lxml.html.document_fromstring(page)
    assert tree.xpath("count(//*[@class='author'])") == 1.0 and next(tree.iter("div"), None) is None
    _same_byline(page)


def test_prefect_settings_context_as_command_line_run_rewrites_it() -> None:
    from prefect.context import SettingsContext, get_settings_context

    context = get_settings_context()
    assert "heartbeat_frequency" in type(context.settings.flows).model_fields, (
        "Prefect's settings no longer have flows.heartbeat_frequency: flows/prefect_runtime.command_line_run"
    )
    flows = context.settings.flows.model_copy(update={"heartbeat_frequency": None})
    changed = context.settings.model_copy(update={"flows": flows})
    with SettingsContext(profile=context.profile, settings=changed):
        assert get_settings_context().settings.flows.heartbeat_frequency is None
