"""The safety net under newsflow's cuts (extractors/safety.py), on pages written here in the shapes of
the failures seen on the open web: a template whose markup swallows the article into a control, a pop-up
or a menu, a listicle whose item sections look like related boxes, a comparison chart read as page layout,
and an ordinary page where the cuts are right."""

from __future__ import annotations

import json

import lxml.html
import pytest

from extractors import extract_html
from extractors.boilerplate import unwrap_layout_tables
from extractors.safety import doubtful, fallback_wins, prose_chars

URL = "https://www.example.org/guides/plants"


def _paragraphs(topic: str, count: int) -> str:
    return "".join(
        f"<p>{topic} paragraph {i} says something long enough to be prose, with a full sentence in it. "
        f"It goes on with a second sentence about {topic} number {i}.</p>"
        for i in range(count)
    )


def _page(body: str) -> bytes:
    return f"<html><head><title>Low light plants</title></head><body>{body}</body></html>".encode()


def test_an_unclosed_button_does_not_take_the_article_with_it() -> None:
    page = _page(
        '<a href="#main">Skip to content</a><div class="menu"><button class="open">Menu'
        f"<article><h1>Low light plants</h1>{_paragraphs('plant', 12)}</article></div>"
    )
    article = extract_html(page, URL)
    assert "plant paragraph 11" in article.body_text
    assert "Skip to content" not in article.body_text


def test_listicle_sections_cut_as_related_boxes_come_back_through_the_fallback() -> None:
    items = "".join(
        f'<div class="related-product"><h2>Plant {i}</h2>{_paragraphs(f"item{i}", 3)}</div>' for i in range(10)
    )
    page = _page(f"<article><h1>The 10 best plants</h1><p>Our picks, tested at home.</p>{items}</article>")
    article = extract_html(page, URL)
    assert dict(article.provenance).get("body_text") == "fallback"
    for i in range(10):
        assert f"item{i} paragraph 2" in article.body_text


def test_an_ordinary_page_keeps_its_cuts() -> None:
    related = '<div class="related-posts"><h3>More</h3><ul>' + "".join(
        f'<li><a href="/s/{i}">Other story number {i} with a headline</a></li>' for i in range(6)
    ) + "</ul></div>"
    page = _page(f"<article><h1>Low light plants</h1>{_paragraphs('plant', 8)}{related}</article>")
    article = extract_html(page, URL)
    assert "body_text" not in dict(article.provenance)
    assert "Other story number" not in article.body_text
    assert "plant paragraph 7" in article.body_text


def test_prose_counts_sentences_outside_navigation_and_links() -> None:
    tree = lxml.html.fromstring(
        "<html><body><nav><p>A navigation paragraph that is long and has a sentence in it.</p></nav>"
        '<p><a href="/x">A paragraph that is only a link, long enough to count otherwise.</a></p>'
        "<p>A real paragraph with enough words to be a sentence of prose.</p></body></html>"
    )
    assert prose_chars(tree) == len("A real paragraph with enough words to be a sentence of prose.")


def test_doubt_and_fallback_thresholds() -> None:
    assert doubtful(15, 9000)  # a skip link where the page has an article
    assert doubtful(150, 700)  # a scrap
    assert not doubtful(5000, 9000)
    assert not doubtful(150, 300)  # a short page is allowed a short body
    article = "The article says one thing after another about plants and light. " * 120
    assert fallback_wins(article[:1000], article) and not fallback_wins(article[:8000], article)


def test_a_body_found_elsewhere_on_the_page_loses_to_the_fallback() -> None:
    article = " ".join(f"Plant fact number {i} explains watering in shade." for i in range(150))
    praise = " ".join(f"Reader {i} wrote that the newsletter is wonderful." for i in range(120))
    assert fallback_wins(praise, article + " " + praise[:500])  # mostly words the fallback does not hold
    assert not fallback_wins(article[:5000], article)  # the same text, a little shorter
    assert not fallback_wins(praise, praise[:3000])  # the fallback holds less


def test_prose_in_text_only_divs_counts() -> None:
    sentence = "A line of the checklist that explains the service in a full sentence."
    tree = lxml.html.fromstring(
        f"<html><body><div class='card'><div class='name'>Coolant</div><div>{sentence}</div></div>"
        f"<ul><li><div>{sentence}</div></li></ul><div><p>{sentence}</p></div></body></html>"
    )
    assert prose_chars(tree) == 3 * len(sentence)  # each once: the div, the list item, the paragraph


_MENU = "".join(f'<li><a href="/s/{i}">Municipal office {i} council</a></li>' for i in range(150))
_LOOSE = (
    "The health service team reported this morning that two of the unit's five cars were broken into. "
    "The cars had their batteries taken and were damaged. A police report was filed. "
    "Patients booked for this morning are being given new appointments."
)


def _loose_text_page(extra: str = "") -> bytes:
    return (
        f'<html><head><title>Cars broken into</title></head><body><div class="menu"><ul>{_MENU}</ul></div>'
        '<div class="col"><span class="titulo">Cars broken into</span><small>05/10/2018 - by Ana Lima</small>'
        f'<br><br><img src="/a.jpg">{_LOOSE}<br><br><br>{extra}<div class="row"><a href="/share">Share</a></div>'
        f'</div><div class="footer"><ul>{_MENU[:3000]}</ul></div></body></html>'
    ).encode()


