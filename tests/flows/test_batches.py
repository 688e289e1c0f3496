"""The ingest flow's batch sizes and garbage collection, as plain function calls."""

from __future__ import annotations

import pytest


def test_a_crawl_collects_garbage_once_enough_page_bytes_were_stored(monkeypatch: pytest.MonkeyPatch) -> None:
    import gc

    from extractors.article import fetched_page_from_file
    from flows import ingest

    collections: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda *args: collections.append(1) or 0)
    monkeypatch.setattr(ingest, "COLLECT_AFTER_BYTES", 1000)
    collector = ingest._Collector("run")
    page = fetched_page_from_file(b"x" * 400, "https://a.example/")
    collector.stored([page])
    collector.stored([])  # a batch of 304s: no bodies
    assert collections == []
    collector.stored([page, page])  # 1,200 bytes since the last collection
    collector.stored([page])
    assert collections == [1]


def test_fetch_batches_grow_while_the_answers_are_304s_and_shrink_at_the_first_pages() -> None:
    from extractors.article import fetched_page_from_file
    from extractors.records import NotModified
    from flows import ingest

    urls = [f"https://a.example/{i}" for i in range(5000)]
    batches = ingest._Batches(urls, 100)
    page = fetched_page_from_file(b"<p>x</p>", urls[0])
    unchanged = NotModified(urls[0], urls[0], (), page.fetched_at)
    sizes = [len(batches.next())]
    for answers in ([unchanged] * 100, [unchanged] * 200, [unchanged] * 400, [page] * 11 + [unchanged] * 89):
        sizes.append(len(batches.next(after=answers)))
    # doubled up to four times the batch size, then the batch size again after a batch with pages
    assert sizes == [100, 200, 400, 400, 100]
    assert len(batches.next(after=[page] + [unchanged] * 9)) == 200  # one page in ten still counts as few
