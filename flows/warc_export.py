"""``newsflow export --format warc``: the stored pages of the selected articles as a WARC file.

Each article's newest stored page becomes a WARC/1.1 ``response`` record (its
address, fetch time as WARC-Date, status, headers and raw HTML, with block and
payload digests), gzipped per record: a corpus can be archived, or handed to
tools that read web archives, and read back by ``newsflow backfill --warc``.
"""

from __future__ import annotations

import os
from pathlib import Path

from crawl.warc import WarcWriter
from extractors.errors import StorageError
from storage.queries import ExportFilter, check_output, exported_pages


def export_warc(db: str | Path, out: str | Path, chosen: ExportFilter) -> int:
    """Write the chosen articles' pages to ``out`` (replaced only once complete); returns the records written."""
    check_output(db, out)
    partial = Path(f"{out}.partial")
    try:
        with open(partial, "wb") as stream:
            writer = WarcWriter(stream)
            for page in exported_pages(db, chosen):
                writer.write_page(page)
        os.replace(partial, out)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise StorageError(str(out), f"cannot write the WARC file: {error.strerror or error}") from error
    return writer.records
