"""The import rule of the packages, read from their source: extractors <- crawl, storage <- flows.

extractors (pure extraction, the error tree and the typed records) imports none of the others; crawl
(HTTP, discovery, settings) imports extractors only; storage (DuckDB) imports extractors only; flows
imports them all.  Only flows imports Prefect, anywhere in a module (function-level imports count).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ALLOWED = {
    "extractors": {"extractors"},
    "crawl": {"crawl", "extractors"},
    "storage": {"storage", "extractors"},
    "flows": {"flows", "crawl", "extractors", "storage"},
}
OURS = set(ALLOWED)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _modules(package: str) -> list[Path]:
    return sorted(p for p in (REPO / package).rglob("*.py") if "demo_site" not in p.parts)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_the_layers_below_it(package: str) -> None:
    wrong = {
        f"{path.relative_to(REPO)} imports {name}"
        for path in _modules(package)
        for name in _imports(path) & OURS
        if name not in ALLOWED[package]
    }
    assert not wrong, sorted(wrong)


@pytest.mark.parametrize("package", ["extractors", "crawl", "storage"])
def test_only_flows_imports_prefect(package: str) -> None:
    wrong = [str(path.relative_to(REPO)) for path in _modules(package) if "prefect" in _imports(path)]
    assert not wrong, wrong


def test_the_rule_is_read_from_real_modules() -> None:
    # a rule checked over no files, or a reader that finds no imports, would pass whatever the code does
    assert all(len(_modules(package)) >= 3 for package in ALLOWED)
    assert "prefect" in _imports(REPO / "flows" / "ingest.py")
    assert "extractors" in _imports(REPO / "crawl" / "fetcher.py")
