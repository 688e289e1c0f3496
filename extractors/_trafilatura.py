"""The parts of trafilatura newsflow uses beyond ``trafilatura.extract``, in one place.

Its public API returns text; newsflow needs its main-content tree (``bare_extraction`` with an
``Extractor`` options object), the list of tags its cleaning removes (``settings.MANUALLY_CLEANED``, so
that newsflow can drop them first), its helpers for raw input (``utils.handle_compressed_file``,
``is_dubious_html``, ``repair_faulty_html``), its byline search (``metadata.extract_author``) and its
token sampling for SimHash (``deduplication.sample_tokens``: fingerprints must stay comparable with the
ones already stored).  None of these but ``bare_extraction`` is documented; trafilatura is pinned to 2.x
in pyproject.toml and ``tests/test_library_contracts.py`` fails, naming what moved, when an upgrade
changes them.
"""

from __future__ import annotations

from trafilatura import __version__, bare_extraction
from trafilatura.deduplication import sample_tokens
from trafilatura.metadata import extract_author
from trafilatura.settings import MANUALLY_CLEANED, Extractor
from trafilatura.utils import handle_compressed_file, is_dubious_html, repair_faulty_html

__all__ = [
    "MANUALLY_CLEANED",
    "Extractor",
    "__version__",
    "bare_extraction",
    "extract_author",
    "handle_compressed_file",
    "is_dubious_html",
    "repair_faulty_html",
    "sample_tokens",
]
