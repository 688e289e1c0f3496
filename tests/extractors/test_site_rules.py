"""The per-site rules registry: lookup by host, a golden page per site, and what a rule changes."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from extractors import sites
from extractors.sites import REGISTRY, rules_for
from tests.golden import extract_page, load_expected, page_names


def _golden_hosts() -> set[str]:
    return {urlsplit(load_expected(name)["canonical_url"]).hostname or "" for name in page_names()}


@pytest.mark.parametrize("rules", REGISTRY, ids=lambda r: r.name)
def test_every_registered_site_has_a_golden_page(rules: sites.SiteRules) -> None:
    assert any(rules.covers(host) for host in _golden_hosts()), f"{rules.name} has no page in tests/fixtures/pages"


def test_lookup_by_host_covers_subdomains_only() -> None:
    assert rules_for("https://www.kabarpesisir.example/sulsel/x") is not None
    assert rules_for("https://m.kabarpesisir.example/amp/sulsel/x") is not None
    assert rules_for("https://kabarpesisir.example/") is not None
    assert rules_for("https://notkabarpesisir.example/sulsel/x") is None
    assert rules_for("https://kabarpesisir.example.evil.test/") is None
    assert rules_for("not a url") is None


def test_site_names_are_unique() -> None:
    names = [rules.name for rules in REGISTRY]
    assert len(names) == len(set(names))


def test_the_rule_is_what_fixes_its_site(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without its rule the page shows the problems the rule exists for."""
    expected = load_expected("kabar-pesisir-nelayan")
    with_rule = extract_page("kabar-pesisir-nelayan", expected)
    monkeypatch.setattr(sites, "REGISTRY", ())
    generic = extract_page("kabar-pesisir-nelayan", expected)
    assert list(with_rule.authors) == ["Andi Nurhaliza"]
    assert list(generic.authors) != ["Andi Nurhaliza"]  # the desk from <meta name=author>
    assert "Tweet kutipan" not in with_rule.body_text
    assert dict(with_rule.provenance)["authors"] == "html"


def test_rule_dates_take_the_source_time_zone() -> None:
    expected = load_expected("folha-do-vale-enchente")
    article = extract_page("folha-do-vale-enchente", expected)
    assert article.published_at is not None and article.published_at.isoformat() == "2026-02-12T10:45:00+00:00"
    assert dict(article.provenance)["published_at"] == "html"
