"""Raw HTML beside the database: one append-only Parquet file per stored batch.

The ``pages`` table holds each page's metadata and the name of the file its
body is in; the zlib-packed bodies live in ``<database>.pages/*.parquet``.
Kept in DuckDB, those blobs made every checkpoint rewrite the partly filled
row group they sat in: store time and the writer's memory grew with the table
(spikes of ~1 GB at 20,000 pages).  A file is written once, under a name
derived from its content, and fsynced before the transaction that points at
it commits, so a crash leaves at worst an unreferenced file, which
``sweep_orphans`` removes later.

Analysts read them with DuckDB directly:
``SELECT * FROM read_parquet('news.duckdb.pages/*.parquet')`` (``html_zlib`` is a zlib stream).
"""

from __future__ import annotations

import hashlib
import os
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from extractors.errors import StorageError

SUFFIX = ".parquet"
# a file no row points at is only removed once no live transaction can still be about to commit it
ORPHAN_AGE_SECONDS = 3600.0
_SCHEMA = pa.schema(
    [
        ("html_sha256", pa.string()),
        ("url_key", pa.string()),
        ("final_url", pa.string()),
        ("html_zlib", pa.binary()),
    ]
)


@dataclass(frozen=True, slots=True)
class PageBody:
    """One page body to keep: its hash, the article (or final URL) it belongs to, its zlib stream."""

    html_sha256: str
    url_key: str | None
    final_url: str
    html_zlib: bytes


def directory(db_path: str | Path) -> Path:
    db = Path(db_path)
    return db.with_name(db.name + ".pages")


def file_name(bodies: Sequence[PageBody]) -> str:
    """The name of the file ``write_bodies`` writes ``bodies`` to (relative to ``directory``).

    A hash of what the file holds, so writing the same batch again (a retried store) rewrites the
    same file instead of adding another.
    """
    digest = hashlib.sha256()
    for body in bodies:
        digest.update(f"{body.html_sha256} {body.url_key or body.final_url}\n".encode())
    return digest.hexdigest()[:32] + SUFFIX


def write_bodies(db_path: str | Path, bodies: Sequence[PageBody]) -> str:
    """Write ``bodies`` to one new file, durably, and return its name (``file_name``)."""
    folder = directory(db_path)
    name = file_name(bodies)
    table = pa.table(
        [
            [b.html_sha256 for b in bodies],
            [b.url_key for b in bodies],
            [b.final_url for b in bodies],
            pa.array([b.html_zlib for b in bodies], pa.binary()),
        ],
        schema=_SCHEMA,
    )
    temporary = folder / f".{name}.{os.getpid()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # the bodies are zlib streams already: Parquet compression would only spend the writer's CPU
        pq.write_table(table, temporary, compression="none", use_dictionary=False, write_statistics=False)
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, folder / name)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise StorageError(str(db_path), f"cannot write page bodies to {folder / name}: {exc}") from exc
    return name


def read_bodies(db_path: str | Path, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], bytes]:
    """The HTML of each wanted (file name, html_sha256), decompressed."""
    by_file: dict[str, set[str]] = {}
    for name, sha256 in wanted:
        by_file.setdefault(name, set()).add(sha256)
    found: dict[tuple[str, str], bytes] = {}
    folder = directory(db_path)
    for name, hashes in by_file.items():
        try:
            table = pq.read_table(folder / name, columns=["html_sha256", "html_zlib"])
        except (OSError, pa.ArrowException) as exc:
            raise StorageError(str(db_path), f"cannot read page bodies from {folder / name}: {exc}") from exc
        for sha256, blob in zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True):
            if sha256 in hashes:
                found[(name, sha256)] = zlib.decompress(blob)
    missing = [(name, sha256) for name, hashes in by_file.items() for sha256 in hashes if (name, sha256) not in found]
    if missing:
        name, sha256 = missing[0]
        raise StorageError(str(db_path), f"page body {sha256} is missing from {folder / name}")
    return found


def sweep_orphans(db_path: str | Path, referenced: Iterable[str], min_age_seconds: float = ORPHAN_AGE_SECONDS) -> int:
    """Delete body files no ``pages`` row names (left by a run killed before its commit); returns how many."""
    folder = directory(db_path)
    if not folder.is_dir():
        return 0
    keep = set(referenced)
    cutoff = time.time() - min_age_seconds
    removed = 0
    for path in folder.iterdir():
        if path.name in keep or not (path.name.endswith(SUFFIX) or path.name.endswith(".tmp")):
            continue
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed
