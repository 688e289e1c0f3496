"""Folha do Vale (custom CMS, Brazilian Portuguese).

The publication time is only in a ``content`` attribute on a span whose class
("data-pub") no generic rule reads; the update time only in the visible text
of a sibling span ("Atualizado 12/02/2026 10h10").  A membership appeal sits mid-article under its own class.
"""

from extractors.sites.rules import SiteRules

RULES = SiteRules(
    name="folhadovale",
    hosts=("folhadovale.example",),
    drop=(".caixa-assine",),
    published=".data-pub",
    modified=".data-atu",
)
