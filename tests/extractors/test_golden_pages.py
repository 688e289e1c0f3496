"""Every golden page extracts to its expected.json, field by field."""

from __future__ import annotations

from typing import Any

import pytest

from flows.demo_server import SITE_ROOT
from tests.golden import FIELDS, PAGES, extract_page, load_expected, observed_fields, page_names


@pytest.fixture(scope="module", params=page_names())
def golden(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], dict[str, Any], str]:
    name = request.param
    expected = load_expected(name)
    article = extract_page(name, expected)
    return name, expected, observed_fields(article), article.body_text


@pytest.mark.parametrize("field", FIELDS)
def test_field(golden: tuple[str, dict[str, Any], dict[str, Any], str], field: str) -> None:
    name, expected, observed, _ = golden
    if field not in expected:
        pytest.skip(f"{name} does not pin {field}")
    assert observed[field] == expected[field], f"{name}: {field}"


def test_snippets(golden: tuple[str, dict[str, Any], dict[str, Any], str]) -> None:
    name, expected, _, body = golden
    leaked = [s for s in expected.get("must_not_contain", []) if s in body]
    missing = [s for s in expected.get("must_contain", []) if s not in body]
    assert not leaked, f"{name}: boilerplate left in body: {leaked}"
    assert not missing, f"{name}: text missing from body: {missing}"


def test_corpus_is_not_empty() -> None:
    assert "klaten-flashback" in page_names()
    assert len(page_names()) >= 15


@pytest.mark.parametrize("name", page_names())
def test_demo_site_serves_the_golden_page(name: str) -> None:
    """The demo site's articles are the golden pages, byte for byte."""
    demo_path = load_expected(name).get("demo_path")
    if demo_path is None:
        pytest.skip("not on the demo site")
    served = SITE_ROOT / demo_path.strip("/") / "index.html"
    assert served.read_bytes() == (PAGES / name / "page.html").read_bytes()


@pytest.mark.parametrize("name", page_names())
def test_content_hash_does_not_depend_on_the_fetched_address(name: str) -> None:
    """The same page fetched from a mirror or another port is the same article (a rerun adds nothing)."""
    from extractors import extract_html

    html = (PAGES / name / "page.html").read_bytes()
    one = extract_html(html, "http://127.0.0.1:8001/some/path/")
    two = extract_html(html, "http://127.0.0.1:8002/other/")
    assert one.content_hash == two.content_hash
    assert one.url_key == two.url_key