def test_an_article_written_as_loose_text_is_found_under_a_page_of_menus() -> None:
    """A template that writes its article as text between an image and line breaks, not in paragraphs:
    trafilatura finds no article and returns every menu of the page as one text."""
    body = extract_html(_loose_text_page(), "https://city.example/news/cars").body_text
    assert body == _LOOSE
    assert "Municipal office" not in body


def test_a_menu_dump_with_no_loose_prose_anywhere_is_left_as_trafilatura_gave_it() -> None:
    page = _loose_text_page().replace(_LOOSE.encode(), b"Photo")
    body = extract_html(page, "https://city.example/news/cars").body_text
    assert "Municipal office 3 council" in body  # nothing better to take: the net does not make it empty


def test_a_long_article_of_many_blocks_with_few_full_stops_is_not_a_menu_dump() -> None:
    rows = "".join(f"<tr><td>Station {i}</td><td>{i * 3} mm</td><td>{20 + i % 7} C</td></tr>" for i in range(120))
    queries = "\n".join(f"SELECT id, name FROM table_{i} WHERE x = {i}" for i in range(60))
    code = f"<pre><code>{queries}</code></pre>"
    # loose text in the article's own element: what the menu-dump rescue would take, were it to misfire here
    page = _page(
        "<article>Readings come from the city's network of weather stations, checked every morning by the staff. "
        "Stations that fail a check are repaired the same week, and their readings are left out until then."
        f"<h1>Low light plants</h1><p>Readings of the week, by station.</p><table>{rows}</table>"
        f"<h2>Queries</h2>{code}<p>Ana Lima wrote the queries, which run every night.</p></article>"
    )
    body = extract_html(page, URL).body_text
    assert "Station 117" in body and "table_59" in body


@pytest.mark.parametrize("container", ["aside", "nav", "footer", "dialog"])
def test_an_unclosed_popup_or_menu_does_not_take_the_article_with_it(container: str) -> None:
    # left unclosed, the newsletter pop-up or the menu holds the rest of the page; trafilatura drops
    # such containers whole
    page = _page(
        f'<{container} class="popup-overlay" id="newsletter"><p>Join 20,000 readers.</p><a href="/s">Sign up</a>'
        f"<article><h1>Low light plants</h1>{_paragraphs('plant', 12)}</article>"
    )
    body = extract_html(page, URL).body_text
    for i in range(12):
        assert f"plant paragraph {i} " in body


def test_a_sidebar_with_the_site_headline_and_some_paragraphs_stays_out() -> None:
    sidebar = f"<aside><h1>The Plant Gazette</h1>{_paragraphs('sidebar', 3)}</aside>"
    page = _page(f"{sidebar}<article><h2>Low light plants</h2>{_paragraphs('plant', 8)}</article>")
    body = extract_html(page, URL).body_text
    assert "plant paragraph 7" in body
    assert "sidebar paragraph" not in body


def _cell(text: str) -> str:
    return f"<td><p>{text}</p><p>{text} again, in a second paragraph.</p></td>"


def test_a_comparison_chart_stays_a_table_and_a_layout_table_does_not() -> None:
    rows = "".join(
        "<tr>" + "".join(_cell(f"plan{r} feature{c}") for c in range(5)) + "</tr>" for r in range(3)
    )
    chart = f"<table><tr><th>Plan</th><th>Price</th><th>Light</th><th>Water</th><th>Pets</th></tr>{rows}</table>"
    article = f"<h1>Low light plants</h1>{_paragraphs('plant', 6)}"
    layout = f"<table><tr><td><a href='/'>Home</a></td><td>{article}</td></tr></table>"
    tree = lxml.html.fromstring(f"<html><body>{layout}<div>{chart}</div></body></html>")
    unwrap_layout_tables(tree)
    tables = tree.findall(".//table")
    assert len(tables) == 1 and "plan2 feature4" in tables[0].text_content()
    body = extract_html(_page(f"<article>{article}{chart}</article>"), URL)
    assert "plan2 feature3 | plan2 feature4" in body.body_text.replace(" again, in a second paragraph.", "")


def test_an_article_only_in_the_pages_json_ld_is_read_from_there() -> None:
    # a script-rendered page: the visible markup holds a menu and a teaser, the article is in its JSON-LD
    article_body = " ".join(f"Plant sentence {i} tells the reader how much light a fern needs." for i in range(30))
    ld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": "Low light plants",
                     "articleBody": article_body})  # fmt: skip
    page = _page(
        '<nav><a href="/">Home</a> <a href="/plants">Plants</a></nav><div id="app"><h1>Low light plants</h1>'
        f'<p>Loading the article.</p></div><script type="application/ld+json">{ld}</script>'
        '<script>window.app = {"state": "loading"};</script>'
    )
    body = extract_html(page, URL).body_text
    assert "Plant sentence 29 tells the reader" in body
    assert "window.app" not in body
