"""Loading, before the first page, what extraction otherwise loads on the first page that needs it.

py3langid's model (~0.65 s to decompress and read) and dateparser's parser, which htmldate's extensive
date search builds (~0.25 s), are loaded lazily: in every extraction worker, and again in each worker
that replaces one.  A process that forks the workers (the extraction pool's fork server) calls
``warm_up`` once, and its children start with both in memory, shared copy-on-write.
"""

from __future__ import annotations

from datetime import UTC

import lxml.html

from extractors.dates import htmldate_day
from extractors.language import detect_language

# a page whose only date is a date element's words: htmldate's quick search finds nothing, and its extensive
# search hands the words to dateparser
_UNDATED = b'<html><body><p>Texto.</p><div class="published">diciembre 7, 2021, 10:15</div></body></html>'
_TEXT = "Plain sentences, long enough for the language model to read them with confidence. " * 2


def warm_up() -> None:
    """Load the language model and dateparser's parser now."""
    detect_language(_TEXT, None)
    htmldate_day(lxml.html.document_fromstring(_UNDATED), "http://127.0.0.1/", UTC)
