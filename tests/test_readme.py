"""The README stays a user's page: short enough to read, pointing at docs/ for the rest."""

from __future__ import annotations

from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.pure
def test_the_readme_stays_under_12_kb() -> None:
    size = len(README.read_bytes())
    assert size <= 12_000, f"README.md is {size} bytes: move maintainers' material to docs/"


@pytest.mark.pure
def test_the_readme_points_at_every_maintainers_document() -> None:
    text = README.read_text(encoding="utf-8")
    for document in ("docs/architecture.md", "docs/schema.md", "docs/operations.md", "docs/performance.md"):
        assert document in text and (README.parent / document).is_file(), document
