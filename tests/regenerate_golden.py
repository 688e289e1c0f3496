"""Rewrite golden expected.json files from their stored HTML — only when asked.

    python tests/regenerate_golden.py              # show what would change
    python tests/regenerate_golden.py --write NAME # rewrite NAME's expected.json

Review the diff (git diff tests/fixtures/pages) before committing: a golden
file records what the extractor *should* return, not what it happens to.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.golden import HAND_WRITTEN, PAGES, extract_page, load_expected, observed_fields, page_names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="pages to regenerate (default: all)")
    parser.add_argument("--write", action="store_true", help="rewrite expected.json instead of only reporting")
    args = parser.parse_args()
    changed = 0
    for name in args.names or page_names():
        expected = load_expected(name)
        observed = observed_fields(extract_page(name, expected))
        kept = {k: expected[k] for k in HAND_WRITTEN if k in expected}
        # without --write, fields a golden file does not pin are not differences
        differences = [k for k, v in observed.items() if (k in expected or args.write) and expected.get(k) != v]
        if not differences:
            continue
        changed += 1
        print(f"{name}: {', '.join(differences)}")
        if args.write:
            (PAGES / name / "expected.json").write_text(
                json.dumps({**observed, **kept}, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
            )
    print(f"{changed} page(s) differ" + (" and were rewritten" if args.write and changed else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
