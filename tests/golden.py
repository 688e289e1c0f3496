"""Golden-page helpers shared by the parametrised test and the regeneration script.

A golden page is ``tests/fixtures/pages/<name>/{page.html, expected.json}``.
``expected.json`` holds the extracted field values plus hand-written keys
that regeneration never touches: ``must_contain``, ``must_not_contain``,
``options`` (extractor options such as the source time zone) and
``demo_path`` (where the page is served on the bundled demo site).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from extractors import Article, ExtractOptions, extract_html

PAGES = Path(__file__).parent / "fixtures" / "pages"
HAND_WRITTEN = ("must_contain", "must_not_contain", "options", "demo_path")
FIELDS = (
    "url", "canonical_url", "title", "site_name", "authors", "published_at", "modified_at", "language",
    "section", "tags", "description", "lead_image_url", "is_paywalled", "headings", "paragraphs", "related_links",
)  # fmt: skip


def page_names() -> list[str]:
    return sorted(p.name for p in PAGES.iterdir() if (p / "page.html").is_file())


def load_expected(name: str) -> dict[str, Any]:
    return json.loads((PAGES / name / "expected.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def extract_page(name: str, expected: dict[str, Any]) -> Article:
    options = ExtractOptions(**expected.get("options", {}))
    return extract_html((PAGES / name / "page.html").read_bytes(), expected["url"], options)


def observed_fields(article: Article) -> dict[str, Any]:
    """The article in the shape of expected.json."""
    data = article.to_json_dict()
    headings = set(article.headings)
    data["paragraphs"] = [b for b in article.body_text.split("\n\n") if b not in headings]
    return {key: data[key] for key in FIELDS}
