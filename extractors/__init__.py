"""Pure extraction: fetched HTML bytes in, a clean ``Article`` out (no network, no Prefect)."""

from extractors.article import EXTRACTOR_VERSION, ExtractOptions, extract_article, extract_html
from extractors.records import Article, Failure, FetchedPage, RelatedLink

__all__ = [
    "EXTRACTOR_VERSION",
    "Article",
    "ExtractOptions",
    "Failure",
    "FetchedPage",
    "RelatedLink",
    "extract_article",
    "extract_html",
]
