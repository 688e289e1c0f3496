"""Staged batches: what crawl workers fetched and extracted, as Parquet files under a staging URL, merged
into DuckDB by one writer (flows/merge.py).

The staging URL is any fsspec URL: a directory (``/srv/staging``, ``file://…``) or S3-compatible storage
(``s3://bucket/prefix`` through s3fs; endpoint and keys from the usual AWS variables).  Under it:

    batches/<run id>/<seq>/<table>.parquet   the inputs of one ``store_batch`` / ``store_discovery`` call,
                                             or a run's final ``runs`` row
    batches/<run id>/<seq>/manifest.json     written last: a batch without it is incomplete (its worker
                                             died while writing) and is never merged
    state/<stamp>/{known,validators,discovery}.parquet, state/LATEST
                                             the merged database's crawl state, for workers that cannot
                                             open the database; LATEST (the stamp) is written last

Records cross as Arrow columns built from the dataclasses' type hints (``_arrow_type``), so a staged batch
reads back as the very records the worker had, and the merge stores them with the same code as a
single-process run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

from extractors.errors import StorageError
from extractors.records import (
    Article,
    Attempt,
    DocumentRead,
    DocumentState,
    Failure,
    FetchedPage,
    NotModified,
    Validators,
)
from storage.connection import read_connection
from storage.lookups import StateTables, document_state, lookup_key, state_tables
from storage.writer import (
    BatchCounts,
    Extracted,
    MergedBatch,
    RunRecord,
    record_run,
    store_batch,
    store_discovery,
)

R = TypeVar("R")
FORMAT = 1
MANIFEST = "manifest.json"
_TS = pa.timestamp("us", tz="UTC")


# --- records <-> Arrow ---------------------------------------------------------------------------------


_FIELDS: dict[type[Any], tuple[tuple[str, Any, typing.Mapping[str, Any]], ...]] = {}


def _fields(cls: type[Any]) -> tuple[tuple[str, Any, typing.Mapping[str, Any]], ...]:
    """Each field of the dataclass ``cls``: its name, type and metadata (resolved once: ``get_type_hints`` is
    slow)."""
    if cls not in _FIELDS:
        hints = typing.get_type_hints(cls)
        _FIELDS[cls] = tuple((f.name, hints[f.name], f.metadata) for f in dataclasses.fields(cls))
    return _FIELDS[cls]


def _optional(hint: Any) -> Any:
    """``X`` of ``X | None``; any other type as it is."""
    if typing.get_origin(hint) in (types.UnionType, typing.Union):
        (inner,) = [a for a in typing.get_args(hint) if a is not type(None)]
        return inner
    return hint


_SIMPLE: dict[Any, pa.DataType] = {
    str: pa.string(), int: pa.int64(), bool: pa.bool_(), float: pa.float64(), bytes: pa.large_binary(),
    datetime: _TS,
}  # fmt: skip


def _arrow_type(hint: Any, meta: typing.Mapping[str, Any] | None = None) -> pa.DataType:
    """The Arrow type that holds a value of the type ``hint`` (a field's ``metadata`` may say unsigned)."""
    if meta and meta.get("unsigned"):
        return pa.uint64()
    hint = _optional(hint)
    if typing.get_origin(hint) is tuple:
        # tuple[X, ...] and fixed tuples of one type (a header's name and value) are lists
        return pa.list_(_arrow_type(typing.get_args(hint)[0]))
    if dataclasses.is_dataclass(hint):
        return pa.struct([(name, _arrow_type(kind, m)) for name, kind, m in _fields(typing.cast(type[Any], hint))])
    if hint in _SIMPLE:
        return _SIMPLE[hint]
    raise TypeError(f"no Arrow type for {hint!r}")


def _plain(value: Any) -> Any:
    """A record as Arrow takes it: dataclasses as dicts, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def _typed(value: Any, hint: Any) -> Any:
    """``value`` as Arrow gave it back, rebuilt as the type ``hint``."""
    if value is None:
        return None
    hint = _optional(hint)
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_typed(v, item) for v in value)
    if dataclasses.is_dataclass(hint):
        return _record(typing.cast(type[Any], hint), value)
    if hint is datetime:
        return value.astimezone(UTC)
    return value


def _record(cls: type[R], row: dict[str, Any]) -> R:
    return cls(**{name: _typed(row[name], hint) for name, hint, _ in _fields(cls)})


def records_table(cls: type[Any], records: Sequence[Any], **extra: Sequence[Any]) -> pa.Table:
    """``records`` (instances of the dataclass ``cls``) as an Arrow table, one column per field, plus ``extra``
    string columns."""
    columns = {
        name: pa.array([_plain(getattr(r, name)) for r in records], _arrow_type(hint, meta))
        for name, hint, meta in _fields(cls)
    }
    columns.update({name: pa.array(list(values), pa.string()) for name, values in extra.items()})
    return pa.table(columns)


def table_records(cls: type[R], table: pa.Table) -> list[R]:
    """The records ``records_table`` wrote."""
    return [_record(cls, row) for row in table.to_pylist()]


# --- batches ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StagedDiscovery:
    """The inputs of one ``store_discovery`` call: a source's discovery documents and what they listed."""

    source: str
    rules: str
    documents: tuple[FetchedPage | NotModified, ...]
    failures: tuple[Failure, ...]
    read: tuple[DocumentRead, ...]
    robots: tuple[Attempt, ...] = ()


@dataclass(frozen=True, slots=True)
class StagedBatch:
    """One unit of a crawl worker's output, merged in one transaction: the inputs of a ``store_batch`` call
    (pages …), of a ``store_discovery`` call (``discovery``), or the run's final row (``run``)."""

    run_id: str
    seq: int
    """Order within the run: batches are merged in the order they were written."""
    source: str | None = None
    pages: tuple[FetchedPage, ...] = ()
    extracted: tuple[Extracted, ...] = ()
    failures: tuple[Failure, ...] = ()
    not_modified: tuple[NotModified, ...] = ()
    discovery: StagedDiscovery | None = None
    run: RunRecord | None = None
    shard: str | None = None
    written_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def batch_id(self) -> str:
        return f"{self.run_id}/{self.seq:06d}"

    @property
    def kind(self) -> str:
        return "run" if self.run is not None else "discovery" if self.discovery is not None else "pages"

    @property
    def items(self) -> int:
        """URLs (or documents) the batch accounts for."""
        if self.discovery is not None:
            return len(self.discovery.documents) + len(self.discovery.failures)
        return len(self.pages) + len(self.not_modified) + sum(f.url not in self._fetched for f in self.failures)

    @property
    def _fetched(self) -> set[str]:
        return {p.url for p in self.pages}


@dataclass(frozen=True, slots=True)
class BatchRef:
    """A complete staged batch as its manifest names it."""

    batch_id: str
    run_id: str
    seq: int
    kind: str
    shard: str | None
    items: int
    written_at: datetime
    tables: tuple[str, ...]
    source: str | None = None
    rules: str | None = None
    """Of a discovery batch: the fingerprint of the source's rules, and the source the documents are of."""
    discovery_source: str | None = None


def _tables(batch: StagedBatch) -> dict[str, pa.Table]:
    tables: dict[str, pa.Table] = {}

    def put(name: str, cls: type[Any], records: Sequence[Any], **extra: Sequence[Any]) -> None:
        if records:
            tables[name] = records_table(cls, records, **extra)

    put("pages", FetchedPage, batch.pages)
    put("articles", Article, [e.article for e in batch.extracted], page_url=[e.page.url for e in batch.extracted])
    put("failures", Failure, batch.failures)
    put("not_modified", NotModified, batch.not_modified)
    if batch.discovery is not None:
        found = batch.discovery
        put("doc_pages", FetchedPage, [d for d in found.documents if isinstance(d, FetchedPage)])
        put("doc_not_modified", NotModified, [d for d in found.documents if isinstance(d, NotModified)])
        put("doc_failures", Failure, found.failures)
        put("doc_read", DocumentRead, found.read)
        put("robots", Attempt, found.robots)
    if batch.run is not None:
        put("run", RunRecord, [batch.run])
    return tables


class Staging:
    """The staging area at one fsspec URL: batches written by crawl workers, read by the merge."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        try:
            self.fs, self.root = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as exc:
            raise StorageError(url, f"cannot use this staging URL: {exc}") from exc

    def _path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def _makedirs(self, path: str) -> None:
        try:
            self.fs.makedirs(path, exist_ok=True)
        except OSError as exc:
            raise StorageError(self.url, f"cannot create {path}: {exc}") from exc

    def _put(self, path: str, data: bytes) -> None:
        try:
            with self.fs.open(path, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise StorageError(self.url, f"cannot write {path}: {exc}") from exc

    def _get(self, path: str) -> bytes:
        try:
            with self.fs.open(path, "rb") as handle:
                return typing.cast(bytes, handle.read())
        except OSError as exc:
            raise StorageError(self.url, f"cannot read {path}: {exc}") from exc

    @staticmethod
    def _parquet(table: pa.Table) -> bytes:
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        return sink.getvalue()

    # -- batches

    def write(self, batch: StagedBatch) -> BatchRef:
        """Write the batch's tables, then its manifest: only then is it complete."""
        folder = self._path("batches", batch.batch_id)
        self._makedirs(folder)
        tables = _tables(batch)
        for name, table in tables.items():
            self._put(f"{folder}/{name}.parquet", self._parquet(table))
        found = batch.discovery
        ref = BatchRef(batch.batch_id, batch.run_id, batch.seq, batch.kind, batch.shard, batch.items,
                       batch.written_at, tuple(tables), batch.source, found.rules if found else None,
                       found.source if found else None)  # fmt: skip
        manifest = {
            "format": FORMAT, "run_id": ref.run_id, "seq": ref.seq, "kind": ref.kind, "shard": ref.shard,
            "source": ref.source, "items": ref.items, "written_at": ref.written_at.isoformat(),
            "tables": list(ref.tables), "rules": ref.rules, "discovery_source": ref.discovery_source,
        }  # fmt: skip
        self._put(f"{folder}/{MANIFEST}", json.dumps(manifest).encode())
        return ref

    def _manifest(self, path: str) -> BatchRef:
        try:
            data = json.loads(self._get(path))
            if data.get("format") != FORMAT:
                raise StorageError(self.url, f"{path}: staged by another newsflow (format {data.get('format')})")
            return BatchRef(f"{data['run_id']}/{int(data['seq']):06d}", data["run_id"], int(data["seq"]),
                            data["kind"], data.get("shard"), int(data["items"]),
                            datetime.fromisoformat(data["written_at"]), tuple(data["tables"]), data.get("source"),
                            data.get("rules"), data.get("discovery_source"))  # fmt: skip
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(self.url, f"{path}: not a readable manifest: {exc}") from exc

    def complete(self) -> list[BatchRef]:
        """Every batch whose manifest is written, in the order they are to be merged."""
        try:
            paths = self.fs.glob(self._path("batches", "*", "*", MANIFEST))
        except OSError as exc:
            raise StorageError(self.url, f"cannot list the staged batches: {exc}") from exc
        refs = [self._manifest(p) for p in paths]
        return sorted(refs, key=lambda r: (r.written_at, r.run_id, r.seq))

    def read(self, ref: BatchRef) -> StagedBatch:
        """The batch's records, as they were written (``ref``: as ``complete`` read its manifest)."""
        folder = self._path("batches", ref.batch_id)
        tables = {name: pq.read_table(io.BytesIO(self._get(f"{folder}/{name}.parquet"))) for name in ref.tables}

        def rows(name: str, cls: type[R]) -> tuple[R, ...]:
            return tuple(table_records(cls, tables[name])) if name in tables else ()

        pages = rows("pages", FetchedPage)
        extracted: tuple[Extracted, ...] = ()
        if "articles" in tables:
            by_url = {p.url: p for p in pages}
            links = tables["articles"].column("page_url").to_pylist()
            extracted = tuple(
                Extracted(by_url[u], a) for u, a in zip(links, table_records(Article, tables["articles"]), strict=True)
            )
        discovery = None
        if ref.kind == "discovery":
            documents: tuple[FetchedPage | NotModified, ...] = (
                *rows("doc_pages", FetchedPage),
                *rows("doc_not_modified", NotModified),
            )
            discovery = StagedDiscovery(str(ref.discovery_source), str(ref.rules), documents,
                                        rows("doc_failures", Failure), rows("doc_read", DocumentRead),
                                        rows("robots", Attempt))  # fmt: skip
        run = rows("run", RunRecord)
        return StagedBatch(ref.run_id, ref.seq, ref.source, pages, extracted, rows("failures", Failure),
                           rows("not_modified", NotModified), discovery, run[0] if run else None, ref.shard,
                           ref.written_at)  # fmt: skip

    def remove(self, ref: BatchRef) -> None:
        """Delete a merged batch (its manifest first: a half-deleted batch is incomplete, never merged)."""
        folder = self._path("batches", ref.batch_id)
        try:
            self.fs.rm(f"{folder}/{MANIFEST}")
            self.fs.rm(folder, recursive=True)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(self.url, f"cannot remove merged batch {ref.batch_id}: {exc}") from exc
        with contextlib.suppress(OSError):  # the run's folder, once empty (object stores have none)
            self.fs.rmdir(self._path("batches", ref.run_id))

    def sweep_incomplete(self, older_than: timedelta, complete: Sequence[BatchRef]) -> list[str]:
        """Delete the batches that never got their manifest (their worker died) and whose files are all older
        than ``older_than`` (a live worker writes a batch's files within seconds); returns their ids."""
        done = {r.batch_id for r in complete}
        cutoff = datetime.now(UTC) - older_than
        swept = []
        try:
            folders = self.fs.glob(self._path("batches", "*", "*"))
        except OSError as exc:
            raise StorageError(self.url, f"cannot list the staged batches: {exc}") from exc
        for folder in folders:
            batch_id = "/".join(folder.rstrip("/").rsplit("/", 2)[-2:])
            if batch_id in done:
                continue
            try:
                files = self.fs.find(folder, detail=True)
                if self.fs.exists(f"{folder}/{MANIFEST}"):
                    continue  # completed since it was listed
                if all(_modified(info) < cutoff for info in files.values()):
                    self.fs.rm(folder, recursive=True)
                    swept.append(batch_id)
            except OSError:
                continue  # tried again at the next merge
        return swept

    # -- the crawl state

    def publish_state(self, state: StateTables, stamp: str) -> None:
        """Write the database's crawl state under ``state/<stamp>/``, then point ``state/LATEST`` at it and drop
        the older ones but the previous (a worker may still be reading it)."""
        folder = self._path("state", stamp)
        self._makedirs(folder)
        for name in ("known", "validators", "discovery"):
            self._put(f"{folder}/{name}.parquet", self._parquet(getattr(state, name)))
        previous = self.read_state_stamp()
        self._put(self._path("state", "LATEST"), stamp.encode())
        keep = {stamp, previous}
        try:
            for path in self.fs.ls(self._path("state"), detail=False):
                name = path.rstrip("/").rsplit("/", 1)[-1]
                if name != "LATEST" and name not in keep:
                    self.fs.rm(path, recursive=True)
        except OSError:
            pass  # old states cost space only; the next merge tries again

    def read_state_stamp(self) -> str | None:
        """The stamp of the last published crawl state (None: none yet)."""
        path = self._path("state", "LATEST")
        try:
            if not self.fs.exists(path):
                return None
        except OSError as exc:
            raise StorageError(self.url, f"cannot read the staged crawl state: {exc}") from exc
        return self._get(path).decode().strip() or None

    def read_state(self) -> StagedState:
        """The crawl state the last merge published (empty before the first merge: everything is new)."""
        stamp = self.read_state_stamp()
        if stamp is None:
            return StagedState.empty()
        folder = self._path("state", stamp)
        tables = {
            n: pq.read_table(io.BytesIO(self._get(f"{folder}/{n}.parquet")))
            for n in ("known", "validators", "discovery")
        }
        return StagedState.from_tables(StateTables(tables["known"], tables["validators"], tables["discovery"]))


def _modified(info: dict[str, Any]) -> datetime:
    """When a staged file was last written, from what its file system says (local: ``mtime``, S3: ``LastModified``)."""
    value = info.get("mtime", info.get("LastModified", info.get("last_modified")))
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    return datetime.now(UTC)  # unknown: never old enough to be swept


@dataclass(frozen=True, slots=True)
class StagedState:
    """The crawl state as the last merge published it: answers what ``storage.lookups`` answers from the
    database (``CrawlState``), for a worker that cannot open the database."""

    keys: frozenset[str]
    urls: frozenset[str]
    validators: dict[str, Validators]
    documents: dict[tuple[str, str], dict[str, DocumentState]]

    @classmethod
    def empty(cls) -> StagedState:
        return cls(frozenset(), frozenset(), {}, {})

    @classmethod
    def from_tables(cls, tables: StateTables) -> StagedState:
        known = tables.known.to_pydict()
        keys = frozenset(v for k, v in zip(known["kind"], known["value"], strict=True) if k == "key")
        urls = frozenset(v for k, v in zip(known["kind"], known["value"], strict=True) if k == "url")
        validators = {r["url"]: Validators(r["etag"], r["last_modified"]) for r in tables.validators.to_pylist()}
        documents: dict[tuple[str, str], dict[str, DocumentState]] = {}
        for row in tables.discovery.to_pylist():
            documents.setdefault((row["source"], row["rules"]), {})[row["url"]] = document_state(
                row["etag"], row["last_modified"], row["children"]
            )
        return cls(keys, urls, validators, documents)

    def known_urls(self, urls: Sequence[str]) -> set[str]:
        return {u for u in urls if u in self.urls or lookup_key(u) in self.keys}

    def validators_for(self, urls: Sequence[str]) -> dict[str, Validators]:
        return {u: self.validators[u] for u in urls if u in self.validators}

    def discovery_states(self, source: str, rules: str) -> dict[str, DocumentState]:
        return dict(self.documents.get((source, rules), {}))


def merged_batches(con: duckdb.DuckDBPyConnection, batch_ids: Sequence[str]) -> set[str]:
    """Which of ``batch_ids`` this database has merged already."""
    if not batch_ids:
        return set()
    rows = con.execute(
        "SELECT batch_id FROM staged_batches WHERE list_contains(?::VARCHAR[], batch_id)", [list(batch_ids)]
    ).fetchall()
    return {row[0] for row in rows}


def split_merged(db_path: str, refs: Sequence[BatchRef]) -> tuple[list[BatchRef], list[BatchRef]]:
    """``refs`` as (not merged yet, merged already) by this database; the second are batches whose merge
    committed but did not get to delete them (it was stopped in between): to delete, not to merge again."""
    if not refs or not Path(db_path).exists():
        return list(refs), []
    with read_connection(db_path) as con:
        done = merged_batches(con, [r.batch_id for r in refs])
    return [r for r in refs if r.batch_id not in done], [r for r in refs if r.batch_id in done]


def merge_batch(db_path: str, batch: StagedBatch, merge_run_id: str) -> BatchCounts:
    """Store one staged batch exactly as the run that staged it would have stored it on the database's own
    machine, and mark it merged in the same transaction."""
    mark = MergedBatch(batch.batch_id, batch.run_id, batch.kind, batch.shard, batch.items, batch.written_at,
                       merge_run_id)  # fmt: skip
    if batch.run is not None:
        record_run(db_path, batch.run, merged=mark)
        return BatchCounts()
    if batch.discovery is not None:
        found = batch.discovery
        store_discovery(db_path, batch.run_id, found.source, found.documents, found.failures, found.read, found.rules,
                        found.robots, merged=mark)  # fmt: skip
        return BatchCounts()
    return store_batch(db_path, batch.run_id, batch.pages, batch.extracted, batch.failures, batch.not_modified,
                       batch.source, merged=mark)  # fmt: skip


def current_state(db_path: str) -> StateTables:
    """The database's crawl state, to publish for the crawl workers."""
    with read_connection(db_path) as con:
        return state_tables(con)


class RunStaging:
    """One crawl run's writes to the staging area: its batches, numbered in the order they are made."""

    def __init__(self, staging: Staging, run_id: str, shard: str | None = None) -> None:
        self.staging = staging
        self.run_id = run_id
        self.shard = shard
        self._seq = itertools.count(1)

    def _next(self, source: str | None, **records: Any) -> StagedBatch:
        return StagedBatch(self.run_id, next(self._seq), source, shard=self.shard, **records)

    def batch(
        self,
        source: str | None,
        pages: Sequence[FetchedPage],
        extracted: Sequence[Extracted],
        failures: Sequence[Failure],
        not_modified: Sequence[NotModified],
    ) -> StagedBatch:
        """A ``store_batch`` call to stage."""
        return self._next(source, pages=tuple(pages), extracted=tuple(extracted), failures=tuple(failures),
                          not_modified=tuple(not_modified))  # fmt: skip

    def discovery(
        self,
        source: str,
        rules: str,
        documents: Sequence[FetchedPage | NotModified],
        failures: Sequence[Failure],
        read: Sequence[DocumentRead],
        robots: Sequence[Attempt],
    ) -> StagedBatch:
        """A ``store_discovery`` call to stage (after the source's page batches, as a run on the database's
        machine makes it)."""
        found = StagedDiscovery(source, rules, tuple(documents), tuple(failures), tuple(read), tuple(robots))
        return self._next(source, discovery=found)

    def run(self, record: RunRecord) -> StagedBatch:
        """The run's ``runs`` row, staged last."""
        return self._next(None, run=record)

    def write(self, batch: StagedBatch) -> BatchRef:
        return self.staging.write(batch)

    @staticmethod
    def counts(batch: StagedBatch) -> BatchCounts:
        """What a staged batch holds, as a run reports it: its articles count as new until the merge says."""
        return BatchCounts(new=len(batch.extracted), failed=len(batch.failures), pages=len(batch.pages),
                           not_modified=len(batch.not_modified))  # fmt: skip
