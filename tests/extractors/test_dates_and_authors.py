"""Visible and machine dates, author names."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from extractors import extract_html
from extractors.dates import find_visible_dates, get_zone, parse_machine_date
from extractors.metadata import clean_author_names


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("Kamis, 21 Mei 2026 | 14:15 WIB", "UTC", datetime(2026, 5, 21, 7, 15, tzinfo=UTC)),
        ("Senin, 4 Mei 2026 09:00 WITA", "UTC", datetime(2026, 5, 4, 1, 0, tzinfo=UTC)),
        ("04.03.2026, 18:42 Uhr", "Europe/Berlin", datetime(2026, 3, 4, 17, 42, tzinfo=UTC)),
        ("4 mars 2026 à 18h42", "Europe/Paris", datetime(2026, 3, 4, 17, 42, tzinfo=UTC)),
        ("2 de junio de 2026, 10:30", "America/Argentina/Buenos_Aires", datetime(2026, 6, 2, 13, 30, tzinfo=UTC)),
        ("July 9, 2026 9:15 PM UTC", "Asia/Jakarta", datetime(2026, 7, 9, 21, 15, tzinfo=UTC)),
    ],
)
def test_visible_dates(text: str, zone: str, expected: datetime) -> None:
    assert find_visible_dates(text, get_zone(zone))[0] == (expected, True)


def test_machine_dates() -> None:
    assert parse_machine_date("2026-05-12T09:30:00+07:00") == (datetime(2026, 5, 12, 2, 30, tzinfo=UTC), True)
    assert parse_machine_date("2026-05-12", get_zone("Asia/Jakarta")) == (
        datetime(2026, 5, 11, 17, 0, tzinfo=UTC),
        False,
    )
    assert parse_machine_date("not a date") is None


@pytest.mark.parametrize(
    ("raw", "names"),
    [
        ("By Sarah Johnson and Tom Lee, Staff Writers", ["Sarah Johnson", "Tom Lee"]),
        ("Von Julia Becker und Martin Schulz", ["Julia Becker", "Martin Schulz"]),
        ("Penulis: Rina Wulandari", ["Rina Wulandari"]),
        ("Oleh Andi Saputra dan Dewi Lestari", ["Andi Saputra", "Dewi Lestari"]),
        ("Por María López y Juan Pérez (Redactor) · maria@example.com", ["María López", "Juan Pérez"]),
    ],
)
def test_author_cleaning(raw: str, names: list[str]) -> None:
    assert clean_author_names(raw) == names


def test_an_agency_credited_beside_a_reporter_is_not_an_author() -> None:
    html = (
        b"<html><head><meta name='author' content='Sarah Johnson, Harbour Wire'><title>T</title></head><body><article>"
        + b"<p>Dock workers voted on Thursday to end a nine-day strike after accepting a pay rise.</p>" * 5
        + b"</article></body></html>"
    )
    assert extract_html(html, "https://x.example/a").authors == ("Sarah Johnson",)
    alone = html.replace(b"Sarah Johnson, Harbour Wire", b"Harbour Wire")
    assert extract_html(alone, "https://x.example/a").authors == ("Harbour Wire",)  # nobody else to credit
