"""Kabar Pesisir (custom CMS, Indonesian).

Its ``<meta name=author>`` always names the desk ("Redaksi Kabar Pesisir"); the
reporter is only in the byline span.  A "tweet this quote" box repeats a
paragraph of the story word for word, under a class no generic rule knows.
"""

from extractors.sites.rules import SiteRules

RULES = SiteRules(
    name="kabarpesisir",
    hosts=("kabarpesisir.example",),
    drop=(".detail__kutipan",),
    byline=".detail__reporter-name",
)
