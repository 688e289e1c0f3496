"""Per-site extraction rules, looked up by host in a plain registry.

One module per site (``extractors/sites/<site>.py``) holds a ``SiteRules``
value; register it in ``REGISTRY`` below.  Every registered site has a golden
page in ``tests/fixtures/pages/`` (a test checks).  Never add rules for the
benchmark's sites: its figure must measure the generic path.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from extractors.sites import folhadovale, kabarpesisir
from extractors.sites.rules import SiteRules

REGISTRY: tuple[SiteRules, ...] = (
    folhadovale.RULES,
    kabarpesisir.RULES,
)


def rules_for(url: str) -> SiteRules | None:
    """The rules for the site serving ``url``, if it has any."""
    host = urlsplit(url).hostname or ""
    return next((rules for rules in REGISTRY if rules.covers(host)), None)


__all__ = ["REGISTRY", "SiteRules", "rules_for"]
